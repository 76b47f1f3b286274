"""The statistics page, its book download and the statistics API: government readers only,
labels not codes, Chinese first with English, every figure with its definition and dates."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from kejin.stats.service import month_report

from .conftest import login


def test_gov_sees_the_month_with_definitions_and_dates(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = login(app, "gov")
    r = c.get("/stats?month=2025-10&by=bank")
    assert r.status_code == 200, r.text[:300]
    html = r.text
    assert "科技型企业贷款余额" in html and "2025-10-31" in html  # the statistics date
    assert "甲银行连云港分行" in html and ">BKA<" not in html  # the bank's name, not its id
    assert "适当提高对科技类企业不良贷款的容忍度" in html  # the source article beside the figure
    assert "LPR" in html and 'id="no-lpr"' in html  # no LPR imported in this world: said so
    assert "<polyline" in html or "<circle" in html  # the trend chart over the months with data
    assert 'href="/stats/book.xlsx?month=2025-10&amp;population=list"' in html
    en = c.get("/stats?month=2025-10&by=region&lang=en")
    assert en.status_code == 200
    assert "tech-firm loan balance" in en.text and "Statistics date" in en.text


def test_a_month_without_data_is_refused_by_name_on_the_page(app) -> None:  # type: ignore[no-untyped-def]
    c = login(app, "gov")
    r = c.get("/stats?month=2025-08")
    assert r.status_code == 400 and "2025-08" in r.text and 'id="stats-error"' in r.text


def test_the_api_gives_every_figure_as_the_command_does(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = login(app, "aud")
    r = c.get("/api/stats/month", params={"month": "2025-10", "by": "bank"})
    assert r.status_code == 200, r.text
    want = json.loads(json.dumps(month_report(engine, "2025-10", "bank"), default=str))
    assert r.json() == want
    r = c.get("/api/stats/trend", params={"through": "2025-10"})
    assert r.status_code == 200, r.text
    assert r.json()["months"] == ["2025-09", "2025-10"]
    assert c.get("/api/stats/months").json() == {"months": ["2025-09", "2025-10"]}
    r = c.get("/api/stats/month", params={"month": "2025-08"})
    assert r.status_code == 422 and "2025-08" in r.text
    r = c.get("/api/stats/month", params={"month": "2025-10", "by": "nonsense"})
    assert r.status_code == 422


def test_the_book_downloads_as_a_workbook(app) -> None:  # type: ignore[no-untyped-def]
    c = login(app, "rev")
    r = c.get("/stats/book.xlsx?month=2025-10")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    wb = load_workbook(io.BytesIO(r.content))
    assert "指标定义 Definitions" in wb.sheetnames and "总览 Overview" in wb.sheetnames


def test_banks_and_firms_see_no_regional_statistics(app) -> None:  # type: ignore[no-untyped-def]
    for who in ("bank", "ent"):
        c = login(app, who)
        assert c.get("/stats").status_code == 403
        assert c.get("/stats/book.xlsx?month=2025-10").status_code == 403
        assert c.get("/api/stats/month?month=2025-10&by=bank").status_code == 403
        assert c.get("/api/stats/definitions").status_code == 403
        assert 'id="nav-stats"' not in c.get("/").text


def test_every_read_of_the_flag_check_is_audited(app, engine) -> None:  # type: ignore[no-untyped-def]
    """The flag check names firms and contracts: the page, the API and the book each leave a
    read event naming the reader and the month (and the firms read, in its digest)."""
    from sqlalchemy import select

    from kejin.access.tables import AuditEvent

    def events() -> list[tuple[str, str, str]]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(AuditEvent.actor, AuditEvent.entity_id, AuditEvent.detail).where(
                        AuditEvent.action == "stats.flags.read"
                    )
                )
            )

    before = len(events())
    c = login(app, "gov")
    assert c.get("/stats?month=2025-10").status_code == 200
    assert c.get("/api/stats/month", params={"month": "2025-10"}).status_code == 200
    assert login(app, "rev").get("/stats/book.xlsx?month=2025-10").status_code == 200
    new = events()[before:]
    assert [(a, m) for a, m, _ in new] == [
        ("gov", "2025-10"),
        ("gov", "2025-10"),
        ("rev", "2025-10"),
    ]
    flags = month_report(engine, "2025-10")["first_time_flag_disagreements"]
    assert all(json.loads(d)["loans"] == len(flags) for _, _, d in new)
    # A refused reader leaves no read of the check (and gets none).
    assert login(app, "bank").get("/api/stats/month?month=2025-10").status_code == 403
    assert len(events()) == before + 3


def test_evidence_files_download_for_gov_and_the_bank_marked(app, engine) -> None:  # type: ignore[no-untyped-def]
    """The evaluation page links each mark's evidence; the government and the bank marked
    download it (same bytes), another bank's officer and a firm are refused, before any read."""
    from decimal import Decimal

    from kejin.access.acting import acting
    from kejin.stats.evaluation.service import enter_mark

    body = "评分佐证\n".encode()
    with acting(engine, "gov") as (s, p):
        enter_mark(s, p, year=2025, bank="BKB", item="mechanism", points=Decimal("4"),
                   reason="设立科技支行", evidence_name="佐证 B.txt", evidence=body)  # fmt: skip
    url = "/stats/banks/BKB/evidence?year=2025&item=mechanism"
    gov = login(app, "gov")
    assert url.replace("?", "?").replace("&", "&amp;") in gov.get("/stats/banks?year=2025").text
    r = gov.get(url)
    assert r.status_code == 200 and r.content == body
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    assert login(app, "bank").get(url).status_code == 403  # BKA's officer: not their bank
    assert login(app, "ent").get(url).status_code == 403
    assert gov.get(url.replace("mechanism", "nonsense")).status_code == 404
