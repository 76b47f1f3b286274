"""The case tables of ``cases/`` as frames: one reader for the kernel tests and the database tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from kejin.stats import kernels

CASES = Path(__file__).parent / "cases"


def read_case(name: str) -> dict[str, Any]:
    return yaml.safe_load((CASES / name).read_text(encoding="utf-8"))


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
    "firms": {
        "uscc": pl.String(),
        "industry_chain": pl.String(),
        "stage": pl.String(),
        "region_code": pl.String(),
    },
    "tiers": {"uscc": pl.String(), "tier": pl.String()},
    "products": {"id": pl.String(), "kind": pl.String()},
    "lpr": {"month": pl.Date(), "lpr_1y": pl.Decimal(9, 6), "lpr_5y": pl.Decimal(9, 6)},
    "members": {"uscc": pl.String(), "valid_from": pl.Date(), "valid_to": pl.Date()},
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
    """The case's frames; a table the case leaves out (no LPR, no whitelist) is absent."""
    return kernels.Frames(**{k: table(k, doc[k]) for k in SCHEMAS if k in doc})


def case_month(doc: dict[str, Any]) -> date:
    y, m = str(doc["month"]).split("-")
    return date(int(y), int(m), 1)
