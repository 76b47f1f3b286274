"""The fund desk, the credit evidence pack and the import page in a real browser (Chromium).

A bank files a claim on its defaulted loan; the government administrator reviews it and is
refused, in place, when it tries to approve its own review; the reviewer approves; the
administrator pays; the bank sees it paid. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kejin.access.rules import remove_visibility
from kejin.api import create_app

from . import world as world_mod
from .conftest import live_server
from .fundworld import LOAN_A, POOL, build_fund
from .test_service_browser import CHROMIUM, _page, shot
from .world import F1

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium missing")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "enterprises.csv"


@pytest.fixture
def chromium() -> Iterator[object]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def desk_server(sqlite_engine: Engine) -> Iterator[str]:
    world_mod.build(sqlite_engine)
    build_fund(sqlite_engine)
    try:
        with live_server(create_app(sqlite_engine, session_key="browser-desk-key")) as url:
            yield url
    finally:
        remove_visibility("test_push")


def test_claim_filed_reviewed_refused_to_the_same_person_approved_and_paid(  # type: ignore[no-untyped-def]
    desk_server: str, chromium
) -> None:
    bank = _page(chromium, desk_server, "bank")
    bank.click("header >> text=本行代偿申请")
    bank.select_option("#file-form select[name=pool_contract]", f"{POOL}:{LOAN_A}")
    bank.fill("#file-form input[name=reason]", "借款人逾期120天，五级分类次级")
    bank.click("#file")
    assert bank.inner_text("#notice") == "已提交代偿申请"
    row = bank.locator("#claim-table tr[data-claim]").first
    assert LOAN_A in row.inner_text() and "已申请" in row.inner_text()
    claim = row.get_attribute("data-claim")
    shot(bank, "desk_bank_filed")

    gov = _page(chromium, desk_server, "gov")
    gov.click("header >> text=风险补偿")
    gov.click(f"#claim-table tr[data-claim='{claim}'] a")
    assert "补偿标准（一）直接贷款给予合作银行不良贷款本金余额30%" in gov.inner_text("#share-table")
    gov.fill("#review-form input[name=reason]", "材料齐全，触发条件成立")
    gov.click("#review")
    assert gov.inner_text("#notice") == "初审已通过"
    assert gov.inner_text("#claim-status") == "已初审"
    # The same person now tries to approve: refused in place, the claim stays reviewed.
    gov.fill("#approve-form input[name=reason]", "同意")
    gov.click("#approve")
    assert "双人复核" in gov.inner_text("#action-error")
    assert gov.inner_text("#claim-status") == "已初审"
    shot(gov, "desk_gov_same_person_refused")

    rev = _page(chromium, desk_server, "rev")
    rev.goto(f"/fund/claims/{claim}")
    assert rev.locator("#review-form").count() == 0  # the reviewer role does not first-review
    rev.fill("#approve-form input[name=reason]", "复核无误，同意补偿")
    rev.click("#approve")
    assert rev.inner_text("#notice") == "审批已通过"
    assert "rev" in rev.inner_text("#trail-table")
    shot(rev, "desk_reviewer_approved")

    gov.goto(f"/fund/claims/{claim}")
    gov.fill("#pay-form input[name=reason]", "按审批结果拨付")
    gov.click("#pay")
    assert gov.inner_text("#notice") == "已支付代偿"
    assert gov.inner_text("#claim-status") == "已支付"
    gov.goto("/fund")
    accounts = gov.inner_text(f"#accounts-{POOL}")
    assert (
        "已付补偿" in accounts and "compensation" not in accounts
    )  # the purpose's label, not its id
    shot(gov, "desk_gov_fund")

    bank.goto("/bank/claims")
    assert "已支付" in bank.locator(f"#claim-table tr[data-claim='{claim}']").inner_text()
    shot(bank, "desk_bank_paid")


def test_bank_opens_an_evidence_pack_and_records_its_action(  # type: ignore[no-untyped-def]
    desk_server: str, chromium
) -> None:
    bank = _page(chromium, desk_server, "bank")
    bank.goto(f"/firms/{F1}")
    bank.click("#credit-request")
    bank.wait_for_load_state()
    # post/redirect/get: the decision's own page, with its evidence and the way back
    assert bank.inner_text("#notice").startswith("授信决策已作出")
    bank.click("#lang-switch")
    assert bank.inner_text("#notice").startswith("Credit decision made")
    bank.click("#to-firm")
    assert bank.url.endswith(f"/firms/{F1}")
    bank.click("#lang-switch")
    bank.click("header >> text=授信决策")
    bank.locator("#decision-list tr[data-decision] a").first.click()
    assert "重放结果一致" in bank.inner_text("#replay")
    with bank.expect_download() as dl:
        bank.click("#download-xlsx")
    assert dl.value.suggested_filename.endswith(".xlsx")
    bank.check("input[name=action][value=reject]")
    bank.fill("#action-form input[name=note]", "经营现金流不足")
    bank.click("#record")
    assert bank.inner_text("#notice") == "已记录处理意见"
    assert "拒绝" in bank.inner_text("#officer-action")
    shot(bank, "desk_credit_evidence")


def test_import_page_lists_every_bad_row(desk_server: str, chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = EXAMPLE.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace("91320703MA0000002Q", "91320703MA0000002X", 1)
    lines[4] = lines[4].replace("成长期", "青春期", 1)
    bad = tmp_path / "企业名录.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    gov = _page(chromium, desk_server, "gov")
    gov.click("#nav-more summary")  # the header's secondary items
    gov.click("header >> text=数据导入")
    gov.select_option("#kind", "enterprises")
    gov.set_input_files("#file", str(bad))
    gov.click("#dry-run")
    assert "未写入任何数据" in gov.inner_text("#ingest-error")
    assert gov.locator("#problem-table tr").count() == 3
    shot(gov, "desk_import_errors")
    gov.set_input_files("#file", str(EXAMPLE))
    gov.click("#commit")
    assert gov.inner_text("#n-rows") == str(len(lines) - 1)
    shot(gov, "desk_import_done")
