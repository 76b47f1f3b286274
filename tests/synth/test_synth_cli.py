"""``kejin synth`` and ``kejin summary`` as a user runs them (subprocess, SQLite file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path: Path, sqlite_template: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "kejin.db"
    shutil.copy(sqlite_template, db)
    env = {**os.environ, "KEJIN_DATABASE_URL": f"sqlite:///{db}"}

    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kejin", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    return _run


def test_synth_then_summary(run) -> None:  # type: ignore[no-untyped-def]
    built = run("synth", "--firms", "300", "--seed", "5", "--json")
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["rows"]["enterprises"] == 300
    assert report["total_rows"] == sum(report["rows"].values())
    summary = json.loads(run("summary", "--json").stdout)
    assert summary["firms"]["total"] == 300
    assert summary["loans"]["count"] == report["rows"]["loans"]
    table = run("summary")
    assert table.returncode == 0
    assert "生命周期阶段 / lifecycle stage" in table.stdout
    assert "违约率 / default rate" in table.stdout


def test_synth_refuses_a_filled_database_without_replace(run) -> None:  # type: ignore[no-untyped-def]
    assert run("synth", "--firms", "50", "--seed", "1").returncode == 0
    again = run("synth", "--firms", "80", "--seed", "2")
    assert again.returncode == 2
    assert "--replace" in again.stderr
    assert "Traceback" not in again.stderr
    assert json.loads(run("summary", "--json").stdout)["firms"]["total"] == 50
    replaced = run("synth", "--firms", "80", "--seed", "2", "--replace")
    assert replaced.returncode == 0
    assert json.loads(run("summary", "--json").stdout)["firms"]["total"] == 80
