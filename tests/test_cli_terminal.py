"""Terminal output at 80 columns: identifiers (USCC, contract numbers) are never cut, tables go
to stdout and notes to stderr, codes read as labels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent / "points"))
from points_region import build_region
from tests.credit.firms import add_firm

USCC = re.compile(r"\b[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}\b")


def _kejin(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEJIN_DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "COLUMNS": "80", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "kejin", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr
    return r


def test_points_table_shows_every_uscc_whole_at_80_columns(engine: Engine) -> None:
    codes = set(build_region(engine, 60))
    out = _kejin(engine, "points", "score", "--system", "most-v1").stdout
    assert "…" not in "".join(line for line in out.splitlines() if "9132" in line)
    shown = set(USCC.findall(out))
    assert len(shown) >= 10 and shown <= codes
    assert max(len(line) for line in out.splitlines() if USCC.search(line)) <= 80


def test_warning_table_is_labelled_and_whole_at_80_columns(engine: Engine) -> None:
    firms = [add_firm(engine, n, dpd=dpd, dishonest=n == 3) for n, dpd in ((1, 5), (2, 40), (3, 0))]
    r = _kejin(engine, "credit", "warnings", "--month", "2026-05", "--model", "", "--limit", "2")
    assert set(USCC.findall(r.stdout)) == set(firms[1:])  # the two most severe, whole
    assert "warning." not in r.stdout and "失信被执行人" in r.stdout
    assert "另有 1 家" in r.stderr and "另有" not in r.stdout  # the note is a diagnostic
