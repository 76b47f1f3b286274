"""The lifecycle on both databases: capital → enrol → status → claim → review → pay → recover."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fundkit import actor, add_hnte_profitable, bad_status, region_scheme, seed_loans
from sqlalchemy import Engine, func, select

from kejin.errors import ConflictError, NotFoundError, ValidationError
from kejin.fund import service as svc
from kejin.fund.ledger import audit
from kejin.fund.tables import FundCommand, JournalEntry, Posting

D = Decimal


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return (
            c.execute(select(func.count()).select_from(JournalEntry)).scalar_one(),
            c.execute(select(func.count()).select_from(Posting)).scalar_one(),
            c.execute(select(func.count()).select_from(FundCommand)).scalar_one(),
        )


def _pool(engine: Engine, scheme: str = "anhui", capital: str = "5000000.00") -> None:
    svc.create_pool(
        engine, "P1", "测试资金池", scheme, actor("manager", date(2026, 1, 2)), "k-pool"
    )
    party = "province" if scheme == "jiangsu_suke" else "pool"
    svc.deposit(engine, "P1", party, D(capital), actor("manager", date(2026, 1, 2)), "k-cap")


def _to_approved(engine: Engine, contract: str, n: int = 0) -> int:
    svc.enrol(engine, "P1", contract, actor("bank", date(2026, 1, 10)), f"k-enrol-{n}")
    bad_status(engine, contract, date(2026, 5, 1), D("800000.00"))
    cid = svc.file_claim(engine, "P1", contract, actor("bank", date(2026, 5, 4)), f"k-claim-{n}")[
        "claim"
    ]
    svc.review(engine, cid, True, actor("reviewer", date(2026, 5, 6)), f"k-rev-{n}")
    svc.approve(engine, cid, True, actor("approver", date(2026, 5, 20)), f"k-app-{n}")
    return cid


def test_anhui_credit_loan_gets_35_percent_and_recovery_comes_back(engine: Engine) -> None:
    contracts = seed_loans(engine)
    _pool(engine)
    cid = _to_approved(engine, contracts[0])
    out = svc.pay(engine, "P1", cid, actor("treasurer", date(2026, 5, 21)), "k-pay")
    # credit loan: 30% + 5 points bonus = 35% of the 800,000 non-performing principal
    assert D(out["paid"]) == D("280000.00")
    s = svc.summary(engine, "P1", date(2026, 5, 21))
    assert s["balance"] == D("4720000.00")
    rec = svc.record_recovery(engine, cid, D("100000.00"), actor("bank", date(2026, 7, 1)), "k-r1")
    assert D(rec["to_pool"]) == D("35000.00")
    done = svc.write_off(engine, cid, actor("manager", date(2026, 8, 1)), "k-wo")
    assert D(done["final_pool_loss"]) == D("245000.00")
    with engine.connect() as conn:
        rep = audit(conn, "P1")
    assert rep.ok, rep.to_dict()
    assert svc.summary(engine, "P1", date(2026, 8, 1))["balance"] == D("4755000.00")


def test_same_key_replays_and_other_payload_is_refused(engine: Engine) -> None:
    seed_loans(engine)
    _pool(engine)
    again = svc.deposit(
        engine, "P1", "pool", D("5000000.00"), actor("manager", date(2026, 1, 2)), "k-cap"
    )
    assert again["replayed"] is True
    before = _counts(engine)
    with pytest.raises(ConflictError):
        svc.deposit(engine, "P1", "pool", D("1.00"), actor("manager", date(2026, 1, 2)), "k-cap")
    assert _counts(engine) == before
    assert svc.summary(engine, "P1", date(2026, 1, 2))["balance"] == D("5000000.00")


@pytest.mark.parametrize(
    ("case", "exc"),
    [
        ("not_enrolled", NotFoundError),
        ("not_triggered", ValidationError),
        ("self_approval", ValidationError),
        ("above_balance", ValidationError),
        ("pay_twice", ConflictError),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(engine: Engine, case: str, exc: type) -> None:
    contracts = seed_loans(engine)
    _pool(engine, capital="250000.00" if case == "above_balance" else "5000000.00")
    if case == "not_enrolled":
        before = _counts(engine)
        with pytest.raises(exc):
            svc.file_claim(engine, "P1", contracts[1], actor("bank", date(2026, 5, 4)), "x")
    elif case == "not_triggered":
        svc.enrol(engine, "P1", contracts[0], actor("bank", date(2026, 1, 10)), "e")
        bad_status(
            engine, contracts[0], date(2026, 5, 1), D("800000.00"), dpd=30, cls="special_mention"
        )
        before = _counts(engine)
        with pytest.raises(exc, match="trigger"):
            svc.file_claim(engine, "P1", contracts[0], actor("bank", date(2026, 5, 4)), "x")
    elif case == "self_approval":
        svc.enrol(engine, "P1", contracts[0], actor("bank", date(2026, 1, 10)), "e")
        bad_status(engine, contracts[0], date(2026, 5, 1), D("800000.00"))
        cid = svc.file_claim(engine, "P1", contracts[0], actor("bank", date(2026, 5, 4)), "c")[
            "claim"
        ]
        svc.review(engine, cid, True, actor("alice", date(2026, 5, 5)), "r")
        before = _counts(engine)
        with pytest.raises(exc, match="maker-checker"):
            svc.approve(engine, cid, True, actor("alice", date(2026, 5, 6)), "x")
    else:
        cid = _to_approved(engine, contracts[0])
        if case == "pay_twice":
            svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 21)), "p1")
        before = _counts(engine)
        with pytest.raises(exc):
            svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 21)), "x")
    assert _counts(engine) == before


def test_zhengzhou_categories_follow_the_firm(engine: Engine) -> None:
    contracts = seed_loans(engine, n=2)
    add_hnte_profitable(engine, 0)
    _pool(engine, "zhengzhou")
    a = svc.enrol(engine, "P1", contracts[0], actor("bank", date(2026, 1, 10)), "e0")
    assert a["category"] == "credit_hnte"
    with pytest.raises(ValidationError, match="category"):
        svc.enrol(engine, "P1", contracts[1], actor("bank", date(2026, 1, 10)), "e1")


def test_jiangsu_pays_all_principal_split_province_city(engine: Engine) -> None:
    contracts = seed_loans(engine, n=1)
    _pool(engine, "jiangsu_suke")
    svc.deposit(engine, "P1", "city", D("1000000.00"), actor("manager", date(2026, 1, 2)), "k-city")
    cid = _to_approved(engine, contracts[0])
    out = svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 21)), "p")
    assert D(out["paid"]) == D("800000.00")
    c = svc.claims_table(engine, "P1", date(2026, 5, 21))[0]
    assert c["pool_amount"] == D("800000.00")
    with engine.connect() as conn:
        assert audit(conn, "P1").ok


def test_leverage_and_a_regions_per_loan_cap(engine: Engine, tmp_path: Path) -> None:
    contracts = seed_loans(engine, n=3, amount=D("12000000.00"))
    _pool(engine, region_scheme(tmp_path, "anhui", {"per_loan": "10000000"}), "2000000.00")
    e = svc.enrol(engine, "P1", contracts[0], actor("bank", date(2026, 1, 10)), "e0")
    assert D(e["covered_amount"]) == D("10000000.00")  # the region's per-loan cap 10M
    svc.enrol(engine, "P1", contracts[1], actor("bank", date(2026, 1, 10)), "e1")
    at_limit = svc.summary(engine, "P1", date(2026, 1, 10))
    assert (at_limit["leverage"], at_limit["over_leverage"]) == (at_limit["leverage_limit"], False)
    with pytest.raises(ValidationError, match=r"leverage|pool balance"):
        svc.enrol(engine, "P1", contracts[2], actor("bank", date(2026, 1, 10)), "e2")


def test_payouts_can_push_leverage_over_the_limit_and_it_is_said(engine: Engine) -> None:
    """A payout shrinks the pool under loans already covered: leverage passes the limit with no
    enrolment breaking the rule, and the summary says so (the page shows it beside the figure)."""
    contracts = seed_loans(engine, n=3)  # 1,000,000.00 each
    _pool(engine, capital="300000.00")  # 3,000,000.00 enrolled = exactly 10 × the pool
    for i, c in enumerate(contracts[1:]):
        svc.enrol(engine, "P1", c, actor("bank", date(2026, 1, 10)), f"x{i}")
    before = svc.summary(engine, "P1", date(2026, 1, 10))
    assert not before["over_leverage"]
    cid = _to_approved(engine, contracts[0])
    svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 21)), "p")
    after = svc.summary(engine, "P1", date(2026, 5, 21))
    assert after["balance"] < before["balance"]
    assert after["over_leverage"] == (
        after["enrolled_balance"] > after["leverage_limit"] * after["balance"]
    )
    assert after["over_leverage"], after


def test_payout_reversal_restores_the_pool_and_allows_repayment(engine: Engine) -> None:
    contracts = seed_loans(engine)
    _pool(engine)
    cid = _to_approved(engine, contracts[0])
    svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 21)), "p")
    r = svc.reverse_payout(engine, cid, actor("manager", date(2026, 5, 22), "wrong account"), "rv")
    assert len(r["reversal_entries"]) == 2
    assert svc.summary(engine, "P1", date(2026, 5, 22))["balance"] == D("5000000.00")
    svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 23)), "p2")
    with engine.connect() as conn:
        rep = audit(conn, "P1")
    assert rep.ok, rep.to_dict()


def test_late_review_is_flagged_by_working_days(engine: Engine) -> None:
    contracts = seed_loans(engine)
    _pool(engine)
    svc.enrol(engine, "P1", contracts[0], actor("bank", date(2026, 1, 10)), "e")
    bad_status(engine, contracts[0], date(2026, 5, 1), D("800000.00"))
    cid = svc.file_claim(engine, "P1", contracts[0], actor("bank", date(2026, 5, 1)), "c")["claim"]
    # filed Friday 1 May 2026; 5 working days → Friday 8 May
    assert svc.deadlines(engine, "P1", date(2026, 5, 8)) == []
    flags = svc.deadlines(engine, "P1", date(2026, 5, 11))
    assert flags == [
        {"claim": cid, "step": "first_review", "flag": "overdue", "due": date(2026, 5, 8)}
    ]
    out = svc.review(engine, cid, True, actor("reviewer", date(2026, 5, 11)), "r")
    assert out["late"] is True


def test_closed_period_refuses_backdated_entries(engine: Engine) -> None:
    seed_loans(engine)
    _pool(engine)
    svc.close_period(engine, "P1", date(2026, 1, 31), actor("auditor", date(2026, 2, 3)), "close")
    with pytest.raises(ValidationError, match="closed"):
        svc.deposit(engine, "P1", "pool", D("1.00"), actor("manager", date(2026, 1, 30)), "late")
    svc.deposit(engine, "P1", "pool", D("1.00"), actor("manager", date(2026, 2, 3)), "ok")


def test_payout_dated_in_a_closed_period_is_refused(engine: Engine) -> None:
    contracts = seed_loans(engine)
    _pool(engine)
    cid = _to_approved(engine, contracts[0])
    svc.close_period(engine, "P1", date(2026, 5, 31), actor("auditor", date(2026, 6, 2)), "cl")
    before = _counts(engine)
    with pytest.raises(ValidationError, match="closed"):
        svc.pay(engine, "P1", cid, actor("t", date(2026, 5, 29)), "late-pay")
    assert _counts(engine) == before
    assert D(svc.pay(engine, "P1", cid, actor("t", date(2026, 6, 2)), "pay")["paid"]) == D(
        "280000.00"
    )


def test_bank_over_the_compensation_rate_cap_is_suspended(engine: Engine) -> None:
    """Pingshan: a bank whose claimed losses exceed 2.5% of what it enrolled enrols no more."""
    contracts = seed_loans(engine, n=4, banks=("B1", "B2"))  # B1: L0, L2; B2: L1, L3
    _pool(engine, "pingshan")
    for i in (0, 1):
        svc.enrol(engine, "P1", contracts[i], actor("bank", date(2026, 1, 10)), f"e{i}")
    bad_status(engine, contracts[0], date(2026, 5, 1), D("800000.00"))
    svc.file_claim(engine, "P1", contracts[0], actor("bank", date(2026, 5, 4)), "c0")
    with pytest.raises(ValidationError, match="suspended"):
        svc.enrol(engine, "P1", contracts[2], actor("bank", date(2026, 5, 5)), "e2")
    svc.enrol(engine, "P1", contracts[3], actor("bank", date(2026, 5, 5)), "e3")  # B2 is fine
    banks = {b["institution"]: b for b in svc.summary(engine, "P1", date(2026, 5, 5))["banks"]}
    assert banks["B1"]["suspended"] and not banks["B2"]["suspended"]
