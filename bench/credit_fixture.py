"""A small SQLite registry for timing one credit decision: one firm, its history, a model."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine

from kejin.credit import dataset, registry, scorecard
from kejin.db import make_engine, transaction
from kejin.ids import uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.migrate import upgrade
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification


def seeded_sqlite(path: Path) -> tuple[Engine, str]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    body = "91320700MA0000042"
    code = body + uscc_check_char(body)
    with transaction(engine) as s:
        s.add(Institution(id="B1", name="银行", kind="bank", region_code="320700"))
        s.add(
            Enterprise(
                uscc=code, name="基准科技", region_code="320700", industry_code="C3981",
                founded_on=date(2015, 1, 1), stage="growth",
            )
        )  # fmt: skip
        s.flush()
        for y in range(2019, 2026):
            s.add(
                AnnualIndicator(
                    uscc=code, year=y, revenue=Decimal(20_000_000 + y), profit=Decimal(1_000_000),
                    total_assets=Decimal(50_000_000), total_liabilities=Decimal(20_000_000),
                    tax_paid=Decimal(900_000), tax_credit_grade="A",
                )
            )  # fmt: skip
        s.add(
            Qualification(
                uscc=code, kind="hnte", certificate_no="GR1", valid_from=date(2024, 1, 1),
                valid_to=date(2026, 12, 31), source="most",
            )
        )  # fmt: skip
        s.add(
            Loan(
                contract_no="L1", uscc=code, institution_id="B1", amount=Decimal(1_000_000),
                credit_line=Decimal(1_000_000), rate=Decimal("0.035"), disbursed_on=date(2025, 1, 1),
                maturity_on=date(2027, 1, 1), guarantee_type="credit",
            )
        )  # fmt: skip
        s.flush()
        for m in range(1, 13):
            s.add(
                LoanStatus(
                    contract_no="L1", month=date(2025, m, 1), balance=Decimal(900_000),
                    days_past_due=0, classification="normal",
                )
            )  # fmt: skip
    rng = np.random.default_rng(0)
    lev = rng.uniform(0, 1, 2000)
    g = rng.normal(0, 0.3, 2000)
    y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(-2 + 3 * lev - 2 * g)))).astype(int)
    frame = pl.DataFrame({"leverage": lev, "revenue_growth": g, "bad": y})
    registry.register(engine, scorecard.fit(dataset.prepare(frame, "bad")), "tech_firm")
    return engine, code
