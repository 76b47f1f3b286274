"""The marketplace pages without a browser, one role after another through the loop.

The firm posts a need and names the bank that may see it; the bank finds it in its queue, takes
it, declines it with a reason; a second need is reviewed, approved and disbursed; the
government's funnel moves and its workbook carries labels; a need nobody took is assigned by
hand. Every page is read as a person reads it: its visible text must carry labels, never the
codes behind them.
"""

from __future__ import annotations

import html
import io
import itertools
import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from kejin.access.audit import utcnow
from kejin.access.tables import AuditEvent, Consent
from kejin.api import create_app
from kejin.db import transaction
from kejin.matching import query, service
from kejin.matching.pages import bank_names
from kejin.matching.service import NeedIn
from kejin.matching.tables import Need, ProductVersion
from kejin.vocab import DECLINE_REASONS, GUARANTEE_KINDS, REPAYMENT_OPTIONS
from service import world as world_mod

from .conftest import F3, Market

_addresses = itertools.count(1)

#: Codes that must never reach a reader: vocabulary ids and state names behind the labels.
CODES = sorted(
    {*GUARANTEE_KINDS, *REPAYMENT_OPTIONS, *DECLINE_REASONS}
    - {"credit", "guarantee", "mortgage", "revenue", "documents", "other"}  # English words too
    | {"first_review", "published", "declined", "disbursed", "urgent", "sla_exceeded"}
)


