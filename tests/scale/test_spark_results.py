"""Results directories: a Spark run's executors write the results, ``kejin import results`` stores
them as the command stores a local run (same rows, same results hash, same audit action), in one
transaction, after verifying the whole directory; a directory that does not check out, or an
import that fails half-way, writes nothing. And the registry read over JDBC scores as the snapshot
and the local engine do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from kejin.access.tables import AuditEvent
from kejin.points.service import run_results, score_run
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.scale import jdbc, results
from kejin.scale.snapshot import write_snapshot
from kejin.synth.service import build_region
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from kejin.ingest.commands import register as register_import
    from kejin.points.commands import register as register_points
    from kejin.whitelist.commands import register as register_whitelist

    monkeypatch.setattr("kejin.console.get_engine", lambda: engine)
    cli = typer.Typer()
    for register in (register_points, register_whitelist, register_import):
        register(cli)
    return cli


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture(scope="module")
def points_dir(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A region, its snapshot and a Spark points results directory, made once for the module
    (the region is built in a scratch SQLite database; the tests import into their own)."""
    from kejin.db import make_engine
    from kejin.scale import spark
    from kejin.scale.jdbc import SnapshotSource

    why = spark.unavailable_reason()
    if why is not None:
        pytest.skip(f"Spark tests skipped: {why}")
    base = tmp_path_factory.mktemp("points-results")
    shutil.copy(sqlite_template, base / "region.db")
    eng = make_engine(f"sqlite:///{base / 'region.db'}")
    build_region(eng, 300, seed=4)
    write_snapshot(eng, base / "snap")
    eng.dispose()
    from kejin.points.scale import write_results_on_spark

    results.PART_ROWS = 100  # several parts, so the import streams them in order
    try:
        written = write_results_on_spark(SnapshotSource(base / "snap"), base / "results",
                                         "most-v1", master="local[2]")  # fmt: skip
    finally:
        results.PART_ROWS = 1_000_000
    assert written["firms"] > 250 and written["parts"] >= 3
    return base


def _region(engine: Engine) -> None:
    """The module's region in ``engine``: the same rows the results were computed from."""
    build_region(engine, 300, seed=4)


