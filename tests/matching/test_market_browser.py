"""The marketplace in a real browser, one role per test: Debian's Chromium, headless, Playwright.

The real application under uvicorn on a loopback port over the small market of
``tests/matching/conftest.py``. The firm posts a need and names the bank that may see it; the
bank takes a need, declines one with a reason and disburses another; the government sees its
funnel move and assigns a need nobody took. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kejin.access.audit import utcnow
from kejin.api import create_app
from kejin.db import transaction
from kejin.matching import service
from kejin.matching.service import NeedIn
from service.conftest import live_server
from service.world import PASSWORD

from .conftest import F1, F3, Market

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium missing: apt-get install -y chromium (.ci/run does)"
)

GOOD = NeedIn(Decimal("3000000"), 12, "研发投入", ["ip_pledge"])


@pytest.fixture
def engine(sqlite_engine):  # type: ignore[no-untyped-def]
    """SQLite only: the browser is the subject here, not the database."""
    return sqlite_engine


@pytest.fixture
def server(market: Market) -> Iterator[str]:
    with live_server(create_app(market.engine, session_key="market-browser")) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _page(browser, base: str, user: str):  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(
        base_url=base, viewport={"width": 1280, "height": 900}, locale="zh-CN"
    )
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name  # no overflow
    page.screenshot(path=str(ARTIFACTS / f"market_{name}.png"), full_page=True)


def test_firm_posts_a_need_and_follows_it(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "ent")
    page.click("#nav-market")
    assert "符合条件" in page.inner_text('#shelf-table tr[data-product="BKA-IP1"]')
    shot(page, "firm_zh")
    page.fill("#need-amount", "3000000")
    page.fill("#need-term", "12")
    page.fill("#need-rate", "4.5")
    page.fill("#need-purpose", "研发投入与原材料采购")
    page.check('#need-offered input[value="ip_pledge"]')
    page.check('#need-banks input[value="BKA"]')
    page.click("#post-need")
    assert "融资需求已发布" in page.inner_text("#notice")
    assert page.inner_text("#need-state") == "已发布·待接单"
    assert "甲银行连云港分行" in page.inner_text("#shared")
    assert page.inner_text('#match-table tr[data-product="BKA-IP1"] td >> nth=0') == "1"
    shot(page, "firm_need_zh")
    page.click("#withdraw")
    assert page.inner_text("#need-state") == "已撤回" and page.inner_text("#shared") == "无"
    page.goto("/enterprise/market?lang=en")
    assert "Product supermarket" in page.content() and "IP pledge" in page.content()
    shot(page, "firm_en")


def test_bank_takes_declines_and_disburses(market: Market, server: str, browser) -> None:  # type: ignore[no-untyped-def]
    with transaction(market.engine) as s:
        first = service.post(s, market.who("ent"), F1, GOOD).id
        second = service.post(s, market.who("ent"), F1, GOOD).id
    page = _page(browser, server, "bank")
    page.click("#nav-market")
    assert page.locator(f'#queue-table tr[data-need="{first}"]').count() == 1
    shot(page, "bank_zh")
    page.click(f'#queue-table tr[data-need="{first}"] button.take')
    assert "接单成功" in page.inner_text("#notice") and page.inner_text("#exclusive-until") > ""
    page.check("#outcome-decline")
    page.select_option("#reason", "collateral")
    page.click("#decide")
    assert page.inner_text("#decline-reason") == "担保或抵押不足"
    page.goto("/bank/market")
    page.click(f'#queue-table tr[data-need="{second}"] button.take')
    page.click("#review")
    page.click("#decide")  # approve is the default choice
    page.fill("#disburse-amount", "2500000")
    page.click("#disburse")
    assert page.inner_text("#need-state") == "已放款"
    assert "审批通过 → 已放款" in page.inner_text("#timeline")
    shot(page, "bank_need_zh")
    page.goto("/bank/market?lang=en")
    held = page.inner_text("#held-table")
    assert "declined" in held and "disbursed" in held and "collateral" in held
    shot(page, "bank_en")


def test_government_sees_the_funnel_and_assigns(market: Market, server: str, browser) -> None:  # type: ignore[no-untyped-def]
    with transaction(market.engine) as s:
        bank, ent = market.who("bank"), market.who("ent")
        done = service.post(s, ent, F1, GOOD).id
        service.take(s, bank, done, product_id="BKA-IP1")
        service.decide(s, bank, done, approve=False, reason="revenue")
        late = service.post(
            s, market.who("ent3"), F3, NeedIn(Decimal("500000"), 12, "扩产"),
            now=utcnow() - timedelta(days=21),
        ).id  # fmt: skip
    page = _page(browser, server, "gov")
    page.click("#nav-market")
    row = page.locator("#funnel-table tr", has_text="甲银行连云港分行")
    assert row.locator("td.declined").inner_text() == "1"
    assert page.locator("svg").count() >= 2
    shot(page, "gov_zh")
    page.locator(f'#overdue-table tr[data-need="{late}"]').locator("select").select_option("BKB")
    page.locator(f'#overdue-table tr[data-need="{late}"] button.assign').click()
    assert "已派单给所选银行" in page.inner_text("#notice")
    assert page.locator(f'#overdue-table tr[data-need="{late}"]').count() == 0
    row = page.locator("#funnel-table tr", has_text="乙银行连云港分行")
    assert row.locator("td.taken").inner_text() == "1"
    page.select_option("#by", "kind")
    page.click("#by-form button")
    assert page.locator("#funnel-table td", has_text="贷款").count() >= 1
    with page.expect_download() as dl:
        page.click("#funnel-xlsx")
    assert dl.value.suggested_filename == "funnel-kind.xlsx"
    page.goto("/market?lang=en")
    assert "Needs nobody took in time" in page.content()
    shot(page, "gov_en")
