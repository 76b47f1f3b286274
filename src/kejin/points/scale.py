"""Innovation points on Spark: the same assembly and kernel, moved by Spark (docs/scale.md).

Three steps, each running kejin's own code on Arrow batches:

1. **Assemble** — the registry rows a firm's frame needs (its registration, this year's and last
   year's indicators, its financing events) are tagged, unioned and grouped by a hash bucket of
   the USCC, so each bucket holds every row of its firms; :func:`kejin.points.service.assemble`
   builds their frame rows there.
2. **Score** — rows are regrouped by peer group (the kernel's own :func:`peer_labels`), and
   :func:`kejin.points.kernels.score_system` scores each group whole: percentiles, winsorisation,
   group ranks and lists depend on the group only.
3. **Rank the region** — the executors write the scored rows as Parquet, the driver reads them
   with Polars and ranks the region by exact integer cents with the kernel's own ``rank_desc``
   (one sort of N integers; the ``min`` tie rule and percentile formula are the kernel's).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.errors import NotFoundError
from kejin.frames import table_schema
from kejin.points.kernels import CENTS, PeerLayout, peer_labels, score_system
from kejin.points.service import (
    RESULT_COLUMNS,
    assemble,
    check_peer,
    frame_inputs,
    results_frame,
    store_run,
)  # fmt: skip
from kejin.points.system import System, load_system
from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent
from kejin.scale import snapshot, spark

FIRM_COLUMNS = ["uscc", "stage", "industry_chain", "region_code"]
FIN_COLUMNS = ["uscc", "kind", "occurred_on", "amount"]


def _schemas(system: System) -> dict[str, dict[str, pl.DataType]]:
    fields, lagged = frame_inputs(system)
    ai = AnnualIndicator.__table__
    return {
        "firms": table_schema(Enterprise.__table__, FIRM_COLUMNS),
        "cur": table_schema(ai, ["uscc", *fields]),
        "prev": table_schema(ai, ["uscc", *lagged]),
        "fin": table_schema(FinancingEvent.__table__, FIN_COLUMNS),
    }


def score_on_spark(
    snap: Path, system_name: str, year: int, peer: str | None = None, master: str | None = None
) -> pl.DataFrame:
    """Results of ``system_name`` for ``year`` from a verified snapshot: the rows
    :func:`kejin.points.service.results_frame` gives for a local run, sorted by USCC."""
    snapshot.read_manifest(snap)
    system = load_system(system_name).system
    schemas = _schemas(system)
    _, lagged = frame_inputs(system)
    ss = spark.session(master, app="kejin points score")
    # PySpark is imported once the session exists: a missing PySpark or Java is then the
    # session's clear refusal (SparkUnavailable), not an ImportError.
    from pyspark.sql import functions as F

    ai = ss.read.parquet(str(snap / "annual_indicators"))
    parts = {
        "firms": (ss.read.parquet(str(snap / "enterprises")), schemas["firms"]),
        "cur": (ai.where(F.col("year") == year), schemas["cur"]),
        "prev": (ai.where(F.col("year") == year - 1), schemas["prev"]),
        "fin": (ss.read.parquet(str(snap / "financing_events")), schemas["fin"]),
    }

    def build(pick: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return assemble(pick["firms"], pick["cur"], pick["prev"] if lagged else None,
                        pick["fin"], system, year)  # fmt: skip

    def score(rows: pl.DataFrame) -> pl.DataFrame:
        return results_frame(score_system(rows.sort("uscc"), system, peer=peer), system)

    frame, sample_frame = spark.by_firm(parts, build)
    labelled = spark.map_frames(
        frame, lambda df: df.with_columns(peer_labels(df, system, peer)), sample_frame.head(16)
    )
    sample_results = score(sample_frame)
    scored = spark.apply_groups(
        labelled, "peer_group", lambda df: score(df.drop("peer_group")), sample_results
    )
    # The region-wide rank is one sort of N totals: the kernel's own rank_desc on the driver,
    # once the executors' results are read back (a Spark window without partitions would pull
    # every row, details and all, through one task, and a count would run the job twice).
    result = spark.to_polars(scored).select([*RESULT_COLUMNS, "detail"])
    cents = (result["total"] * CENTS).round().cast(pl.Int64).to_numpy()
    rank_r, _, pct_r = PeerLayout(np.zeros(result.height, dtype=np.int32), 1).rank_desc(cents)
    return result.with_columns(  # rounded as results_frame rounds a local run's
        pl.Series("rank_region", rank_r).cast(sample_results["rank_region"].dtype),
        pl.Series("pct_region", pct_r).round(6),
    ).sort("uscc")


def score_run_on_spark(
    engine: Engine,
    snap: Path,
    system_name: str,
    year: int | None = None,
    peer: str | None = None,
    master: str | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """Score on Spark from a snapshot and store the run in the platform's tables, as a local run
    is stored. The run's input hash is the snapshot manifest's (it names every part's SHA-256),
    and its data pull the newest the snapshot holds."""
    check_peer(peer)
    if year is None:
        year = (
            snapshot.table(snap, "annual_indicators").select(pl.col("year").max()).collect().item()
        )
    results = score_on_spark(snap, system_name, year, peer, master)  # verifies the snapshot
    if results.height == 0:
        raise NotFoundError(f"{year}年没有企业数据", f"no firm has indicators for {year}")
    pull = snapshot.table(snap, "data_pulls").select(pl.col("id").max()).collect().item()
    digest = hashlib.sha256((snap / snapshot.MANIFEST).read_bytes()).hexdigest()
    return store_run(
        engine, load_system(system_name), year, peer, results, digest, pull, session,
    )  # fmt: skip
