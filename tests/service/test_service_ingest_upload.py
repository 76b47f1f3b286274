"""Imports on the web: a government administrator uploads a department file; a dry run lists every
bad row in place and writes nothing; a valid file is committed with its counts; all audited."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import Engine, func, select

import kejin.ingest.routes  # noqa: F401  (registers the ingest rule)
from kejin.access.tables import AuditEvent
from kejin.db import transaction
from kejin.registry.tables import Enterprise

from .conftest import login

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "enterprises.csv"


def _bad_csv() -> bytes:
    """The example file with a broken USCC on data row 3 and an unknown stage on row 5."""
    lines = EXAMPLE.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace("91320703MA0000002Q", "91320703MA0000002X", 1)
    lines[4] = lines[4].replace("成长期", "青春期", 1)
    return ("\n".join(lines) + "\n").encode()


def _count(engine: Engine, model, where=None) -> int:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        q = select(func.count()).select_from(model)
        return s.scalar(q.where(where) if where is not None else q) or 0


def test_api_import_lists_every_bad_row_then_commits_all_or_nothing(
    app, engine: Engine, world
) -> None:
    gov = login(app, "gov")
    firms = _count(engine, Enterprise)
    files = {"file": ("企业名录.csv", _bad_csv(), "text/csv")}
    r = gov.post("/api/imports", data={"kind": "enterprises", "dry_run": "true"}, files=files)
    assert r.status_code == 422, r.text
    probs = r.json()["problems"]
    assert sorted({(p["row"], p["field"]) for p in probs}) == [(3, "uscc"), (5, "stage")]
    assert all(p["file"] == "企业名录.csv" and p["reason_zh"] and p["reason_en"] for p in probs)
    r = gov.post("/api/imports", data={"kind": "enterprises"}, files=files)
    assert r.status_code == 422 and _count(engine, Enterprise) == firms  # nothing written

    good = {"file": ("enterprises.csv", EXAMPLE.read_bytes(), "text/csv")}
    r = gov.post("/api/imports", data={"kind": "enterprises", "dry_run": "true"}, files=good)
    assert r.status_code == 200 and r.json()["dry_run"] is True, r.text
    assert _count(engine, Enterprise) == firms
    r = gov.post("/api/imports", data={"kind": "enterprises"}, files=good)
    out = r.json()
    # The world's F1 is the example's first firm under another name: updated, the rest inserted.
    assert r.status_code == 200 and (out["inserted"], out["updated"]) == (out["rows"] - 1, 1)
    assert _count(engine, Enterprise) == firms + out["inserted"]
    again = gov.post("/api/imports", data={"kind": "enterprises"}, files=good).json()
    assert again["unchanged"] == out["rows"] and again["inserted"] == again["updated"] == 0
    actions = {"ingest.refused": 2, "ingest.dry_run": 1, "ingest.import": 2}
    for action, n in actions.items():
        assert _count(engine, AuditEvent, AuditEvent.action == action) == n, action


def test_only_the_government_administrator_imports(app, world) -> None:
    files = {"file": ("e.csv", EXAMPLE.read_bytes(), "text/csv")}
    for who in ("rev", "aud", "bank", "ent"):
        c = login(app, who)
        assert c.post("/api/imports", data={"kind": "enterprises"}, files=files).status_code == 403
        assert c.get("/ingest").status_code == 403


def test_unknown_kind_empty_file_and_wrong_format_are_refused_with_reasons(app, world) -> None:
    gov = login(app, "gov")
    r = gov.post("/api/imports", data={"kind": "people"}, files={"file": ("a.csv", b"x\n1\n")})
    assert r.status_code == 422 and "未知数据类别" in r.json()["reason_zh"]
    r = gov.post("/api/imports", data={"kind": "loans"}, files={"file": ("a.csv", b"")})
    assert r.status_code == 422 and "为空" in r.json()["reason_zh"]
    r = gov.post(
        "/api/imports", data={"kind": "loans"}, files={"file": ("../../etc/a.xlsx", b"not excel")}
    )
    assert r.status_code == 422 and r.json()["problems"][0]["file"] == "a.xlsx"


def test_page_shows_every_bad_row_in_place_and_the_counts_of_a_good_excel_file(
    app, engine: Engine, world
) -> None:
    gov = login(app, "gov")
    csrf = gov.headers["X-CSRF-Token"]
    page = gov.get("/ingest")
    assert page.status_code == 200 and "贷款月度状态" in page.text
    r = gov.post(
        "/ingest",
        data={"csrf_token": csrf, "kind": "enterprises", "mode": "dry"},
        files={"file": ("企业名录.csv", _bad_csv(), "text/csv")},
    )
    assert r.status_code == 200 and 'id="problem-table"' in r.text  # shown after the redirect
    assert r.text.count("<tr><td>3</td><td>uscc</td>") == 1
    assert "<tr><td>5</td><td>stage</td><td>青春期</td>" in r.text
    wb = Workbook()
    ws = wb.active
    rows = [line.split(",") for line in EXAMPLE.read_text(encoding="utf-8-sig").splitlines()]
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    r = gov.post(
        "/ingest",
        data={"csrf_token": csrf, "kind": "enterprises", "mode": "commit"},
        files={"file": ("enterprises.xlsx", buf.getvalue())},
    )
    assert r.status_code == 200 and "导入完成" in r.text, r.text[-800:]
    assert f'<td id="n-rows">{len(rows) - 1}</td>' in r.text
    assert f'<td id="n-inserted">{len(rows) - 2}</td><td id="n-updated">1</td>' in r.text
