"""The monthly statistics book: sheets, frozen headers, 万元 and % formats, definitions, charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from test_stats_month import cli_db, load_case, runner  # noqa: F401 (fixture)

from kejin.cli import app
from kejin.errors import ValidationError
from kejin.stats.book import BOOK_BREAKDOWNS, build
from kejin.stats.definitions import monthly


def test_book_sheets_formats_and_definitions(engine: Engine, tmp_path: Path) -> None:
    doc = load_case(engine)
    out = tmp_path / "book.xlsx"
    res = build(engine, "2025-06", out)
    wb = load_workbook(out)
    assert len(wb.sheetnames) == res["sheets"] == len(BOOK_BREAKDOWNS) + 5
    ov = wb["总览 Overview"]
    assert ov.freeze_panes == "A2"
    rows = {r[1].value: r for r in ov.iter_rows(min_row=2)}
    bal = rows["tech_loan_balance"]
    assert bal[2].value == 180.0 and bal[2].number_format == "#,##0.00"  # 1,800,000 yuan in 万元
    assert bal[3].value == "万元" and bal[5].value == "2025-06-30"
    share = rows["credit_loan_share"]
    assert share[2].number_format == "0.00%"
    assert abs(share[2].value - 5 / 9) < 1e-6
    assert set(rows) == {i.id for i in monthly().indicators}
    banks = wb["按银行 by bank"]
    assert banks.freeze_panes == "B2"
    assert {banks.cell(row=r, column=1).value for r in (2, 3)} == {"B1", "B2"}  # names = ids here
    assert "2025-06-30" in banks.cell(row=5, column=1).value  # the date travels with the table
    region = wb["按区县 by district"]
    assert {region.cell(row=r, column=1).value for r in (2, 3)} == {"海州区", "连云区"}
    defs = wb["指标定义 Definitions"]
    ids = [defs.cell(row=r, column=1).value for r in range(2, 2 + len(monthly().indicators))]
    assert ids == [i.id for i in monthly().indicators]
    check = wb["首贷户核对 First-loan check"]
    assert [check.cell(row=r, column=1).value for r in (2, 3)] == [
        d["contract_no"] for d in doc["disagreements"]
    ]
    for png in res["charts"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_book_refuses_a_month_without_data(engine: Engine, tmp_path: Path) -> None:
    load_case(engine)
    with pytest.raises(ValidationError) as e:
        build(engine, "2025-07", tmp_path / "x.xlsx")
    assert "2025-07" in e.value.reason_zh
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_book_and_trend_json(cli_db: Engine, tmp_path: Path) -> None:  # noqa: F811
    load_case(cli_db)
    out = tmp_path / "b.xlsx"
    r = runner.invoke(app, ["stats", "book", "--month", "2025-06", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output + str(r.exception)
    assert json.loads(r.stdout)["out"] == str(out) and out.exists()
    r = runner.invoke(app, ["stats", "trend", "2025-06", "--json"])
    assert r.exit_code == 0, r.output + str(r.exception)
    assert json.loads(r.stdout)["months"] == ["2024-06", "2025-05", "2025-06"]
    r = runner.invoke(app, ["stats", "month", "2025-06", "--by", "region"])
    assert r.exit_code == 0 and "海州区" in r.stdout
