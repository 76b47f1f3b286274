"""Credit scoring on Spark: the same ``models.score`` kernel, run on each partition via Arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from kejin.credit import models
from kejin.errors import Problem, ValidationError
from kejin.scale import spark


def score_on_spark(art: dict, data: Path, out: Path, master: str | None = None) -> dict[str, Any]:
    """Score ``data`` (CSV with a header, or Parquet) into a Parquet directory ``out``.

    Each partition is scored by :func:`kejin.credit.models.score` itself, so a row gets the same
    pd, points and reasons on one machine or on a cluster (tests/scale compares them row by row).
    """
    if not data.exists():
        raise ValidationError(
            "数据文件不存在", "data file not found", [Problem("", "", file=str(data))]
        )
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
    scored.write.mode("overwrite").parquet(str(out))
    back = ss.read.parquet(str(out))
    rows = back.count()
    flagged = back.filter(back["flags"] != "").count()
    return {"rows": rows, "flagged_rows": flagged}
