"""The whitelist refresh on Spark: the same derivation and kernel, a bucket of firms per task.

Every rule of the whitelist reads one firm's own rows (its registration, valid qualifications,
the year's indicators, its loans' latest months, its points), so Spark groups the snapshot's rows
by a hash of the USCC (:func:`kejin.scale.spark.by_firm`) and each bucket runs
:func:`kejin.whitelist.service.derive` and :func:`kejin.whitelist.kernels.refresh` — the local
engine's code — on its firms. The entries come back to the driver, where the version is hashed
and stored exactly as a local refresh stores it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from kejin.frames import table_schema
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.scale import snapshot, spark
from kejin.whitelist.rules import Rules
from kejin.whitelist.service import (
    FIRM_COLUMNS,
    INDICATOR_COLUMNS,
    LOAN_COLUMNS,
    POINTS_SCHEMA,
    QUAL_COLUMNS,
    STATUS_COLUMNS,
    derive,
    entries_of,
)


def entries_on_spark(
    snap: Path, rules: Rules, as_of: dt.date, points: pl.DataFrame, master: str | None = None
) -> pl.DataFrame:
    """The entries a local refresh would store, computed on Spark from a verified snapshot
    (sorted by USCC, as the kernel sorts them). ``points``: the run's totals and lists."""
    snapshot.read_manifest(snap)
    years = (
        snapshot.table(snap, "annual_indicators")
        .filter(pl.col("year") <= as_of.year)
        .select(pl.col("year").max())
        .collect()
        .item()
    )
    ss = spark.session(master, app="kejin whitelist refresh")
    # PySpark is imported once the session exists: a missing PySpark or Java is then the
    # session's clear refusal (SparkUnavailable), not an ImportError.
    from pyspark.sql import functions as F

    read = lambda model: ss.read.parquet(str(snap / model.__tablename__))  # noqa: E731
    ai = AnnualIndicator.__table__
    loans_schema = table_schema(Loan.__table__, LOAN_COLUMNS)
    status_schema = table_schema(LoanStatus.__table__, STATUS_COLUMNS) | {"uscc": pl.String}
    indicators = read(AnnualIndicator).where(F.col("year") == (years or -1))
    # A loan month names its contract only: Spark joins the firm's USCC on so that the month
    # travels to its firm's bucket (moving rows, no rule).
    status = (
        read(LoanStatus)
        .where(F.col("month") <= F.lit(as_of))
        .join(read(Loan).select(*LOAN_COLUMNS), "contract_no")
    )
    parts = {
        "firms": (read(Enterprise), table_schema(Enterprise.__table__, FIRM_COLUMNS)),
        "quals": (read(Qualification), table_schema(Qualification.__table__, QUAL_COLUMNS)),
        "ind": (indicators, table_schema(ai, INDICATOR_COLUMNS)),
        "loans": (read(Loan), loans_schema),
        "status": (status, status_schema),
        "points": (spark.from_polars(ss, points.select(*POINTS_SCHEMA)), POINTS_SCHEMA),
    }

    def kernel(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
        data = derive(
            as_of, f["firms"], f["quals"], f["ind"], f["loans"],
            f["status"].select(STATUS_COLUMNS), f["points"],
        )  # fmt: skip
        return entries_of(rules, as_of, data)

    entries, sample = spark.by_firm(parts, kernel)
    out = spark.to_polars(entries)
    return out.select([pl.col(c).cast(t) for c, t in sample.schema.items()]).sort("uscc")
