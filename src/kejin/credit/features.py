"""Firm features from the registry: what the tech-firm model, decisions and warnings read.

A pure kernel (:func:`firm_features`) turns registry frames into one row per firm as of a date,
so the same code serves a whole region (batch training, monthly warnings) and a single firm (a
credit decision); :func:`load` is the only part that touches the database. ``as_of`` cuts every
input: indicators of years before ``as_of``'s year, qualifications valid on ``as_of``, financing
and loan history before it, so a model trained on the past never sees the future.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from kejin.frames import read_frame
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent, Qualification

INDICATORS = (
    "revenue",
    "profit",
    "total_assets",
    "total_liabilities",
    "rd_expense",
    "rd_staff",
    "staff",
    "high_tech_revenue",
    "invention_patents",
    "utility_patents",
    "software_copyrights",
    "tax_paid",
    "tax_credit_grade",
)
TOP_LISTS = ("little_giant", "single_champion", "innovation_demo_firm")
_USCC = re.compile(r"^[0-9A-Z]{18}$")


@dataclass
class RegistryFrames:
    enterprises: pl.DataFrame
    indicators: pl.DataFrame
    qualifications: pl.DataFrame
    financing: pl.DataFrame
    loans: pl.DataFrame
    statuses: pl.DataFrame


def load(conn: Connection, uscc: str | None = None) -> RegistryFrames:
    """Registry frames for one firm (``uscc``) or for every firm."""
    if uscc is not None and not _USCC.match(uscc):
        raise ValueError(f"not a normalised USCC: {uscc!r}")
    where = f"uscc = '{uscc}'" if uscc else None
    few = uscc is not None
    ind_cols = ["uscc", "year", *INDICATORS]
    loans = read_frame(
        conn,
        Loan.__table__,
        ["contract_no", "uscc", "amount", "disbursed_on", "maturity_on", "guarantee_type"],
        where,
        few=few,
    )
    st_where = None
    if uscc:
        st_where = f"contract_no IN (SELECT contract_no FROM loans WHERE uscc = '{uscc}')"
    return RegistryFrames(
        enterprises=read_frame(
            conn,
            Enterprise.__table__,
            [
                "uscc",
                "name",
                "founded_on",
                "stage",
                "industry_chain",
                "dishonest",
                "deregistered",
                "abnormal_operation",
            ],
            where,
            few=few,
        ),
        indicators=read_frame(conn, AnnualIndicator.__table__, ind_cols, where, few=few),
        qualifications=read_frame(
            conn,
            Qualification.__table__,
            ["uscc", "kind", "valid_from", "valid_to"],
            where,
            few=few,
        ),
        financing=read_frame(
            conn,
            FinancingEvent.__table__,
            ["uscc", "kind", "occurred_on", "amount"],
            where,
            few=few,
        ),
        loans=loans,
        statuses=read_frame(
            conn,
            LoanStatus.__table__,
            ["contract_no", "month", "balance", "days_past_due", "classification"],
            st_where,
            few=few,
        ),
    )


#: Years per day (the age of a firm is its days × this).
_PER_YEAR = 1 / 365.25


def _f(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64)


def firm_features(r: RegistryFrames, as_of: date) -> pl.DataFrame:
    """One row per firm: latest-year indicators, growth, ratios, titles, financing, loan history.

    "Latest year" is the last fiscal year before ``as_of``'s year (annual reports arrive after
    the year closes), and growth compares it with the year before.
    """
    year = as_of.year - 1
    ind = r.indicators.filter(pl.col("year") <= year)
    last = ind.sort("year").group_by("uscc").agg(pl.all().last())
    prev = (
        ind.join(last.select("uscc", pl.col("year").alias("ly")), on="uscc")
        .filter(pl.col("year") == pl.col("ly") - 1)
        .select("uscc", _f("revenue").alias("revenue_prev"), _f("tax_paid").alias("tax_prev"))
    )
    q = r.qualifications.filter((pl.col("valid_from") <= as_of) & (pl.col("valid_to") >= as_of))
    quals = q.group_by("uscc").agg(
        pl.col("kind").n_unique().alias("qualifications"),
        pl.col("kind").is_in(["hnte"]).any().alias("hnte"),
        pl.col("kind").is_in(list(TOP_LISTS)).any().alias("top_list"),
    )
    fin = (
        r.financing.filter(pl.col("occurred_on") < as_of)
        .group_by("uscc")
        .agg(
            pl.len().alias("financing_events"),
            _f("amount").sum().alias("financing_amount"),
        )
    )
    st = r.statuses.filter(pl.col("month") < as_of).join(
        r.loans.select("contract_no", "uscc"), on="contract_no"
    )
    hist = st.group_by("uscc").agg(
        pl.col("days_past_due").max().alias("max_dpd_ever"),
        pl.col("contract_no").n_unique().alias("loans_seen"),
    )
    out = (
        r.enterprises.join(last, on="uscc", how="left")
        .join(prev, on="uscc", how="left")
        .join(quals, on="uscc", how="left")
        .join(fin, on="uscc", how="left")
        .join(hist, on="uscc", how="left")
        .with_columns(
            # × (1 / 365.25), not ÷ 365.25: Polars divides a long column by a scalar as a
            # multiplication by its reciprocal but a one-row frame truly, so the same firm's age
            # differed in the last bit between a region and a decision. A product is one
            # rounding however it is computed, here and in firm_row_features.
            ((pl.lit(as_of) - pl.col("founded_on")).dt.total_days() * _PER_YEAR).alias("age_years"),
            (_f("total_liabilities") / _f("total_assets")).alias("leverage"),
            (_f("profit") / _f("revenue")).alias("margin"),
            (_f("rd_expense") / _f("revenue")).alias("rd_intensity"),
            (_f("rd_staff") / _f("staff")).alias("rd_staff_share"),
            (_f("high_tech_revenue") / _f("revenue")).alias("high_tech_share"),
            (_f("revenue") / pl.col("revenue_prev") - 1).alias("revenue_growth"),
            (_f("tax_paid") / pl.col("tax_prev") - 1).alias("tax_growth"),
            (
                pl.col("invention_patents").fill_null(0) * 3
                + pl.col("utility_patents").fill_null(0)
                + pl.col("software_copyrights").fill_null(0)
            ).alias("ip_weighted"),
            pl.col("qualifications").fill_null(0),
            pl.col("hnte").fill_null(False),
            pl.col("top_list").fill_null(False),
            pl.col("financing_events").fill_null(0),
            pl.col("financing_amount").fill_null(0.0),
            pl.col("max_dpd_ever").fill_null(0),
            pl.col("loans_seen").fill_null(0),
            _f("revenue").log1p().alias("log_revenue"),
            _f("total_assets").log1p().alias("log_assets"),
        )
        .with_columns(pl.col(pl.Float64).replace([float("inf"), float("-inf")], None))
        .sort("uscc")
    )
    return out


#: The columns the tech-firm model learns from (no identifiers, no raw money levels).
MODEL_FEATURES = (
    "stage",
    "industry_chain",
    "age_years",
    "log_revenue",
    "log_assets",
    "leverage",
    "margin",
    "rd_intensity",
    "rd_staff_share",
    "high_tech_share",
    "revenue_growth",
    "tax_growth",
    "ip_weighted",
    "qualifications",
    "financing_events",
    "tax_credit_grade",
    "max_dpd_ever",
)


# ---------------------------------------------------------------- one firm, without Polars
#
# A credit decision needs the model features of one firm. Built with the batch kernel above, a
# one-row frame cost about 40 Polars steps (4–6 ms of CPU whatever the size, collected lazily or
# not) plus six reads: a decision took 22 ms, most of it CPU taken from the event loop's reads
# under load. The functions below compute the same row from plain Python rows. The rule is the
# kernel above; this is its one-firm reading, and tests/credit/test_credit_single_firm.py holds
# it to the kernel's output over every firm of synthetic regions (SQLite and PostgreSQL).

#: Columns of each table the one-firm path reads (the subset the features and the decision use).
ONE_FIRM_COLUMNS: dict[str, tuple[str, ...]] = {
    "enterprises": (
        "uscc",
        "name",
        "founded_on",
        "stage",
        "industry_chain",
        "dishonest",
        "deregistered",
        "abnormal_operation",
    ),
    "annual_indicators": ("year", *INDICATORS),
    "qualifications": ("kind", "valid_from", "valid_to"),
    "financing_events": ("occurred_on", "amount"),
    "loan_statuses": ("contract_no", "month", "days_past_due"),
}


@dataclass
class FirmRows:
    """One firm's registry rows as plain dicts (what :func:`load_rows` reads)."""

    enterprise: dict[str, Any] | None
    indicators: list[dict[str, Any]] = field(default_factory=list)
    qualifications: list[dict[str, Any]] = field(default_factory=list)
    financing: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    #: Anything else the caller asked for in the same round trip (name → rows).
    extra: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def _one_firm_sql(uscc: str) -> list[tuple[str, str]]:
    tables = {
        "enterprises": Enterprise.__table__,
        "annual_indicators": AnnualIndicator.__table__,
        "qualifications": Qualification.__table__,
        "financing_events": FinancingEvent.__table__,
    }
    out = []
    for name, table in tables.items():
        cols = ", ".join(f'"{c}"' for c in ONE_FIRM_COLUMNS[name])
        out.append((name, f"SELECT {cols} FROM \"{table.name}\" WHERE uscc = '{uscc}'"))
    cols = ", ".join(f"s.{c}" for c in ONE_FIRM_COLUMNS["loan_statuses"])
    out.append(
        (
            "loan_statuses",
            f"SELECT {cols} FROM loan_statuses s JOIN loans l ON l.contract_no = s.contract_no "
            f"WHERE l.uscc = '{uscc}'",
        )
    )
    return out


