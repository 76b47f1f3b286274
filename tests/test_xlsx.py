"""Exports keep registry text as text: no cell of ours becomes a formula."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from kejin.xlsx import append_row


def _roundtrip(values: list) -> list:
    wb = Workbook()
    append_row(wb.active, values)
    buf = io.BytesIO()
    wb.save(buf)
    ws = load_workbook(io.BytesIO(buf.getvalue())).active
    assert all(c.data_type != "f" for c in ws[1])
    return [c.value for c in ws[1]]


def test_a_formula_looking_name_is_written_as_its_text() -> None:
    row = ['=HYPERLINK("http://x.example","点我")', None, "连云港科技有限公司", 12.5]
    assert _roundtrip(row) == row


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(exclude_categories=("C", "Z"), include_characters=" "),
            min_size=1,
            max_size=20,
        ).flatmap(lambda x: st.sampled_from([x, "=" + x, "=SUM(A1:A9)" + x])),
        min_size=1,
    )
)
def test_any_text_reads_back_unchanged(texts: list[str]) -> None:
    assert _roundtrip(texts) == texts


def test_rows_append_in_order_each_with_its_text_kept() -> None:
    """Each row is checked as it is appended, not by re-reading the sheet (which was O(n²))."""
    wb = Workbook()
    rows = [[i, f"=A{i}" if i % 3 == 0 else f"firm {i}", i * 0.5] for i in range(1, 301)]
    for r in rows:
        append_row(wb.active, r)
    buf = io.BytesIO()
    wb.save(buf)
    ws = load_workbook(io.BytesIO(buf.getvalue())).active
    got = [[c.value for c in row] for row in ws.iter_rows()]
    assert got == rows
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
