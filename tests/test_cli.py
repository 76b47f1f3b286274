"""The root command: usage errors and domain errors end with a message and an exit code, never a
traceback (the vendored click in typer >= 0.29 once turned every typo into a crash)."""

from __future__ import annotations

import subprocess
import sys


def _kejin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kejin", *args], capture_output=True, text=True, timeout=60
    )


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    r = _kejin("no-such-command")
    assert r.returncode == 2
    assert "No such command" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_option_is_a_usage_error_without_traceback() -> None:
    r = _kejin("ids", "check", "--bogus")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_ids_check_exit_status_follows_validity() -> None:
    ok = _kejin("ids", "check", "91350100M000100Y43")
    bad = _kejin("ids", "check", "91350100M000100Y43", "91350100M000100Y44")
    assert ok.returncode == 0, ok.stdout
    assert bad.returncode == 1
    assert bad.stdout.count("\n") == 2
