"""Post/redirect/get on every page form, and a language switch that keeps the page.

The routes come from the application's route table: a new page POST without a case here fails
the suite, so no form can again answer with a page of its own (a dead end whose reload re-posts
and whose language switch asked the POST's address for a GET: 405).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from kejin.access import service as access
from kejin.access.rules import Principal
from kejin.api import create_app, route_table
from kejin.db import transaction
from kejin.matching import products
from kejin.matching import service as market
from kejin.matching.products import ProductTerms

from . import world as world_mod
from .conftest import login
from .creditworld import build_decisions
from .fundworld import build_fund
from .policy_data import PROGRAMME, qualify
from .world import F1


def _routes() -> list[str]:
    import os

    os.environ.setdefault("KEJIN_SESSION_KEY", "collection-only")
    from kejin.db import make_engine

    app = create_app(make_engine("sqlite://"), session_key="collect")
    return sorted({p for m, p, _ in route_table(app) if m == "POST" and not p.startswith("/api/")})


PAGE_POSTS = _routes()


def _programme(app: Any, engine: Engine) -> dict[str, str]:
    """A published programme F1 has applied for (its application id)."""
    qualify(engine)
    gov, rev, ent = login(app, "gov"), login(app, "rev"), login(app, "ent")
    body = {"policy": "karamay_interest", "year": 2025, "budget": "100000", "allocation": "fcfs"}
    assert gov.post("/api/policy/programmes", json=body).status_code == 201
    assert rev.post(f"/api/policy/programmes/{PROGRAMME}/publish").status_code == 200
    r = ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME})
    assert r.status_code == 201, r.text
    return {"programme_id": PROGRAMME, "application_id": str(r.json()[0]["id"])}


def _claims(app: Any, engine: Engine) -> dict[str, str]:
    return {"claim_id": str(build_fund(engine, claims=True)["claim_BKA_own"])}


def _decision(app: Any, engine: Engine) -> dict[str, str]:
    return {"decision_id": str(build_decisions(engine)["decision_BKA_own"])}


def _registration(app: Any, engine: Engine) -> dict[str, str]:
    """F4's registration request, confirmed by its legal representative."""
    from kejin.access import registration

    with transaction(engine) as s:
        out = registration.submit(
            s,
            registration.Application(
                uscc=world_mod.F4, firm_name=world_mod.NAMES[world_mod.F4], legal_rep="王建国",
                applicant="李小梅", applicant_phone="13812345678", username="donghai_li",
                letter_name="letter.pdf", letter=b"%PDF-1.7",
            ),
        )  # fmt: skip
        registration.confirm(s, out.request.id, out.code, "王建国")
        return {"request_id": str(out.request.id)}


def _consent(world: Any) -> dict[str, str]:
    return {"consent_id": str(world.consents["c1"])}


def _who(s: Any, username: str) -> Principal:
    u = s.scalar(select(access.User).where(access.User.username == username))
    return access.principal_of(u)


def _terms(product_id: str) -> ProductTerms:
    return ProductTerms(
        product_id=product_id, institution_id="BKA", name="知识产权质押贷", kind="loan",
        min_amount=Decimal("200000"), max_amount=Decimal("10000000"), min_term_months=6,
        max_term_months=36, spread_min_bp=0, spread_max_bp=150, guarantee_kinds=["ip_pledge"],
        repayment=["on_demand"], eligibility=["hnte"],
    )  # fmt: skip


def _market(app: Any, engine: Engine) -> dict[str, str]:
    """BKA's live product (a second BKA officer, ``bank2``, approved it), a draft and a pending
    version, F1's need published and shared with BKA, and another F1 need BKA has taken."""
    with transaction(engine) as s:
        world_mod.add_user(s, None, "bank2", "bank_officer", institution_id="BKA")
        s.flush()
        bank, ent = _who(s, "bank"), _who(s, "ent")
        live = products.draft(s, bank, _terms("BKA-IP1"), submit=True)
        products.approve(s, _who(s, "bank2"), live.id)
        draft = products.draft(s, bank, _terms("BKA-IP2"))
        pending = products.draft(s, bank, _terms("BKA-IP3"), submit=True)
        need = market.NeedIn(Decimal("1000000"), 12, "研发投入", guarantee_offered=["ip_pledge"])
        published = market.post(s, ent, F1, need)
        market.share(s, ent, published.id, ["BKA"])
        taken = market.post(s, ent, F1, need)
        market.share(s, ent, taken.id, ["BKA"])
        market.take(s, bank, taken.id, product_id="BKA-IP1")
        return {
            "need_published": str(published.id),
            "need_taken": str(taken.id),
            "draft": str(draft.id),
            "pending": str(pending.id),
        }


