"""Read a department's file into a frame of text cells, each row tagged with the row a person sees.

Every cell is read as text (or converted to text) so that one validation path judges CSV, Excel
and Parquet alike and can quote the value exactly as the clerk typed it. ``__row`` is the
spreadsheet row number (header = row 1): CSV records are counted, not lines, so a quoted
newline inside a cell does not shift the numbers, and blank rows keep their place.

Each reader hands the header row to the caller's check before it reads a single data row (a
56 MB file with one unknown column took 389 s to be refused), and stops at the configured row
cap (:mod:`kejin.ingest.limits`), so neither a wrong file nor a huge one is read to its end.
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
from kejin.ingest.limits import Limits, check_rows, check_size, check_zip, refuse, too_many_rows

ROW = "__row"
_ZIP = b"PK\x03\x04"
_PARQUET = b"PAR1"
_OLE = b"\xd0\xcf\x11\xe0"  # legacy .xls

#: Hears the header row (names made unique) before any data row is read; raises to refuse it.
HeaderCheck = Callable[[list[str]], None]


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


def _csv_fallback(path: Path, text: str, limits: Limits) -> tuple[list[str], pl.DataFrame]:
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
            if row_no - 1 > limits.max_rows:
                raise too_many_rows(path.name, limits)
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
    names = _unique_names(headers)
    frame = pl.DataFrame(
        {h: [r[i] for r in rows] for i, h in enumerate(names)} | {ROW: numbers},
        schema={**{h: pl.String for h in names}, ROW: pl.Int64},
    )
    return names, frame


def _unique_names(headers: list[str]) -> list[str]:
    """Doubled headers get an invisible suffix so both columns survive to be reported."""
    if len(set(headers)) == len(headers):
        return headers
    return [f"{h}\x00{i}" for i, h in enumerate(headers)]


def _csv_header(text: str) -> list[str] | None:
    """The first record alone (a quoted newline in a header cell still reads as one record)."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), None)
    except csv.Error:
        return None  # the fallback reader reports it, with its row


def _read_csv(
    path: Path, data: bytes, limits: Limits, check: HeaderCheck
) -> tuple[list[str], pl.DataFrame]:
    text = decode_text(path, data)
    if not text.strip():
        raise _fail(path, "文件为空", "the file is empty")
    header = _csv_header(text)
    if header is not None:
        check(_unique_names(header))
    try:
        df = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            infer_schema=False,
            row_index_name=ROW,
            row_index_offset=2,
            n_rows=limits.max_rows + 1,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError):
        return _csv_fallback(path, text, limits)
    if any(c == "" or "_duplicated_" in c for c in df.columns):
        return _csv_fallback(path, text, limits)  # keeps doubled or blank headers as written
    check_rows(path.name, df.height, limits)
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


def _read_xlsx(
    path: Path, tick: Callable[[int], None] | None, limits: Limits, check: HeaderCheck
) -> tuple[list[str], pl.DataFrame]:
    from openpyxl import load_workbook

    check_zip(path, limits)
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
        headers = _unique_names([_cell_text(v) or "" for v in header_row[:width]])
        check(headers)
        cols: list[list[str | None]] = [[] for _ in headers]
        numbers: list[int] = []
        for n, row in enumerate(it, start=2):
            if n - 1 > limits.max_rows:
                raise too_many_rows(path.name, limits)
            cells = [_cell_text(v) for v in row[:width]]
            for i in range(width):
                cols[i].append(cells[i] if i < len(cells) else None)
            numbers.append(n)
            if tick is not None and n % 10_000 == 0:
                tick(n - 1)
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
    frame = pl.DataFrame(
        {**dict(zip(headers, cols, strict=True)), ROW: numbers},
        schema={**{h: pl.String for h in headers}, ROW: pl.Int64},
    )
    return headers, frame


def _parquet_footer(path: Path, limits: Limits) -> list[str]:
    """Rows, unpacked size and columns from the footer, judged before any column is read."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception as e:  # Arrow raises several types for a cut or damaged footer
        raise _fail(
            path,
            "Parquet 文件无法读取（可能已损坏或被截断）",
            f"cannot read the Parquet file (damaged or truncated?): {e}",
        ) from None
    check_rows(path.name, meta.num_rows, limits)
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > limits.max_unzipped_bytes:
        raise refuse(
            path.name,
            f"Parquet 文件解压后共 {unpacked:,} 字节，超过上限 {limits.max_unzipped_bytes:,}"
            "（配置项 KEJIN_INGEST_MAX_UNZIPPED_BYTES）",
            f"the Parquet file unpacks to {unpacked:,} bytes, more than the limit of"
            f" {limits.max_unzipped_bytes:,} (setting KEJIN_INGEST_MAX_UNZIPPED_BYTES)",
            value=unpacked,
        )
    return meta.schema.to_arrow_schema().names


def _read_parquet(path: Path, limits: Limits, check: HeaderCheck) -> tuple[list[str], pl.DataFrame]:
    check(_unique_names(_parquet_footer(path, limits)))
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


def _any_header(_headers: list[str]) -> None:
    """No header check: the caller validates the columns after reading."""


def read_file(
    path: Path,
    tick: Callable[[int], None] | None = None,
    check: HeaderCheck = _any_header,
    limits: Limits | None = None,
) -> RawFile:
    """Read CSV, XLSX or Parquet; any failure becomes a :class:`ValidationError` naming the file.

    ``tick`` hears the number of rows read so far during an Excel read (the only slow reader);
    ``check`` hears the header row before any data row is read; ``limits`` default to the
    configured ones.
    """
    limits = limits or Limits.configured()
    try:
        check_size(path, path.stat().st_size, limits)
        data = path.read_bytes()
    except OSError as e:
        raise _fail(
            path, f"文件无法打开：{e.strerror}", f"cannot open the file: {e.strerror}"
        ) from None
    if not data:
        raise _fail(path, "文件为空（0 字节）", "the file is empty (0 bytes)")
    fmt = detect_format(path, data[:8])
    if fmt == "csv":
        headers, frame = _read_csv(path, data, limits, check)
    elif fmt == "xlsx":
        headers, frame = _read_xlsx(path, tick, limits, check)
    else:
        headers, frame = _read_parquet(path, limits, check)
    # Rows with no value at all are blank lines: skipped, but their numbers stay counted.
    if headers:
        frame = frame.filter(~pl.all_horizontal(pl.col(headers).is_null()))
    if frame.height == 0:
        raise _fail(path, "文件没有数据行", "the file has no data rows", row=2)
    return RawFile(path.name, fmt, headers, frame, hashlib.sha256(data).hexdigest())
