"""The whitelist refresh on Spark stores what a local refresh stores, entry for entry; a bad
snapshot or a session that cannot start is refused before anything is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.points.service import score_run
from kejin.scale.snapshot import MANIFEST, write_snapshot
from kejin.scale.spark import SparkUnavailable
from kejin.synth.service import build_region
from kejin.whitelist import service
from kejin.whitelist.rules import load_rules
from kejin.whitelist.scale import entries_on_spark
from kejin.whitelist.tables import WhitelistVersion


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from kejin.whitelist.commands import register

    monkeypatch.setattr("kejin.console.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    return cli


def test_spark_entries_equal_the_local_entries_and_the_command_finds_nothing_new(
    spark_session, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_region(sqlite_engine, 600, seed=11)
    score_run(sqlite_engine, "most-v1")
    snap = tmp_path / "snap"
    write_snapshot(sqlite_engine, snap)
    with sqlite_engine.connect() as conn:
        from kejin.asof import data_date

        as_of = data_date(conn)
    rules, _ = load_rules("default")
    data = service.gather(sqlite_engine, as_of, rules.points_system, None)
    local = service.entries_of(rules, as_of, data)
    _, points = service.points_of(sqlite_engine, rules.points_system, None)
    on_spark = entries_on_spark(snap, rules, as_of, points, "local[2]")
    assert local.height > 100 and local["status"].n_unique() == 2  # members and exclusions
    assert local["tier"].drop_nulls().n_unique() >= 2
    assert_frame_equal(on_spark, local)
    assert service.entries_sha256(on_spark) == service.entries_sha256(local)

    invoke, cli = CliRunner().invoke, _cli(sqlite_engine, monkeypatch)
    a = invoke(cli, ["whitelist", "refresh", "--json"])
    assert a.exit_code == 0, a.output
    b = invoke(
        cli, ["whitelist", "refresh", "--json", "--engine", "spark", "--snapshot", str(snap)]
    )
    assert b.exit_code == 0, b.output
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    # The same entries from the same rules and run: Spark's refresh is "no change".
    assert rb["unchanged"] and rb["version"] == ra["version"]
    assert rb["entries_sha256"] == ra["entries_sha256"] and rb["members"] == ra["members"]


def test_a_bad_snapshot_or_session_is_refused_and_nothing_is_written(
    spark_session, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_region(sqlite_engine, 40, seed=3)
    score_run(sqlite_engine, "most-v1")
    invoke, cli = CliRunner().invoke, _cli(sqlite_engine, monkeypatch)

    def versions() -> int:
        with sqlite_engine.connect() as c:
            return c.scalar(select(func.count()).select_from(WhitelistVersion))

    other = tmp_path / "other"
    write_snapshot(sqlite_engine, other)
    m = json.loads((other / MANIFEST).read_text())
    (other / MANIFEST).write_text(json.dumps({**m, "schema_heads": ["0001_old"]}))
    r = invoke(cli, ["whitelist", "refresh", "--engine", "spark", "--snapshot", str(other)])
    assert isinstance(r.exception, ValidationError)
    assert "schema version" in str(r.exception) and "0001_old" in str(r.exception)

    cut = tmp_path / "cut"
    write_snapshot(sqlite_engine, cut)
    (cut / "loans" / "part-00000.parquet").unlink()
    r = invoke(cli, ["whitelist", "refresh", "--engine", "spark", "--snapshot", str(cut)])
    assert isinstance(r.exception, ValidationError)
    assert r.exception.problems[0].file == str(cut / "loans" / "part-00000.parquet")
    assert "part missing" in str(r.exception)

    good = tmp_path / "good"
    write_snapshot(sqlite_engine, good)
    from pyspark.sql import SparkSession

    def no_jvm(self: object) -> None:
        raise RuntimeError("Java gateway process exited before sending its port number")

    with monkeypatch.context() as mp:  # a JVM that will not start, as on a host without memory
        mp.setattr(SparkSession.Builder, "getOrCreate", no_jvm)
        r = invoke(cli, ["whitelist", "refresh", "--engine", "spark", "--snapshot", str(good)])
    assert isinstance(r.exception, SparkUnavailable)
    assert "could not start" in str(r.exception) and "Java gateway" in str(r.exception)
    r = invoke(cli, ["whitelist", "refresh", "--engine", "spark"])
    assert r.exit_code != 0 and "--snapshot" in r.output
    assert versions() == 0


def test_without_pyspark_every_spark_command_says_so_in_words(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform installed without the ``spark`` extra (``make demo`` installs none) asked for
    ``--engine spark``: the refusal names what is missing and how to add it, never an
    ImportError traceback (found on the demo: points score imported PySpark before asking)."""
    build_region(sqlite_engine, 30, seed=5)
    score_run(sqlite_engine, "most-v1")
    snap = tmp_path / "snap"
    write_snapshot(sqlite_engine, snap)
    from kejin.points.commands import register

    invoke, cli = CliRunner().invoke, _cli(sqlite_engine, monkeypatch)
    register(cli)  # the points commands beside the whitelist's
    for name in ("pyspark", "pyspark.sql", "pyspark.sql.functions"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if never installed
    for args in (
        ["points", "score", "--system", "most-v1", "--engine", "spark", "--snapshot", str(snap)],
        ["whitelist", "refresh", "--engine", "spark", "--snapshot", str(snap)],
    ):
        r = invoke(cli, args)
        assert isinstance(r.exception, SparkUnavailable), (args, r.exception)
        assert "PySpark is not installed" in str(r.exception) and "kejin[spark]" in str(r.exception)
