"""Credit scoring on Spark: the same ``models.score`` kernel, run on each partition via Arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from kejin.credit import models
from kejin.errors import Problem, ValidationError
from kejin.scale import results, spark


def score_on_spark(art: dict, data: Path, out: Path, master: str | None = None) -> dict[str, Any]:
    """Score ``data`` (CSV with a header, or Parquet) into a results directory ``out``: the
    executors write the scored rows as Parquet parts under ``out/scores/`` and the driver the
    manifest (the model's content hash, the input, each part's rows and SHA-256;
    :mod:`kejin.scale.results`). A local ``credit score`` stores nothing in the database (it
    writes a file), so neither does this; ``kejin import results --dry-run`` verifies it.

    Each partition is scored by :func:`kejin.credit.models.score` itself, so a row gets the same
    pd, points and reasons on one machine or on a cluster (tests/scale compares them row by row).
    """
    if not data.exists():
        raise ValidationError(
            "数据文件不存在", "data file not found", [Problem("", "", file=str(data))]
        )
    with results.directory(out):
        return _score(art, data, out, master)


def _score(art: dict, data: Path, out: Path, master: str | None) -> dict[str, Any]:
    ss = spark.session(master, app="kejin credit score")
    if data.suffix.lower() == ".csv":
        # Read on the driver with the local reader's rules (missing-value markers, types), so
        # both engines see the same values; Spark then partitions it. For inputs too large for
        # the driver, pass Parquet, which every executor reads in parallel.
        from kejin.credit import dataset

        local = dataset.read_csv(data)
        sdf = ss.createDataFrame(spark.arrow(local))
        sample = local.head(16)
    else:
        sdf = ss.read.parquet(str(data))
        sample = spark.to_polars(sdf.limit(16))

    def kernel(df: pl.DataFrame) -> pl.DataFrame:
        return df.hstack(models.score(art, df))

    scored = spark.map_frames(sdf, kernel, sample)
    table = results.write_table(scored, out, "scores")
    back = ss.read.parquet(str(out / "scores"))
    flagged = back.filter(back["flags"] != "").count()
    params = {"model": art["content_hash"], "flagged_rows": flagged}
    results.write_manifest(
        out, "credit score", {"kind": "file", "path": str(data)}, params, {"scores": table}
    )
    return {"rows": table["rows"], "flagged_rows": flagged}
