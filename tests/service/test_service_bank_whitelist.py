"""The bank's pushed whitelist: searched by USCC, name, chain and tier, paged with the search
kept, downloaded (Excel, CSV) with labels in the page language, and every read audited."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook
from sqlalchemy import Engine, select

from kejin.access.tables import AuditEvent
from kejin.db import transaction
from kejin.whitelist.tables import WhitelistEntry

from .conftest import login
from .test_service_areas import add_version
from .world import F1, F2, F3, F4, NAMES


def _pushed(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    vid = add_version(engine, {F1: "base", F2: "selected", F3: "selected", F4: "core"}, {})
    with transaction(engine) as s:  # chains differ, so the chain filter has something to choose
        for i, code in enumerate((F1, F2, F3, F4)):
            e = s.get(WhitelistEntry, (vid, code))
            e.industry_chain = ("biomedicine", "biomedicine", "equipment", None)[i]
    assert login(app, "gov").post("/api/whitelist/push/BKA").status_code == 200


def _shown(html: str) -> set[str]:
    return {c for c in (F1, F2, F3, F4) if f'href="/firms/{c}"' in html}


def test_search_by_uscc_name_chain_and_tier(app, engine: Engine, world) -> None:
    _pushed(app, engine)
    bank = login(app, "bank")
    assert _shown(bank.get("/bank/whitelist").text) == {F1, F2, F3, F4}
    assert _shown(bank.get("/bank/whitelist", params={"q": F3[:17].lower()}).text) == {F3}
    assert _shown(bank.get("/bank/whitelist", params={"q": "药谷"}).text) == {F2}
    assert _shown(bank.get("/bank/whitelist", params={"chain": "biomedicine"}).text) == {F1, F2}
    page = bank.get("/bank/whitelist", params={"chain": "biomedicine", "tier": "selected"}).text
    assert _shown(page) == {F2}
    assert "精选层" in page and 'id="wl-found"' in page
    en = bank.get("/bank/whitelist", params={"tier": "selected", "lang": "en"}).text
    assert _shown(en) == {F2, F3} and "selected" in en and "精选层" not in en
    api = bank.get("/api/whitelist/pushed/BKA", params={"q": "装备"}).json()
    assert api["total"] == 1 and api["items"][0]["uscc"] == F3
    with transaction(engine) as s:
        details = [
            json.loads(a.detail)
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "whitelist.pushed"))
        ]
    assert any(d.get("tier") == "selected" for d in details)  # the search is on record


def test_the_pager_keeps_the_search(app, engine: Engine, world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kejin.whitelist import pages

    _pushed(app, engine)
    monkeypatch.setattr(pages, "WL_PAGE", 1)
    bank = login(app, "bank")
    first = bank.get("/bank/whitelist", params={"chain": "biomedicine"}).text
    assert "1 / 2" in first and 'href="?chain=biomedicine&amp;page=2"' in first
    second = bank.get("/bank/whitelist?chain=biomedicine&page=2").text
    assert _shown(first) | _shown(second) == {F1, F2}


def test_download_every_row_found_labelled_and_audited(
    app, engine: Engine, world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from kejin.whitelist import pages

    _pushed(app, engine)
    monkeypatch.setattr(pages, "WL_PAGE", 1)  # the download is the search, not the screen
    bank = login(app, "bank")
    r = bank.get("/bank/whitelist/download", params={"tier": "selected", "fmt": "xlsx"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("统一社会信用代码", "企业名称", "层级")
    assert sorted(row[0] for row in rows[1:]) == sorted([F2, F3])
    assert {row[2] for row in rows[1:]} == {"精选层"}  # the tier by name, not its code
    assert "有效期内高新技术企业" in {row[-1] for row in rows[1:]}
    r = bank.get("/bank/whitelist/download", params={"fmt": "csv", "q": "药谷", "lang": "en"})
    body = r.content.decode("utf-8-sig")
    got = list(csv.reader(io.StringIO(body)))
    assert got[0][:3] == ["USCC", "Name", "Tier"] and [x[0] for x in got[1:]] == [F2]
    assert got[1][1] == NAMES[F2] and got[1][2] == "selected"
    with transaction(engine) as s:
        logged = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "whitelist.download")
        ).all()
    assert [a.actor for a in logged] == ["bank", "bank"]
    assert login(app, "gov").get("/bank/whitelist/download").status_code == 403


def test_nothing_pushed_yet_and_a_bad_format(app, engine: Engine, world) -> None:
    bank = login(app, "bank")
    assert bank.get("/bank/whitelist/download").status_code == 404
    _pushed(app, engine)
    assert bank.get("/bank/whitelist/download", params={"fmt": "pdf"}).status_code == 422
