"""The hand-computed portfolios in ``cases/``: every indicator, overall and by each breakdown."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from kejin.stats import kernels
from kejin.stats.definitions import monthly

CASES = Path(__file__).parent / "cases"

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "loans": {
        "contract_no": pl.String(),
        "uscc": pl.String(),
        "institution_id": pl.String(),
        "product_id": pl.String(),
        "amount": pl.Decimal(18, 2),
        "rate": pl.Decimal(9, 6),
        "disbursed_on": pl.Date(),
        "maturity_on": pl.Date(),
        "guarantee_type": pl.String(),
        "first_time_borrower": pl.Boolean(),
    },
    "statuses": {
        "contract_no": pl.String(),
        "month": pl.Date(),
        "balance": pl.Decimal(18, 2),
        "classification": pl.String(),
    },
    "qualifications": {
        "uscc": pl.String(),
        "kind": pl.String(),
        "valid_from": pl.Date(),
        "valid_to": pl.Date(),
    },
    "firms": {"uscc": pl.String(), "industry_chain": pl.String(), "stage": pl.String()},
    "tiers": {"uscc": pl.String(), "tier": pl.String()},
    "products": {"id": pl.String(), "kind": pl.String()},
}


def table(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A case table with its money read as the decimal written (``"0.035000"`` is that decimal)."""
    schema = SCHEMAS[name]
    exact = {k for k, t in schema.items() if isinstance(t, pl.Decimal)}
    return pl.DataFrame(
        [{k: Decimal(r[k]) if k in exact else r.get(k) for k in schema} for r in rows],
        schema=schema,
        orient="row",
    )


def frames(doc: dict[str, Any]) -> kernels.Frames:
    return kernels.Frames(**{k: table(k, doc[k]) for k in SCHEMAS})


def _month(doc: dict[str, Any]) -> date:
    y, m = str(doc["month"]).split("-")
    return date(int(y), int(m), 1)


def _cases() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for by, want in doc["expected"].items():
            out.append(pytest.param(doc, None if by == "all" else by, want, id=f"{path.stem}-{by}"))
    return out


@pytest.mark.parametrize(("doc", "by", "want"), _cases())
def test_case(doc: dict[str, Any], by: str | None, want: dict[str, Any]) -> None:
    m = kernels.measures(frames(doc), [_month(doc)], by)
    got = {r["group"]: r["indicators"] for r in kernels.indicators(m, monthly())}
    groups = {kernels.TOTAL: want} if by is None else want
    for group, figures in groups.items():
        assert group in got, f"group {group} missing: {sorted(got)}"
        for ind, value in figures.items():
            have = got[group][ind]
            # money compares as written, cents included ("900000.00", not 9E+5)
            assert (str(have) if isinstance(value, str) else have) == value, f"{by}/{group}/{ind}"


def test_overall_lists_every_indicator() -> None:
    doc = yaml.safe_load((CASES / "june_2025.yaml").read_text(encoding="utf-8"))
    m = kernels.measures(frames(doc), [_month(doc)])
    (row,) = kernels.indicators(m, monthly())
    assert (
        set(doc["expected"]["all"])
        == set(row["indicators"])
        == {i.id for i in monthly().indicators}
    )


def test_flag_disagreements_name_the_wrong_flags() -> None:
    doc = yaml.safe_load((CASES / "june_2025.yaml").read_text(encoding="utf-8"))
    got = kernels.flag_disagreements(frames(doc), _month(doc))
    want = doc["disagreements"]
    assert got.select("contract_no", "reported", "computed").to_dicts() == want
