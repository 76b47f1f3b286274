"""The one door for every file a person opens from the platform: Excel workbooks and CSV.

A firm name, an investor, an officer's note or a decision table line imported from elsewhere may
begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their fullwidth forms, which
a Chinese input method types). Opened in Excel or WPS, such a cell runs as a formula —
``=HYPERLINK(…)`` that leaks data, a DDE command — unless it is kept as text (CSV/Excel
injection, OWASP). So every export goes through here and nowhere else: a workbook's cells only
through :meth:`Sheet.row`, which stores such text as text with Excel's quote prefix (it shows
exactly as written and stays text when edited), and CSV only through :func:`csv_bytes`, which
prefixes such text with ``'``, the mark Excel and WPS read as "this is text". Numbers, dates and
other typed values are never touched: only text can become a formula.

``tests/test_exports.py`` scans ``src`` for any other writer of workbooks or CSV, so the door
stays the only one.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import polars as pl
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.drawing.image import Image
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from kejin import times

#: What a spreadsheet may read as the start of a formula (after any spaces), ASCII and fullwidth.
RISKY = re.compile(r"^ *[=+\-@\t\r＝＋－＠]")
_RISKY_POLARS = RISKY.pattern
#: Workbook timestamps are fixed, so the same rows give the same bytes (pushes are checksummed).
_EPOCH = dt.datetime(2000, 1, 1)


def risky(text: str) -> bool:
    """True when a spreadsheet could read ``text`` as a formula.

    >>> [risky(t) for t in ("=1+1", "-5", "＝HYPERLINK()", " @SUM(A1)", "连云港", "a=b")]
    [True, True, True, True, False, False]
    """
    return RISKY.match(text) is not None


def csv_text(text: str) -> str:
    """A CSV field that a spreadsheet reads as the text it is.

    >>> csv_text('=HYPERLINK("http://x")'), csv_text("连云港科技")
    ('\\'=HYPERLINK("http://x")', '连云港科技')
    """
    return "'" + text if risky(text) else text


class Sheet:
    """A worksheet that can only be written through the guard."""

    def __init__(self, ws: Worksheet) -> None:
        self._ws = ws
        self._rows = 0

    def row(self, values: Iterable[Any], formats: Sequence[str | None] | None = None) -> None:
        """Append one row; text that could run as a formula is stored as quoted text.

        A timestamp (stored naive UTC) is written in the zone the pages show
        (``KEJIN_TIMEZONE``, :mod:`kejin.times`): one clock for a reader of both.

        ``formats`` gives Excel number formats by column (``0.00%``, ``#,##0.00``; None leaves a
        cell as it is): the cell keeps the exact value and the format shows it.

        Only text is looked at, as the row is built: re-reading the appended row through
        ``ws.max_row`` scanned the whole sheet once per row (80 s for a 20,000-firm whitelist),
        so the sheet counts its own rows.
        """
        row: list[Any] = []
        for v in values:
            if isinstance(v, dt.datetime):
                v = times.local(v)  # the pages' zone (kejin.times): Excel cells have none
            elif isinstance(v, str) and risky(v):
                cell = Cell(self._ws, row=1, column=1, value=v)  # placed by append
                cell.data_type = "s"
                cell.quotePrefix = True
                v = cell
            row.append(v)
        self._ws.append(row)
        self._rows += 1
        for j, fmt in enumerate(formats or (), start=1):
            if fmt is not None:
                self._ws.cell(row=self._rows, column=j).number_format = fmt

    def rows(self, rows: Iterable[Iterable[Any]]) -> None:
        for r in rows:
            self.row(r)

    def widths(self, widths: Sequence[float]) -> None:
        """Column widths from column A onwards, in Excel's character units."""
        for j, w in enumerate(widths, start=1):
            self._ws.column_dimensions[get_column_letter(j)].width = w

    def freeze(self, cell: str) -> None:
        """Keep the rows above and the columns left of ``cell`` in view while scrolling."""
        self._ws.freeze_panes = cell

    def image(self, png: Path, anchor: str, scale: float = 1.0) -> None:
        img = Image(str(png))
        img.width, img.height = img.width * scale, img.height * scale
        self._ws.add_image(img, anchor)


class Book:
    """An Excel workbook whose sheets are :class:`Sheet` s; saved with fixed timestamps.

    ``streaming=True`` is openpyxl's write-only mode, for exports of a whole region (30,000 firms,
    a year of audit events): each row goes to a temporary file as it is appended instead of
    being held as cell objects, and :meth:`chunks` hands the saved file on piece by piece. Such
    a sheet is written top to bottom once (widths and frozen panes before the first row).
    """

    def __init__(self, *, streaming: bool = False) -> None:
        self._wb = Workbook(write_only=streaming)
        self._fresh = not streaming

    def sheet(self, title: str) -> Sheet:
        """A new sheet (the first call names the workbook's initial sheet); 31 characters max."""
        if self._fresh:
            ws = self._wb.active
            assert ws is not None
            ws.title = title[:31]
            self._fresh = False
        else:
            ws = self._wb.create_sheet(title[:31])
        return Sheet(ws)

    def save(self, dest: Path | IO[bytes]) -> None:
        self._wb.properties.created = _EPOCH
        self._wb.properties.modified = _EPOCH
        self._wb.save(dest)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.save(buf)
        return buf.getvalue()

    def spooled(self) -> IO[bytes]:
        """The saved workbook in a temporary file (in memory up to 8 MB, on disk beyond), at
        its start: what :func:`chunks` streams to a browser."""
        f = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  (closed by chunks)
        self.save(f)  # type: ignore[arg-type]
        f.seek(0)
        return f  # type: ignore[return-value]


def chunks(f: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """A saved export read in pieces for a streaming answer; the file is closed at the end."""
    with f:
        while block := f.read(size):
            yield block


def _neutral(frame: pl.DataFrame) -> pl.DataFrame:
    text = [
        c
        for c, t in frame.schema.items()
        if t == pl.String or isinstance(t, (pl.Categorical, pl.Enum))
    ]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(_RISKY_POLARS))
        .then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String))
        .alias(c)
        for c in text
    )


def csv_bytes(
    frame: pl.DataFrame, *, float_precision: int | None = None, bom: bool = True
) -> bytes:
    """The frame as UTF-8 CSV (with a BOM by default, so Excel shows Chinese), text guarded."""
    body = _neutral(frame).write_csv(float_precision=float_precision).encode("utf-8")
    return (b"\xef\xbb\xbf" if bom else b"") + body


def write_csv(
    frame: pl.DataFrame, path: Path, *, float_precision: int | None = None, bom: bool = True
) -> None:
    path.write_bytes(csv_bytes(frame, float_precision=float_precision, bom=bom))
