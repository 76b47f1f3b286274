"""Rows into Excel sheets that staff open: registry text stays text.

openpyxl stores any string that starts with ``=`` as a formula. A firm name, an investor or a
note imported from a department's file could carry ``=HYPERLINK(…)`` or worse into the sheet a
clerk opens from the platform (CSV/Excel injection), so every export appends its rows here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """``ws.append`` with every would-be formula kept as the literal text it is.

    Only text can turn into a formula, so only text is looked at, before the row is appended:
    re-reading the appended row through ``ws.max_row`` scanned the whole sheet once per row, and
    a 20,000-firm whitelist took 80 s per bank to write.
    """
    row: list[Any] = []
    for v in values:
        if isinstance(v, str):
            cell = Cell(ws, value=v)
            if cell.data_type == "f":
                cell.data_type = "s"
            v = cell
        row.append(v)
    ws.append(row)