def _on(build: Callable[..., dict[str, str]], **names: str) -> Callable[..., dict[str, str]]:
    """``build``'s ids under the names a path uses (``need_id`` is the taken need, or …)."""
    return lambda app, engine: {k: build(app, engine)[v] for k, v in names.items()}


def _event(app: Any, engine: Engine) -> dict[str, str]:
    """An upcoming matchmaking event (no invitations yet)."""
    from datetime import date, timedelta

    from kejin.matching import events

    with transaction(engine) as s:
        e = events.EventIn("银企对接会", "bank_firm", date.today() + timedelta(days=7), "科技局")
        return {"event_id": str(events.create(s, _who(s, "gov"), e).id)}


def _investor(app: Any, engine: Engine) -> dict[str, str]:
    """``inv``, the investor of the venture fund VC1."""
    from kejin.lending.tables import Institution

    with transaction(engine) as s:
        s.add(Institution(id="VC1", name="创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
        s.flush()
        world_mod.add_user(s, None, "inv", "investor", institution_id="VC1")
    return {}


_published = _on(_market, need_id="need_published")
_taken = _on(_market, need_id="need_taken")

#: page POST path -> (who posts, what the path needs); ``anon`` posts without logging in.
CASES: dict[str, tuple[str, Callable[..., dict[str, str]] | None]] = {
    "/login": ("anon", None),
    "/logout": ("gov", None),
    "/password": ("gov", None),
    "/enterprise/consents": ("ent", None),
    "/enterprise/consents/{consent_id}/revoke": ("ent", None),
    "/enterprise/policies/apply": ("ent", None),
    "/firms/{uscc}/credit": ("bank", None),
    "/bank/credit/{decision_id}/action": ("bank", _decision),
    "/bank/claims/enrol": ("bank", None),
    "/bank/claims/status": ("bank", None),
    "/bank/claims/file": ("bank", None),
    "/fund/deposit": ("gov", None),
    "/fund/claims/{claim_id}/review": ("gov", _claims),
    "/fund/claims/{claim_id}/approve": ("rev", _claims),
    "/fund/claims/{claim_id}/pay": ("gov", _claims),
    "/ingest": ("gov", None),
    "/policies/programmes": ("gov", None),
    "/policies/{programme_id}/publish": ("gov", _programme),
    "/policies/{programme_id}/corrections": ("gov", _programme),
    "/policies/{programme_id}/approve": ("gov", _programme),
    "/policies/applications/{application_id}/review": ("gov", _programme),
    "/policies/applications/{application_id}/pay": ("gov", _programme),
    "/whitelist/refresh": ("gov", None),
    "/whitelist/push": ("gov", None),
    "/enterprise/market/needs": ("ent", None),
    "/enterprise/market/needs/{need_id}/withdraw": ("ent", _published),
    "/enterprise/market/needs/{need_id}/rate": ("ent", _taken),
    "/bank/market/needs/{need_id}/take": ("bank", _published),
    "/bank/market/needs/{need_id}/review": ("bank", _taken),
    "/bank/market/needs/{need_id}/decide": ("bank", _taken),
    "/bank/market/needs/{need_id}/disburse": ("bank", _taken),
    "/bank/market/needs/{need_id}/close": ("bank", _taken),
    "/bank/market/products": ("bank", None),
    "/bank/market/prospects/{uscc}/push": ("bank", None),
    "/bank/market/products/versions/{version_id}/submit": (
        "bank",
        _on(_market, version_id="draft"),
    ),
    "/bank/market/products/versions/{version_id}/approve": (
        "bank2",
        _on(_market, version_id="pending"),
    ),
    "/market/needs/{need_id}/assign": ("gov", _published),
    "/market/products/versions/{version_id}/approve": ("gov", _on(_market, version_id="pending")),
    "/market/redispatch": ("gov", None),
    "/market/events": ("gov", None),
    "/market/events/{event_id}/invite": ("gov", _event),
    "/market/events/{event_id}/signup": ("bank", _event),
    "/market/events/{event_id}/intents": ("gov", _event),
    "/market/intents/{intent_id}/outcome": ("gov", lambda app, engine: {"intent_id": "999999"}),
    "/enterprise/market/events/{event_id}/reply": ("ent", _event),
    "/investor/market/intents": ("inv", _investor),
    # issue 18: an empty form is refused (no bank, no file, no batch) and comes back as a flash
    "/relend/quota": ("gov", None),
    "/relend/batches/{batch_id}/approve": ("rev", lambda app, engine: {"batch_id": "999999"}),
    "/relend/batches/{batch_id}/reject": ("rev", lambda app, engine: {"batch_id": "999999"}),
    "/bank/relend/submit": ("bank", None),
    "/bank/relend/batches/{batch_id}/repay": ("bank", lambda app, engine: {"batch_id": "999999"}),
    "/stats/banks/mark": ("gov", None),
    "/register": ("anon", None),
    "/register/confirm": ("anon", None),
    "/register/status": ("anon", None),
    "/registrations/{request_id}/decide": ("rev", _registration),
}


def test_every_page_post_has_a_case() -> None:
    assert sorted(CASES) == PAGE_POSTS


def _client(app: Any, who: str) -> TestClient:
    if who == "anon":
        return TestClient(app, raise_server_exceptions=False)
    return login(app, who)


def _csrf(c: TestClient) -> str:
    """The token a page's form carries (a logged-out client reads it from the login page)."""
    if "X-CSRF-Token" in c.headers:
        return c.headers["X-CSRF-Token"]
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert m is not None
    return m.group(1)


def _lang_switch(html: str) -> str:
    m = re.search(r'<a href="([^"]*)" id="lang-switch">', html)
    assert m is not None, "no language switch"
    return unescape(m.group(1))


@pytest.mark.parametrize("path", PAGE_POSTS)
def test_a_page_post_answers_303_to_a_get_page_that_renders(
    app, engine: Engine, world, path: str
) -> None:
    """Posted as a person allowed to (an empty form: the refusals travel too), in English: the
    answer is a 303 to a GET page that renders, in English, whose language switch keeps its
    address (the notice or the refusal with it) and renders in Chinese."""
    who, build = CASES[path]
    ids = {"uscc": F1, **_consent(world), **(build(app, engine) if build else {})}
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    c = _client(app, who)
    r = c.post(url + "?lang=en", data={"csrf_token": _csrf(c)}, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    target = r.headers["location"]
    page = c.get(target, follow_redirects=False)
    assert page.status_code == 200, (target, page.status_code, page.text[:300])
    assert '<html lang="en">' in page.text, target
    switch = _lang_switch(page.text)
    parts, before = urlsplit(switch), urlsplit(target)
    assert parts.path == before.path
    kept = {k: v for k, v in parse_qs(before.query).items() if k != "lang"}
    assert {k: v for k, v in parse_qs(parts.query).items() if k != "lang"} == kept
    zh = c.get(switch, follow_redirects=False)
    assert zh.status_code == 200 and '<html lang="zh-CN">' in zh.text, switch


def test_the_language_switch_keeps_the_search_filters(app, world) -> None:
    gov = login(app, "gov")
    page = gov.get("/firms?q=连云港&stage=growth&page=1")
    assert page.status_code == 200
    switch = _lang_switch(page.text)
    parts = urlsplit(switch)
    assert parts.path == "/firms"
    assert parse_qs(parts.query) == {
        "q": ["连云港"],
        "stage": ["growth"],
        "page": ["1"],
        "lang": ["en"],
    }
    en = gov.get(switch)
    assert en.status_code == 200 and 'value="连云港"' in en.text


def test_a_refusal_shows_in_either_language_and_only_to_its_owner(app, world) -> None:
    """The refusal rides on a flash: the switch shows it again in the other language; another
    person given the same address sees the page without it."""
    ent = login(app, "ent")
    r = ent.post(
        "/enterprise/consents?lang=zh",
        data={"csrf_token": ent.headers["X-CSRF-Token"], "expires_on": "2026-13-01"},
        follow_redirects=False,
    )
    target = r.headers["location"]
    assert r.status_code == 303 and "flash=" in target
    zh = ent.get(target)
    assert "请输入日期（年-月-日）" in zh.text and 'value="2026-13-01"' in zh.text
    en = ent.get(_lang_switch(zh.text))
    assert "enter a date as YYYY-MM-DD" in en.text and 'value="2026-13-01"' in en.text
    other = login(app, "ent3").get(target)  # another firm's user given the same address
    assert other.status_code == 200 and "请输入日期" not in other.text


def test_the_credit_decision_leads_to_its_evidence_and_back(app, world) -> None:
    bank = login(app, "bank")
    r = bank.post(
        f"/firms/{F1}/credit?lang=en",
        data={"csrf_token": bank.headers["X-CSRF-Token"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert re.fullmatch(r"/bank/credit/\d+", target.path)
    page = bank.get(r.headers["location"])
    assert page.status_code == 200 and 'id="notice"' in page.text
    assert f'href="/firms/{F1}"' in page.text and 'href="/bank/credit"' in page.text
    assert 'id="download-xlsx"' in page.text
    assert bank.get(f"/firms/{F1}").status_code == 200
