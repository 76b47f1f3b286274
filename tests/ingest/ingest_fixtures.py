"""Shared helpers of the ingest tests (a uniquely named module: every area has a conftest)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from kejin.db import Base
from kejin.ids import uscc_check_char

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: Example file per kind, in the order that satisfies every reference.
EXAMPLE_FILES = {
    "enterprises": "enterprises.csv",
    "qualifications": "qualifications.xlsx",
    "indicators": "indicators.parquet",
    "financing": "financing.csv",
    "institutions": "institutions.csv",
    "products": "products.xlsx",
    "loans": "loans.csv",
    "loan-status": "loan-status.parquet",
}
#: The firms of the example files.
FIRM_A = "91320700MA0000001A"
FIRM_B = "91320703MA0000002Q"


def make_uscc(region: str, serial: int) -> str:
    body = f"91{region}MA{serial:07d}"
    return body + uscc_check_char(body)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in key order: the whole database content, for before/after."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out
