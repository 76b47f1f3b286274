"""接力融资: the next rung from the registry, and the firm's page showing it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import delete

from kejin.api import create_app
from kejin.db import transaction
from kejin.lending.tables import Institution
from kejin.matching import products, relay
from kejin.registry.tables import Enterprise, FinancingEvent
from service import world as world_mod

from .conftest import F4, Market, ip_terms
from .test_pages import login, no_codes


@pytest.mark.parametrize(
    ("reached", "stage", "want"),
    [
        (None, "seed", "angel"),
        (None, "startup", "vc"),
        (None, "growth", "loan"),
        ("angel", "seed", "vc"),
        ("angel", "growth", "loan"),  # the stage's floor is above the next equity rung
        ("vc", "startup", "pe"),
        ("pe", "growth", "loan"),
        ("loan", "seed", "listing"),
        ("listing", "mature", None),
    ],
)
def test_next_rung(reached: str | None, stage: str, want: str | None) -> None:
    assert relay.next_rung(reached, stage) == want


@pytest.fixture
def app(market: Market):  # type: ignore[no-untyped-def]
    return create_app(market.engine, session_key="market-relay")


def test_the_firm_page_advises_from_its_own_registry(market: Market, app) -> None:  # type: ignore[no-untyped-def]
    """F1 has VC money (2023) and a loan at BKA: next is listing. F4, a startup with angel money
    and no loan, is advised venture capital, with the equity products, the 投贷联动 loans and
    the venture funds that serve it; without the event, its stage's floor (venture capital)."""
    ent = login(app, "ent")
    page = ent.get("/enterprise/market").text
    assert "已到达：<b>银行贷款</b>" in page and "创业投资 2023-05-01 · 港城创投" in page
    assert 'id="relay-next">下一步：<b>上市</b>' in page
    no_codes(page, "angel", "vc", "pe", "listing")
    with transaction(market.engine) as s:
        s.get(Enterprise, F4).stage = "startup"
        s.add(FinancingEvent(uscc=F4, kind="angel", occurred_on=date(2025, 4, 1),
                             amount=Decimal("2000000"), investor="海州天使"))  # fmt: skip
        s.add(Institution(id="VCF", name="港城创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
        s.flush()
        eq = ip_terms(product_id="VCF-E1", institution_id="VCF", name="成长股权投资", kind="equity",
                      guarantee_kinds=["credit"], eligibility=[])  # fmt: skip
        v = products.draft(s, market.who("gov"), eq, submit=True)
        products.approve(s, market.who("rev"), v.id)
        link = ip_terms(product_id="BKA-LINK", name="投贷联动贷", invest_loan_link=True)
        v = products.draft(s, market.who("bank"), link, submit=True)
        products.approve(s, market.who("bank2"), v.id)
        world_mod.add_user(s, None, "ent4", "enterprise_user", uscc=F4)
    ent4 = login(app, "ent4")
    page = ent4.get("/enterprise/market").text
    assert "已到达：<b>天使投资</b>" in page and "海州天使" in page
    assert 'id="relay-next">下一步：<b>创业投资</b>' in page
    assert "成长股权投资" in page and "投贷联动贷" in page and "港城创投基金" in page
    en = ent4.get("/enterprise/market?lang=en").text
    assert "Next rung: <b>venture capital</b>" in en and "Investors" in en
    no_codes(page, "angel", "vc", "pe", "listing")
    with transaction(market.engine) as s:
        s.execute(delete(FinancingEvent).where(FinancingEvent.uscc == F4))
        s.get(Enterprise, F4).stage = "seed"
    page = ent4.get("/enterprise/market?lang=zh").text
    assert "尚无登记的融资" in page and 'id="relay-next">下一步：<b>天使投资</b>' in page
