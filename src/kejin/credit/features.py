"""Firm features from the registry: what the tech-firm model, decisions and warnings read.

A pure kernel (:func:`firm_features`) turns registry frames into one row per firm as of a date,
so the same code serves a whole region (batch training, monthly warnings) and a single firm (a
credit decision); :func:`load` is the only part that touches the database. ``as_of`` cuts every
input: indicators of years before ``as_of``'s year, qualifications valid on ``as_of``, financing
and loan history before it, so a model trained on the past never sees the future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Connection

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
            ((pl.lit(as_of) - pl.col("founded_on")).dt.total_days() / 365.25).alias("age_years"),
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
