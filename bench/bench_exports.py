"""Excel exports: the formula-safe row writer beside openpyxl's bare ``ws.append``.

Every export (whitelist pushes, evidence packs, fund reports, official-evaluation sheets) writes
its rows through :func:`kejin.exports.Sheet.row`, which keeps text that looks like a formula as
text. The peer is the same rows through ``ws.append`` with no guard: the guard's price. The rows
are a whitelist push's (20,000 firms in full size; a 30,000-firm region pushes about that many).
"""

from __future__ import annotations

from openpyxl import Workbook
from rich.console import Console

from bench.timing import measure, ratio_line
from kejin.exports import Book


def _rows(n: int) -> list[list[object]]:
    return [
        [f"91320700MA{i:08d}", f"连云港{i}科技有限公司", "selected", 60 + i % 40 * 0.5, "A", "top5"]
        for i in range(n)
    ]


def main(quick: bool = False) -> None:
    rows = _rows(2_000 if quick else 20_000)

    def ours() -> None:
        Book().sheet("push").rows(rows)

    def peer() -> None:
        ws = Workbook().active
        for r in rows:
            ws.append(r)

    a = measure("kejin exports Sheet.rows", ours)
    b = measure("openpyxl ws.append (no guard)", peer)
    console = Console()
    console.print(f"{len(rows):,} whitelist rows into a worksheet")
    console.print(str(a))
    console.print(str(b))
    console.print(ratio_line(a, b))
