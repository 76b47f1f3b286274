"""A firm registers itself in a real browser (Chromium): the applicant applies from the login
page with the authorisation letter, the legal representative confirms with the one-time code,
the government reviewer approves, and the new account must change its first password. The
bank then finds a firm of its pushed whitelist by name and downloads the search.
Screenshots go to ``tests/artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kejin.access.rules import remove_visibility
from kejin.api import create_app

from . import world as world_mod
from .conftest import live_server
from .test_service_areas import add_version
from .test_service_browser import ARTIFACTS, CHROMIUM, _page, shot
from .world import F1, F2, F4, NAMES

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium missing")


@pytest.fixture
def chromium() -> Iterator[object]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def reg_server(sqlite_engine: Engine) -> Iterator[str]:
    world_mod.build(sqlite_engine)
    add_version(sqlite_engine, {F1: "base", F2: "selected", F4: "core"}, {})
    try:
        with live_server(create_app(sqlite_engine, session_key="browser-reg-key")) as url:
            yield url
    finally:
        remove_visibility("test_push")


def test_a_firm_registers_is_confirmed_approved_and_changes_its_password(  # type: ignore[no-untyped-def]
    reg_server: str, chromium, tmp_path
) -> None:
    letter = tmp_path / "授权委托书.pdf"
    letter.write_bytes(b"%PDF-1.7\n% signed and sealed\n")
    ctx = chromium.new_context(base_url=reg_server, viewport={"width": 1280, "height": 900})
    firm = ctx.new_page()
    firm.goto("/login")
    firm.click("#to-register")
    firm.fill("input[name=uscc]", F4)
    firm.fill("input[name=firm_name]", "东海新能源有限公司")  # not the registered name
    firm.fill("input[name=legal_rep]", "王建国")
    firm.fill("input[name=applicant]", "李小梅")
    firm.fill("input[name=applicant_phone]", "13812345678")
    firm.fill("input[name=username]", "donghai_li")
    firm.set_input_files("input[name=letter]", str(letter))
    firm.click("#reg-form button[type=submit]")
    assert "与登记名称不一致" in firm.inner_text("[data-field=firm_name]")
    assert firm.input_value("input[name=legal_rep]") == "王建国"  # what was typed is kept
    firm.fill("input[name=firm_name]", NAMES[F4])
    firm.set_input_files("input[name=letter]", str(letter))
    firm.click("#reg-form button[type=submit]")
    number, code = firm.inner_text("#reg-number"), firm.inner_text("#reg-code")
    shot(firm, "registration_submitted")

    firm.click("#to-confirm")
    firm.fill("input[name=code]", code)
    firm.fill("input[name=name]", "王建国")
    firm.check("input[name=agree]")
    firm.click("#confirm-form button[type=submit]")
    assert number in firm.inner_text("#reg-confirmed")

    rev = _page(chromium, reg_server, "rev")
    rev.click("#nav-more summary")  # the header's secondary items
    rev.click("#nav-registrations")
    row = f"#reg-table tr[data-request='{number}']"
    assert "待政府审核" in rev.inner_text(row)
    shot(rev, "registration_queue")
    rev.click(f"{row} button[value=approve]")
    password = rev.inner_text("#reg-password")
    shot(rev, "registration_approved")

    new = chromium.new_context(base_url=reg_server).new_page()
    new.goto("/login")
    new.fill("input[name=username]", "donghai_li")
    new.fill("input[name=password]", password)
    new.click("button[type=submit]")
    new.wait_for_load_state()
    assert new.url.endswith("/password")  # the first password must be changed first


def test_the_bank_searches_and_downloads_its_whitelist(  # type: ignore[no-untyped-def]
    reg_server: str, chromium
) -> None:
    gov = _page(chromium, reg_server, "gov")
    assert gov.request.post(
        f"{reg_server}/api/whitelist/push/BKA",
        headers={"X-CSRF-Token": gov.evaluate("document.querySelector('[name=csrf_token]').value")},
    ).ok
    bank = _page(chromium, reg_server, "bank")
    bank.goto("/bank/whitelist")
    bank.fill("#wl-search input[name=q]", "药谷")
    bank.click("#wl-search button[type=submit]")
    assert F2 in bank.inner_text("#wl-table") and F4 not in bank.inner_text("#wl-table")
    assert "精选层" in bank.inner_text("#wl-table")
    shot(bank, "bank_whitelist_search")
    with bank.expect_download() as got:
        bank.click("#wl-xlsx")
    got.value.save_as(str(ARTIFACTS / "browser_bank_whitelist_search.xlsx"))
    bank.click("#lang-switch")  # the search survives the language switch
    assert (
        "selected" in bank.inner_text("#wl-table") and bank.input_value("input[name=q]") == "药谷"
    )
