"""The monthly statistics on Spark: the same kernel, a bucket of firms per task, sums added.

Every figure of the statistics kernel is a sum of money or a count of distinct firms per
(month, group), and every such firm-level fact (its population months, its first disbursement,
its balance) is computed from that firm's own rows. So Spark groups the snapshot's rows by a
hash of the USCC (:func:`kejin.scale.spark.by_firm`), each bucket runs the local engine's first
stage (:func:`kejin.stats.kernels.partials_by`) on its firms, and the driver adds the buckets'
partials and runs the local engine's second stage (:func:`kejin.stats.kernels.finish`: the
groups each month reports, the fills, the year- and month-ago figures) once, on the sums. The
months that have data and the LPR months are facts of the whole snapshot, taken on the driver.
The reports are built by the same functions as a local run's (:mod:`kejin.stats.service`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from kejin.frames import table_schema
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import Enterprise, Qualification
from kejin.scale import snapshot, spark
from kejin.stats import kernels, service
from kejin.whitelist.tables import WhitelistEntry

#: The partials' tags in the frame that travels back from the executors: a breakdown's own
#: name ("" for the whole), the population totals, and the first-loan flag check's rows.
WHOLE, TOTALS, FLAGS = "", "#totals", "#flags"
#: The partial columns, all sums: Int64, and the amount × rate products (Int128 in the kernel)
#: as 38-digit decimals, which Arrow and Spark carry exactly.
INT_SUMS = (
    "all_balance", "balance", "credit_balance", "medium_long_balance", "npl_balance",
    "ip_pledge_balance", "all_npl_balance", "borrowers", "firms", "new_amount", "first_time",
    "new_borrowers", "pop_total",
)  # fmt: skip
WIDE_SUMS = ("new_amount_rate", "new_amount_spread")
WIDE = pl.Decimal(38, 0)
FLAG_SCHEMA: dict[str, pl.DataType] = {
    "contract_no": pl.String(),
    "uscc": pl.String(),
    "institution_id": pl.String(),
    "disbursed_on": pl.Date(),
    "reported": pl.Boolean(),
    "computed": pl.Boolean(),
    "first_disbursed_on": pl.Date(),
}
WIRE: dict[str, pl.DataType] = {
    "part": pl.String(),
    "month": pl.Date(),
    "group": pl.String(),
    **{c: pl.Int64() for c in INT_SUMS},
    **{c: WIDE for c in WIDE_SUMS},
    **{f"flag_{c}": t for c, t in FLAG_SCHEMA.items()},
}
ENTRY_COLUMNS = ["version_id", "uscc", "tier"]


def _tag(by: str | None) -> str:
    return WHOLE if by is None else by


def _wire(part: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A partial (or the flag rows, columns prefixed) in the one schema every bucket returns."""
    known = set(WIRE)
    unknown = [c for c in frame.columns if c not in known]
    if unknown:  # a new kernel column must be added here, never dropped unseen
        raise ValueError(
            f"the statistics partial has columns the Spark engine does not add up: {unknown}"
        )
    return frame.select(
        pl.lit(part).alias("part"),
        *[
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in WIRE.items()
            if c != "part"
        ],
    )


def month_facts(ss: Any, snap: Path) -> pl.DataFrame:
    """(month, pull_id) for every month that has loan-status rows, with the latest data pull
    among them: the months a trend offers and a report may ask for, and the data date."""
    from pyspark.sql import functions as F

    return spark.to_polars(
        ss.read.parquet(str(snap / LoanStatus.__tablename__))
        .groupBy("month")
        .agg(F.max("pull_id").alias("pull_id"))
    ).sort("month")


def data_as_of(snap: Path, facts: pl.DataFrame, month: date) -> str | None:
    """When the month's status data was loaded, as :func:`kejin.stats.service` states it."""
    pull = facts.filter(pl.col("month") == month)["pull_id"].max()
    if pull is None:
        return None
    at = snapshot.table(snap, "data_pulls").filter(pl.col("id") == pull).collect()["loaded_at"]
    return None if at.is_empty() or at[0] is None else at[0].isoformat(timespec="seconds")


