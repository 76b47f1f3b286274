"""Every page form's refusal names a refused field by its form label, never its code
(kejin.web.refusal): one bad value submitted on each form, in Chinese and in English."""

from __future__ import annotations

import re

import pytest

import kejin.fund.routes  # noqa: F401  (registers the fund rules)
from kejin.errors import Problem, ValidationError
from kejin.web.refusal import refusal_view

from .conftest import login
from .fundworld import LOAN_B, POOL, build_fund


def _key(html: str, form: str) -> str:
    m = re.search(rf'id="{form}".*?name="key" value="([0-9a-f]+)"', html, re.S)
    assert m, form
    return m.group(1)


def _refusal(html: str) -> str:
    m = re.search(r'<div class="bad" id="action-error">(.*?)</div>', html, re.S)
    assert m, "no refusal shown"
    return m.group(1)


#: (who, form page, form id with an idempotency key or None, address, fields, raw codes that
#: must not show, what must show in zh / en)
FORMS = [
    ("gov", "/fund", "deposit-form", "/fund/deposit",
     {"pool_party": "x", "amount": "abc", "reason": "top-up"}, ("amount",),
     ("金额（元）", "Amount (CNY)")),
    ("gov", "/relend", None, "/relend/quota",
     {"bank": "BKA", "year": "2026", "amount": "lots"}, ("amount",), ("额度", "Quota")),
    ("gov", "/stats/banks", None, "/stats/banks/mark",
     {"year": "2026", "bank": "BKA", "item": "x", "points": "many", "reason": "r"},
     ("points",), ("得分", "Points")),
    ("gov", "/relend", None, "/relend/quota",
     {"bank": "BKA", "tool": "relending", "year": "2026", "amount": "-5"}, ("quota",),
     ("额度", "Quota")),
    ("bank", "/bank/claims", "file-form", "/bank/claims/file",
     {"pool_contract": f"{POOL}:{LOAN_B}", "reason": "x"}, ("institution_id", "contract_no"),
     ("不属于本行", "")),
]  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("form", FORMS, ids=[f[3] for f in FORMS])
def test_a_refusal_names_fields_by_their_labels(app, engine, world, form, lang) -> None:
    who, page, key_form, address, fields, codes, shown = form
    build_fund(engine)
    c = login(app, who)
    c.cookies.set("kejin_lang", lang)
    data = {"csrf_token": c.headers["X-CSRF-Token"], **fields}
    if key_form:
        data["key"] = _key(c.get(page).text, key_form)
    r = c.post(address, data=data)
    assert r.status_code == 200, r.text[:500]
    text = _refusal(r.text)
    for code in codes:  # a problem starts with its field: the label, never the code
        assert not re.search(rf"<br>(第\d+行 |row \d+ )?{code}\b", text), text
        assert f"{code} =" not in text, text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text  # no snake_case code at all
    assert shown[lang == "en"] in text, text


def test_the_view_names_institutions_and_codes_by_their_labels() -> None:
    """A service's codes as a reader knows them: the institution by its name, a vocabulary code
    by its label, fen as yuan, a field no page labels left out (its value and reason kept)."""
    e = ValidationError(
        "不可", "refused",
        [
            Problem("已被接单", "already taken", field="institution_id", value="LYG-B04"),
            Problem("超限", "too much", field="amount_fen", value=123456),
            Problem("未知", "unknown", field="classification", value="normal"),
            Problem("内部", "internal", field="some_code", value="v"),
        ],
    )  # fmt: skip
    names = {"LYG-B04": "连云港某银行"}
    zh = refusal_view(e, "zh", names=names)
    en = refusal_view(e, "en", names=lambda: names)
    assert zh and en
    assert [(pr["field"], pr["value"]) for pr in zh["problems"]] == [
        ("机构", "连云港某银行"), ("金额", "1,234.56"), (None, "正常"), (None, "v"),
    ]  # fmt: skip
    assert [pr["field"] for pr in en["problems"]][:2] == ["Institution", "Amount"]
    assert en["problems"][2]["value"] == "normal" and en["problems"][3]["reason"] == "internal"
    assert refusal_view(None, "zh") is None
