"""Innovation points on Spark: the same assembly and kernel, moved by Spark (docs/scale.md).

Three steps, each running kejin's own code on Arrow batches:

1. **Assemble** — the registry rows a firm's frame needs (its registration, this year's and last
   year's indicators, its financing events) are tagged, unioned and grouped by a hash bucket of
   the USCC, so each bucket holds every row of its firms; :func:`kejin.points.service.assemble`
   builds their frame rows there.
2. **Score** — rows are regrouped by peer group (the kernel's own :func:`peer_labels`), and
   :func:`kejin.points.kernels.score_system` scores each group whole: percentiles, winsorisation,
   group ranks and lists depend on the group only.
3. **Rank the region** — by exact integer cents with the kernel's own ``rank_desc`` (the ``min``
   tie rule and percentile formula are the kernel's): on the driver after reading the scored rows
   back, or — writing a results directory (``--results-dir``) — from the count of firms at each
   total, so only the distinct totals reach the driver and the rows stay on the executors, which
   write them as Parquet parts for ``kejin import results`` (:mod:`kejin.scale.results`).

The registry is read from a snapshot or over JDBC (:mod:`kejin.scale.jdbc`).
"""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.db import joined
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import table_schema, write_frame
from kejin.points.kernels import CENTS, PeerLayout, peer_labels, score_system
from kejin.points.service import (
    RESULT_COLUMNS,
    assemble,
    canonical_csv,
    check_peer,
    frame_inputs,
    results_frame,
    store_run,
    summary,
)  # fmt: skip
from kejin.points.system import System, load_system
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent
from kejin.scale import results, spark
from kejin.scale.jdbc import SnapshotSource, Source

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


