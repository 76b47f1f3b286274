"""Read a department's file into a frame of text cells, each row tagged with the row a person sees.

Every cell is read as text (or converted to text) so that one validation path judges CSV, Excel
and Parquet alike and can quote the value exactly as the clerk typed it. ``__row`` is the
spreadsheet row number (header = row 1): CSV records are counted, not lines, so a quoted
newline inside a cell does not shift the numbers, and blank rows keep their place.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import polars as pl

from kejin.errors import Problem, ValidationError

ROW = "__row"
_ZIP = b"PK\x03\x04"
_PARQUET = b"PAR1"
_OLE = b"\xd0\xcf\x11\xe0"  # legacy .xls


@dataclass
class RawFile:
    """The file's cells as text, its headers as written, and what identifies the delivery."""

    name: str
    format: str
    headers: list[str]
    frame: pl.DataFrame
    sha256: str


def _fail(path: Path, zh: str, en: str, row: int | None = None) -> ValidationError:
    problem = Problem(zh, en, file=path.name, row=row)
    return ValidationError(
        f"无法读取文件 {path.name}", f"cannot read file {path.name}", problems=[problem]
    )


def detect_format(path: Path, head: bytes) -> str:
    """Decide by content first (a renamed file still reads), falling back on the extension."""
    ext = path.suffix.lower()
    if head.startswith(_PARQUET):
        return "parquet"
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(_OLE):
        raise _fail(
            path,
            "不支持旧版 Excel (.xls) 文件，请另存为 .xlsx 或 .csv",
            "legacy Excel (.xls) is not supported; save as .xlsx or .csv",
        )
    if ext in (".xlsx", ".xlsm"):
        raise _fail(
            path,
            "文件扩展名为 xlsx，但内容不是 Excel 文件（可能已损坏）",
            "the extension says .xlsx but the content is not an Excel workbook (damaged?)",
        )
    if ext in (".parquet", ".pq"):
        raise _fail(
            path,
            "文件扩展名为 parquet，但内容不是 Parquet 文件（可能已损坏）",
            "the extension says .parquet but the content is not a Parquet file (damaged?)",
        )
    return "csv"


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Chinese Excel writes CSV; never guess further."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise _fail(
            path,
            f"文件编码无法识别（既不是 UTF-8 也不是 GB18030），位于第 {e.start} 字节",
            f"unknown text encoding (neither UTF-8 nor GB18030) at byte {e.start}",
        ) from None


def _csv_fallback(path: Path, text: str) -> tuple[list[str], pl.DataFrame]:
    """Row-by-row CSV read used only when the fast reader refuses the file: it says which row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[Problem] = []
    try:
        headers = next(reader)
    except (StopIteration, csv.Error):
        raise _fail(path, "文件为空", "the file is empty") from None
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    row_no = 1
    try:
        for rec in reader:
            row_no += 1
            if len(rec) > len(headers):
                problems.append(
                    Problem(
                        f"本行有 {len(rec)} 个字段，多于表头的 {len(headers)} 列",
                        f"row has {len(rec)} fields, more than the {len(headers)} header columns",
                        file=path.name,
                        row=row_no,
                    )
                )
                continue
            rows.append([*rec, *[None] * (len(headers) - len(rec))])
            numbers.append(row_no)
    except csv.Error as e:
        problems.append(
            Problem(
                f"CSV 格式错误（文件可能被截断或引号未闭合）：{e}",
                f"malformed CSV (truncated file or unclosed quote): {e}",
                file=path.name,
                row=row_no + 1,
            )
        )
    if problems:
        raise ValidationError(
            f"文件 {path.name} 格式错误", f"file {path.name} is malformed", problems=problems
        )
    frame = pl.DataFrame(
        {h: [r[i] for r in rows] for i, h in enumerate(headers)} | {ROW: numbers},
        schema={**{h: pl.String for h in headers}, ROW: pl.Int64},
    )
    return headers, frame


def _read_csv(path: Path, data: bytes) -> tuple[list[str], pl.DataFrame]:
    text = decode_text(path, data)
    if not text.strip():
        raise _fail(path, "文件为空", "the file is empty")
    try:
        df = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            infer_schema=False,
            row_index_name=ROW,
            row_index_offset=2,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError):
        return _csv_fallback(path, text)
    if len(set(df.columns)) != len(df.columns) or any(c == "" for c in df.columns):
        return _csv_fallback(path, text)
    df = df.with_columns(pl.col(ROW).cast(pl.Int64))
    return [c for c in df.columns if c != ROW], df


def _cell_text(v: object) -> str | None:
    """Excel cells come typed; dates at midnight read as dates, whole floats as integers."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


