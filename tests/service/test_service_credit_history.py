"""A bank's credit decision history and evidence packs over the API and the pages: its own
institution's decisions only, the replay, JSON and Excel downloads, the officer's action."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select

import kejin.credit.routes  # noqa: F401  (registers the credit rules before the world issues tokens)
from kejin.access.tables import AuditEvent
from kejin.db import transaction

from .conftest import bearer, login
from .creditworld import credit_consent
from .world import F1, F3, NAMES


def _decide(client, uscc: str) -> int:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/firms/{uscc}/credit-decisions")
    assert r.status_code == 200, r.text
    return r.json()["decision_id"]


def test_history_and_evidence_are_the_institutions_own(app, engine: Engine, world) -> None:
    bank, bankb, gov, aud, ent = (login(app, u) for u in ("bank", "bankb", "gov", "aud", "ent"))
    mine = [_decide(bank, F1) for _ in range(3)]
    credit_consent(engine, F3, "BKB")
    theirs = _decide(bankb, F3)

    r = bank.get("/api/institutions/BKA/credit-decisions?limit=2")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 3 and [d["decision_id"] for d in page["items"]] == mine[:0:-1]
    assert page["items"][0]["firm"] == NAMES[F1] and page["items"][0]["eligible"] in (True, False)
    rest = bank.get("/api/institutions/BKA/credit-decisions?limit=2&offset=2").json()
    assert [d["decision_id"] for d in rest["items"]] == [mine[0]]
    assert bank.get("/api/institutions/BKB/credit-decisions").status_code == 403
    assert gov.get("/api/institutions/BKA/credit-decisions").status_code == 403
    assert ent.get("/api/institutions/BKA/credit-decisions").status_code == 403
    assert [
        d["decision_id"] for d in aud.get("/api/institutions/BKB/credit-decisions").json()["items"]
    ] == [theirs]

    pack = bank.get(f"/api/credit-decisions/{mine[0]}").json()
    assert pack["replay"]["reproduces"] is True and pack["replay"]["differences"] == []
    assert pack["inputs"]["uscc"] == F1 and len(pack["table_version"]) == 64
    assert all(r["code"] and r["zh"] and r["en"] for r in pack["outputs"]["grade"]["reasons"])
    assert bank.get(f"/api/credit-decisions/{theirs}").status_code == 403
    assert bank.get("/api/credit-decisions/999999").status_code == 403  # same as another bank's
    assert gov.get(f"/api/credit-decisions/{theirs}").status_code == 403
    assert aud.get(f"/api/credit-decisions/{theirs}").status_code == 200
    assert aud.get("/api/credit-decisions/999999").status_code == 404

    x = bank.get(f"/api/credit-decisions/{mine[0]}/evidence.xlsx")
    assert x.status_code == 200 and f"evidence-{mine[0]}.xlsx" in x.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["summary 概览", "decision 决策", "inputs 输入快照", "table 决策表"]
    j = bank.get(f"/api/credit-decisions/{mine[0]}/evidence.json")
    assert json.loads(j.content)["decision_id"] == mine[0]
    assert bankb.get(f"/api/credit-decisions/{mine[0]}/evidence.json").status_code == 403
    with transaction(engine) as s:
        reads = s.scalar(select(func.count()).where(AuditEvent.action == "credit.evidence"))
    assert (
        reads == 4
    )  # pack, xlsx and json by the bank, one pack by the auditor; refusals are not reads


def test_officer_records_an_action_on_its_own_decision_only(app, engine: Engine, world) -> None:
    bank, bankb, aud = login(app, "bank"), login(app, "bankb"), login(app, "aud")
    d = _decide(bank, F1)
    url = f"/api/credit-decisions/{d}/action"
    assert bankb.post(url, json={"action": "approve"}).status_code == 403
    assert aud.post(url, json={"action": "approve"}).status_code == 403
    r = bank.post(url, json={"action": "override", "note": ""})
    assert r.status_code == 422 and "理由" in r.json()["reason_zh"]
    assert bank.post(url, json={"action": "accept"}).status_code == 422  # not a service action
    r = bank.post(url, json={"action": "approve", "contract_no": "BKB-L1"})
    assert r.status_code == 403  # another bank's loan cannot be linked
    r = bank.post(url, json={"action": "approve", "note": "核实无误", "contract_no": "BKA-L1"})
    assert r.status_code == 200, r.text
    pack = bank.get(f"/api/credit-decisions/{d}").json()
    assert (pack["action"], pack["action_note"], pack["contract_no"]) == (
        "approve",
        "核实无误",
        "BKA-L1",
    )
    assert pack["replay"]["reproduces"] is True  # the action does not touch what is replayed
    with transaction(engine) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "credit.act")).one()
    assert ev.entity_id == str(d) and ev.before_digest != ev.after_digest


def test_a_token_reaches_credit_endpoints_only_with_their_scopes(app, world) -> None:
    bank = login(app, "bank")
    d = _decide(bank, F1)
    r = bank.post("/api/tokens", json={"name": "历史", "scopes": ["credit.history"], "days": 7})
    tok = bearer(app, r.json()["secret"])
    assert tok.get("/api/institutions/BKA/credit-decisions").status_code == 200
    r = tok.get(f"/api/credit-decisions/{d}")
    assert r.status_code == 403 and "credit.evidence" in r.json()["reason_en"]
    assert (
        tok.post(f"/api/credit-decisions/{d}/action", json={"action": "approve"}).status_code == 403
    )
    assert tok.post(f"/api/firms/{F1}/credit-decisions").status_code == 403


def test_pages_list_show_the_pack_and_refuse_in_place(app, world) -> None:
    bank = login(app, "bank")
    d = _decide(bank, F1)
    page = bank.get("/bank/credit")
    assert (
        page.status_code == 200 and NAMES[F1] in page.text and f'data-decision="{d}"' in page.text
    )
    page = bank.get(f"/bank/credit/{d}")
    assert page.status_code == 200 and "重放结果一致" in page.text and "evidence.xlsx" in page.text
    csrf = bank.headers["X-CSRF-Token"]
    r = bank.post(
        f"/bank/credit/{d}/action",
        data={"csrf_token": csrf, "action": "override", "note": ""},
    )
    assert (
        r.status_code == 200  # the refusal shown on the evidence page after the redirect
        and 'id="action-error"' in r.text
        and "推翻模型结论必须说明理由" in r.text
    )
    r = bank.post(
        f"/bank/credit/{d}/action",
        data={"csrf_token": csrf, "action": "reject", "note": "现金流不足"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "拒绝" in bank.get(f"/bank/credit/{d}").text


def test_the_pack_page_reads_as_an_officer_quotes_a_decision(app, world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Components in reading order with their names, yes/no, money, a rate in per cent, and
    the model's PD: not raw codes and fractions in dictionary order."""
    import re

    from kejin.credit import pages
    from kejin.credit.routes import COMPONENTS

    bank = login(app, "bank")
    d = _decide(bank, F1)
    real = pages.evidence

    def granted(*args):  # type: ignore[no-untyped-def]
        """The stored pack, as if the firm had been granted credit under a model."""
        pack = real(*args)
        o = pack["outputs"]
        o["eligible"]["value"] = o["decision.credit_allowed"]["value"] = True
        o["decision.limit"]["value"], o["decision.rate"]["value"] = "12345678.00", "0.033000"
        o["pd"], pack["model_id"] = 0.01234, "ab" * 32
        return pack

    monkeypatch.setattr(pages, "evidence", granted)
    html = bank.get(f"/bank/credit/{d}").text
    rows = re.findall(
        r'<tr data-component="([^"]+)"><td>([^<]*)</td><td>([^<]*)</td>',  # the label alone
        html,
    )
    assert [r[0] for r in rows] == [*COMPONENTS, "pd"]
    shown = {name: value for name, _, value in rows}
    assert rows[0][1].strip() == "准入"
    assert 'data-component="eligible"><td>准入</td>' in html  # the label alone, no code beside it
    assert shown["eligible"] == shown["decision.credit_allowed"] == "是"
    assert shown["decision.limit"] == "12,345,678.00" and shown["decision.rate"] == "3.30%"
    assert shown["pd"] == "1.23%" and "abababababab" in html
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", html)  # no microseconds in the decision time
    history = bank.get("/bank/credit").text
    assert "0.0330" not in history  # a stored fraction never reaches the page as such