def login(app, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    n = next(_addresses)
    c = TestClient(app, raise_server_exceptions=False, client=(f"10.9.{n >> 8}.{n & 255}", 5000))
    r = c.post("/api/auth/login", json={"username": username, "password": world_mod.PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def visible(page: str) -> str:
    """The text a person sees: no tags, no attribute values, no scripts or styles."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", " ", page))


def no_codes(page: str, *extra: str) -> None:
    text = visible(page)
    for code in (*CODES, *extra):
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text), code


@pytest.fixture
def app(market: Market):  # type: ignore[no-untyped-def]
    return create_app(market.engine, session_key="market-pages")


def _form(c: TestClient, **kw: object) -> dict[str, object]:
    return {"csrf_token": c.headers["X-CSRF-Token"], **kw}


NEED = {
    "amount": "3000000",
    "term_months": "12",
    "purpose": "研发投入与原材料采购",
    "max_rate": "4.5",
    "urgency": "urgent",
    "guarantee_offered": ["ip_pledge"],
    "banks": ["BKA"],
}


def refused(c: TestClient, url: str, back: str, **data: object) -> tuple[str, str]:
    """Post a form that is refused: a 303 to its GET page ``back`` with the refusal as a flash;
    that page's text in Chinese and in English (where the refusal and the values typed are
    shown)."""
    r = c.post(url, data=_form(c, **data), follow_redirects=False)
    assert r.status_code == 303, r.text
    loc = r.headers["location"]
    assert loc.startswith(back + "?") and "flash=" in loc, loc
    en = c.get(loc + "&lang=en")
    zh = c.get(loc + "&lang=zh")  # last: the language chosen is kept (a cookie) for what follows
    assert zh.status_code == en.status_code == 200
    assert 'id="action-error"' in zh.text and 'id="action-error"' in en.text
    return zh.text, en.text


def _post_need(ent: TestClient, **kw: object) -> int:
    r = ent.post(
        "/enterprise/market/needs", data=_form(ent, **{**NEED, **kw}), follow_redirects=False
    )
    assert r.status_code == 303, r.text
    m = re.match(r"/enterprise/market/needs/(\d+)\?notice=posted", r.headers["location"])
    assert m, r.headers["location"]
    return int(m.group(1))


def test_the_loop_through_every_roles_pages(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    ent, bank, gov = login(app, "ent"), login(app, "bank"), login(app, "gov")

    # The firm: the supermarket says it qualifies for the IP-pledge loan.
    page = ent.get("/enterprise/market")
    assert page.status_code == 200
    row = re.search(r'data-product="BKA-IP1".*?</tr>', page.text, re.S)
    assert row and "符合条件" in row.group(0) and "知识产权质押" in row.group(0)
    no_codes(page.text)

    # A bad need is refused in place, every problem named, nothing written.
    bad, en = refused(
        ent, "/enterprise/market/needs", "/enterprise/market", **{**NEED, "amount": "0"}
    )
    assert "需求金额须大于0" in bad and "amount must be positive" in en
    assert 'value="研发投入与原材料采购"' in bad  # the form keeps what was typed
    assert 'value="研发投入与原材料采购"' in en
    with transaction(market.engine) as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 0
        assert (
            s.scalar(select(func.count()).select_from(Consent).where(Consent.need_id.is_not(None)))
            == 0
        )

    first = _post_need(ent)
    page = ent.get(f"/enterprise/market/needs/{first}?notice=posted")
    assert "融资需求已发布" in page.text and "已发布·待接单" in page.text
    assert "甲银行连云港分行" in re.search(r'id="shared">(.*?)</span>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert re.search(r'data-product="BKA-IP1" class="ok">\s*<td[^>]*><b>1</b>', page.text)
    assert "紧急" in page.text and "知识产权质押" in page.text
    no_codes(page.text)
    with transaction(market.engine) as s:
        [c] = s.scalars(select(Consent).where(Consent.need_id == first)).all()
        assert (c.institution_id, c.purpose, c.scope) == ("BKA", "product_matching", "full")

    # The bank: the need is in its queue with the firm's figures (the firm consented).
    page = bank.get("/bank/market")
    q = re.search(rf'<tr data-need="{first}">.*?</tr>', page.text, re.S)
    assert q and "已授权本行" in q.group(0) and "营业收入" in q.group(0)
    assert "接单后独占 5 个工作日" in page.text
    no_codes(page.text)
    r = bank.post(
        f"/bank/market/needs/{first}/take",
        data=_form(bank, product_id="BKA-IP1"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = bank.get(r.headers["location"])
    assert "接单成功" in page.text and "已接单" in page.text
    until = re.search(r'id="exclusive-until">(\d{4}-\d\d-\d\d)<', page.text)
    assert until and until.group(1) > utcnow().date().isoformat()

    # Another bank is told who holds it, on its own desk, nothing changed.
    other = login(app, "officer_BKC")
    assert (
        "已由甲银行连云港分行接单"
        in refused(other, f"/bank/market/needs/{first}/take", "/bank/market")[0]
    )

    # A decline needs a reason; with one, the page shows its label.
    bad, en = refused(
        bank, f"/bank/market/needs/{first}/decide", f"/bank/market/needs/{first}",
        outcome="decline", note="再议",
    )  # fmt: skip
    assert "拒绝须给出原因代码" in bad and 'value="再议"' in bad and 'value="再议"' in en
    assert 'value="decline" id="outcome-decline" checked' in bad
    r = bank.post(
        f"/bank/market/needs/{first}/decide",
        data=_form(bank, outcome="decline", reason="collateral", note="质押物估值不足"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = bank.get(r.headers["location"])
    assert "已记录未获批及原因" in page.text and "担保或抵押不足" in page.text
    no_codes(page.text, "collateral")

    # The second need goes the whole way: taken, first review, approved, disbursed.
    second = _post_need(ent, amount="2000000", guarantee_offered=["ip_pledge", "credit"])
    for step, data in (
        ("take", {"product_id": "BKA-IP1"}),
        ("review", {"note": "材料齐全"}),
        ("decide", {"outcome": "approve"}),
        ("disburse", {"amount": "1800000"}),
    ):
        r = bank.post(
            f"/bank/market/needs/{second}/{step}", data=_form(bank, **data), follow_redirects=False
        )
        assert r.status_code == 303, (step, r.text)
    page = bank.get(f"/bank/market/needs/{second}")
    assert "已放款" in page.text and "1,800,000.00" in page.text
    timeline = re.search(r'<table id="timeline">(.*?)</table>', page.text, re.S).group(1)  # type: ignore[union-attr]
    steps = re.findall(r"</td><td>([^<]+)</td><td>(?:ent|bank)[ <]", timeline)
    assert steps == ["草稿", "草稿 → 已发布·待接单", "已发布·待接单 → 已接单", "已接单 → 初审通过",
                     "初审通过 → 审批通过", "审批通过 → 已放款"]  # fmt: skip
    # each step at the users' clock (Asia/Shanghai), minutes, no ISO 'T', no offset (kejin.times)
    shown = re.findall(r"<tr><td>([^<]*)</td>", timeline)
    assert len(shown) == 6 and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", x) for x in shown)
    clock = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert all(
        abs(datetime.strptime(x, "%Y-%m-%d %H:%M") - clock) < timedelta(minutes=10) for x in shown
    )
    no_codes(page.text)

    # The firm follows its needs and rates the bank once it has decided.
    page = ent.get(f"/enterprise/market/needs/{first}")
    assert "未获批" in page.text and "担保或抵押不足" in page.text and 'id="rate-form"' in page.text
    no_codes(page.text, "collateral")
    bad, _ = refused(
        ent, f"/enterprise/market/needs/{first}/rate", f"/enterprise/market/needs/{first}",
        rating="9", note="响应快",
    )  # fmt: skip
    assert 'value="响应快"' in bad  # the note typed is kept beside the reason
    r = ent.post(
        f"/enterprise/market/needs/{first}/rate",
        data=_form(ent, rating="4", note="响应快"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = ent.get(r.headers["location"])
    assert "感谢评价" in page.text and "★★★★" in page.text and 'id="rate-form"' not in page.text
    need_page = f"/enterprise/market/needs/{first}"
    again, en = refused(ent, f"{need_page}/rate", need_page, rating="5")
    assert "已评价过" in again and 'id="rate-form"' not in en  # rated once: no form to refill

    # The government's funnel moved; the chart and the workbook carry labels.
    page = gov.get("/market")
    row = re.search(r"<tr><td>甲银行连云港分行</td>.*?</tr>", page.text, re.S)
    assert row, page.text
    cells = re.findall(r'class="(\w+)">([^<]*)<', row.group(0))
    got = dict(cells)
    assert (got["posted"], got["taken"], got["declined"], got["disbursed"]) == ("2", "2", "1", "1")
    assert got["disbursed_amount"] == "1,800,000.00"
    assert page.text.count('<svg class="chart"') == 2 or page.text.count("<svg") == 2
    no_codes(page.text)
    page = gov.get("/market?by=kind")
    assert "<td>贷款</td>" in page.text
    x = gov.get("/market/funnel.xlsx?by=kind")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.values)
    assert rows[0][:3] == ("按产品类型", "发布", "接单") and rows[1][0] == "贷款"

    # English: the same page, the same labels in English.
    page = ent.get(f"/enterprise/market/needs/{first}?lang=en")
    assert "insufficient collateral or guarantee" in page.text and "IP pledge" in page.text
    # (English labels may use an id's word — "insufficient collateral" — but never an id)
    text = visible(page.text)
    assert not any(c in text for c in ("ip_pledge", "first_review", "credit_record", "_"))


def test_withdrawing_a_need_revokes_its_consents(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    ent = login(app, "ent")
    need = _post_need(ent, banks=["BKA", "BKB"])
    with transaction(market.engine) as s:
        assert service.shared_with(s, need) == ["BKA", "BKB"]
    r = ent.post(
        f"/enterprise/market/needs/{need}/withdraw", data=_form(ent), follow_redirects=False
    )
    assert r.status_code == 303
    page = ent.get(r.headers["location"])
    assert "已撤回" in page.text and 'id="withdraw"' not in page.text
    with transaction(market.engine) as s:
        assert service.shared_with(s, need) == []
        assert (
            s.scalar(
                select(func.count())
                .select_from(Consent)
                .where(Consent.need_id == need, Consent.revoked_at.is_(None))
            )
            == 0
        )


def test_government_assigns_a_need_nobody_took(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    with transaction(market.engine) as s:
        old = utcnow() - timedelta(days=21)
        n = service.post(s, market.who("ent3"), F3, NeedIn(Decimal("500000"), 12, "扩产"), now=old)
        need = n.id
        # a need BKA's IP-pledge product fits, left as long: offered to BKA first (★)
        fits = NeedIn(Decimal("3000000"), 12, "研发投入", ["ip_pledge"], Decimal("0.045"))
        fitting = service.post(s, market.who("ent"), world_mod.F1, fits, now=old).id
    gov = login(app, "gov")
    page = gov.get("/market")
    assert re.search(rf'<tr data-need="{need}">', page.text)

    # the banks whose live products fit a need are offered first (★), every bank once
    def fit_records() -> list[AuditEvent]:
        with transaction(market.engine) as s:
            return list(
                s.scalars(select(AuditEvent).where(AuditEvent.action == "match.assign.fit"))
            )

    seen = len(fit_records())
    with transaction(market.engine) as s:
        fit = query.fitting_banks(s, market.who("gov"), [need, fitting])
        banks = bank_names(s)
    # the firms' fit read is audited once for the list, not once per need per page view
    added = fit_records()[seen:]
    assert len(added) == 1 and added[0].entity_kind == "need_list"
    assert added[0].entity_id == f"{min(need, fitting)},{max(need, fitting)}"
    assert fit.get(fitting) == ["BKA"] and need not in fit
    for nid in (need, fitting):
        row = re.search(rf'<tr data-need="{nid}">.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
        offered = re.findall(r'<option value="([^"]+)"( class="fit")?', row)
        first = fit.get(nid, [])
        assert [b for b, _ in offered] == [*first, *(b for b in banks if b not in first)]
        assert [b for b, mark in offered if mark] == first
        assert row.count(">★ ") == len(first) and ("产品适配的银行" in row) == bool(first)
    en = gov.get("/market?lang=en").text
    assert 'label="Banks whose products fit (★)"' in en and 'label="Other banks"' in en
    gov.get("/market?lang=zh")  # the language chosen is kept: back to Chinese
    r = gov.post(
        f"/market/needs/{need}/assign",
        data=_form(gov, institution_id="BKB"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = gov.get(r.headers["location"])
    assert "已派单给所选银行" in page.text and f'<tr data-need="{need}">' not in page.text
    bankb = login(app, "bankb")
    page = bankb.get(f"/bank/market/needs/{need}")
    assert page.status_code == 200 and "政府派单" in page.text
    no_codes(page.text, "assigned")
    # A reviewer watches but does not assign.
    rev = login(app, "rev")
    assert 'class="assign"' not in rev.get("/market").text
    assert (
        rev.post(f"/market/needs/{need}/assign", data=_form(rev, institution_id="BKA")).status_code
        == 403
    )


def test_bank_drafts_a_product_and_a_second_person_puts_it_live(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    bank = login(app, "bank")
    page = bank.get("/bank/market/product")
    assert page.status_code == 200 and "随借随还" in page.text
    no_codes(page.text)
    bad, _ = refused(
        bank, "/bank/market/products", "/bank/market/product",
        product_id="BKA-TAL", name="人才贷", kind="loan", min_amount="5000000",
        max_amount="1000000", min_term_months="6", max_term_months="36",
        spread_min_bp="0", spread_max_bp="100", guarantee_kinds=["credit"],
    )  # fmt: skip
    assert 'value="5000000"' in bad and 'value="人才贷"' in bad  # the form keeps what was typed
    with transaction(market.engine) as s:
        got = select(func.count()).where(ProductVersion.product_id == "BKA-TAL")
        assert s.scalar(got) == 0  # nothing written
    r = bank.post(
        "/bank/market/products",
        data=_form(bank, product_id="BKA-TAL", name="人才贷", kind="loan", min_amount="100000",
                   max_amount="1000000", min_term_months="6", max_term_months="36",
                   spread_min_bp="0", spread_max_bp="100", guarantee_kinds=["credit"],
                   repayment=["on_demand"], talent_loan="1", eligibility="hnte\nnot dishonest",
                   submit="1"),
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and "notice=submitted" in r.headers["location"]
    page = bank.get(r.headers["location"])
    row = re.search(r'<tr data-version="(\d+)"><td>人才贷.*?</tr>', page.text, re.S)
    assert row and "待复核" in row.group(0) and "复核上线" not in row.group(0)  # not by its maker
    version = row.group(1)
    bank2 = login(app, "bank2")
    r = bank2.post(
        f"/bank/market/products/versions/{version}/approve",
        data=_form(bank2),
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = bank2.get(r.headers["location"])
    assert "复核通过，产品已上线" in page.text
    assert "在售" in re.search(rf'<tr data-version="{version}">.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    no_codes(page.text)


def test_pages_refuse_other_roles_and_other_firms(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    ent = login(app, "ent")
    need = _post_need(ent)
    ent3 = login(app, "ent3")
    assert ent3.get(f"/enterprise/market/needs/{need}").status_code == 403
    assert (
        ent3.post(f"/enterprise/market/needs/{need}/withdraw", data=_form(ent3)).status_code == 403
    )
    bank = login(app, "bank")
    assert bank.get(f"/bank/market/needs/{need}").status_code == 403  # not taken by it yet
    assert bank.get("/market").status_code == 403
    assert ent.get("/bank/market").status_code == 403
    assert login(app, "gov").get("/enterprise/market").status_code == 403


def test_the_queue_is_paged_best_fit_first(market: Market, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Three fitting needs, two a screen: every need on exactly one page, the order kept."""
    from kejin.matching import pages_bank

    monkeypatch.setattr(pages_bank, "QUEUE_ROWS", 2)
    ent = login(app, "ent")
    needs = {_post_need(ent, amount=str(a)) for a in (500000, 3000000, 9000000)}
    bank = login(app, "bank")
    first, second = bank.get("/bank/market"), bank.get("/bank/market?page=2")
    rows = [re.findall(r'<tr data-need="(\d+)">', p.text.split('id="held"')[0])
            for p in (first, second)]  # fmt: skip
    assert len(rows[0]) == 2 and len(rows[1]) == 1
    assert {int(n) for r in rows for n in r} == needs
    assert "共 3 条" in first.text and "1 / 2" in first.text and "?page=2" in first.text
    assert "?page=1" in second.text and "?page=3" not in second.text
    # past the end: the last page, not an empty one
    assert (
        re.findall(
            r'<tr data-need="(\d+)">', bank.get("/bank/market?page=9").text.split('id="held"')[0]
        )
        == rows[1]
    )


def test_a_bank_pushes_a_prospect_with_a_named_contact(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    """首贷培育: F4 (whitelist, never borrowed) fits BKA's open product; the officer names a
    contact; the firm sees it; a second push, a non-prospect and an empty name are refused."""
    from kejin.access.tables import AuditEvent
    from kejin.matching import products as catalogue
    from kejin.matching.tables import ProspectPush
    from service.test_service_areas import add_version

    from .conftest import ip_terms

    add_version(market.engine, {world_mod.F4: "base", world_mod.F1: "base"}, {})
    with transaction(market.engine) as s:
        terms = ip_terms(product_id="BKA-OPEN", name="首贷通", guarantee_kinds=["credit"],
                         eligibility=["whitelisted", "not dishonest"])  # fmt: skip
        v = catalogue.draft(s, market.who("bank"), terms, submit=True)
        catalogue.approve(s, market.who("bank2"), v.id)
        world_mod.add_user(s, None, "ent4", "enterprise_user", uscc=world_mod.F4)
    bank = login(app, "bank")
    page = bank.get("/bank/market/prospects")
    assert f"/bank/market/prospects/{world_mod.F4}/push" in page.text
    assert f"/bank/market/prospects/{world_mod.F1}/push" not in page.text  # F1 borrowed
    no_codes(page.text)
    url = f"/bank/market/prospects/{world_mod.F4}/push"
    zh, en = refused(bank, url, "/bank/market/prospects", contact_name="", contact_phone="12")
    assert "须填写对接人姓名" in zh and "the phone must be" in en
    r = bank.post(url, data=_form(bank, contact_name="王经理", contact_phone="0518-85800000",
                                  product_id="BKA-OPEN"), follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "notice=pushed" in r.headers["location"]
    page = bank.get(r.headers["location"])
    assert "已推送" in page.text and "王经理 · 0518-85800000" in page.text
    zh, _ = refused(bank, url, "/bank/market/prospects", contact_name="李经理",
                    contact_phone="13900000000")  # fmt: skip
    assert "本行已于" in zh and "王经理" in zh
    # pushed from a later screen of the list, the officer is taken back to that screen
    r = bank.post(url, data=_form(bank, contact_name="李经理", contact_phone="13900000000",
                                  page="2"), follow_redirects=False)  # fmt: skip
    assert r.headers["location"].startswith("/bank/market/prospects?page=2&"), r.headers
    r = bank.post(f"/bank/market/prospects/{world_mod.F4}/push", data=_form(bank, page="abc"))
    assert r.status_code == 422
    zh, _ = refused(bank, f"/bank/market/prospects/{world_mod.F1}/push", "/bank/market/prospects",
                    contact_name="李经理", contact_phone="13900000000")  # fmt: skip
    assert "不是本行的首贷培育对象" in zh
    firm = login(app, "ent4")
    page = firm.get("/enterprise/market")
    contacts = re.search(r'<table id="contact-table">.*?</table>', page.text, re.S)
    assert contacts and "王经理" in contacts.group(0) and "首贷通" in contacts.group(0)
    assert "0518-85800000" in contacts.group(0)
    assert 'id="contact-table"' not in login(app, "ent").get("/enterprise/market").text
    with transaction(market.engine) as s:
        assert s.scalar(select(func.count()).select_from(ProspectPush)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "match.prospect.push")) == 1  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_bank_home_page_leads_to_the_desk_pages(market: Market, app, lang) -> None:  # type: ignore[no-untyped-def]
    """An officer with nothing yet still has somewhere to go: the desk pages its role allows."""
    bank = login(app, "bank")
    page = bank.get(f"/bank?lang={lang}")
    desk = re.search(r'<p id="bank-desk">(.*?)</p>', page.text, re.S)
    assert desk, page.text[:500]
    hrefs = re.findall(r'href="([^"]+)"', desk.group(1))
    assert hrefs[:6] == ["/bank/whitelist", "/bank/market", "/bank/market#product-table",
                         "/bank/market/prospects", "/bank/credit", "/bank/claims"]  # fmt: skip
    assert "/bank/evaluation" in hrefs
    for href in hrefs:
        assert bank.get(href.split("#")[0]).status_code == 200, href
    words = ("本行产品", "授信决策", "本行评估") if lang == "zh" else ("Credit decision",)
    assert all(w in desk.group(1) for w in words), desk.group(1)
