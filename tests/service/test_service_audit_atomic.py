"""A change and its audit record commit together or not at all.

The fund desk's steps and the credit decisions committed the change in a transaction of their
own and wrote the audit record afterwards in the request's: a failure between the two (a
terminated backend, a failed commit) left a payout or a decision without its record (600
payouts left 598 ``fund.pay`` events). Here the audit write itself is made to fail: the change
must be gone with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

# Both areas register their rules on import, before the world issues tokens.
import kejin.credit.routes
import kejin.fund.routes  # noqa: F401
from kejin.access import audit
from kejin.access.tables import AuditEvent
from kejin.credit.tables import CreditDecision
from kejin.db import transaction
from kejin.fund import service as svc
from kejin.fund.ledger import Actor
from kejin.fund.tables import Claim
from kejin.registry.tables import Enterprise

from .conftest import login
from .creditworld import build_decisions
from .fundworld import LOAN_A, POOL, build_fund
from .world import F1


@pytest.fixture
def audit_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``audit_fails(action)``: appending an event of that action raises (once armed)."""
    failing: set[str] = set()
    real = audit.append

    def append(session: Any, batch: list[dict[str, Any]], durable: bool = True) -> Any:
        if any(f["action"] in failing for f in batch):
            raise RuntimeError("injected audit failure")
        return real(session, batch, durable)

    monkeypatch.setattr(audit, "append", append)
    yield failing.add


def _count(engine: Engine, action: str) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def test_a_payout_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    claim = build_fund(engine, claims=True)["claim_BKA_own"]
    today = date.today()
    svc.review(engine, claim, True, Actor("gov", today, "ok"), "t:review")
    svc.approve(engine, claim, True, Actor("rev", today, "ok"), "t:approve")
    gov = login(app, "gov")
    audit_fails("fund.pay")
    r = gov.post(f"/api/fund/claim/{claim}/payment", json={"reason": "拨付", "key": "p1"})
    assert r.status_code == 500
    with transaction(engine) as s:
        assert s.get(Claim, claim).status == "approved"
    assert _count(engine, "fund.pay") == 0
    assert audit.verify(engine).ok


def test_a_filed_claim_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    build_fund(engine)
    bank = login(app, "bank")
    audit_fails("fund.file")
    body = {"pool": POOL, "contract_no": LOAN_A, "reason": "逾期120天", "key": "f1"}
    assert bank.post("/api/fund/claims", json=body).status_code == 500
    with transaction(engine) as s:
        assert not s.scalar(select(func.count()).select_from(Claim))
    assert _count(engine, "fund.file") == 0


def test_a_payout_and_its_record_are_one_transaction(app, engine: Engine, world) -> None:
    """Without a failure both are there, with the result the caller received."""
    claim = build_fund(engine, claims=True)["claim_BKA_own"]
    today = date.today()
    svc.review(engine, claim, True, Actor("gov", today, "ok"), "t:review")
    svc.approve(engine, claim, True, Actor("rev", today, "ok"), "t:approve")
    gov = login(app, "gov")
    r = gov.post(f"/api/fund/claim/{claim}/payment", json={"reason": "拨付", "key": "p1"})
    assert r.status_code == 200, r.text
    with transaction(engine) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "fund.pay")).one()
    assert ev.after_digest == audit.digest(r.json())
    again = gov.post(f"/api/fund/claim/{claim}/payment", json={"reason": "拨付", "key": "p1"})
    assert again.json()["replayed"] is True
    assert _count(engine, "fund.pay") == 1  # a replay changes nothing


def test_a_credit_decision_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    bank = login(app, "bank")
    audit_fails("credit.decide")
    assert bank.post(f"/api/firms/{F1}/credit-decisions").status_code == 500
    with transaction(engine) as s:
        assert not s.scalar(select(func.count()).select_from(CreditDecision))
    assert _count(engine, "credit.decide") == 0


def test_an_officers_action_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    d = build_decisions(engine)["decision_BKA_own"]
    bank = login(app, "bank")
    audit_fails("credit.act")
    r = bank.post(f"/api/credit-decisions/{d}/action", json={"action": "approve"})
    assert r.status_code == 500
    with transaction(engine) as s:
        assert s.get(CreditDecision, d).action is None
    assert _count(engine, "credit.act") == 0


def test_an_import_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    import kejin.ingest.routes  # noqa: F401  (registers the ingest rule)

    from .test_service_ingest_upload import EXAMPLE

    gov = login(app, "gov")
    with transaction(engine) as s:
        firms = s.scalar(select(func.count()).select_from(Enterprise))
    audit_fails("ingest.import")
    good = {"file": ("enterprises.csv", EXAMPLE.read_bytes(), "text/csv")}
    assert gov.post("/api/imports", data={"kind": "enterprises"}, files=good).status_code == 500
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Enterprise)) == firms
    assert _count(engine, "ingest.import") == 0


def test_a_whitelist_push_is_not_kept_without_its_audit_record(
    app, engine: Engine, world, audit_fails: Callable[[str], None]
) -> None:
    """A push makes firms visible to the bank: logged without its record, it would open data
    nobody can trace."""
    from kejin.whitelist.tables import WhitelistPush

    from .test_service_areas import add_version

    add_version(engine, {F1: "base"}, {})
    gov = login(app, "gov")
    audit_fails("whitelist.push")
    assert gov.post("/api/whitelist/push/BKA").status_code == 500
    with transaction(engine) as s:
        assert not s.scalar(select(func.count()).select_from(WhitelistPush))
    assert _count(engine, "whitelist.push") == 0
