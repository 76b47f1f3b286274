"""The fund pages without a browser: refusals in place, idempotent forms, English."""

from __future__ import annotations

import re

import kejin.fund.routes  # noqa: F401  (registers the fund rules)

from .conftest import login
from .fundworld import LOAN_A, LOAN_B, POOL, build_fund


def _key(html: str, form: str) -> str:
    m = re.search(rf'id="{form}".*?name="key" value="([0-9a-f]+)"', html, re.S)
    assert m, form
    return m.group(1)


def test_bank_form_refuses_another_banks_loan_in_place(app, engine, world) -> None:
    build_fund(engine)
    bank = login(app, "bank")
    page = bank.get("/bank/claims")
    assert page.status_code == 200 and f"{POOL}:{LOAN_A}" in page.text
    assert LOAN_B not in page.text  # the form offers only its own loans
    data = {"csrf_token": bank.headers["X-CSRF-Token"], "key": _key(page.text, "file-form")}
    r = bank.post(
        "/bank/claims/file", data={**data, "pool_contract": f"{POOL}:{LOAN_B}", "reason": "x"}
    )
    # post/redirect/get: the refusal is shown on the bank's claims page (a GET, status 200)
    assert r.status_code == 200 and 'id="action-error"' in r.text and "不属于本行" in r.text
    r = bank.post("/bank/claims/file", data={**data, "pool_contract": "", "reason": "x"})
    assert r.status_code == 200 and "请选择资金池和贷款合同" in r.text
    ok = {**data, "pool_contract": f"{POOL}:{LOAN_A}", "reason": "逾期"}
    first = bank.post("/bank/claims/file", data=ok, follow_redirects=False)
    assert first.status_code == 303
    # The same rendering submitted twice (a double click): replayed, one claim.
    again = bank.post("/bank/claims/file", data=ok, follow_redirects=False)
    assert again.status_code == 303
    assert len(bank.get("/api/fund/claims/BKA").json()) == 1


def test_the_pool_page_says_when_payouts_pushed_leverage_over_the_limit(
    app, engine, world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from kejin.fund import service

    build_fund(engine)
    gov = login(app, "gov")
    assert 'class="err over-leverage"' not in gov.get("/fund").text
    real = service.summary

    def after_payouts(*a, **k):  # type: ignore[no-untyped-def]
        return {**real(*a, **k), "over_leverage": True}

    monkeypatch.setattr(service, "summary", after_payouts)
    page = gov.get("/fund").text
    assert 'class="err over-leverage"' in page and "新的贷款备案将被拒绝" in page
    assert "new loans are refused" in gov.get("/fund?lang=en").text


def test_government_deposits_and_reads_the_claim_page_in_english(app, engine, world) -> None:
    ids = build_fund(engine, claims=True)
    gov = login(app, "gov")
    page = gov.get("/fund")
    assert page.status_code == 200 and f'id="accounts-{POOL}"' in page.text
    data = {
        "csrf_token": gov.headers["X-CSRF-Token"],
        "key": _key(page.text, "deposit-form"),
        "pool_party": f"{POOL}:pool",
        "reason": "追加注资",
    }
    r = gov.post("/fund/deposit", data={**data, "amount": "abc"})
    assert r.status_code == 200 and "金额无效" in r.text and 'value="abc"' in r.text
    r = gov.post("/fund/deposit", data={**data, "amount": "1,000,000.00"}, follow_redirects=False)
    assert r.status_code == 303 and "notice=deposited" in r.headers["location"]
    assert "11,000,000.00" in gov.get("/fund").text
    en = gov.get(f"/fund/claims/{ids['claim_BKA_own']}?lang=en")
    assert en.status_code == 200 and "Shares and the clauses deciding them" in en.text
    assert "direct loan" in en.text
    assert login(app, "bank").get(f"/fund/claims/{ids['claim_BKB_other']}").status_code == 403


def test_a_pool_named_as_its_scheme_reads_in_english_on_the_english_page(
    app, engine, world
) -> None:  # type: ignore[no-untyped-def]
    """A pool bearing its scheme's Chinese name shows the scheme file's English name on the
    English page (it showed 安徽省… there); a pool named otherwise keeps its own name."""
    from datetime import date

    from kejin.fund import service as svc
    from kejin.fund.scheme import load_scheme

    build_fund(engine)
    sc = load_scheme("anhui")
    svc.create_pool(
        engine, "named", sc.name_zh, "anhui", svc.Actor("fund_manager", date.today(), "t"), "t:p"
    )
    gov = login(app, "gov")
    en, zh = gov.get("/fund?lang=en").text, gov.get("/fund?lang=zh").text
    heads = re.findall(r"<h2>([^<]+) <span", en)
    assert sc.name_en in heads and sc.name_zh not in en.split("<main>")[1]
    assert sc.name_zh in re.findall(r"<h2>([^<]+) <span", zh)
    assert "连云港市科技贷款风险补偿资金池" in heads  # its own name, no English one to give
