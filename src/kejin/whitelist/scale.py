"""The whitelist refresh on Spark: the same derivation and kernel, a bucket of firms per task.

Every rule of the whitelist reads one firm's own rows (its registration, valid qualifications,
the year's indicators, its loans' latest months, its points), so Spark groups the snapshot's rows
by a hash of the USCC (:func:`kejin.scale.spark.by_firm`) and each bucket runs
:func:`kejin.whitelist.service.derive` and :func:`kejin.whitelist.kernels.refresh` — the local
engine's code — on its firms. The entries come back to the driver, where the version is hashed
and stored exactly as a local refresh stores it; or, with ``--results-dir``, the executors write
them as a results directory that ``kejin import results`` stores the same way, streamed.
The registry is read from a snapshot or over JDBC (:mod:`kejin.scale.jdbc`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from contextlib import closing
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.access.rules import authorize
from kejin.access.service import SYSTEM, log
from kejin.asof import data_date
from kejin.errors import Problem, ValidationError
from kejin.frames import table_schema, write_frame
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.scale import results, spark
from kejin.scale.jdbc import SnapshotSource, Source
from kejin.whitelist.rules import Rules, load_rules
from kejin.whitelist.service import (
    FIRM_COLUMNS,
    INDICATOR_COLUMNS,
    LOAN_COLUMNS,
    POINTS_SCHEMA,
    QUAL_COLUMNS,
    STATUS_COLUMNS,
    canonical_csv,
    derive,
    entries_of,
    points_of,
    require_points,
    store_version,
)
from kejin.whitelist.tables import WhitelistEntry


def entries_on_spark(
    snap: Path | Source,
    rules: Rules,
    as_of: dt.date,
    points: pl.DataFrame,
    master: str | None = None,
) -> pl.DataFrame:
    """The entries a local refresh would store, computed on Spark from a verified snapshot (or
    another source), sorted by USCC as the kernel sorts them. ``points``: the run's totals and
    lists."""
    src = snap if isinstance(snap, Source) else SnapshotSource(snap)
    try:
        src.verify()
        entries, sample = _entries(src, rules, as_of, points, master)
        out = spark.to_polars(entries)
    finally:
        src.close()
    return out.select([pl.col(c).cast(t) for c, t in sample.schema.items()]).sort("uscc")


def _entries(
    src: Source, rules: Rules, as_of: dt.date, points: pl.DataFrame, master: str | None
) -> tuple[Any, pl.DataFrame]:
    """The entries as a Spark frame, and the kernel's output on a sample bucket."""
    year = src.max_year(as_of.year)
    ss = spark.session(master, app="kejin whitelist refresh")
    # PySpark is imported once the session exists: a missing PySpark or Java is then the
    # session's clear refusal (SparkUnavailable), not an ImportError.
    from pyspark.sql import functions as F

    read = lambda model: src.frame(ss, model.__tablename__)  # noqa: E731
    ai = AnnualIndicator.__table__
    loans_schema = table_schema(Loan.__table__, LOAN_COLUMNS)
    status_schema = table_schema(LoanStatus.__table__, STATUS_COLUMNS) | {"uscc": pl.String}
    indicators = read(AnnualIndicator).where(F.col("year") == (year or -1))
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

    return spark.by_firm(parts, kernel)


def write_entries_on_spark(
    engine: Engine,
    src: Source,
    out: Path,
    as_of: dt.date | None = None,
    rules_name: str = "default",
    run_id: int | None = None,
    master: str | None = None,
) -> dict[str, Any]:
    """A refresh on Spark whose entries the executors write as a results directory ``out``,
    sorted by USCC (``kejin import results`` stores the version); nothing is stored here.
    The as-of date (when not given) and the points run come from the database, as for a
    refresh from a snapshot."""
    with results.directory(out), closing(src):
        src.verify()
        if as_of is None:
            with engine.connect() as conn:
                as_of = data_date(conn)
        rules, sha = load_rules(rules_name)
        score_run, points = points_of(engine, rules.points_system, run_id)
        require_points(rules, score_run)
        entries, _ = _entries(src, rules, as_of, points, master)
        table = results.write_table(entries.orderBy("uscc"), out, "whitelist_entries")
        params = {"as_of": as_of.isoformat(), "rules": rules.id, "rules_version": rules.version,
                  "rules_sha256": sha, "score_run": score_run}  # fmt: skip
        manifest = results.write_manifest(
            out, "whitelist refresh", src.provenance(), params, {"whitelist_entries": table}
        )
    return {"results_dir": str(out), "entries": table["rows"], "parts": len(table["parts"]),
            "parameters": manifest["parameters"]}  # fmt: skip


def import_version(
    s: Session, engine: Engine, p: Any, out: Path, manifest: dict[str, Any], head: dict[str, Any]
) -> dict[str, Any]:
    """Store a verified whitelist results directory as a version, as a refresh stores one, in
    ``s`` with its ``whitelist.refresh`` audit record (as ``p``: a person allowed to refresh,
    or the system). The entries' hash, members and tiers are streamed from the parts first (an
    unchanged refresh stores nothing), then the entries are streamed into the table."""
    params = manifest["parameters"]
    _, sha = load_rules(params["rules"])
    if sha != params["rules_sha256"]:
        raise ValidationError(
            "白名单规则文件自刷新以来已改变，请重新刷新", "the rule set changed since the refresh; refresh again",
            [Problem(f"结果为 {params['rules_sha256'][:12]}，当前为 {sha[:12]}",
                     f"refreshed with {params['rules_sha256'][:12]}, now {sha[:12]}",
                     file=str(out / results.MANIFEST), field="parameters.rules_sha256")],
        )  # fmt: skip
    if p is not SYSTEM:
        authorize(s, p, "whitelist.refresh")
    digest, first, members, tiers = hashlib.sha256(), True, 0, {}
    for batch in results.batches(out, manifest, "whitelist_entries"):
        digest.update(canonical_csv(batch, header=first))
        first = False
        member = batch.filter(pl.col("status") == "member")
        members += member.height
        for tier, n in member.group_by("tier").len().iter_rows():
            tiers[tier] = tiers.get(tier, 0) + n

    def write(unit: Session, version_id: int) -> None:
        for batch in results.batches(out, manifest, "whitelist_entries"):
            write_frame(unit.connection(), WhitelistEntry.__table__,
                        batch.with_columns(version_id=pl.lit(version_id)))  # fmt: skip

    rows = manifest["tables"]["whitelist_entries"]["rows"]
    rules = {"id": params["rules"], "version": params["rules_version"], "sha256": sha}
    res = store_version(
        engine, s, dt.date.fromisoformat(params["as_of"]), rules, params["score_run"],
        digest.hexdigest(), members, rows - members, dict(sorted(tiers.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))),
        None if p is SYSTEM else p.username, write,
    )  # fmt: skip
    log(s, p, "whitelist.refresh", "whitelist_version", res["version"],
        after={**res, "engine": "spark", **head})  # fmt: skip
    return res