def measures_on_spark(
    ss: Any,
    snap: Path,
    months: Sequence[date],
    bys: Sequence[str | None],
    population: str,
    with_data: Sequence[date],
    tiers_at: date,
    flags_month: date | None = None,
) -> tuple[dict[str | None, pl.DataFrame], pl.DataFrame | None]:
    """:func:`kejin.stats.kernels.measures_by` of the snapshot's registry, on Spark; and the
    first-loan flag check of ``flags_month`` when asked. ``with_data``: the months with status
    rows (:func:`month_facts`); ``tiers_at``: the month whose end picks the whitelist version
    of the tier breakdown (the report's month, as the local engine reads it)."""
    from pyspark.sql import functions as F

    asked = sorted({kernels.month_start(m) for m in months})
    every = sorted(
        set(asked)
        | {kernels.shift_months(m, -12) for m in asked}
        | {kernels.shift_months(m, -1) for m in asked}
    )
    # Small tables travel whole to every task (inside the kernel's closure).
    products = snapshot.table(snap, "products").select("id", "kind").collect()
    lpr = snapshot.table(snap, "lpr_rates").select("month", "lpr_1y", "lpr_5y").collect()
    versions = snapshot.table(snap, "whitelist_versions").select("id", "as_of").collect()
    vid = service.tier_version(versions, kernels.month_end(tiers_at))

    read = lambda model: ss.read.parquet(str(snap / model.__tablename__))  # noqa: E731
    loans_schema = table_schema(Loan.__table__, service.LOAN_COLUMNS)
    status_schema = table_schema(LoanStatus.__table__, service.STATUS_COLUMNS)
    # A loan month names its contract only: the firm's USCC is joined on so that the month
    # travels to its firm's bucket (moving rows: the months outside the ones asked, a year and
    # a month before them are left behind, as the local engine's read leaves them).
    status = (
        read(LoanStatus)
        .where(F.col("month").isin(every))
        .select(*service.STATUS_COLUMNS)
        .join(read(Loan).select("contract_no", "uscc"), "contract_no")
    )
    parts = {
        "loans": (read(Loan), loans_schema),
        "status": (status, status_schema | {"uscc": pl.String()}),
        "quals": (read(Qualification), table_schema(Qualification.__table__, service.QUAL_COLUMNS)),
        "firms": (read(Enterprise), table_schema(Enterprise.__table__, service.FIRM_COLUMNS)),
        "entries": (
            read(WhitelistEntry).where(F.col("status") == "member"),
            table_schema(WhitelistEntry.__table__, ENTRY_COLUMNS),
        ),
    }
    # The kernel's own dtypes, learnt when by_firm runs it on one bucket here on the driver:
    # the sums come back in the wire's wider types and are cast back to these.
    learnt: dict[str, dict[str, pl.DataType]] = {}

    def kernel(f: dict[str, pl.DataFrame]) -> pl.DataFrame:
        entries = f["entries"]
        tiers = (
            entries.filter(pl.col("version_id") == vid).select("uscc", "tier")
            if vid is not None
            else pl.DataFrame(schema={"uscc": pl.String, "tier": pl.String})
        )
        frames = kernels.Frames(
            loans=f["loans"],
            statuses=f["status"].select(service.STATUS_COLUMNS),
            qualifications=f["quals"],
            firms=f["firms"],
            tiers=tiers,
            products=products,
            lpr=lpr,
            members=service.member_spans(versions, entries.select("version_id", "uscc")),
        )
        partials, totals = kernels.partials_by(frames, asked, bys, population)
        out = [_wire(_tag(by), p) for by, p in partials.items()]
        out.append(_wire(TOTALS, totals.with_columns(group=pl.lit(kernels.TOTAL))))
        for by, p in partials.items():
            learnt.setdefault(_tag(by), dict(p.schema))
        if flags_month is not None:
            flags = kernels.flag_disagreements(frames, flags_month)
            learnt.setdefault(FLAGS, dict(flags.schema))
            out.append(_wire(FLAGS, flags.rename(lambda c: f"flag_{c}")))
        return pl.concat(out)

    result, _ = spark.by_firm(parts, kernel)
    wire = spark.to_polars(result)

    sums = (
        wire.filter(pl.col("part") != FLAGS)
        .group_by("part", "month", "group")
        .agg(pl.col(*INT_SUMS).sum(), pl.col(*WIDE_SUMS).sum())
    )
    totals = sums.filter(pl.col("part") == TOTALS).select("month", "pop_total").sort("month")
    lpr_months = lpr["month"].to_list()
    data = [m for m in with_data if m in set(every)]
    out: dict[str | None, pl.DataFrame] = {}
    for by in bys:
        schema = learnt[_tag(by)]
        raw = sums.filter(pl.col("part") == _tag(by)).select(
            [pl.col(c).cast(t) for c, t in schema.items()]
        )
        out[by] = kernels.finish(raw, totals, by, asked, data, lpr_months)
    flags = None
    if flags_month is not None:
        flags = (
            wire.filter(pl.col("part") == FLAGS)
            .select([pl.col(f"flag_{c}").cast(t).alias(c) for c, t in learnt[FLAGS].items()])
            .sort("contract_no")
        )
    return out, flags


def month_reports_on_spark(
    snap: Path,
    month_text: str,
    bys: Sequence[str | None],
    population: str = "list",
    master: str | None = None,
) -> dict[str | None, dict[str, Any]]:
    """:func:`kejin.stats.service.month_reports` computed on Spark from a verified snapshot:
    the same refusals, the same reports."""
    service.check_request(bys, population)
    month = service.parse_month(month_text)
    snapshot.read_manifest(snap)
    ss = spark.session(master, app="kejin stats month")
    facts = month_facts(ss, snap)
    with_data = facts["month"].to_list()
    if month not in with_data:
        service.refuse_month(month)
    m, flags = measures_on_spark(
        ss, snap, [month], service.report_breakdowns(bys), population, with_data, month, month
    )
    assert flags is not None
    lpr = snapshot.table(snap, "lpr_rates").select("month", "lpr_1y", "lpr_5y").collect()
    return service.reports(month, bys, population, m, flags, data_as_of(snap, facts, month), lpr)


def series_on_spark(
    snap: Path,
    through_text: str,
    months: int = 13,
    by: str | None = None,
    population: str = "list",
    master: str | None = None,
) -> dict[str, Any]:
    """:func:`kejin.stats.service.series` computed on Spark from a verified snapshot."""
    service.check_request([by], population)
    through = service.parse_month(through_text, "through")
    snapshot.read_manifest(snap)
    ss = spark.session(master, app="kejin stats trend")
    with_data = month_facts(ss, snap)["month"].to_list()
    if through not in with_data:
        service.refuse_month(through)
    have = service.trend_months(with_data, through, months)
    m, _ = measures_on_spark(
        ss, snap, have, service.report_breakdowns([by]), population, with_data, through
    )
    return service.series_report(through, have, by, population, m)