def load_rows(conn: Connection, uscc: str, extra: Sequence[tuple[str, Any]] = ()) -> FirmRows:
    """One firm's registry rows; on PostgreSQL in one round trip (the statements sent together,
    each its own result), with ``extra`` (name, SQLAlchemy select) statements in the same trip.
    """
    if not _USCC.match(uscc):
        raise ValueError(f"not a normalised USCC: {uscc!r}")
    parts = _one_firm_sql(uscc)
    results: dict[str, list[tuple[Any, ...]]] = {}
    if conn.dialect.name == "postgresql":
        texts = [q for _, q in parts]
        dbapi = conn.connection.driver_connection
        for _, stmt in extra:
            # Values rendered as SQL literals by SQLAlchemy (simple protocol: no parameters
            # when several statements travel together); pyformat's escaped % undone.
            compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            texts.append(str(compiled).replace("%%", "%"))
        names = [n for n, _ in parts] + [n for n, _ in extra]
        with dbapi.cursor() as cur:
            cur.execute("; ".join(texts))
            for i, name in enumerate(names):
                if i:
                    cur.nextset()
                results[name] = cur.fetchall()
    else:
        # SQLite (tests, demos): one statement each through SQLAlchemy, so the column types
        # (scaled-integer decimals, ISO dates) come back as on PostgreSQL.
        for name, _sql in parts:
            table = {
                "enterprises": Enterprise.__table__,
                "annual_indicators": AnnualIndicator.__table__,
                "qualifications": Qualification.__table__,
                "financing_events": FinancingEvent.__table__,
                "loan_statuses": LoanStatus.__table__,
            }[name]
            cols = [table.c[c] for c in ONE_FIRM_COLUMNS[name]]
            if name == "loan_statuses":
                stmt = select(*cols).where(
                    table.c.contract_no.in_(
                        select(Loan.__table__.c.contract_no).where(Loan.__table__.c.uscc == uscc)
                    )
                )
            else:
                stmt = select(*cols).where(table.c.uscc == uscc)
            results[name] = [tuple(r) for r in conn.execute(stmt)]
        for name, stmt in extra:
            results[name] = [tuple(r) for r in conn.execute(stmt)]

    def named(name: str) -> list[dict[str, Any]]:
        cols = ONE_FIRM_COLUMNS[name]
        return [dict(zip(cols, r, strict=True)) for r in results[name]]

    ent = named("enterprises")
    return FirmRows(
        enterprise=ent[0] if ent else None,
        indicators=sorted(named("annual_indicators"), key=lambda r: r["year"]),
        qualifications=named("qualifications"),
        financing=named("financing_events"),
        statuses=named("loan_statuses"),
        extra={n: results[n] for n, _ in extra},
    )


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _div(a: float | None, b: float | None) -> float | None:
    """``a / b`` as Polars divides Float64: IEEE (x/0 is ±inf, 0/0 NaN), null if either is."""
    if a is None or b is None:
        return None
    if b == 0:
        return (
            math.nan
            if a == 0 or math.isnan(a)
            else math.copysign(math.inf, a) * (math.copysign(1.0, b))
        )
    return a / b


