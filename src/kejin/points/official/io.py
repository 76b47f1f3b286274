"""Reading and writing the clerk's spreadsheet for the official evaluations.

A clerk's file is small (hundreds or thousands of rows) and hand-made, so every cell is checked
and every problem is reported at once with its file, row and field, in Chinese and English.
Nothing is written when any problem is found. Money is parsed as :class:`~decimal.Decimal` and
carried as integer fen (cents) so that band comparisons are exact integer arithmetic.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.ids import check_uscc

Kind = Literal["uscc", "int", "money", "bool"]

TRUE_WORDS = {"true", "是", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "否", "no", "n", "0", "f"}


@dataclass(frozen=True, slots=True)
class Column:
    """One input column: stable id, Chinese header, value kind and meaning."""

    id: str
    zh: str
    kind: Kind
    en: str


def _read_raw(path: Path) -> tuple[list[str], list[list[str]]]:
    suffix = path.suffix.lower()
    if not path.exists():
        raise ValidationError(
            "输入文件不存在",
            "input file not found",
            [Problem("文件不存在", "no such file", file=str(path))],
        )
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        from kejin.ingest.limits import Limits, check_zip

        check_zip(path, Limits.configured())  # a zip bomb is refused before openpyxl unpacks it
        wb = load_workbook(path, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = [["" if v is None else str(v) for v in r] for r in ws.iter_rows(values_only=True)]
        wb.close()
    else:
        raise ValidationError(
            "仅支持 CSV 或 XLSX 文件",
            "only CSV or XLSX files are supported",
            [Problem("文件类型不支持", "unsupported file type", file=str(path), value=suffix)],
        )
    if not rows:
        raise ValidationError(
            "文件为空", "file is empty", [Problem("缺少表头", "no header row", file=str(path))]
        )
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    return header, body


def _money(text: str) -> Decimal:
    d = Decimal(text.replace(",", ""))
    if not d.is_finite():
        raise InvalidOperation
    return d


def read_table(path: Path, columns: tuple[Column, ...]) -> pl.DataFrame:
    """Parse and validate a clerk's file into a typed frame (money as Int64 fen).

    Headers may be the English id or the Chinese label; extra columns are ignored. Raises
    :class:`ValidationError` listing every problem; returns only when the whole file is clean.
    """
    header, body = _read_raw(path)
    by_name = {c.id: c for c in columns} | {c.zh: c for c in columns}
    position: dict[str, int] = {}
    for i, h in enumerate(header):
        col = by_name.get(h)
        if col is not None:
            position[col.id] = i
    file = str(path)
    missing = [c for c in columns if c.id not in position]
    if missing:
        raise ValidationError(
            "缺少必需的列",
            "required columns are missing",
            [
                Problem(f"缺少列“{c.zh}”", f"missing column '{c.id}'", file=file, row=1, field=c.id)
                for c in missing
            ],
        )
    problems: list[Problem] = []
    data: dict[str, list[object]] = {c.id: [] for c in columns}
    for r, raw in enumerate(body, start=2):
        for c in columns:
            i = position[c.id]
            text = raw[i].strip() if i < len(raw) else ""
            value: object = None
            if text == "":
                problems.append(Problem("值为空", "value is empty", file, r, c.id, text))
            elif c.kind == "uscc":
                chk = check_uscc(text)
                if not chk.valid:
                    problems.append(
                        Problem(
                            f"统一社会信用代码无效：{chk.reason_zh}",
                            f"invalid USCC: {chk.reason_en}",
                            file,
                            r,
                            c.id,
                            text,
                        )
                    )
                value = chk.normalized
            elif c.kind == "bool":
                low = text.lower()
                if low in TRUE_WORDS:
                    value = True
                elif low in FALSE_WORDS:
                    value = False
                else:
                    problems.append(
                        Problem(
                            "应为 是/否 或 true/false",
                            "expected true/false or 是/否",
                            file,
                            r,
                            c.id,
                            text,
                        )
                    )
            elif c.kind == "int":
                try:
                    d = _money(text)
                    if d != d.to_integral_value():
                        raise InvalidOperation
                    value = int(d)
                except InvalidOperation:
                    problems.append(
                        Problem("应为整数", "expected a whole number", file, r, c.id, text)
                    )
                else:
                    if value < 0:  # type: ignore[operator]
                        problems.append(
                            Problem("不能为负数", "must not be negative", file, r, c.id, text)
                        )
            else:
                try:
                    d = _money(text)
                    if d != d.quantize(Decimal("0.01")):
                        problems.append(
                            Problem(
                                "金额最多两位小数",
                                "amount has more than 2 decimals",
                                file,
                                r,
                                c.id,
                                text,
                            )
                        )
                    value = int(d.quantize(Decimal("0.01")) * 100)
                except InvalidOperation:
                    problems.append(
                        Problem("应为金额(元)", "expected an amount in CNY", file, r, c.id, text)
                    )
                else:
                    if d < 0:
                        problems.append(
                            Problem("不能为负数", "must not be negative", file, r, c.id, text)
                        )
            data[c.id].append(value)
    data["row"] = list(range(2, len(body) + 2))
    if problems:
        raise ValidationError(
            "输入文件有错误，未生成结果", "the input has errors; nothing was written", problems
        )
    dtypes = {"uscc": pl.String, "int": pl.Int64, "money": pl.Int64, "bool": pl.Boolean}
    schema = {c.id: dtypes[c.kind] for c in columns} | {"row": pl.Int64}
    return pl.DataFrame(data, schema=schema)


def add_problems(
    problems: list[Problem],
    df: pl.DataFrame,
    mask: pl.Expr,
    file: str,
    field: str,
    zh: str,
    en: str,
) -> None:
    """Record a cross-field problem for every row where ``mask`` holds."""
    for row in df.filter(mask).select("row", field).iter_rows():
        problems.append(Problem(zh, en, file, row[0], field, row[1]))


def money_out(df: pl.DataFrame, columns: tuple[Column, ...]) -> pl.DataFrame:
    """Turn Int64 fen back into exact decimal yuan for output."""
    return df.with_columns(
        (pl.col(c.id).cast(pl.Decimal(20, 0)) / 100).cast(pl.Decimal(20, 2))
        for c in columns
        if c.kind == "money"
    )


def write_table(path: Path, df: pl.DataFrame) -> None:
    """Write CSV (UTF-8 with BOM so Excel shows Chinese) or XLSX, chosen by the suffix."""
    from kejin import exports

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        exports.write_csv(df, path)
    elif suffix == ".xlsx":
        book = exports.Book()
        ws = book.sheet("Sheet")
        ws.row(df.columns)
        ws.rows((str(v) if isinstance(v, Decimal) else v for v in r) for r in df.iter_rows())
        book.save(path)
    else:
        raise ValidationError(
            "输出仅支持 CSV 或 XLSX",
            "output must be CSV or XLSX",
            [Problem("文件类型不支持", "unsupported file type", file=str(path), value=suffix)],
        )
