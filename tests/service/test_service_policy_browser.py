"""The policy workflow in a real browser: a programme is made by one officer and published by
another, the enterprise applies, gov_admin reviews, gov_reviewer approves (the reviewer's own
approval is refused on the page), gov_admin pays; then the eligible list, its Excel file and a
simulation. Screenshots go to ``tests/artifacts/`` for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from kejin.access.rules import remove_visibility
from kejin.api import create_app
from kejin.policy import library
from kejin.policy.params import Parameter, Value

from . import world as world_mod
from .conftest import live_server
from .policy_data import PROGRAMME, qualify
from .test_service_browser import ARTIFACTS, CHROMIUM, _page, shot

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium missing")


@pytest.fixture
def server(sqlite_engine: Engine) -> Iterator[str]:
    world_mod.build(sqlite_engine)
    qualify(sqlite_engine, extra=6)
    try:
        with live_server(create_app(sqlite_engine, session_key="browser-policy-key")) as url:
            yield url
    finally:
        remove_visibility("test_push")


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _row(page, programme: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#programme-table tr[data-programme='{programme}']")


def _revise_rate_next_month(monkeypatch: pytest.MonkeyPatch) -> date:
    """The small-line rate becomes 25% for 2025, published in a month (the server runs in this
    process, so it sees the revision)."""
    later = date.today() + timedelta(days=30)
    rate = library.get("karamay_interest").params["rate_small"]
    revised = Parameter(
        rate.name, rate.description, rate.unit, rate.document, rate.article,
        (*rate.values, Value(0.25, date(2025, 1, 1), date(9999, 12, 31), later)),
    )  # fmt: skip
    monkeypatch.setitem(library.get("karamay_interest").params, "rate_small", revised)
    return later


def test_apply_review_approve_by_two_officers_and_pay(  # type: ignore[no-untyped-def]
    server: str, browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = _revise_rate_next_month(monkeypatch)
    gov = _page(browser, server, "gov")
    gov.goto("/policies")
    # A bad budget is refused next to its field, then the draft is saved.
    gov.select_option("#create-policy", "karamay_interest")
    gov.fill("#create-year", "2025")
    gov.fill("#create-budget", "80000.001")
    gov.click("#create")
    assert "至多两位小数" in gov.inner_text("#budget-error")
    gov.fill("#create-budget", "80000")
    gov.click("#create")
    assert "已保存草稿" in gov.inner_text("#notice")
    assert _row(gov, PROGRAMME).locator(".state").inner_text() == "草稿（待发布）"
    # The maker cannot publish: the refusal appears in the programme's row.
    _row(gov, PROGRAMME).locator("button.publish").click()
    assert "发布须由另一人完成" in _row(gov, PROGRAMME).locator(".publish-error").inner_text()
    shot(gov, "policy_publish_refused")

    rev = _page(browser, server, "rev")
    rev.goto("/policies")
    _row(rev, PROGRAMME).locator("button.publish").click()
    assert rev.inner_text("#notice") == "已发布"
    assert _row(rev, PROGRAMME).locator(".state").inner_text() == "已发布"

    ent = _page(browser, server, "ent")
    ent.goto("/enterprise/policies")
    row = ent.locator("#open-table tr[data-entity='BKA-L1/2025']")
    assert "满足：经认定的高新技术企业或科技小巨人企业（三(二)8）" in row.inner_text()
    # A wrong entity typed by hand is refused at the field.
    ent.select_option("#apply-programme", PROGRAMME)
    ent.fill("#apply-entity", "BKA-L9/2025")
    ent.click("#apply")
    assert "没有对象BKA-L9/2025" in ent.inner_text("#entity-error")
    ent.locator("#open-table tr[data-entity='BKA-L1/2025'] button.apply").click()
    assert ent.inner_text("#notice") == "已提交申请"
    mine = ent.locator("#my-applications tr[data-application]")
    assert mine.count() == 1
    assert "已申请" in mine.first.inner_text() and "3,483.33" in mine.first.inner_text()
    shot(ent, "policy_enterprise_applied")

    gov.goto(f"/policies/{PROGRAMME}")
    app_row = gov.locator("#application-table tr[data-application]").first
    app_row.locator("button.accept").click()
    assert "已审核通过" in gov.inner_text("#notice")
    # The reviewer approving their own review is refused in place; nothing is reserved.
    gov.click("#approve")
    assert "审批须由另一人完成" in gov.inner_text("#approve-error")
    assert gov.inner_text("#reserved") == "0.00"
    shot(gov, "policy_approve_refused")

    rev.goto(f"/policies/{PROGRAMME}")
    assert rev.locator("button.accept").count() == 0  # reviewing is gov_admin's
    rev.click("#approve")
    assert rev.inner_text("#notice") == "已审批，预算已占用"
    assert rev.inner_text("#reserved") == "3,483.33"
    assert "rev" in rev.locator("#application-table tr[data-application]").first.inner_text()
    shot(rev, "policy_approved")

    gov.goto(f"/policies/{PROGRAMME}")
    gov.locator("button.pay").click()
    assert gov.inner_text("#notice") == "已支付" and gov.inner_text("#paid") == "3,483.33"
    pay_row = gov.inner_text("#payment-table tr:nth-child(2)")
    assert "支付" in pay_row and "3,483.33" in pay_row and pay_row.endswith("gov")
    shot(gov, "policy_paid")

    # The revision published next month: preview, then record the top-up (25% − 20% of 17,416.67).
    gov.fill("#corr-as-of", later.isoformat())
    gov.click("#corr-preview")
    assert gov.inner_text("#corr-net") == "+870.84"
    gov.click("#correct")
    assert gov.inner_text("#notice") == "已记录补发与追回"
    assert gov.inner_text("#paid") == "4,354.17"
    assert "补发" in gov.inner_text("#payment-table tr:nth-child(3)")
    assert "已追溯更正" in gov.inner_text("#application-table .corrected")
    shot(gov, "policy_corrected")

    ent.goto("/enterprise/policies")
    assert "已支付" in ent.locator("#my-applications tr[data-application]").first.inner_text()

    # Precise push: the eligible list, paged, and its Excel file.
    gov.goto(f"/policies/{PROGRAMME}/eligible")
    assert gov.inner_text("#eligible-total") == "7"
    assert "连云港第6科技有限公司" in gov.inner_text("#eligible-table tr:nth-child(2)")
    shot(gov, "policy_eligible")
    with gov.expect_download() as dl:
        gov.click("#notify")
    path = ARTIFACTS / "browser_policy_notify.xlsx"
    dl.value.save_as(path)
    assert len(list(load_workbook(path).active.iter_rows(values_only=True))) == 2 + 7

    # Simulation: a higher rate pushes the cost over the budget; every firm gains.
    gov.goto(f"/policies/{PROGRAMME}/simulate")
    gov.fill("#p-rate_small", "0.5")
    gov.click("#simulate")
    assert gov.inner_text("#winners") == "7" and gov.inner_text("#losers") == "0"
    assert gov.inner_text("#reform-budget") == "超出预算"
    assert gov.locator("svg.chart").count() == 2
    shot(gov, "policy_simulation")

    aud = _page(browser, server, "aud")
    aud.goto(f"/policies/{PROGRAMME}")
    assert aud.locator("main form[method=post]").count() == 0 and "只读" in aud.inner_text("main")
    assert aud.inner_text("#paid") == "4,354.17"
    aud.goto(f"/policies/{PROGRAMME}?lang=en")
    assert "Payments" in aud.inner_text("main")
    shot(aud, "policy_auditor_en")