def test_imported_points_equal_a_local_run_row_for_row_with_the_same_hash(
    spark_session, points_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _region(engine)
    local = score_run(engine, "most-v1")
    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    out = invoke(cli, ["import", "results", str(points_dir / "results"), "--json"])
    assert out.exit_code == 0, out.output
    imported = json.loads(out.stdout)
    assert imported["command"] == "points score" and imported["run_id"] == local["run_id"] + 1
    assert imported["results_sha256"] == local["results_sha256"]
    assert imported["firms"] == local["firms"] and imported["lists"] == local["lists"]
    assert imported["top"] == json.loads(json.dumps(local["top"]))
    assert_frame_equal(
        run_results(engine, imported["run_id"]),
        run_results(engine, local["run_id"]),
    )
    with engine.connect() as conn:
        run = conn.execute(select(ScoreRun).where(ScoreRun.id == imported["run_id"])).one()
        audit = conn.execute(
            select(AuditEvent.action, AuditEvent.detail).where(
                AuditEvent.entity_id == str(imported["run_id"]), AuditEvent.action == "points.score"
            )
        ).one()
    manifest = json.loads((points_dir / "results" / results.MANIFEST).read_text())
    assert run.input_sha256 == manifest["parameters"]["input_sha256"]
    assert run.snapshot_pull_id == manifest["parameters"]["snapshot_pull_id"] is not None
    detail = json.loads(audit.detail) if isinstance(audit.detail, str) else audit.detail
    assert detail["engine"] == "spark" and detail["results"] == str(points_dir / "results")


def _tampered(points_dir: Path, tmp_path: Path, how: str) -> Path:
    bad = tmp_path / how
    shutil.copytree(points_dir / "results", bad)
    manifest = json.loads((bad / results.MANIFEST).read_text())
    last = bad / manifest["tables"]["points_results"]["parts"][-1]["file"]
    if how == "corrupt":
        last.write_bytes(last.read_bytes()[:-100] + b"\0" * 100)
    elif how == "missing":
        last.unlink()
    elif how == "schema":
        manifest["schema_heads"] = ["0000_another"]
        (bad / results.MANIFEST).write_text(json.dumps(manifest))
    elif how == "unfinished":
        (bad / results.MANIFEST).unlink()
    return bad


@pytest.mark.parametrize(
    ("how", "zh", "en", "named"),
    [
        ("corrupt", "文件校验和不符", "checksum mismatch", "part-"),
        ("missing", "分片文件缺失", "part missing", "part-"),
        ("schema", "数据库结构版本不一致", "another schema version", "schema_heads"),
        ("unfinished", "缺少 manifest.json", "no manifest.json", "manifest.json"),
    ],
)
def test_a_directory_that_does_not_check_out_writes_nothing(
    spark_session, points_dir: Path, engine: Engine, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, how: str, zh: str, en: str, named: str,
) -> None:  # fmt: skip
    _region(engine)
    bad = _tampered(points_dir, tmp_path, how)
    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    out = invoke(cli, ["import", "results", str(bad), "--json"])
    assert out.exit_code == 2, out.output
    body = json.loads(out.stdout)
    assert zh in body["reason_zh"] + json.dumps(body["problems"], ensure_ascii=False)
    assert en in body["reason_en"] + json.dumps(body["problems"])
    assert named in json.dumps(body["problems"])
    assert _count(engine, ScoreRun) == 0 and _count(engine, ScoreResult) == 0


def test_an_import_failing_half_way_leaves_no_row(
    spark_session, points_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part verified, then the database refuses the second batch: the run and the rows
    already sent roll back together."""
    import kejin.points.scale as points_scale

    _region(engine)
    monkeypatch.setattr(results, "BATCH_ROWS", 50)
    real, calls = points_scale.write_frame, []

    def failing(conn, table, df):  # type: ignore[no-untyped-def]
        calls.append(df.height)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(conn, table, df)

    monkeypatch.setattr(points_scale, "write_frame", failing)
    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    out = invoke(cli, ["import", "results", str(points_dir / "results")])
    assert out.exit_code != 0 and len(calls) == 2
    assert _count(engine, ScoreRun) == 0 and _count(engine, ScoreResult) == 0


def test_a_whitelist_results_directory_imports_as_a_local_refresh(
    spark_session, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_region(engine, 400, seed=11)
    score_run(engine, "most-v1")
    write_snapshot(engine, tmp_path / "snap")
    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    written = invoke(cli, ["whitelist", "refresh", "--engine", "spark", "--snapshot",
                           str(tmp_path / "snap"), "--results-dir", str(tmp_path / "wl"),
                           "--master", "local[2]"])  # fmt: skip
    assert written.exit_code == 0, written.output
    assert _count(engine, WhitelistVersion) == 0  # written to the directory, nothing stored
    imported = invoke(cli, ["import", "results", str(tmp_path / "wl"), "--json"])
    assert imported.exit_code == 0, imported.output
    a = json.loads(imported.stdout)
    assert a["unchanged"] is False and a["members"] > 0
    local = invoke(cli, ["whitelist", "refresh", "--json"])
    b = json.loads(local.stdout)
    # The local refresh of the same data finds nothing new: same rules, run and entries hash.
    assert b["unchanged"] is True and b["version"] == a["version"]
    assert b["entries_sha256"] == a["entries_sha256"] and b["tiers"] == a["tiers"]
    assert _count(engine, WhitelistEntry) == a["members"] + a["excluded"]
    with engine.connect() as conn:
        actions = conn.execute(
            select(AuditEvent.action).where(AuditEvent.entity_id == str(a["version"]))
        ).scalars()
        assert "whitelist.refresh" in list(actions)


def test_results_options_are_refused_without_spark(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke, cli = CliRunner().invoke, _cli(sqlite_engine, monkeypatch)
    out = invoke(cli, ["points", "score", "--results-dir", str(tmp_path / "r")])
    assert out.exit_code != 0 and "--engine spark" in out.output
    out = invoke(cli, ["points", "score", "--engine", "spark", "--source", "jdbc",
                       "--snapshot", str(tmp_path)])  # fmt: skip
    assert out.exit_code != 0 and "--source jdbc" in out.output
    assert not (tmp_path / "r").exists()


def test_jdbc_refuses_sqlite(sqlite_engine: Engine) -> None:
    with pytest.raises(Exception, match="PostgreSQL"):
        jdbc.JdbcSource(sqlite_engine).verify()


@pytest.mark.postgres
def test_points_from_jdbc_equal_the_snapshot_and_the_local_engine(
    spark_session, pg_engine: Engine, tmp_path: Path
) -> None:
    """PostgreSQL read straight over JDBC (partitioned by a hash of each table's key), the same
    database's snapshot, and the local engine: the same results, row for row."""
    if jdbc.jar() is None:
        pytest.skip(f"JDBC test skipped: no PostgreSQL JDBC driver at {jdbc.JAR} "
                    "(apt-get install libpostgresql-jdbc-java)")  # fmt: skip
    from kejin.points.kernels import score_system
    from kejin.points.scale import score_on_spark
    from kejin.points.service import latest_year, load_frame, results_frame
    from kejin.points.system import load_system

    build_region(pg_engine, 400, seed=9)
    write_snapshot(pg_engine, tmp_path / "snap")
    system = load_system("most-v1").system
    year = latest_year(pg_engine)
    local = results_frame(score_system(load_frame(pg_engine, system, year), system), system)
    src = jdbc.JdbcSource(pg_engine, partitions=3)
    from_jdbc = score_on_spark(src, "most-v1", year, master="local[2]")
    from_snapshot = score_on_spark(tmp_path / "snap", "most-v1", year, master="local[2]")
    assert local.height > 350
    assert_frame_equal(from_jdbc, local.sort("uscc"), check_dtypes=False)
    assert_frame_equal(from_jdbc, from_snapshot)
    prov = src.provenance()
    assert prov["kind"] == "jdbc" and prov["rows"]["enterprises"] == 400 and prov["pull_ids"]
    src.close()


@pytest.mark.postgres
def test_a_jdbc_read_sees_one_commit_while_writers_go_on(spark_session, pg_engine: Engine) -> None:
    """Every partition's connection joins the source's exported snapshot: a pull committed
    after the read began is seen neither by the driver nor by the executors' JDBC reads."""
    if jdbc.jar() is None:
        pytest.skip(f"JDBC test skipped: no PostgreSQL JDBC driver at {jdbc.JAR}")
    import datetime as dt

    from kejin.registry.tables import DataPull

    build_region(pg_engine, 50, seed=2)
    src = jdbc.JdbcSource(pg_engine, partitions=3)
    src.verify()
    before = _count(pg_engine, DataPull)
    latest = src.latest_pull()
    now = dt.datetime(2026, 1, 1)
    with pg_engine.begin() as conn:
        conn.execute(DataPull.__table__.insert().values(
            kind="enterprises", department="amr", pulled_at=now, loaded_at=now,
        ))  # fmt: skip
    assert _count(pg_engine, DataPull) == before + 1
    assert src.latest_pull() == latest
    assert src.frame(spark_session, "data_pulls").count() == before
    src.close()
