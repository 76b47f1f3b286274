"""Karamay's three-year limit counts from the first *payment* (item 7 of issue #17).

The case table ``cases/karamay_years.yaml`` is run through the registry kernels (pure frames);
the last test checks that the platform's own paid applications are what the registry frames
read, and that an approved but unpaid application does not start the count.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.policy import kernels, library, service
from kejin.policy.engine import evaluate
from kejin.policy.entities import registry_frames

DOC = yaml.safe_load((Path(__file__).parent / "cases" / "karamay_years.yaml").read_text("utf-8"))


def _registry(years: list[int], loan: dict[str, Any]) -> dict[str, pl.DataFrame]:
    loans = pl.DataFrame(
        {
            "contract_no": [f"L{y}" for y in years],
            "uscc": ["F1"] * len(years),
            "institution_id": ["B1"] * len(years),
            "product_id": [None] * len(years),
            "amount": [Decimal(str(loan["balance"]))] * len(years),
            "credit_line": [Decimal(str(loan["credit_line"]))] * len(years),
            "rate": [Decimal(str(loan["rate"]))] * len(years),
            "disbursed_on": [date(y, 1, 1) for y in years],
            "guarantee_type": ["credit"] * len(years),
        },
        schema_overrides={"product_id": pl.String},
    )
    statuses = pl.DataFrame(
        {
            "contract_no": [f"L{y}" for y in years for _ in range(12)],
            "month": [date(y, m, 1) for y in years for m in range(1, 13)],
            "balance": [Decimal(str(loan["balance"]))] * 12 * len(years),
        }
    )
    return {
        "loans": loans,
        "statuses": statuses,
        "institutions": pl.DataFrame({"id": ["B1"], "partner_bank": [True]}),
        "products": pl.DataFrame(schema={"id": pl.String, "name": pl.String}),
        "quals": pl.DataFrame(
            {
                "uscc": ["F1"],
                "kind": ["hnte"],
                "valid_from": [date(2020, 1, 1)],
                "valid_to": [date(2030, 12, 31)],
            }
        ),
    }


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["name"] for c in DOC["cases"]])
def test_years_count_from_the_first_payment(case: dict[str, Any]) -> None:
    reg = _registry(case["years"], DOC["loan"])
    paid = pl.DataFrame(
        {"uscc": ["F1"] * bool(case["paid"]), "first_paid_year": case["paid"][:1]},
        schema={"uscc": pl.String, "first_paid_year": pl.Int64},
    )
    ly = kernels.loan_years(**reg, first_paid=paid)
    policy = library.get("karamay_interest")
    res, _ = evaluate(policy, ly.filter(pl.col("year") == case["evaluate"]))
    row = res.row(0, named=True)
    for col, want in case["expect"].items():
        got = str(row[col]) if isinstance(want, str) else row[col]
        assert got == want, col


def test_the_registry_reads_first_payments_from_the_platform(
    engine: Engine, policy_registry: dict[str, str]
) -> None:
    """Firm ``hnte`` meets the conditions 2023–2025. Unpaid, each year is its own first year;
    once a 2023 application is approved it still is; once paid, 2023 starts the count."""
    hnte = policy_registry["hnte"]

    def first_years() -> list[int]:
        ly = registry_frames(engine)["loan_year"].filter(pl.col("uscc") == hnte).sort("year")
        return ly["first_subsidy_year"].to_list()

    assert first_years() == [2023, 2024, 2025]
    with transaction(engine) as s:
        prog = service.create_programme(
            s,
            policy_id="karamay_interest",
            year=2023,
            budget=Decimal("1000000"),
            allocation="fcfs",
            by="maker",
        )
        service.publish(s, prog.id, by="checker", as_of=date(2023, 12, 31))
        rows = registry_frames(engine, hnte)["loan_year"].filter(pl.col("year") == 2023)
        (app,) = service.apply(s, prog.id, rows, by="firm")
        service.review(s, app.id, by="reviewer")
        service.approve(s, prog.id, by="approver")
        app_id = app.id
    assert first_years() == [2023, 2024, 2025]  # approved is not paid
    with transaction(engine) as s:
        service.pay(s, app_id, idempotency_key="y1", by="cashier")
    assert first_years() == [2023, 2023, 2023]
