"""Innovation points on Spark equal the local engine's: totals, ranks, percentiles, grades, lists
and per-indicator detail, firm for firm (ranks exactly; floats as the local run rounds them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine

from kejin.points.kernels import score_system
from kejin.points.scale import score_on_spark
from kejin.points.service import latest_year, load_frame, results_frame
from kejin.points.system import load_system
from kejin.scale.snapshot import write_snapshot
from kejin.synth.service import build_region


@pytest.mark.parametrize("peer", [None, "chain"])
def test_spark_scores_every_firm_as_the_local_engine_does(
    spark_session, sqlite_engine: Engine, tmp_path: Path, peer: str | None
) -> None:
    build_region(sqlite_engine, 600, seed=9)
    snap = tmp_path / "snap"
    write_snapshot(sqlite_engine, snap)
    system = load_system("most-v1").system
    year = latest_year(sqlite_engine)
    local = results_frame(
        score_system(load_frame(sqlite_engine, system, year), system, peer=peer), system
    )
    on_spark = score_on_spark(snap, "most-v1", year, peer=peer, master="local[2]")
    assert local.height > 550 and local["peer_group"].n_unique() >= 3
    assert_frame_equal(on_spark, local.sort("uscc"), check_dtypes=False)


def test_a_spark_run_is_stored_as_a_local_run_with_the_same_results_hash(
    spark_session, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kejin points score --engine spark --snapshot DIR`: the run lands in the platform's tables
    beside a local run of the same data, and their results hash alike."""
    import json

    import typer
    from typer.testing import CliRunner

    from kejin.points.commands import register

    build_region(sqlite_engine, 300, seed=4)
    write_snapshot(sqlite_engine, tmp_path / "snap")
    monkeypatch.setattr("kejin.console.get_engine", lambda: sqlite_engine)
    cli = typer.Typer()
    register(cli)
    invoke = CliRunner().invoke
    local = invoke(cli, ["points", "score", "--json"])
    assert local.exit_code == 0, local.output
    on_spark = invoke(
        cli, ["points", "score", "--json", "--engine", "spark", "--snapshot", str(tmp_path / "snap"),
              "--master", "local[2]"],
    )  # fmt: skip
    assert on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(local.stdout), json.loads(on_spark.stdout)
    assert b["run_id"] == a["run_id"] + 1 and b["firms"] == a["firms"] > 250
    assert b["results_sha256"] == a["results_sha256"]
    refused = invoke(cli, ["points", "score", "--engine", "spark"])  # no snapshot named
    assert refused.exit_code != 0 and "--snapshot" in refused.output
