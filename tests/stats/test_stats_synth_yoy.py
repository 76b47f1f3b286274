"""Year-on-year growth over the synthetic region (issue 18): its status history reaches a year
before the first month of the status window, so the latest month's YoY and the gap of tech-loan
growth to all-loan growth are filled, and equal a hand computation from the status rows."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import polars as pl
import pytest

from kejin.stats import kernels
from kejin.stats.definitions import monthly
from kejin.synth.model import AS_OF, generate

LATEST = AS_OF.replace(day=1)
YEAR_AGO = date(LATEST.year - 1, LATEST.month, 1)


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return generate(2_000, 20241).tables


def _balance(statuses: pl.DataFrame, month: date, contracts: pl.Series | None = None) -> Fraction:
    rows = statuses.filter(pl.col("month") == month)
    if contracts is not None:
        rows = rows.filter(pl.col("contract_no").is_in(contracts.implode()))
    return Fraction(sum(rows["balance"].to_list(), start=0))


def _tech_contracts(t: dict[str, pl.DataFrame], month: date) -> pl.Series:
    """Loans of firms on the list on the month end: a qualification of a listed kind valid then."""
    end = kernels.month_end(month)
    kinds = sorted(monthly().kinds_on(end))
    firms = t["qualifications"].filter(
        pl.col("kind").is_in(kinds), pl.col("valid_from") <= end, pl.col("valid_to") >= end
    )["uscc"]
    return t["loans"].filter(pl.col("uscc").is_in(firms.implode()))["contract_no"]


def test_latest_month_yoy_is_filled_and_equals_the_status_rows(
    tables: dict[str, pl.DataFrame],
) -> None:
    t = tables
    statuses = t["loan_statuses"].select("contract_no", "month", "balance", "classification")
    assert statuses.filter(pl.col("month") == YEAR_AGO).height > 0
    frames = kernels.Frames(
        loans=t["loans"].select(
            "contract_no", "uscc", "institution_id", "product_id", "amount", "rate",
            "disbursed_on", "maturity_on", "guarantee_type", "first_time_borrower",
        ),  # fmt: skip
        statuses=statuses,
        qualifications=t["qualifications"].select("uscc", "kind", "valid_from", "valid_to"),
    )
    m = kernels.measures(frames, [LATEST])
    (row,) = kernels.indicators(m, monthly())
    shown = row["indicators"]
    all_yoy = _balance(statuses, LATEST) / _balance(statuses, YEAR_AGO) - 1
    tech_yoy = (
        _balance(statuses, LATEST, _tech_contracts(t, LATEST))
        / _balance(statuses, YEAR_AGO, _tech_contracts(t, YEAR_AGO))
        - 1
    )
    assert shown["all_loan_yoy"] is not None and shown["tech_loan_yoy"] is not None
    assert shown["all_loan_yoy"] == float(round(all_yoy, 6))
    assert shown["tech_loan_yoy"] == float(round(tech_yoy, 6))
    assert shown["yoy_gap_pp"] == float(round((tech_yoy - all_yoy) * 100, 4))
