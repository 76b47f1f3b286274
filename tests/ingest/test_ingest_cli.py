"""``kejin import`` as a user runs it: exit codes, the summary, the JSON report, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from ingest_fixtures import EXAMPLES, FIRM_A, snapshot
from sqlalchemy import Engine
from typer.testing import CliRunner

from kejin.ingest import commands


class Run:
    """The command in-process (fast), with the same exit code and streams a shell would see."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(commands, "get_engine", lambda: engine)
        self.app = typer.Typer()
        self.app.callback()(lambda: None)
        commands.register(self.app)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = CliRunner().invoke(self.app, list(args), env={"COLUMNS": "200"})
        return subprocess.CompletedProcess(list(args), r.exit_code, r.stdout, r.stderr)


def kejin_process(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, for what only a process shows."""
    env = {
        **os.environ,
        "KEJIN_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "kejin", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_import_summary_then_noop(engine: Engine) -> None:
    first = kejin_process(
        engine, "import", "enterprises", str(EXAMPLES / "enterprises.csv"), "--json"
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) | {"pull_id": 1} == {
        "kind": "enterprises",
        "file": "enterprises.csv",
        "rows": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "pull_id": 1,
        "dry_run": False,
    }
    again = kejin_process(engine, "import", "enterprises", str(EXAMPLES / "enterprises.csv"))
    assert again.returncode == 0, again.stderr
    assert "未变 unchanged" in again.stdout and "5" in again.stdout


def _without_audit(engine: Engine) -> tuple[dict[str, list[tuple[object, ...]]], list[object]]:
    """The database content but the audit log, and the audit log's actions: an import writes
    nothing when refused or dry-run, except the audit record of the attempt (as the web's)."""
    from kejin.access.tables import AuditEvent

    at = [c.name for c in AuditEvent.__table__.columns].index("action")
    rows = snapshot(engine)
    return rows, [r[at] for r in rows.pop("audit_events")]


def test_bad_file_exits_2_with_every_problem_in_json(loaded: Engine, tmp_path: Path) -> None:
    """A wrong header row is refused alone, before any row is read; with the header right,
    every bad row is listed. Nothing is written but the record of each refused attempt."""
    path = tmp_path / "bad.csv"
    before, seen = _without_audit(loaded)
    rows = f"{FIRM_A},2030,-1\nnot-a-code,2031,5\n"
    for header, want in (
        ("uscc,year,oops", [(1, "oops", "oops")]),
        ("uscc,year,revenue", [(2, "revenue", "-1"), (3, "uscc", "not-a-code")]),
    ):
        path.write_text(f"{header}\n{rows}")
        res = kejin_process(loaded, "import", "indicators", str(path), "--json")
        assert res.returncode == 2
        report = json.loads(res.stdout)
        assert report["error"] == "ValidationError"
        got = [(p["row"], p["field"], p["value"]) for p in report["problems"]]
        assert got == want
        assert all(p["reason_zh"] and p["reason_en"] for p in report["problems"])
        after, actions = _without_audit(loaded)
        assert after == before
        seen.append("ingest.refused")
        assert actions == seen
        assert "Traceback" not in res.stderr


def test_bad_file_human_report_is_a_table_without_traceback(
    loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kejin = Run(loaded, monkeypatch)
    path = tmp_path / "bad.csv"
    path.write_text(f"uscc,year,revenue\n{FIRM_A},2030,-1\n")
    res = kejin("import", "indicators", str(path))
    assert res.returncode == 2
    assert "金额不能为负数" in res.stderr and "money cannot be negative" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_kind_and_department_exit_2(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kejin = Run(engine, monkeypatch)
    res = kejin("import", "widgets", str(EXAMPLES / "enterprises.csv"))
    assert res.returncode == 2 and "unknown kind" in res.stderr
    res = kejin("import", "enterprises", str(EXAMPLES / "enterprises.csv"), "--source", "火星局")
    assert res.returncode == 2 and "unknown department" in res.stderr
    assert "Traceback" not in res.stderr


def test_dry_run_writes_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    kejin = Run(engine, monkeypatch)
    before, seen = _without_audit(engine)
    res = kejin("import", "enterprises", str(EXAMPLES / "enterprises.csv"), "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["inserted"], out["dry_run"], out["pull_id"]) == (5, True, None)
    assert _without_audit(engine) == (before, [*seen, "ingest.dry_run"])
