"""Matchmaking events as pages: the government creates and invites, the firm answers, the bank
signs up; the intent and outcome forms, the figures and the workbook carry labels, not codes."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from kejin.api import create_app
from kejin.db import transaction
from kejin.lending.tables import Institution
from kejin.matching.tables import MatchEvent
from kejin.vocab import EVENT_KINDS, INTENT_KINDS, INTENT_OUTCOMES, NO_DEAL_REASONS

from .conftest import F1, F2, Market
from .test_events import MEMBERS, add_whitelist
from .test_pages import _form, login, no_codes, refused, visible

#: Event codes that must never reach a reader (``loan``, ``none`` … are English words too).
EVENT_CODES = ("bank_firm", "roadshow", "invest_loan", "loan_equity", "not_qualified",
               "firm_declined", "biomedicine", "selected")  # fmt: skip


@pytest.fixture
def app(market: Market):  # type: ignore[no-untyped-def]
    add_whitelist(market.engine, MEMBERS)
    with transaction(market.engine) as s:
        s.add(Institution(id="VC1", name="连云港创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
    return create_app(market.engine, session_key="event-pages")


def test_event_pages_through_every_role(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    gov, ent, bank = login(app, "gov"), login(app, "ent"), login(app, "bank")
    on = (date.today() + timedelta(days=10)).isoformat()
    # A date in the past is refused beside the form, in both languages.
    zh, en = refused(gov, "/market/events", "/market/events", title="x", kind="roadshow",
                     held_on="2020-01-01", place="y")  # fmt: skip
    assert "举办日期已过" in zh and "the date has passed" in en
    r = gov.post("/market/events", data=_form(gov, title="生物医药银企对接会", kind="bank_firm",
                 held_on=on, place="连云港市科技局", chain="biomedicine", theme="首贷"),
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    eid = int(re.match(r"/market/events/(\d+)\?notice=ev_created", r.headers["location"]).group(1))
    r = gov.post(f"/market/events/{eid}/invite",
                 data=_form(gov, tiers=["core", "selected"], chains=["biomedicine"]),
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "notice=ev_invited" in r.headers["location"]
    page = gov.get(r.headers["location"])
    assert page.status_code == 200
    assert "银企对接会" in page.text and "生物医药" in page.text and "精选层" in page.text
    assert "邀请名单已确定" in page.text and 'id="invite-form"' not in page.text
    no_codes(page.text, *EVENT_CODES)
    # The firm sees its invitation and accepts; the bank signs up from its desk.
    page = ent.get("/enterprise/market")
    assert f'data-event="{eid}"' in page.text and "生物医药银企对接会" in page.text
    r = ent.post(f"/enterprise/market/events/{eid}/reply", data=_form(ent, answer="accept"),
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "notice=ev_replied" in r.headers["location"]
    assert "已接受" in ent.get("/enterprise/market").text
    desk = bank.get("/bank/market")
    assert f"/market/events/{eid}/signup" in desk.text
    r = bank.post(f"/market/events/{eid}/signup", data=_form(bank), follow_redirects=False)
    assert r.status_code == 303
    assert "本行已报名" in bank.get("/bank/market").text
    page = bank.get(f"/market/events/{eid}")
    assert page.status_code == 200 and f'data-uscc="{F1}"' in page.text
    assert f'data-uscc="{F2}"' not in page.text  # F2 did not answer
    r = gov.post(f"/market/events/{eid}/signup", data=_form(gov, institution_id="VC1"),
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    # Move the event to today so intents may be recorded.
    with transaction(market.engine) as s:
        s.get(MatchEvent, eid).held_on = date.today()
    zh, en = refused(bank, f"/market/events/{eid}/intents", f"/market/events/{eid}",
                     uscc=F1, kind="loan", amount="-5")  # fmt: skip
    assert "意向金额须大于0" in zh and "must be positive" in en
    for who, data in ((bank, {"uscc": F1, "kind": "loan", "amount": "5000000"}),
                      (gov, {"uscc": F2, "institution_id": "VC1", "kind": "loan_equity",
                             "amount": "20000000", "partner_id": "BKA"})):  # fmt: skip
        r = who.post(
            f"/market/events/{eid}/intents", data=_form(who, **data), follow_redirects=False
        )
        assert r.status_code == 303 and "notice=ev_intent" in r.headers["location"], r.headers
    page = gov.get(f"/market/events/{eid}")
    ids = [int(x) for x in re.findall(r'data-intent="(\d+)"', page.text)]
    assert len(ids) == 2 and "投贷联动" in page.text
    zh, _ = refused(gov, f"/market/intents/{ids[1]}/outcome", f"/market/events/{eid}",
                    outcome="none", amount="", reason="")  # fmt: skip
    assert "未成交须选择原因" in zh
    r = bank.post(
        f"/market/intents/{ids[0]}/outcome",
        data=_form(bank, outcome="disbursed", amount="4000000"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = gov.post(
        f"/market/intents/{ids[1]}/outcome",
        data=_form(gov, outcome="none", reason="valuation"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = gov.get(f"/market/events/{eid}")
    assert "已放款" in page.text and "估值分歧" in page.text and "4,000,000" in page.text
    no_codes(page.text, *EVENT_CODES)
    en = gov.get(f"/market/events/{eid}?lang=en").text
    assert "bank-firm matchmaking meeting" in en and "no agreement on valuation" in en
    assert not [c for c in EVENT_CODES[:6] if c in visible(en)]  # chain, tier: English words
    # The list and the workbook.
    page = gov.get("/market/events?lang=zh")
    assert f'data-event="{eid}"' in page.text and "银企对接会与路演" in page.text
    x = gov.get(f"/market/events/{eid}/event.xlsx")
    assert x.status_code == 200
    wb = load_workbook(io.BytesIO(x.content))
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    assert {"银企对接会", "贷款", "投贷联动", "已放款", "估值分歧", "已接受"} <= cells
    labels = {*EVENT_KINDS, *INTENT_KINDS, *INTENT_OUTCOMES, *NO_DEAL_REASONS}
    assert not (cells & (labels - {"loan", "equity", "none", "signed", "other", "price"}))
    # A firm cannot open the government's event desk.
    assert ent.get(f"/market/events/{eid}").status_code == 403
