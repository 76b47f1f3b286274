"""Policy evaluation on Spark: :func:`kejin.policy.engine.evaluate` itself, a bucket of firms per task.

A policy's rows interact only within one firm (a per-firm cap shared out over its loans in
order, an investor's deduction carried over years: every group a step uses contains the policy's
``firm_column``), so Spark hashes rows by that column into buckets and each bucket is evaluated
whole by the local engine's code — money is the same to the fen. Rows come back in input order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import polars as pl

from kejin.policy.engine import Policy, evaluate
from kejin.scale import spark

ROW = "__input_row"


def evaluate_on_spark(
    policy: Policy,
    frame: pl.DataFrame,
    *,
    as_of: date | None = None,
    overrides: Mapping[str, float | Decimal | str] | None = None,
    file: str | None = None,
    master: str | None = None,
) -> pl.DataFrame:
    """What ``evaluate(policy, frame, ...)[0]`` returns, computed on Spark. A row outside a
    parameter's validity (or any other bad input) is refused with the local engine's message."""

    def kernel(rows: pl.DataFrame) -> pl.DataFrame:
        out, _ = evaluate(policy, rows.drop("_bucket"), as_of=as_of, overrides=overrides, file=file)
        return out

    # Checked here first (columns, vocabulary, parameters) so that a bad file is named at once.
    local_sample, _ = evaluate(policy, frame.head(64), as_of=as_of, overrides=overrides, file=file)
    rows = frame.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    ss = spark.session(master, app=f"kejin policy {policy.id}")
    # PySpark is imported once the session exists: a missing PySpark or Java is then the
    # session's clear refusal (SparkUnavailable), not an ImportError.
    from pyspark.sql import functions as F

    sdf = spark.from_polars(ss, rows).withColumn(
        "_bucket", F.pmod(F.xxhash64(policy.firm_column), F.lit(spark.BUCKETS))
    )
    sample = kernel(rows.head(64).with_columns(pl.lit(0, pl.Int64).alias("_bucket")))
    out = spark.to_polars(spark.apply_groups(sdf, "_bucket", kernel, sample))
    return (
        out.sort(ROW).drop(ROW).select([pl.col(c).cast(t) for c, t in local_sample.schema.items()])
    )
