"""Policy data on top of the service world: firms that qualify for the Karamay interest subsidy.

The world's firms hold no certificate valid in 2025, so nothing is eligible there. ``qualify``
gives F1 a high-tech certificate for 2022–2025 (its partner-bank loan BKA-L1 then earns
20% of its 2025 interest, 3,483.33 CNY) and adds ``extra`` certified firms, each with a
partner-bank loan whose 2025 balance is constant: firm ``i`` pays ``(i+1) × 40,000`` CNY of
interest and is due ``(i+1) × 8,000`` CNY.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine

from kejin.db import transaction
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import Enterprise, Qualification

from .world import F1, uscc

PROGRAMME = "karamay_interest-2025"
F1_AMOUNT = Decimal("3483.33")
CHAINS = ("silicon_materials", "biomedicine", "equipment", "new_energy")


def extra_amount(i: int) -> Decimal:
    return Decimal((i + 1) * 8000).quantize(Decimal("0.01"))


def qualify(engine: Engine, extra: int = 0) -> list[str]:
    """Certify F1 for 2025 and add ``extra`` eligible firms; their USCCs, F1 first."""
    codes = [F1]
    with transaction(engine) as s:
        s.add(
            Qualification(
                uscc=F1,
                kind="hnte",
                certificate_no="GR2022-F1",
                valid_from=date(2022, 1, 1),
                valid_to=date(2025, 12, 31),
                source="most",
            )
        )
        for i in range(extra):
            code = uscc(100 + i)
            codes.append(code)
            s.add(
                Enterprise(
                    uscc=code,
                    name=f"连云港第{i + 1}科技有限公司",
                    region_code="320703",
                    industry_code="3985",
                    industry_chain=CHAINS[i % len(CHAINS)],
                    founded_on=date(2018, 1, 1),
                    stage="growth",
                    staff=30,
                    listing_board="none",
                    dishonest=False,
                    deregistered=False,
                    abnormal_operation=False,
                )
            )
            s.flush()
            s.add(
                Qualification(
                    uscc=code,
                    kind="hnte",
                    certificate_no=f"GR2022-{i}",
                    valid_from=date(2022, 1, 1),
                    valid_to=date(2025, 12, 31),
                    source="most",
                )
            )
            balance = Decimal((i + 1) * 1_000_000)
            s.add(
                Loan(
                    contract_no=f"BKA-X{i}",
                    uscc=code,
                    institution_id="BKA",
                    amount=balance,
                    credit_line=balance,
                    rate=Decimal("0.040000"),
                    disbursed_on=date(2025, 1, 1),
                    maturity_on=date(2026, 1, 1),
                    guarantee_type="credit",
                    first_time_borrower=False,
                )
            )
            s.flush()
            s.add_all(
                LoanStatus(
                    contract_no=f"BKA-X{i}",
                    month=date(2025, m, 1),
                    balance=balance,
                    days_past_due=0,
                    classification="normal",
                )
                for m in range(1, 13)
            )
    return codes
