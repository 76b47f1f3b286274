"""Policy input and output files: CSV or XLSX, English or Chinese headers.

Each column is converted to the type the policy declares; the first value that cannot be read is
reported with its file, spreadsheet row (header = row 1), column and value, and nothing is
evaluated. Booleans accept true/false, 1/0, 是/否, Y/N; vocabulary columns (a financing kind)
accept what the imports accept, and an unknown label is refused with its row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.policy.engine import Policy, normalise_vocab

TRUE = {"true", "1", "是", "y", "yes", "t"}
FALSE = {"false", "0", "否", "n", "no", "f", ""}


def read_input(policy: Policy, path: Path) -> pl.DataFrame:
    """Read ``path`` (.csv / .xlsx) as the policy's input frame; refused whole on any bad value."""
    file = str(path)
    if not path.exists():
        raise ValidationError(
            "文件不存在", "file not found", [Problem("找不到文件", "no such file", file=file)]
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = pl.read_csv(path, infer_schema=False)
    elif suffix in (".xlsx", ".xlsm"):
        raw = _read_xlsx(path)
    else:
        raise ValidationError(
            "只支持CSV或XLSX",
            "only CSV or XLSX",
            [Problem("文件类型不支持", "unsupported file type", file=file, value=suffix)],
        )
    aliases = policy.header_aliases()
    raw = raw.rename({c: aliases.get(c.strip(), c.strip()) for c in raw.columns})
    missing = [i for i in policy.inputs if i.name not in raw.columns]
    if missing:
        raise ValidationError(
            "输入文件缺少必需列",
            "the input file lacks required columns",
            [
                Problem(
                    f"缺少列：{i.name}（{i.zh}）",
                    f"missing column: {i.name} ({i.en})",
                    file=file,
                    field=i.name,
                )
                for i in missing
            ],
        )
    out = {}
    for i in policy.inputs:
        col = raw[i.name].str.strip_chars()
        if i.dtype == pl.Boolean:
            low = col.str.to_lowercase().fill_null("")
            conv = pl.Series(
                i.name,
                [True if v in TRUE else False if v in FALSE else None for v in low.to_list()],
                dtype=pl.Boolean,
            )
            bad = conv.is_null()
        elif i.dtype == pl.Date:
            conv = col.str.replace_all("/", "-").str.to_date("%Y-%m-%d", strict=False)
            bad = conv.is_null()
        elif i.dtype == pl.String:
            conv, bad = col, col.is_null()
        else:
            conv = col.str.replace_all(",", "").cast(i.dtype, strict=False)
            bad = conv.is_null()
        if bad.any():
            idx = bad.arg_true()[0]
            raise ValidationError(
                "输入文件有无法读取的值",
                "the input file has an unreadable value",
                [
                    Problem(
                        f"应为{i.zh}（{i.dtype}）",
                        f"expected {i.en} ({i.dtype})",
                        file=file,
                        row=idx + 2,
                        field=i.name,
                        value=raw[i.name][idx],
                    )
                ],
            )
        out[i.name] = conv
    return normalise_vocab(policy, raw.with_columns(pl.Series(k, v) for k, v in out.items()), file)


def write_output(frame: pl.DataFrame, path: Path) -> None:
    """Write CSV or XLSX by suffix (amounts as exact text in CSV, numbers in XLSX)."""
    from kejin import exports

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        write_xlsx(frame, path)
    else:
        exports.write_csv(frame, path, bom=False)


def _read_xlsx(path: Path) -> pl.DataFrame:
    """First sheet as text columns (openpyxl: no extra engine to install)."""
    from openpyxl import load_workbook

    from kejin.ingest.limits import Limits, check_zip

    check_zip(path, Limits.configured())  # a zip bomb is refused before openpyxl unpacks it
    wb = load_workbook(path, read_only=True, data_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    if not rows:
        return pl.DataFrame()
    header = [str(h).strip() if h is not None else "" for h in rows[0]]

    def text(v: object) -> str | None:
        if v is None:
            return None
        if hasattr(v, "date") and callable(v.date):
            return v.date().isoformat()
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    cols = {h: [text(r[j]) if j < len(r) else None for r in rows[1:]] for j, h in enumerate(header)}
    return pl.DataFrame(cols, schema=dict.fromkeys(header, pl.String))


def write_xlsx(frame: pl.DataFrame, path: Path, sheet: str = "policy") -> None:
    """A plain sheet with a header row; Decimals written as numbers, dates as dates."""
    from kejin import exports

    book = exports.Book()
    ws = book.sheet(sheet)
    ws.row(frame.columns)
    ws.rows((float(v) if hasattr(v, "as_tuple") else v for v in row) for row in frame.iter_rows())
    ws.widths([max(10, min(40, len(c) * 2)) for c in frame.columns])
    book.save(path)