def _read_xlsx(path: Path, tick: Callable[[int], None] | None) -> tuple[list[str], pl.DataFrame]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many unrelated types for a damaged zip
        raise _fail(
            path,
            f"Excel 文件无法打开（可能已损坏或被截断）：{type(e).__name__}",
            f"cannot open the Excel workbook (damaged or truncated?): {type(e).__name__}: {e}",
        ) from None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header_row = next(it, None)
        if header_row is None or all(v is None for v in header_row):
            raise _fail(
                path, "文件为空（第一个工作表没有表头）", "the file is empty (no header row)"
            )
        width = max(i + 1 for i, v in enumerate(header_row) if v is not None)
        headers = [_cell_text(v) or "" for v in header_row[:width]]
        cols: list[list[str | None]] = [[] for _ in headers]
        numbers: list[int] = []
        for n, row in enumerate(it, start=2):
            cells = [_cell_text(v) for v in row[:width]]
            for i in range(width):
                cols[i].append(cells[i] if i < len(cells) else None)
            numbers.append(n)
            if tick is not None and n % 10_000 == 0:
                tick(10_000)
    except ValidationError:
        raise
    except Exception as e:
        raise _fail(
            path,
            f"Excel 文件读取失败（可能已损坏或被截断）：{type(e).__name__}",
            f"cannot read the Excel workbook (damaged or truncated?): {type(e).__name__}: {e}",
        ) from None
    finally:
        wb.close()
    dup = len(set(headers)) != len(headers)
    names = [f"{h}\x00{i}" for i, h in enumerate(headers)] if dup else headers
    frame = pl.DataFrame(
        {**dict(zip(names, cols, strict=True)), ROW: numbers},
        schema={**{h: pl.String for h in names}, ROW: pl.Int64},
    )
    return names, frame


def _read_parquet(path: Path) -> tuple[list[str], pl.DataFrame]:
    try:
        df = pl.read_parquet(path)
    except Exception as e:  # Polars/Arrow raise several types for a cut or damaged file
        raise _fail(
            path,
            "Parquet 文件无法读取（可能已损坏或被截断）",
            f"cannot read the Parquet file (damaged or truncated?): {e}",
        ) from None
    exprs = []
    for c, t in df.schema.items():
        if t == pl.Datetime or isinstance(t, pl.Datetime):
            exprs.append(pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00$", ""))
        elif t == pl.Boolean:
            exprs.append(pl.when(pl.col(c)).then(pl.lit("true")).otherwise(pl.lit("false")))
        elif t.is_float():
            # Whole floats print as integers, so a count stored as float64 still passes.
            exprs.append(
                pl.when(pl.col(c) == pl.col(c).round(0))
                .then(pl.col(c).cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(pl.col(c).cast(pl.String))
            )
        else:
            exprs.append(pl.col(c).cast(pl.String))
    out = df.select([e.alias(c) for e, c in zip(exprs, df.columns, strict=True)]).with_row_index(
        ROW, offset=2
    )
    return list(df.columns), out.with_columns(pl.col(ROW).cast(pl.Int64))


def read_file(path: Path, tick: Callable[[int], None] | None = None) -> RawFile:
    """Read CSV, XLSX or Parquet; any failure becomes a :class:`ValidationError` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _fail(
            path, f"文件无法打开：{e.strerror}", f"cannot open the file: {e.strerror}"
        ) from None
    if not data:
        raise _fail(path, "文件为空（0 字节）", "the file is empty (0 bytes)")
    fmt = detect_format(path, data[:8])
    if fmt == "csv":
        headers, frame = _read_csv(path, data)
    elif fmt == "xlsx":
        headers, frame = _read_xlsx(path, tick)
    else:
        headers, frame = _read_parquet(path)
    # Rows with no value at all are blank lines: skipped, but their numbers stay counted.
    if headers:
        frame = frame.filter(~pl.all_horizontal(pl.col(headers).is_null()))
    if frame.height == 0:
        raise _fail(path, "文件没有数据行", "the file has no data rows", row=2)
    return RawFile(path.name, fmt, headers, frame, hashlib.sha256(data).hexdigest())