def test_the_english_pack_page_speaks_english_punctuation_and_labels(app, world) -> None:  # type: ignore[no-untyped-def]
    """The English evidence page: its headers translated ("Product", not "product"), English
    colons and separators (not "Replay："), and no component code beside a label."""
    import re

    from kejin.credit.routes import COMPONENTS

    bank = login(app, "bank")
    d = _decide(bank, F1)
    html = bank.get(f"/bank/credit/{d}?lang=en").text
    main = html.split("<main>")[1]
    visible = re.sub(r"<[^>]+>", " ", re.sub(r'\s(title|data-component)="[^"]*"', "", main))
    assert "<th>Product</th>" in main and "<th>product</th>" not in main
    assert "Replay: " in visible and "Flags: " in visible
    # the firm's own name is Chinese data; the page's punctuation is the page language's
    assert not re.search(r"[：；]", visible)
    assert not [c for c in COMPONENTS if "." in c and c in visible]  # decision.credit_allowed
    zh = bank.get(f"/bank/credit/{d}?lang=zh").text
    assert "复核重放：" in re.sub(r"<[^>]+>", "", zh) and "<th>产品</th>" in zh


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_recorded_input_reads_as_a_label_on_the_pack_page(app, world, lang: str) -> None:
    """The inputs snapshot names each recorded field in the page's language (its path stays in
    the row's tooltip and in the JSON and Excel downloads): no ``features.age_years`` to read."""
    import re

    bank = login(app, "bank")
    d = _decide(bank, F1)
    page = bank.get(f"/bank/credit/{d}", params={"lang": lang}).text
    rows = re.findall(r'<tr data-path="([^"]+)"><td title="[^"]*">([^<]*)</td>', page)
    assert len(rows) > 20
    for path, shown in rows:
        assert shown != path and "_" not in shown, (path, shown)
    shown = dict(rows)
    assert shown["features.age_years"] == (
        "years in business" if lang == "en" else "成立年限（年）"
    )
