"""The bank's fund desk offers only loans an enrolment will take, and a refused enrolment or
claim explains itself in a sentence — the rule, the loan's figures, the scheme's article — on
the page and in the API error, in Chinese and English."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, update

from kejin.db import transaction
from kejin.errors import KejinError
from kejin.fund import desk
from kejin.fund import service as svc
from kejin.fund.ledger import Actor
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import Enterprise

from .conftest import login
from .fundworld import LOAN_A, POOL, build_fund
from .world import F2, F4

TODAY = date.today()


def _loan(contract: str, uscc: str, days: int, guarantee: str = "credit") -> dict:
    return {
        "contract_no": contract, "uscc": uscc, "institution_id": "BKA",
        "amount": Decimal("1000000.00"), "credit_line": Decimal("1000000.00"),
        "rate": Decimal("0.04"), "disbursed_on": TODAY - timedelta(days=100),
        "maturity_on": TODAY + timedelta(days=days), "guarantee_type": guarantee,
        "first_time_borrower": False,
    }  # fmt: skip


def _loans(engine: Engine) -> None:
    """Beside the pool's own loans: one BKA loan that fits, and one each that the rules refuse
    (matured, repaid, a dishonest borrower)."""
    build_fund(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Loan),
            [
                _loan("BKA-OK", F2, 300),
                _loan("BKA-OLD", F2, -5),
                _loan("BKA-PAID", F2, 300),
                _loan("BKA-BAD", F4, 300),
            ],
        )
        conn.execute(
            insert(LoanStatus),
            [{"contract_no": "BKA-PAID", "month": TODAY.replace(day=1), "balance": Decimal(0),
              "days_past_due": 0, "classification": "normal"}],
        )  # fmt: skip
        conn.execute(update(Enterprise).where(Enterprise.uscc == F4).values(dishonest=True))


def _offered(page: str) -> set[str]:
    form = page[page.index('action="/bank/claims/enrol"') :]
    form = form[: form.index("</form>")]
    return set(re.findall(r'<option value="([^"]+)"', form))


def test_the_enrol_form_offers_exactly_what_enrolment_takes(app, engine: Engine, world) -> None:
    _loans(engine)
    bank = login(app, "bank")
    page = bank.get("/bank/claims?lang=zh").text
    assert _offered(page) == {"BKA-OK"}  # not LOAN_A (enrolled), BKA-L1 / BKA-OLD (matured) …
    assert "直接贷款" in page  # the category by its name, the firm by its name
    # … and every loan left out is refused by the service, every loan offered accepted
    for contract in ("BKA-L1", "BKA-OLD", "BKA-PAID", "BKA-BAD", LOAN_A):
        with pytest.raises(KejinError):
            svc.enrol(engine, POOL, contract, Actor("bank", TODAY, "t"), f"t:{contract}")
    svc.enrol(engine, POOL, "BKA-OK", Actor("bank", TODAY, "t"), "t:ok")
    after = bank.get("/bank/claims").text
    assert _offered(after) == set() and 'id="no-enrollable"' in after


def test_the_offer_is_the_banks_own(app, engine: Engine, world) -> None:
    _loans(engine)
    with transaction(engine) as s:
        from .test_service_registration import _who

        offer = desk.enrollable(s, engine, _who(s, "bankb"))
    assert all(x["contract_no"].startswith("BKB") for x in offer[POOL])
    assert "BKA-OK" not in {x["contract_no"] for x in offer[POOL]}


def test_leverage_full_pool_offers_nothing_and_says_why(app, engine: Engine, world) -> None:
    _loans(engine)
    boss = Actor("fund_manager", TODAY, "set-up")  # 50,000 of capital: 10× covers 500,000
    svc.create_pool(engine, "TINY", "小资金池", "anhui", boss, "t:tiny")
    svc.deposit(engine, "TINY", "pool", Decimal("50000.00"), boss, "t:tiny:capital")
    assert svc.enrollable(engine, "TINY", "BKA", TODAY) == []
    with pytest.raises(KejinError) as e:
        svc.enrol(engine, "TINY", "BKA-OK", Actor("bank", TODAY, "t"), "t:lev")
    assert "10 × the pool's balance" in e.value.reason_en and "倍" in e.value.reason_zh
    assert "basis:" in e.value.reason_en and "依据" in e.value.reason_zh


def test_a_refused_claim_explains_itself_on_the_page_and_in_the_api(
    app, engine: Engine, world
) -> None:
    _loans(engine)
    svc.enrol(engine, POOL, "BKA-OK", Actor("bank", TODAY, "t"), "t:ok")
    with engine.begin() as conn:
        conn.execute(
            insert(LoanStatus),
            [{"contract_no": "BKA-OK", "month": TODAY.replace(day=1), "balance": Decimal("900000"),
              "days_past_due": 35, "classification": "special_mention"}],
        )  # fmt: skip
    bank = login(app, "bank")
    r = bank.post("/api/fund/claims", json={"pool": POOL, "contract_no": "BKA-OK",
                  "reason": "逾期", "key": "claim-ok"})  # fmt: skip
    assert r.status_code == 422
    body = r.json()
    zh, en = body["reason_zh"], body["reason_en"]
    for words in ("逾期满 90 天", "次级或更差", "逾期 35 天", "关注", "依据"):
        assert words in zh, zh
    for words in ("90 days past due", "substandard or worse", "35 days past due",
                  "special mention", "basis:"):  # fmt: skip
        assert words in en, en
    assert "special_mention" not in zh + en  # labels, not codes
    page = bank.post(
        "/bank/claims/file?lang=en",
        data={"csrf_token": bank.headers["X-CSRF-Token"], "pool_contract": f"{POOL}:BKA-OK",
              "reason": "逾期", "key": "claim-ok-2"},
    ).text  # fmt: skip
    assert "35 days past due" in page and "basis:" in page


def test_no_status_yet_says_what_to_do(engine: Engine, world) -> None:
    _loans(engine)
    svc.enrol(engine, POOL, "BKA-OK", Actor("bank", TODAY, "t"), "t:ok")
    with pytest.raises(KejinError) as e:
        svc.file_claim(engine, POOL, "BKA-OK", Actor("bank", TODAY, "t"), "t:claim")
    assert "report its month-end status first" in e.value.reason_en
    assert "请先报送" in e.value.reason_zh


def _outcome(s, loan, reads):  # type: ignore[no-untyped-def]
    try:
        cat, _, covered, cov_bal, notes = svc.admissible(s, loan, TODAY, reads)
        return ("ok", cat.id, covered, cov_bal, tuple(notes))
    except KejinError as e:
        return ("refused", e.reason_en)


def test_the_batch_reads_decide_as_the_live_ones(engine: Engine, world) -> None:
    """The offer reads many loans at once; every rule must come out as enrolment's own reads
    would have it, loan by loan (good standing aside, which the offer's query filters)."""
    _loans(engine)
    with engine.begin() as conn:  # statuses that matter: one repaid, one partly repaid
        conn.execute(
            insert(LoanStatus),
            [{"contract_no": "BKA-OK", "month": TODAY.replace(day=1) - timedelta(days=40),
              "balance": Decimal("400000.00"), "days_past_due": 0, "classification": "normal"}],
        )  # fmt: skip
    with engine.connect() as conn:
        s, _ = svc.pool_scheme(conn, POOL)
        loans = conn.execute(svc.select(svc.LOAN).where(svc.LOAN.c.contract_no != "BKA-BAD")).all()
        batch = svc.BatchReads(conn, POOL, TODAY, list(loans))
        live = svc.LiveReads(conn, POOL, TODAY)
        seen = {_outcome(s, loan, batch)[0] for loan in loans}
        for loan in loans:
            assert _outcome(s, loan, batch) == _outcome(s, loan, live), loan.contract_no
    assert seen == {"ok", "refused"}
