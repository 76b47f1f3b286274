"""The registry snapshot a distributed engine reads: complete, exact, verifiable, audited."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import typer
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, select
from tests.people import add_people
from typer.testing import CliRunner

from kejin.access.tables import AuditEvent
from kejin.errors import ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Institution
from kejin.scale import snapshot
from kejin.synth.service import build_region


def test_every_table_round_trips_exactly_with_its_provenance(
    engine: Engine, tmp_path: Path
) -> None:
    build_region(engine, 120, seed=5)
    out = tmp_path / "snap"
    manifest = snapshot.write_snapshot(engine, out)
    assert snapshot.read_manifest(out) == manifest
    with engine.connect() as conn:
        for table in snapshot.TABLES:
            db = read_frame(conn, table)
            back = snapshot.table(out, table.name).collect()
            assert manifest["tables"][table.name]["rows"] == db.height
            key = [c.name for c in table.primary_key.columns]
            assert_frame_equal(back.sort(key), db.sort(key))  # money to the fen, dates, flags
            if "pull_id" in db.columns:
                assert manifest["tables"][table.name]["pull_ids"] == sorted(
                    db["pull_id"].drop_nulls().unique().to_list()
                )
    assert manifest["tables"]["enterprises"]["rows"] == 120


def test_a_changed_or_missing_part_and_a_reused_directory_are_refused(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    build_region(sqlite_engine, 30, seed=5)
    out = tmp_path / "snap"
    snapshot.write_snapshot(sqlite_engine, out)
    with pytest.raises(ValidationError, match="not empty"):
        snapshot.write_snapshot(sqlite_engine, out)
    part = out / "enterprises" / "part-00000.parquet"
    pl.read_parquet(part).head(29).write_parquet(part)  # a row dropped
    with pytest.raises(ValidationError) as e:
        snapshot.read_manifest(out)
    assert e.value.problems[0].file == str(part)


def test_the_command_acts_as_a_named_government_officer_and_is_audited(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kejin.scale.commands import register

    build_region(sqlite_engine, 30, seed=5)
    with sqlite_engine.connect() as c:
        bank_id = c.scalar(select(Institution.id).limit(1))
    add_people(
        sqlite_engine, ("gov", "gov_admin", None, None), ("bank", "bank_officer", bank_id, None)
    )
    monkeypatch.setattr("kejin.console.get_engine", lambda: sqlite_engine)
    cli = typer.Typer()
    register(cli)
    invoke = CliRunner().invoke
    r = invoke(cli, ["export", "snapshot", "--out", str(tmp_path / "a"), "--who", "bank", "--json"])
    assert r.exit_code != 0 and not (tmp_path / "a" / "manifest.json").exists()
    r = invoke(cli, ["export", "snapshot", "--out", str(tmp_path / "b"), "--who", "gov", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"]["enterprises"] == 30
    with sqlite_engine.connect() as c:
        ev = c.execute(
            select(AuditEvent.actor, AuditEvent.detail).where(
                AuditEvent.action == "registry.snapshot"
            )
        ).one()
    assert ev.actor == "gov" and json.loads(ev.detail)["rows"]["enterprises"] == 30


def test_every_snapshot_table_has_frame_types_in_a_fresh_interpreter() -> None:
    """``synth --to-parquet`` types every snapshot table from its model in a process that may
    have imported nothing else: a column whose type comes from a foreign key (the whitelist
    versions' points run) must be typed without the rest of kejin loaded."""
    import subprocess
    import sys

    code = (
        "from kejin.frames import table_schema\n"
        "from kejin.scale import snapshot\n"
        "for t in snapshot.TABLES: table_schema(t)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
