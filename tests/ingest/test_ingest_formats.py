"""Formats, encodings and row numbers: the row a problem names is the row a clerk sees."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_fixtures import FIRM_A, FIRM_B, snapshot
from openpyxl import Workbook
from sqlalchemy import Engine, select

from kejin.errors import ValidationError
from kejin.ids import check_uscc, uscc_check_char
from kejin.ingest.read import detect_format, read_file
from kejin.ingest.service import import_file
from kejin.ingest.validate import _uscc_table
from kejin.registry.tables import AnnualIndicator, Enterprise


def _rows_of(err: pytest.ExceptionInfo[ValidationError]) -> list[tuple[int | None, str | None]]:
    return [(p.row, p.field) for p in err.value.problems]


def test_quoted_newlines_do_not_shift_row_numbers(sqlite_engine: Engine, write) -> None:  # type: ignore[no-untyped-def]
    text = (
        "uscc,name,industry_code\n"
        f'{FIRM_A},"第一行\n第二行\n第三行",C3985\n'
        f"{FIRM_B},正常,C39850000\n"
    )
    raw = read_file(write("q.csv", text))
    assert raw.frame["__row"].to_list() == [2, 3]
    # the firm is unknown to an empty database, and the long industry code is row 3 in Excel
    with pytest.raises(ValidationError) as err:
        import_file(sqlite_engine, "enterprises", write("q.csv", text))
    assert (3, "industry_code") in _rows_of(err)


def test_blank_lines_keep_their_row_numbers(write) -> None:  # type: ignore[no-untyped-def]
    raw = read_file(write("b.csv", f"uscc,year\n{FIRM_A},2021\n\n,\n{FIRM_B},2022\n"))
    assert raw.frame["__row"].to_list() == [2, 5]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-8"])
def test_chinese_headers_in_every_encoding(loaded: Engine, write, encoding: str) -> None:  # type: ignore[no-untyped-def]
    text = f"统一社会信用代码,年度,营业收入（元）,纳税信用等级\n{FIRM_A},2020,12345.60,A级\n"
    out = import_file(loaded, "indicators", write("gb.csv", text, encoding))
    assert out.inserted == 1
    with loaded.connect() as conn:
        row = conn.execute(
            select(AnnualIndicator).where(
                AnnualIndicator.uscc == FIRM_A, AnnualIndicator.year == 2020
            )
        ).one()
    assert row.revenue == Decimal("12345.60") and row.tax_credit_grade == "A"


def test_bom_does_not_hide_the_first_header(write) -> None:  # type: ignore[no-untyped-def]
    raw = read_file(write("bom.csv", "uscc,year\nX,1\n", "utf-8-sig"))
    assert raw.headers == ["uscc", "year"]


def test_gb18030_value_is_quoted_back_in_chinese(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    text = f"统一社会信用代码,年度,纳税信用等级\n{FIRM_A},2020,优秀\n"
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", write("gb.csv", text, "gb18030"))
    assert err.value.problems[0].value == "优秀"


def test_xlsx_row_numbers_count_blank_rows(loaded: Engine, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["uscc", "year", "revenue", "纳税信用等级"])
    ws.append([FIRM_A, 2020, 1.5, "A"])
    ws.append([None, None, None, None])
    ws.append([FIRM_B, 2020, -2, "B"])
    path = tmp_path / "x.xlsx"
    wb.save(path)
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", path)
    assert _rows_of(err) == [(4, "revenue")]
    assert err.value.problems[0].value == "-2"
    assert snapshot(loaded) == before


def test_xlsx_typed_cells_import(loaded: Engine, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["统一社会信用代码", "资质类型", "证书编号", "有效期起", "有效期止"])
    ws.append([FIRM_B, "高新技术企业", 20240001, date(2024, 1, 2), date(2026, 12, 31)])
    path = tmp_path / "q.xlsx"
    wb.save(path)
    out = import_file(loaded, "qualifications", path, source="科技局")
    assert out.inserted == 1


def test_parquet_row_numbers_and_typed_columns(loaded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {
            "uscc": [FIRM_A, FIRM_A, FIRM_B],
            "year": [2019, 2018, 2019],
            "revenue": [1.25, 2.0, -3.0],
            "staff": [10.0, 11.0, 12.5],
        }
    ).write_parquet(path)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", path)
    assert _rows_of(err) == [(4, "revenue"), (4, "staff")]


def test_format_is_detected_by_content(tmp_path: Path, loaded: Engine) -> None:
    path = tmp_path / "renamed.csv"
    pl.DataFrame({"uscc": [FIRM_A], "name": ["新名"]}).write_parquet(path)
    assert detect_format(path, path.read_bytes()[:8]) == "parquet"
    assert import_file(loaded, "enterprises", path).updated == 1
    with loaded.connect() as conn:
        assert conn.scalar(select(Enterprise.name).where(Enterprise.uscc == FIRM_A)) == "新名"


def test_fullwidth_and_lowercase_uscc_is_normalised(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    fw = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in FIRM_A.lower())
    out = import_file(loaded, "indicators", write("fw.csv", f"uscc,year,revenue\n {fw} ,2017,5\n"))
    assert out.inserted == 1
    with loaded.connect() as conn:
        assert (
            conn.scalar(select(AnnualIndicator.uscc).where(AnnualIndicator.year == 2017)) == FIRM_A
        )


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZ", min_size=17, max_size=17),
        st.builds(
            lambda a, b, region, rest: a + b + region + rest,
            st.sampled_from("123456789ANY"),
            st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY"),
            st.text(alphabet="0123456789", min_size=6, max_size=6),
            st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9),
        ),
    ),
    last=st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZ"),
    fix=st.booleans(),
    case=st.booleans(),
)
def test_vectorised_uscc_check_agrees_with_the_reference(
    body: str, last: str, fix: bool, case: bool
) -> None:
    """The import's vectorised check must accept exactly what ``kejin.ids.check_uscc`` accepts."""
    code = body + (uscc_check_char(body) if fix and not set(body) & set("IOSVZ") else last)
    code = code.lower() if case else code
    table = _uscc_table(pl.Series([code]))
    ref = check_uscc(code)
    (row,) = table.iter_rows(named=True)
    assert (row["parsed"] is not None) == ref.valid
    assert row["parsed"] == (ref.normalized if ref.valid else None)
