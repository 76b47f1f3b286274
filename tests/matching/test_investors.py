"""Investors as a role of their own: the firms that consented to their institution, events like
a bank, intents (equity, 投贷联动 with a partner bank) for a firm or a need, their outcomes —
tenancy held in the service, bad input refused with nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kejin.access import service as access
from kejin.access.rules import Forbidden
from kejin.db import transaction
from kejin.errors import ValidationError
from kejin.lending.tables import Institution
from kejin.matching import events, service
from kejin.matching.events import IntentIn
from kejin.matching.tables import EventIntent
from service import world as world_mod

from .conftest import F1, F3, Market
from .test_events import AFTER, NOW, _held, ev_market  # noqa: F401  (the fixture)
from .test_lifecycle import GOOD


@pytest.fixture
def inv_market(ev_market: Market) -> Market:  # noqa: F811
    """VC1 has an investor ``inv``; VC2 another (``inv2``); F1 consented to VC1."""
    m = ev_market
    with transaction(m.engine) as s:
        s.add(Institution(id="VC2", name="另一创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
        s.flush()
        world_mod.add_user(s, None, "inv", "investor", institution_id="VC1")
        world_mod.add_user(s, None, "inv2", "investor", institution_id="VC2")
        access.grant_consent(s, m.who("ent"), uscc=F1, institution_id="VC1",
                             purpose="product_matching", scope="profile",
                             expires_at=datetime.now() + timedelta(days=90))  # fmt: skip
    return m


def test_an_investor_account_needs_a_venture_fund(inv_market: Market) -> None:
    m = inv_market
    with pytest.raises(ValidationError) as e, transaction(m.engine) as s:
        world_mod.add_user(s, None, "inv_bad", "investor", institution_id="BKA")
    assert (
        "投资机构" in e.value.problems[0].reason_zh and "investor" in e.value.problems[0].reason_en
    )


def test_investor_sees_only_firms_that_consented_and_registers_intents(inv_market: Market) -> None:
    m = inv_market
    with transaction(m.engine) as s:
        need = service.post(s, m.who("ent"), F1, GOOD).id
    with transaction(m.engine) as s:
        firms = events.consented_firms(s, m.who("inv"))
        assert [f["uscc"] for f in firms] == [F1] and firms[0]["tier"] == "core"
        assert [n["id"] for n in firms[0]["needs"]] == [need]
        assert set(firms[0]) == {"uscc", "name", "chain", "stage", "tier", "needs"}
        assert events.consented_firms(s, m.who("inv2")) == []
    with transaction(m.engine) as s:
        a = events.register_intent(
            s, m.who("inv"), IntentIn(F1, None, "equity", Decimal("30000000"))
        )
        b = events.register_intent(
            s, m.who("inv"), IntentIn(F1, None, "loan_equity", Decimal("8000000"), "BKA"), need
        )
        assert (a.institution_id, a.event_id, b.need_id) == ("VC1", None, need)
    with transaction(m.engine) as s:
        assert [r["id"] for r in events.my_intents(s, m.who("inv"))] == [b.id, a.id]
        assert events.my_intents(s, m.who("inv2")) == []
        assert len(events.my_intents(s, m.who("aud"))) == 2
        events.record_outcome(s, m.who("inv"), a.id, "invested", Decimal("25000000"))
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.record_outcome(s, m.who("inv2"), b.id, "none", reason="valuation")
    with transaction(m.engine) as s:
        mine = {r["id"]: r for r in events.my_intents(s, m.who("inv"))}
    assert mine[a.id]["outcome"] == "invested" and mine[b.id]["outcome"] is None


@pytest.mark.parametrize(
    ("who", "intent", "need", "exc", "field"),
    [
        ("inv", IntentIn(F3, None, "equity", Decimal("1")), None, ValidationError, "uscc"),
        ("inv2", IntentIn(F1, None, "equity", Decimal("1")), None, ValidationError, "uscc"),
        ("inv", IntentIn(F1, None, "equity", Decimal("-5")), None, ValidationError, "amount"),
        ("inv", IntentIn(F1, None, "loan", Decimal("5")), None, ValidationError, "kind"),
        ("inv", IntentIn(F1, None, "loan_equity", Decimal("5"), "VC2"), None, ValidationError,
         "partner_id"),
        ("inv", IntentIn(F1, None, "equity", Decimal("5")), 999999, ValidationError, "need_id"),
        ("bank", IntentIn(F1, None, "equity", Decimal("5")), None, Forbidden, None),
        ("ent", IntentIn(F1, None, "equity", Decimal("5")), None, Forbidden, None),
    ],
)  # fmt: skip
def test_bad_intents_are_refused_and_nothing_written(
    inv_market: Market, who: str, intent: IntentIn, need: int | None, exc: type, field: str | None
) -> None:
    m = inv_market
    before = m.audit_count("match.intent.direct")
    with pytest.raises(exc) as e, transaction(m.engine) as s:
        events.register_intent(s, m.who(who), intent, need)
    if field:
        assert field in {p.field for p in e.value.problems}
        assert e.value.reason_zh and e.value.reason_en
    with transaction(m.engine) as s:
        assert s.scalar(select(func.count()).select_from(EventIntent)) == 0
    assert m.audit_count("match.intent.direct") == before


def test_investor_at_events_acts_for_its_own_fund(inv_market: Market) -> None:
    m = inv_market
    eid = _held(m)  # VC1 signed up by the government
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.signup(s, m.who("inv"), eid, "VC2", now=NOW)
    with transaction(m.engine) as s:
        events.signup(s, m.who("inv2"), eid, now=NOW)
        i = events.record_intent(s, m.who("inv"), eid,
                                 IntentIn(F1, None, "loan_equity", Decimal("9000000"), "BKA"),
                                 now=AFTER)  # fmt: skip
        assert i.institution_id == "VC1"
        d = events.detail(s, m.who("inv2"), eid, now=AFTER)
        assert d["intents"] == [] and [r["uscc"] for r in d["invitees"]] == [F1]
        listed = events.listing(s, m.who("inv"), now=NOW)
        assert [r["signed_up"] for r in listed] == [True]


def test_investor_desk_page(inv_market: Market) -> None:
    from kejin.api import create_app

    from .test_event_pages import EVENT_CODES
    from .test_pages import _form, login, no_codes, refused

    m = inv_market
    eid = _held(m)
    app = create_app(m.engine, session_key="investor-pages")
    inv = login(app, "inv")
    page = inv.get("/investor/market")
    assert page.status_code == 200
    assert f'data-uscc="{F1}"' in page.text and f'data-uscc="{F3}"' not in page.text
    assert f'data-event="{eid}"' in page.text and "投资机构工作台" in page.text
    # the header leads to the desk and offers no empty "more" menu (an investor has no page there)
    assert 'href="/investor/market" class="on" id="nav-market"' in page.text
    assert 'id="nav-more"' not in page.text
    no_codes(page.text, *EVENT_CODES)
    zh, en = refused(inv, "/investor/market/intents", "/investor/market", uscc=F3,
                     kind="equity", amount="100")  # fmt: skip
    assert "未向本机构授权" in zh and "no live consent" in en
    r = inv.post("/investor/market/intents",
                 data=_form(inv, uscc=F1, kind="loan_equity", amount="6000000", partner_id="BKA"),
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "notice=ev_intent" in r.headers["location"]
    page = inv.get(r.headers["location"])
    assert "投贷联动" in page.text and "甲银行连云港分行" in page.text and "跟进中" in page.text
    iid = int(page.text.split('data-intent="')[1].split('"')[0])
    r = inv.post(
        f"/market/intents/{iid}/outcome",
        data=_form(inv, outcome="invested", amount="5000000"),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/investor/market")
    assert "已投资" in inv.get("/investor/market").text
    assert inv.get(f"/market/events/{eid}").status_code == 200
    # Not a bank's or a firm's desk, nor the government's event creation.
    assert inv.get("/bank/market").status_code == 403
    assert inv.get("/enterprise/market").status_code == 403
    assert login(app, "bank").get("/investor/market").status_code == 403


def test_demo_with_an_investor_account(inv_market: Market) -> None:
    """With a demo investor, its fund signs up itself, meets firms at the past event, and holds a
    投贷联动 intent for the demo firm (which consents to the fund for it)."""
    from kejin.matching import demo

    m = inv_market
    now = datetime(2026, 12, 1, 10)
    with transaction(m.engine) as s:
        service.post(s, m.who("ent"), F1, GOOD)
        out = demo.fill_events(s, m.who("gov"), m.who("ent"), m.who("bank"), m.who("inv"),
                               now=now, seed=3)  # fmt: skip
    assert out["investor_intents"] == 1
    with transaction(m.engine) as s:
        mine = events.my_intents(s, m.who("inv"))
        past = events.detail(s, m.who("gov"), out["past"], now=now)
    assert any(r["event_id"] is None and r["kind"] == "loan_equity" and r["need_id"] for r in mine)
    assert "VC1" in {r["institution_id"] for r in past["signups"]}
    assert {r["signed_by"] for r in past["signups"] if r["institution_id"] == "VC1"} == {"inv"}