def _log1p(v: float | None) -> float | None:
    if v is None:
        return None
    if v == -1:
        return -math.inf
    return math.nan if v < -1 or math.isnan(v) else math.log1p(v)


def _finite(v: Any) -> Any:
    """The kernel's last step: an infinite float becomes null (NaN stays)."""
    return None if isinstance(v, float) and math.isinf(v) else v


def firm_row_features(r: FirmRows, as_of: date) -> dict[str, Any]:
    """:data:`MODEL_FEATURES` of one firm as of ``as_of``: :func:`firm_features`' row for it,
    value for value, computed from plain rows."""
    e = r.enterprise
    assert e is not None
    year = as_of.year - 1
    ind = [i for i in r.indicators if i["year"] <= year]
    last = ind[-1] if ind else {}
    prev = next((i for i in ind if i["year"] == last.get("year", 0) - 1), None) if ind else None
    revenue = _float(last.get("revenue"))
    revenue_prev = _finite(_float(prev["revenue"])) if prev else None
    tax_prev = _finite(_float(prev["tax_paid"])) if prev else None
    g = _div(revenue, revenue_prev)
    t = _div(_float(last.get("tax_paid")), tax_prev)
    # A null date fails a filter in the kernel (null comparisons are not true): so here.
    kinds = {
        q["kind"]
        for q in r.qualifications
        if q["valid_from"] is not None
        and q["valid_to"] is not None
        and q["valid_from"] <= as_of <= q["valid_to"]
    }
    dpds = [s["days_past_due"] for s in r.statuses if s["month"] < as_of]
    founded = e["founded_on"]
    out = {
        "stage": e["stage"],
        "industry_chain": e["industry_chain"],
        "age_years": None if founded is None else (as_of - founded).days * _PER_YEAR,
        "log_revenue": _log1p(revenue),
        "log_assets": _log1p(_float(last.get("total_assets"))),
        "leverage": _div(_float(last.get("total_liabilities")), _float(last.get("total_assets"))),
        "margin": _div(_float(last.get("profit")), revenue),
        "rd_intensity": _div(_float(last.get("rd_expense")), revenue),
        "rd_staff_share": _div(_float(last.get("rd_staff")), _float(last.get("staff"))),
        "high_tech_share": _div(_float(last.get("high_tech_revenue")), revenue),
        "revenue_growth": None if g is None else g - 1,
        "tax_growth": None if t is None else t - 1,
        "ip_weighted": (last.get("invention_patents") or 0) * 3
        + (last.get("utility_patents") or 0)
        + (last.get("software_copyrights") or 0),
        "qualifications": len(kinds),
        "financing_events": sum(
            1 for f in r.financing if f["occurred_on"] is not None and f["occurred_on"] < as_of
        ),
        "tax_credit_grade": last.get("tax_credit_grade"),
        "max_dpd_ever": max((d for d in dpds if d is not None), default=0),
    }
    return {k: _finite(v) for k, v in out.items()}
