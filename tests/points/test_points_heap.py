"""The glibc setting for large arrays is an entry point's choice, not the kernel's (issue 20)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_large_blocks_is_accepted_by_glibc() -> None:
    # in a child process: the setting is global to the process that makes it
    assert _run("from kejin.heap import keep_large_blocks; print(keep_large_blocks())") == "True"
