"""A risk-compensation pool beside the service world: BKA and BKB each hold one defaulted loan.

``LYG`` runs the Anhui scheme (direct loans: pool 30% + 5 points for credit loans), funded with
10 million; each bank's loan is enrolled today and its latest month-end status is 120 days past
due, so either bank can file a claim today — but only on its own loan.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from kejin.fund import service as svc
from kejin.fund.ledger import Actor
from kejin.lending.tables import Loan, LoanStatus

from .world import F1, F3

POOL = "LYG"
LOAN_A, LOAN_B = "BKA-F1", "BKB-F3"


def build_fund(engine: Engine, claims: bool = False) -> dict[str, int]:
    """The pool and the two loans; with ``claims`` each bank has also filed its claim (ids)."""
    today = date.today()
    with engine.begin() as conn:
        conn.execute(
            insert(Loan),
            [
                {
                    "contract_no": c,
                    "uscc": u,
                    "institution_id": b,
                    "amount": Decimal("2000000.00"),
                    "credit_line": Decimal("2000000.00"),
                    "rate": Decimal("0.04"),
                    "disbursed_on": today - timedelta(days=200),
                    "maturity_on": today + timedelta(days=500),
                    "guarantee_type": g,
                    "first_time_borrower": False,
                }
                for c, u, b, g in ((LOAN_A, F1, "BKA", "credit"), (LOAN_B, F3, "BKB", "mortgage"))
            ],
        )
    boss = Actor("fund_manager", today, "set-up")
    svc.create_pool(engine, POOL, "连云港市科技贷款风险补偿资金池", "anhui", boss, "fw:pool")
    svc.deposit(engine, POOL, "pool", Decimal("10000000.00"), boss, "fw:capital")
    for c in (LOAN_A, LOAN_B):
        svc.enrol(engine, POOL, c, Actor("fw_bank", today, "enrol"), f"fw:enrol:{c}")
    with engine.begin() as conn:
        conn.execute(
            insert(LoanStatus),
            [
                {
                    "contract_no": c,
                    "month": today.replace(day=1),
                    "balance": Decimal("1800000.00"),
                    "days_past_due": 120,
                    "classification": "substandard",
                }
                for c in (LOAN_A, LOAN_B)
            ],
        )
    out: dict[str, int] = {}
    if claims:
        for name, c, who in (
            ("claim_BKA_own", LOAN_A, "bank"),
            ("claim_BKB_other", LOAN_B, "bankb"),
        ):
            r = svc.file_claim(engine, POOL, c, Actor(who, today, "default"), f"fw:claim:{c}")
            out[name] = r["claim"]
    return out