def _scored(
    src: Source,
    system_name: str,
    year: int,
    peer: str | None,
    master: str | None,
    cents: bool = False,
) -> tuple[Any, pl.DataFrame]:
    """The scored rows as a Spark frame (region rank not yet set) and the kernel's output on a
    sample bucket. ``cents``: each row also carries ``_cents``, its total in exact integer cents
    (computed by Polars in the task, as the driver computes it)."""
    system = load_system(system_name).system
    schemas = _schemas(system)
    _, lagged = frame_inputs(system)
    ss = spark.session(master, app="kejin points score")
    # PySpark is imported once the session exists: a missing PySpark or Java is then the
    # session's clear refusal (SparkUnavailable), not an ImportError.
    from pyspark.sql import functions as F

    ai = src.frame(ss, "annual_indicators")
    parts = {
        "firms": (src.frame(ss, "enterprises"), schemas["firms"]),
        "cur": (ai.where(F.col("year") == year), schemas["cur"]),
        "prev": (ai.where(F.col("year") == year - 1), schemas["prev"]),
        "fin": (src.frame(ss, "financing_events"), schemas["fin"]),
    }

    def build(pick: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return assemble(pick["firms"], pick["cur"], pick["prev"] if lagged else None,
                        pick["fin"], system, year)  # fmt: skip

    def score(rows: pl.DataFrame) -> pl.DataFrame:
        out = results_frame(score_system(rows.sort("uscc"), system, peer=peer), system)
        return out.with_columns(_cents=_cents_of()) if cents else out

    frame, sample_frame = spark.by_firm(parts, build)
    labelled = spark.map_frames(
        frame, lambda df: df.with_columns(peer_labels(df, system, peer)), sample_frame.head(16)
    )
    sample_results = score(sample_frame)
    scored = spark.apply_groups(
        labelled, "peer_group", lambda df: score(df.drop("peer_group")), sample_results
    )
    return scored, sample_results


def _cents_of() -> pl.Expr:
    """A total in exact integer cents: the region rank's key."""
    return (pl.col("total") * CENTS).round().cast(pl.Int64)


def _region_rank(cents: np.ndarray, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]:
    """Region rank and percentile of totals in cents: the kernel's own ``rank_desc``, rounded
    as :func:`results_frame` rounds a local run's."""
    rank_r, _, pct_r = PeerLayout(np.zeros(len(cents), dtype=np.int32), 1).rank_desc(cents)
    return (
        pl.Series("rank_region", rank_r).cast(dtype),
        pl.Series("pct_region", pct_r).round(6),
    )


def score_on_spark(
    snap: Path | Source,
    system_name: str,
    year: int,
    peer: str | None = None,
    master: str | None = None,
) -> pl.DataFrame:
    """Results of ``system_name`` for ``year`` from a verified snapshot (or another source):
    the rows :func:`kejin.points.service.results_frame` gives for a local run, sorted by USCC."""
    src = snap if isinstance(snap, Source) else SnapshotSource(snap)
    src.verify()
    return _collect(src, system_name, year, peer, master)


def _collect(
    src: Source, system_name: str, year: int, peer: str | None, master: str | None
) -> pl.DataFrame:
    """:func:`score_on_spark` on a source already verified."""
    scored, sample_results = _scored(src, system_name, year, peer, master)
    # The region-wide rank is one sort of N totals: the kernel's own rank_desc on the driver,
    # once the executors' results are read back (a Spark window without partitions would pull
    # every row, details and all, through one task, and a count would run the job twice).
    result = spark.to_polars(scored).select([*RESULT_COLUMNS, "detail"])
    cents = result.select(_cents_of()).to_series().to_numpy()
    rank_r, pct_r = _region_rank(cents, sample_results["rank_region"].dtype)
    return result.with_columns(rank_r, pct_r).sort("uscc")


def write_results_on_spark(
    src: Source,
    out: Path,
    system_name: str,
    year: int | None = None,
    peer: str | None = None,
    master: str | None = None,
) -> dict[str, Any]:
    """Score on Spark and have the executors write the results as a results directory ``out``
    (``kejin import results`` stores it); nothing is collected on the driver but the count of
    firms at each distinct total, and nothing is stored in the database here.

    The region rank of a total depends only on how many firms score above and alike, so the
    kernel's ``rank_desc`` runs over the totals rebuilt from those counts, and the (total →
    rank, percentile) table is broadcast back to the executors. The rows are written sorted
    by USCC, so the import's streamed hash is the local run's results hash."""
    check_peer(peer)
    with results.directory(out), closing(src):
        src.verify()
        if year is None:
            year = src.max_year()
        loaded = load_system(system_name)
        scored, sample = _scored(src, system_name, year, peer, master, cents=True)
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        scored = scored.persist(StorageLevel.DISK_ONLY)  # scored once, read twice
        ss = scored.sparkSession
        counts = spark.to_polars(scored.groupBy("_cents").agg(F.count("*").alias("n")))
        if counts.height == 0:
            raise NotFoundError(f"{year}年没有企业数据", f"no firm has indicators for {year}")
        cents = np.repeat(counts["_cents"].to_numpy(), counts["n"].to_numpy())
        rank_r, pct_r = _region_rank(cents, sample["rank_region"].dtype)
        lookup = pl.DataFrame({"_cents": cents}).with_columns(rank_r, pct_r).unique("_cents")
        cols = [*RESULT_COLUMNS, "detail"]
        ranked = (
            scored.drop("rank_region", "pct_region")
            .join(F.broadcast(spark.from_polars(ss, lookup)), "_cents")
            .select(*cols)
            .orderBy("uscc")
        )
        table = results.write_table(ranked, out, "points_results")
        scored.unpersist()
        params = {"system": loaded.system.id, "system_version": loaded.system.version,
                  "system_sha256": loaded.sha256, "year": year, "peer": peer,
                  "input_sha256": src.input_sha256(), "snapshot_pull_id": src.latest_pull()}  # fmt: skip
        manifest = results.write_manifest(
            out, "points score", src.provenance(), params, {"points_results": table}
        )
    return {"results_dir": str(out), "firms": table["rows"], "parts": len(table["parts"]),
            "parameters": manifest["parameters"]}  # fmt: skip


def import_run(
    s: Session, engine: Engine, p: Any, out: Path, manifest: dict[str, Any], head: dict[str, Any]
) -> dict[str, Any]:
    """Store a verified points results directory as a run, as :func:`store_run` stores one: the
    run row, its results streamed a batch at a time (their hash computed on the way, the local
    run's canonical CSV hash), and the run's ``points.score`` audit record, in ``s``."""
    from kejin.access.service import SYSTEM, log

    if p is not SYSTEM:
        raise ValidationError(
            "积分评分是系统批处理，导入时请勿指定 --who", "a points run is a system batch run: "
            "import it without --who",
            [Problem("不适用", "not applicable", field="who", value=p.username)],
        )  # fmt: skip
    params = manifest["parameters"]
    loaded = load_system(params["system"])
    if loaded.sha256 != params["system_sha256"]:
        raise ValidationError(
            "指标体系文件自评分以来已改变，请重新评分", "the points system changed since the run; score again",
            [Problem(f"结果为 {params['system_sha256'][:12]}，当前为 {loaded.sha256[:12]}",
                     f"run with {params['system_sha256'][:12]}, now {loaded.sha256[:12]}",
                     file=str(out / results.MANIFEST), field="parameters.system_sha256")],
        )  # fmt: skip
    system = loaded.system
    stored = {"system": system.id, "year": params["year"],
              "peer": params["peer"] or system.peer_groups.extra}  # fmt: skip
    with joined(engine, s) as unit:
        run = ScoreRun(
            system_id=system.id, system_version=system.version, system_sha256=loaded.sha256,
            year=params["year"], snapshot_pull_id=params["snapshot_pull_id"],
            input_sha256=params["input_sha256"], parameters=json.dumps(stored, sort_keys=True),
            firms=manifest["tables"]["points_results"]["rows"], results_sha256="",
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )  # fmt: skip
        unit.add(run)
        unit.flush()
        digest, first = hashlib.sha256(), True
        for batch in results.batches(out, manifest, "points_results"):
            # The hash of the whole frame's CSV is the hash of its header and each batch's rows.
            digest.update(canonical_csv(batch, header=first))
            first = False
            write_frame(unit.connection(), ScoreResult.__table__,
                        batch.with_columns(run_id=pl.lit(run.id)))  # fmt: skip
        run.results_sha256 = digest.hexdigest()
        unit.flush()
        out_summary = summary(results.scan(out, manifest, "points_results"), system, loaded,
                              run.id, stored, run.results_sha256)  # fmt: skip
        keep = ("system", "version", "year", "firms", "results_sha256")
        log(s, p, "points.score", "score_run", run.id,
            detail={**{k: out_summary.get(k) for k in keep}, "engine": "spark", **head})  # fmt: skip
    return out_summary


def score_run_on_spark(
    engine: Engine,
    snap: Path | Source,
    system_name: str,
    year: int | None = None,
    peer: str | None = None,
    master: str | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """Score on Spark from a snapshot (or over JDBC) and store the run in the platform's tables,
    as a local run is stored. The run's input hash is the snapshot manifest's (it names every
    part's SHA-256; over JDBC, the hash of the read's row counts and data pulls), and its data
    pull the newest the source holds."""
    check_peer(peer)
    src = snap if isinstance(snap, Source) else SnapshotSource(snap)
    try:
        src.verify()
        if year is None:
            year = src.max_year()
        results_ = _collect(src, system_name, year, peer, master)
        if results_.height == 0:
            raise NotFoundError(f"{year}年没有企业数据", f"no firm has indicators for {year}")
        pull, digest = src.latest_pull(), src.input_sha256()
    finally:
        src.close()
    return store_run(
        engine, load_system(system_name), year, peer, results_, digest, pull, session,
    )  # fmt: skip
