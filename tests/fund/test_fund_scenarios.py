"""Scenario tests written as business tables, run on SQLite and PostgreSQL with a controlled date.

Each row is one business step on one day by one person; ``expect`` lists fields of the step's
result (or ``refused: <text>``, matched against the English reason). A fund officer can read and
extend these tables without reading the service.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fundkit import seed_loans
from sqlalchemy import Engine, select, update

from kejin.errors import KejinError
from kejin.fund import service as svc
from kejin.fund.ledger import Actor, audit
from kejin.fund.tables import ClaimShare
from kejin.lending.tables import Loan

ANHUI_CREDIT_LOAN = """
| day        | actor     | step     | arg                      | expect                                   |
| 2026-01-02 | manager   | create   | anhui                    | scheme=anhui                             |
| 2026-01-02 | manager   | deposit  | 5000000.00               | balance=5000000.00                       |
| 2026-01-12 | bank      | enrol    | L00000                   | category=direct covered_amount=1000000.00 |
| 2026-03-31 | bank      | status   | L00000 950000.00 0 normal | covered_balance=950000.00               |
| 2026-04-06 | bank      | claim    | L00000                   | refused: trigger not reached             |
| 2026-05-31 | bank      | status   | L00000 900000.00 95 substandard | covered_balance=900000.00         |
| 2026-06-02 | bank      | claim    | L00000                   | pool_amount=315000.00 loss_base=900000.00 |
| 2026-06-03 | bank      | review   |                          | refused: filer cannot review             |
| 2026-06-05 | reviewer  | review   |                          | status=reviewed late=False               |
| 2026-06-08 | reviewer  | approve  |                          | refused: maker-checker                   |
| 2026-06-08 | approver  | approve  |                          | status=approved                          |
| 2026-06-09 | treasurer | pay      |                          | paid=315000.00                           |
| 2026-06-09 | treasurer | pay      |                          | refused: only an approved, unpaid claim  |
| 2026-09-01 | bank      | recover  | 200000.00                | to_pool=70000.00 recovered_total=200000.00 |
| 2026-12-01 | bank      | recover  | 800000.00                | refused: would exceed the principal loss |
| 2026-12-01 | bank      | recover  | 100000.00                | to_pool=35000.00                         |
| 2026-12-20 | manager   | writeoff |                          | status=closed final_pool_loss=210000.00  |
"""

PINGSHAN_FEE_CAP = """
| day        | actor     | step     | arg                      | expect                                   |
| 2026-01-02 | manager   | create   | pingshan                 | scheme=pingshan                          |
| 2026-01-02 | manager   | deposit  | 2000000.00               | balance=2000000.00                       |
| 2026-01-12 | bank      | enrol    | L00000                   | category=all                             |
| 2026-01-12 | bank      | fee      | L00000                   | fee=10000.00                             |
| 2026-05-31 | bank      | status   | L00000 600000.00 120 doubtful | covered_balance=600000.00           |
| 2026-06-02 | bank      | claim    | L00000                   | pool_amount=240000.00 bank_share=120000.00 |
| 2026-06-03 | reviewer  | review   |                          | status=reviewed                          |
| 2026-06-04 | approver  | approve  |                          | status=approved                          |
| 2026-06-05 | treasurer | pay      |                          | paid=10000.00                            |
| 2026-06-05 | treasurer | shares   |                          | pool=10000.00 guarantor=10000.00 B1=580000.00 total=600000.00 |
"""

LATE_REVIEW = """
| day        | actor     | step     | arg                      | expect                                   |
| 2026-01-02 | manager   | create   | zhengzhou                | scheme=zhengzhou                         |
| 2026-01-02 | manager   | deposit  | 3000000.00               | balance=3000000.00                       |
| 2026-01-12 | bank      | enrol    | L00001                   | category=mortgage                        |
| 2026-05-31 | bank      | status   | L00001 500000.00 100 substandard | covered_balance=500000.00        |
| 2026-06-01 | bank      | claim    | L00001                   | pool_amount=300000.00                    |
| 2026-06-10 | reviewer  | review   |                          | status=reviewed late=True                |
| 2026-07-20 | approver  | approve  |                          | status=approved late=True                |
"""


def _rows(table: str) -> list[dict[str, str]]:
    lines = [ln.strip() for ln in table.strip().splitlines()]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(head, (c.strip() for c in ln.strip("|").split("|")), strict=True))
        for ln in lines[1:]
    ]


def _step(
    engine: Engine, st: dict[str, Any], row: dict[str, str], key: str, schemes: dict[str, str]
) -> dict[str, Any]:
    a = Actor(row["actor"], date.fromisoformat(row["day"]), "scenario")
    arg = row["arg"].split()
    step = row["step"]
    if step == "create":
        return svc.create_pool(engine, "P", "情景", schemes.get(arg[0], arg[0]), a, key)
    if step == "deposit":
        party = "province" if st.get("scheme") == "jiangsu_suke" else "pool"
        return svc.deposit(engine, "P", party, Decimal(arg[0]), a, key)
    if step == "enrol":
        return svc.enrol(engine, "P", arg[0], a, key)
    if step == "fee":
        return svc.collect_fee(engine, "P", arg[0], None, a, key)
    if step == "status":
        month = a.on.replace(day=1)
        return svc.record_status(
            engine, "P", arg[0], month, Decimal(arg[1]), int(arg[2]), arg[3], a, key
        )
    if step == "claim":
        return svc.file_claim(engine, "P", arg[0], a, key)
    cid = st["claim"]
    if step == "review":
        return svc.review(engine, cid, True, a, key)
    if step == "approve":
        return svc.approve(engine, cid, True, a, key)
    if step == "pay":
        return svc.pay(engine, "P", cid, a, key)
    if step == "recover":
        return svc.record_recovery(engine, cid, Decimal(arg[0]), a, key)
    if step == "writeoff":
        return svc.write_off(engine, cid, a, key)
    if step == "shares":  # each party's share of the claim's loss, as stored, and their sum
        with engine.connect() as conn:
            shares = {
                r.party: r.amount
                for r in conn.execute(
                    select(ClaimShare.party, ClaimShare.amount).where(ClaimShare.claim_id == cid)
                )
            }
        return {**shares, "total": sum(shares.values(), Decimal("0.00"))}
    raise AssertionError(f"unknown step {step}")


def run_table(engine: Engine, table: str, schemes: dict[str, str] | None = None) -> None:
    """Run a business table row by row and check each row's expectations, then the audit."""
    state: dict[str, Any] = {}
    for i, row in enumerate(_rows(table), start=2):
        expect = row["expect"]
        try:
            out = _step(engine, state, row, f"s{i}", schemes or {})
        except KejinError as e:
            assert expect.startswith("refused:"), f"row {i}: unexpected refusal {e.render()}"
            assert expect.removeprefix("refused:").strip() in e.reason_en, (i, e.reason_en)
            continue
        assert not expect.startswith("refused:"), f"row {i}: expected a refusal, got {out}"
        state.update({k: v for k, v in out.items() if k == "claim" or k == "scheme"})
        for pair in expect.split():
            k, v = pair.split("=")
            assert str(out[k]) == v, f"row {i} {row['step']}: {k}={out[k]!r}, expected {v}"
    with engine.connect() as conn:
        rep = audit(conn, "P")
    assert rep.ok, rep.to_dict()


@pytest.mark.parametrize(
    "table",
    [ANHUI_CREDIT_LOAN, PINGSHAN_FEE_CAP, LATE_REVIEW],
    ids=["anhui_credit_loan", "pingshan_fee_cap", "late_review"],
)
def test_scenario(engine: Engine, table: str) -> None:
    seed_loans(engine, n=2, guarantee="credit")
    with engine.begin() as conn:  # the second loan is a mortgage loan (Zhengzhou 60%)
        conn.execute(
            update(Loan).where(Loan.contract_no == "L00001").values(guarantee_type="mortgage")
        )
    run_table(engine, table)
