"""Credit scoring on Spark equals the local engine row for row: same pd, points, reasons, flags."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import typer
from polars.testing import assert_frame_equal
from tests.credit.test_credit_cli import run
from tests.credit.test_credit_scorecard import synthetic
from typer.testing import CliRunner

from kejin.credit import artefact, dataset, models, scale


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    art = models.fit(dataset.prepare(synthetic(1500), "bad"), "scorecard")
    p = tmp_path_factory.mktemp("model") / "card.json"
    p.write_text(artefact.dumps(art))
    return p


def _rows() -> pl.DataFrame:
    rows = synthetic(3000, seed=11).drop("bad").with_row_index("row_id")
    # Values the card never saw: a new region and a missing income, scored and flagged alike.
    return rows.with_columns(
        pl.when(pl.col("row_id") % 97 == 0).then(pl.lit("offshore")).otherwise(pl.col("region"))
        .alias("region")
    )  # fmt: skip


def _write(rows: pl.DataFrame, tmp_path: Path, kind: str) -> Path:
    if kind == "csv":
        rows.write_csv(tmp_path / "in.csv")
        return tmp_path / "in.csv"
    data = tmp_path / "in"
    data.mkdir()
    for i, part in enumerate(rows.iter_slices(1000)):  # a directory of parts, as Spark writes
        part.write_parquet(data / f"part-{i}.parquet")
    return data


def _same(on_spark: pl.DataFrame, local: pl.DataFrame) -> None:
    on_spark, local = on_spark.sort("row_id"), local.sort("row_id")
    assert on_spark.columns == local.columns and on_spark.height == local.height
    exact = [
        pl.col("row_id"),
        pl.col("points"),
        pl.col("reasons").fill_null(""),
        pl.col("flags").fill_null(""),
    ]
    assert_frame_equal(on_spark.select(exact), local.select(exact), check_dtypes=False)
    assert_frame_equal(on_spark.select("pd"), local.select("pd"), rel_tol=1e-12, check_dtypes=False)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_spark_scores_every_row_as_the_local_engine_does(
    spark_session, fitted: Path, tmp_path: Path, kind: str
) -> None:
    rows = _rows()
    data = _write(rows, tmp_path, kind)
    art = artefact.load(fitted)
    rep = scale.score_on_spark(art, data, tmp_path / "spark", "local[2]")
    local = rows.hstack(models.score(art, rows))
    assert rep == {"rows": rows.height, "flagged_rows": int((local["flags"] != "").sum())}
    assert rep["flagged_rows"] > 0
    _same(pl.read_parquet(tmp_path / "spark" / "scores" / "*.parquet"), local)


def test_the_command_scores_on_spark_as_on_the_local_engine(
    spark_session, fitted: Path, tmp_path: Path, sqlite_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI door end to end (in this process, so it joins the tests' Spark session)."""
    from kejin.credit.commands import register

    cli = typer.Typer()
    register(cli)
    data = _write(_rows(), tmp_path, "parquet")
    local_out, spark_out = tmp_path / "local.csv", tmp_path / "spark"
    invoke = CliRunner().invoke
    r = invoke(
        cli,
        ["credit", "score", "--model", str(fitted), "--data", str(data), "--out", str(local_out)],
    )
    assert r.exit_code == 0, r.output
    r = invoke(
        cli,
        ["credit", "score", "--model", str(fitted), "--data", str(data), "--out", str(spark_out),
         "--engine", "spark", "--master", "local[2]"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["engine"] == "spark"
    _same(pl.read_parquet(spark_out / "scores" / "*.parquet"), dataset.read_csv(local_out))

    # The Spark output is a results directory: verifiable (`--dry-run`), but, as a local credit
    # score stores nothing in the database, not imported into it.
    from kejin.ingest.commands import register as register_import

    register_import(cli)
    monkeypatch.setattr("kejin.console.get_engine", lambda: sqlite_engine)
    dry = invoke(cli, ["import", "results", str(spark_out), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["rows"] == {"scores": _rows().height}
    refused = invoke(cli, ["import", "results", str(spark_out)])
    assert refused.exit_code == 2
    assert "不存入数据库" in refused.output and "not stored in the database" in refused.output


def test_the_spark_engine_says_why_it_cannot_run(
    monkeypatch: pytest.MonkeyPatch, fitted: Path, tmp_path: Path
) -> None:
    """Without Java the command refuses with the reason in both languages, not a JVM trace."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    monkeypatch.delenv("JAVA_HOME", raising=False)
    data = tmp_path / "in.csv"
    synthetic(10).drop("bad").write_csv(data)
    r = run(
        "credit", "score", "--model", str(fitted), "--data", str(data),
        "--out", str(tmp_path / "o"), "--engine", "spark",
    )  # fmt: skip
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "无法使用 Spark 引擎" in r.stderr and "openjdk-17-jre-headless" in r.stderr
