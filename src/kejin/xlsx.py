"""Rows into Excel sheets that staff open: registry text stays text.

openpyxl stores any string that starts with ``=`` as a formula. A firm name, an investor or a
note imported from a department's file could carry ``=HYPERLINK(…)`` or worse into the sheet a
clerk opens from the platform (CSV/Excel injection), so every export appends its rows here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.worksheet.worksheet import Worksheet


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """``ws.append`` with every would-be formula kept as the literal text it is."""
    ws.append(list(values))
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"
