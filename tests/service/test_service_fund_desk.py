"""The fund desk over the API: a bank files on its own defaulted loan only, the government
reviews and approves with maker-checker, the payout is recorded and each share names its clause."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, func, select

import kejin.fund.routes  # noqa: F401  (registers the fund rules before the world issues tokens)
from kejin.access.tables import AuditEvent
from kejin.db import transaction

from .conftest import bearer, login
from .fundworld import LOAN_A, LOAN_B, POOL, build_fund


def _body(contract: str, key: str) -> dict[str, str]:
    return {"pool": POOL, "contract_no": contract, "reason": "逾期120天", "key": key}


def _audited(engine: Engine, action: str) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def test_bank_files_only_on_its_own_loan_and_the_claim_goes_through_maker_checker(
    app, engine: Engine, world
) -> None:
    build_fund(engine)
    bank, bankb, gov, rev, aud, ent = (
        login(app, u) for u in ("bank", "bankb", "gov", "rev", "aud", "ent")
    )
    # Another bank's loan is refused like a loan that does not exist; nothing is filed.
    r = bank.post("/api/fund/claims", json=_body(LOAN_B, "k1"))
    assert r.status_code == 403 and "不属于本行" in r.json()["reason_zh"]
    assert bank.post("/api/fund/claims", json=_body("NO-SUCH", "k1")).status_code == 403
    assert ent.post("/api/fund/claims", json=_body(LOAN_A, "k1")).status_code == 403
    assert gov.post("/api/fund/claims", json=_body(LOAN_A, "k1")).status_code == 403

    r = bank.post("/api/fund/claims", json=_body(LOAN_A, "file-1"))
    assert r.status_code == 200, r.text
    claim = r.json()["claim"]
    # Anhui, direct credit loan: pool 30% + 5 points (credit bonus) of 1.8 million.
    assert Decimal(r.json()["pool_amount"]) == Decimal("630000.00")
    again = bank.post("/api/fund/claims", json=_body(LOAN_A, "file-1"))
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["claim"] == claim

    # The claim: its own bank and the government read it, with the clause of each share.
    d = bank.get(f"/api/fund/claim/{claim}").json()
    assert d["status"] == "filed" and d["contract_no"] == LOAN_A
    pool_share = next(x for x in d["shares"] if x["party"] == "pool")
    assert Decimal(str(pool_share["rate"])) == Decimal("0.35")
    assert [c["article"] for c in pool_share["clauses"]] == [
        "补偿标准（一）直接贷款给予合作银行不良贷款本金余额30%",
        "补偿标准 首笔贷款或纯信用、知识产权、应收账款、存货抵质押贷款再提高5个百分点",
    ]
    assert "bank → pool +0.05" in pool_share["clauses"][1]["bonus"]
    assert bankb.get(f"/api/fund/claim/{claim}").status_code == 403
    assert ent.get(f"/api/fund/claim/{claim}").status_code == 403
    assert aud.get(f"/api/fund/claim/{claim}").status_code == 200
    assert [c["claim"] for c in bank.get("/api/fund/claims/BKA").json()] == [claim]
    assert bankb.get("/api/fund/claims/BKB").json() == []

    ok = {"approve": True, "reason": "材料齐全", "key": "r1"}
    assert rev.post(f"/api/fund/claim/{claim}/review", json=ok).status_code == 403
    assert bank.post(f"/api/fund/claim/{claim}/review", json=ok).status_code == 403
    r = gov.post(f"/api/fund/claim/{claim}/approval", json=ok)
    assert r.status_code == 409 and "须先初审" in r.json()["reason_zh"]
    r = gov.post(f"/api/fund/claim/{claim}/review", json=ok)
    assert r.status_code == 200 and r.json()["status"] == "reviewed", r.text
    # The reviewer of record cannot approve it too (maker-checker), whatever its role allows.
    r = gov.post(f"/api/fund/claim/{claim}/approval", json={**ok, "key": "a1"})
    assert r.status_code == 422 and "双人复核" in r.json()["reason_zh"]
    assert aud.post(f"/api/fund/claim/{claim}/approval", json=ok).status_code == 403
    r = rev.post(f"/api/fund/claim/{claim}/approval", json={**ok, "key": "a2"})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert rev.post(f"/api/fund/claim/{claim}/payment", json=ok).status_code == 403

    before = Decimal(str(gov.get("/api/fund/pools").json()[0]["balance"]))
    r = gov.post(f"/api/fund/claim/{claim}/payment", json={"reason": "拨付", "key": "p1"})
    assert r.status_code == 200 and Decimal(r.json()["paid"]) == Decimal("630000.00"), r.text
    pools = gov.get("/api/fund/pools").json()
    assert Decimal(str(pools[0]["balance"])) == before - Decimal("630000.00")
    accounts = {
        (a["party"], a["purpose"]): Decimal(str(a["balance"])) for a in pools[0]["accounts"]
    }
    assert accounts[("BKA", "compensation")] == Decimal("630000.00")
    assert accounts[("pool", "cash")] == before - Decimal("630000.00")
    assert bank.get(f"/api/fund/claim/{claim}").json()["status"] == "paid"
    for action in ("fund.file", "fund.review", "fund.approve", "fund.pay", "fund.claim"):
        assert _audited(engine, action) >= 1, action


def test_deposit_needs_a_funder_of_the_scheme_and_a_key(app, engine: Engine, world) -> None:
    build_fund(engine)
    gov, rev = login(app, "gov"), login(app, "rev")
    body = {"pool": POOL, "party": "pool", "amount": "1000000.00", "reason": "注资", "key": "d1"}
    assert rev.post("/api/fund/deposits", json=body).status_code == 403
    r = gov.post("/api/fund/deposits", json={**body, "party": "bank"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "party"
    r = gov.post("/api/fund/deposits", json={**body, "key": ""})
    assert r.status_code == 422
    r = gov.post("/api/fund/deposits", json=body)
    assert r.status_code == 200 and Decimal(r.json()["balance"]) == Decimal("11000000.00")
    # Same key, other amount: refused, nothing moves.
    r = gov.post("/api/fund/deposits", json={**body, "amount": "2.00"})
    assert r.status_code in (409, 422)
    assert Decimal(str(gov.get("/api/fund/pools").json()[0]["balance"])) == Decimal("11000000.00")


def test_bank_reports_status_and_enrols_only_its_own_loans(app, engine: Engine, world) -> None:
    build_fund(engine)
    bank = login(app, "bank")
    status = {
        "pool": POOL, "contract_no": LOAN_B, "month": "2026-01-01", "balance": "1.00",
        "days_past_due": 1, "classification": "normal", "reason": "月报", "key": "s1",
    }  # fmt: skip
    assert bank.post("/api/fund/statuses", json=status).status_code == 403
    r = bank.post("/api/fund/statuses", json={**status, "contract_no": LOAN_A})
    assert r.status_code == 200, r.text
    assert bank.post("/api/fund/enrolments", json=_body(LOAN_B, "e1")).status_code == 403
    r = bank.post("/api/fund/enrolments", json=_body(LOAN_A, "e1"))
    assert r.status_code == 409 and "已备案" in r.json()["reason_zh"]


def test_a_bank_token_carries_fund_scopes_only_when_issued_with_them(
    app, engine: Engine, world
) -> None:
    build_fund(engine)
    bank = login(app, "bank")
    narrow = bank.post("/api/tokens", json={"name": "只读", "scopes": ["fund.claims"], "days": 30})
    assert narrow.status_code == 201, narrow.text
    wide = bank.post(
        "/api/tokens", json={"name": "代偿对接", "scopes": ["fund.claims", "fund.file"], "days": 30}
    )
    t_narrow, t_wide = bearer(app, narrow.json()["secret"]), bearer(app, wide.json()["secret"])
    assert t_narrow.get("/api/fund/claims/BKA").status_code == 200
    r = t_narrow.post("/api/fund/claims", json=_body(LOAN_A, "tok-1"))
    assert r.status_code == 403 and "fund.file" in r.json()["reason_en"]
    r = t_wide.post("/api/fund/claims", json=_body(LOAN_A, "tok-1"))
    assert r.status_code == 200, r.text
    assert t_wide.get("/api/fund/claims/BKB").status_code == 403  # still its own bank only
    bank.post(f"/api/tokens/{wide.json()['id']}/revoke")
    assert t_wide.get("/api/fund/claims/BKA").status_code == 401


def test_a_claim_reads_its_loan_once_in_its_own_transaction_for_tenant_and_audit(
    app, engine: Engine, world
) -> None:
    """The bank's own-loan check runs inside the claim's transaction on the row the claim reads
    anyway: one read of the loan per claim, which also names the firm in the audit record; a
    refusal there is still a 403, audited as a refusal, with nothing of the claim written."""
    from sqlalchemy import event

    from kejin.fund.tables import Claim, FundCommand
    from kejin.lending.tables import Loan

    build_fund(engine)
    bank = login(app, "bank")
    with transaction(engine) as s:
        firm = s.get(Loan, LOAN_A).uscc  # type: ignore[union-attr]
    reads: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM loans" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        denied = _audited(engine, "access.denied")
        r = bank.post("/api/fund/claims", json=_body(LOAN_B, "k-other"))
        assert r.status_code == 403 and "不属于本行" in r.json()["reason_zh"]
        assert _audited(engine, "access.denied") == denied + 1
        assert _audited(engine, "fund.file") == 0
        with transaction(engine) as s:
            assert s.scalar(select(func.count()).select_from(Claim)) == 0
            files = select(func.count()).where(FundCommand.kind == "file_claim")
            assert s.scalar(files) == 0
        # The key of a refused claim stays unused: the same key on the bank's own loan files.
        reads.clear()
        r = bank.post("/api/fund/claims", json=_body(LOAN_A, "k-other"))
        assert r.status_code == 200 and r.json()["replayed"] is False, r.text
        assert len(reads) == 1, reads
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with transaction(engine) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "fund.file")).one()
        assert (ev.entity_kind, ev.entity_id) == ("enterprise", firm)
