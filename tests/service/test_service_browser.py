"""Every role in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is the real application under uvicorn on a loopback port, over a SQLite copy of the
test world. Each role logs in, walks its pages, does one real thing, and the test checks what is
on the screen; screenshots go to ``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kejin.access.rules import remove_visibility
from kejin.api import create_app

from . import world as world_mod
from .conftest import live_server
from .world import F1, F2, F3, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium missing: apt-get install -y chromium (.ci/run does)"
)


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[str]:
    world_mod.build(sqlite_engine)
    try:
        with live_server(create_app(sqlite_engine, session_key="browser-test-key")) as url:
            yield url
    finally:
        remove_visibility("test_push")


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
    page.screenshot(path=str(ARTIFACTS / f"browser_{name}.png"), full_page=True)


def test_wrong_password_shows_error_in_place(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(base_url=server)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "gov")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("#login-error")
    assert "/login?" in page.url  # post/redirect/get: the login page again, with the error


def test_government_dashboard_search_and_profile(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "gov")
    assert page.url.endswith("/dashboard")
    assert page.inner_text("#firm-count") == "4"
    assert page.locator("svg.chart").count() == 8  # 4 of the registry, 4 of the areas
    assert "按生命周期阶段的企业数" in page.content()
    basis = page.inner_text("#data-basis")
    assert "登记数据最近更新" in basis and "资质有效性判断日" in basis
    shot(page, "gov_dashboard")
    page.click("text=企业检索")
    page.fill("input[name=q]", "硅谷")
    page.click("#search-form button[type=submit]")
    assert page.inner_text("#total") == "1"
    page.click(f"text={F1}")
    assert page.inner_text("#level") == "完整数据"
    assert page.locator("#indicator-table tr").count() == 2
    assert "12,345,678.90" in page.inner_text("#indicator-table")
    shot(page, "gov_firm_profile")
    page.goto("/dashboard?lang=en")
    assert "Firms by stage" in page.content() and "Firm search" in page.inner_text("header")
    shot(page, "gov_dashboard_en")


def test_reviewer_reads_but_has_no_audit_view(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "rev")
    assert page.url.endswith("/dashboard")
    assert page.locator("header >> text=审计日志").count() == 0
    resp = page.goto("/audit")
    assert resp is not None and resp.status == 403
    assert "无权" in page.inner_text("#error-reason")
    page.goto("/firms?chain=biomedicine")
    assert page.inner_text("#total") == "1"
    shot(page, "reviewer_firms")


def test_bank_sees_consented_and_pushed_firms_only(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "bank")
    assert page.url.endswith("/bank")
    assert F1 in page.inner_text("#consent-table")
    assert "BKA-L1" in page.inner_text("#loan-table") and "BKB-L1" not in page.content()
    shot(page, "bank_home")
    page.click("text=企业检索")
    page.click("#search-form button[type=submit]")
    assert page.inner_text("#total") == "2"
    page.goto(f"/firms/{F2}")
    assert page.inner_text("#level") == "白名单字段"
    assert (
        page.locator("#not-consented").count() == 1
        and page.locator("#indicator-table").count() == 0
    )
    shot(page, "bank_pushed_firm")
    resp = page.goto(f"/firms/{F3}")
    assert resp is not None and resp.status == 403
    shot(page, "bank_refused")


def test_enterprise_grants_and_revokes_a_consent(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "ent")
    assert page.url.endswith("/enterprise")
    assert page.inner_text("#firm-name") == world_mod.NAMES[F1]
    assert "12,345,678.90" in page.inner_text("#indicator-table")
    # Invalid input: the error appears next to the field, nothing is granted.
    page.select_option("select[name=institution_id]", "BKB")
    page.click("#grant")
    assert "请输入日期" in page.inner_text("#expires-error")
    rows_before = page.locator("#consent-table tr[data-consent]").count()
    page.fill("#expires", (date.today() + timedelta(days=180)).isoformat())
    page.select_option("select[name=institution_id]", "BKB")
    page.select_option("select[name=scope]", "full")
    page.click("#grant")
    assert page.inner_text("#notice") == "已授权"
    rows = page.locator("#consent-table tr[data-consent]")
    assert rows.count() == rows_before + 1
    assert "乙银行" in rows.first.inner_text() and "有效" in rows.first.inner_text()
    shot(page, "enterprise_granted")
    rows.first.locator("button.revoke").click()
    assert page.inner_text("#notice") == "已撤销"
    assert "已失效" in page.locator("#consent-table tr[data-consent]").first.inner_text()
    shot(page, "enterprise_revoked")
    page.goto("/firms")
    assert page.locator("#firm-table").count() == 1  # its own search shows only itself
    assert page.inner_text("#total") == "1"


def test_auditor_reads_log_and_proves_chain(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, server, "aud")
    page.click("#nav-more summary")  # the header's secondary items
    page.click("header >> text=审计日志")
    assert "数据授权 · 授予" in page.inner_text("#audit-table")
    page.click("#verify")
    assert "审计链完好" in page.inner_text("#chain-state")
    shot(page, "auditor_audit")


def test_government_refreshes_and_pushes_the_whitelist_then_the_bank_sees_it(  # type: ignore[no-untyped-def]
    server: str, browser, sqlite_engine: Engine
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "points"))
    from points_region import build_region

    from kejin.points.service import score_run

    build_region(sqlite_engine, 60)
    score_run(sqlite_engine, "most-v1")

    gov = _page(browser, server, "gov")
    gov.goto("/whitelist")
    assert "暂无数据" in gov.inner_text("#version-table")
    gov.click("#refresh")
    gov.wait_for_load_state()
    assert "已生成新版本" in gov.inner_text("#notice")
    first = gov.inner_text("#version-table tr:nth-child(2)")
    assert first.startswith("v1")
    members = int(first.split("\t")[3])
    assert members > 0
    gov.select_option("#push-bank", "BKA")
    gov.click("#push")  # post/redirect/get: the page says it was pushed and links the file
    gov.wait_for_load_state()
    assert gov.inner_text("#notice").startswith("已推送")
    with gov.expect_download() as dl:
        gov.click("#pushed-file")
    download = dl.value
    assert download.suggested_filename == "whitelist-v1-BKA.xlsx"
    download.save_as(ARTIFACTS / "browser_whitelist_push.xlsx")
    gov.goto("/whitelist")
    assert "甲银行连云港分行" in gov.inner_text("#push-table")  # the bank's name, not its code
    shot(gov, "gov_whitelist")
    gov.goto("/dashboard")
    assert "白名单入库企业" in gov.content()
    shot(gov, "gov_dashboard_areas")

    bank = _page(browser, server, "bank")
    bank.goto("/bank/whitelist")
    assert bank.inner_text("#wl-head").startswith("v1")
    assert bank.locator("#wl-table tr").count() == members + 1
    first_firm = bank.inner_text("#wl-table tr:nth-child(2) td:first-child")
    shot(bank, "bank_whitelist")
    bank.click(f"text={first_firm}")
    bank.wait_for_load_state()
    assert "仅显示白名单字段" in bank.content()
    bank.goto("/bank/whitelist?lang=en")
    assert "Our whitelist" in bank.inner_text("h1")

    ent = _page(browser, server, "ent")
    ent.goto("/enterprise/policies")
    assert "可享政策" in ent.inner_text("h1")
    shot(ent, "enterprise_policies")
    gov.goto(f"/firms/{first_firm}/points")
    assert "如何提升" in gov.content()
    shot(gov, "gov_points")
