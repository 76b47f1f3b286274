"""Judge a whole file before anything is written, and collect every bad row, not just the first.

All checks are vectorised Polars expressions over the text cells, so a million-row file is
judged in seconds; only per-distinct-value checks (USCC check characters, vocabulary labels) call
Python, once per distinct value. The outcome is either a typed frame ready for :mod:`upsert`, or
a :class:`ValidationError` listing each problem with its row, column, value and reason (zh, en).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import Boolean, Connection, Date, Integer, String
from sqlalchemy.sql.sqltypes import Enum

from kejin.db import FixedDecimal
from kejin.errors import Problem, ValidationError
from kejin.frames import read_frame
from kejin.ids import USCC_ALPHABET, USCC_WEIGHTS, check_uscc
from kejin.ingest.kinds import KindSpec, header_key
from kejin.ingest.read import ROW, RawFile
from kejin.ingest.stage import existing
from kejin.vocab import lookup

_TRUE = {"是", "true", "1", "y", "yes", "t", "√", "✓", "有"}
_FALSE = {"否", "false", "0", "n", "no", "f", "×", "✗", "无"}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")
_INT32_MAX = 2_147_483_647
_ISSUE_SCHEMA = {
    "row": pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "zh": pl.String,
    "en": pl.String,
}


@dataclass
class Validated:
    """A file that passed every check: typed values under canonical column names."""

    spec: KindSpec
    frame: pl.DataFrame
    #: Columns the file supplied (plus those filled from the pull's department).
    present: list[str]
    file: RawFile


class _Issues:
    """Collects problems as small frames, so a million bad cells cost no Python loop.

    Checks are deferred and evaluated together, one pass per frame, so Polars shares common
    sub-expressions (the same cleaned text feeds several rules) and runs them in parallel.
    """

    def __init__(self) -> None:
        self.parts: list[pl.DataFrame] = []
        self.pending: list[tuple[pl.DataFrame, pl.Expr, str, object, object, pl.Expr | None]] = []

    def add(
        self,
        df: pl.DataFrame,
        bad: pl.Expr,
        field: str,
        zh: str | pl.Expr,
        en: str | pl.Expr,
        value: pl.Expr | None = None,
    ) -> None:
        self.pending.append((df, bad, field, zh, en, value))

    def flush(self) -> None:
        groups: dict[int, list[int]] = {}
        for i, (df, *_rest) in enumerate(self.pending):
            groups.setdefault(id(df), []).append(i)
        for idx in groups.values():
            df = self.pending[idx[0]][0]
            masks = (
                df.lazy()
                .select(self.pending[i][1].fill_null(False).alias(f"_m{i}") for i in idx)
                .collect()
            )
            for i in idx:
                if masks[f"_m{i}"].any():
                    self._record(df.filter(masks[f"_m{i}"]), *self.pending[i][2:])
        self.pending.clear()

    def _record(
        self, hit: pl.DataFrame, field: str, zh: object, en: object, value: pl.Expr | None
    ) -> None:
        if value is None:
            raw = f"{field}__raw"
            value = pl.col(raw) if raw in hit.columns else pl.col(field)
        self.parts.append(
            hit.select(
                pl.col(ROW).alias("row"),
                pl.lit(field).alias("field"),
                value.cast(pl.String).alias("value"),
                (pl.lit(zh) if isinstance(zh, str) else zh).alias("zh"),
                (pl.lit(en) if isinstance(en, str) else en).alias("en"),
            )
        )

    def header(self, field: str, value: str | None, zh: str, en: str) -> None:
        self.parts.append(
            pl.DataFrame(
                [{"row": 1, "field": field, "value": value, "zh": zh, "en": en}],
                schema=_ISSUE_SCHEMA,
            )
        )

    def problems(self, file: str, order: list[str]) -> list[Problem]:
        self.flush()
        if not self.parts:
            return []
        rank = {c: i for i, c in enumerate(order)}
        df = pl.concat(self.parts).with_columns(
            pl.col("field").replace_strict(rank, default=len(rank)).alias("_rank")
        )
        df = df.sort(["row", "_rank"], maintain_order=True)
        return [
            Problem(r["zh"], r["en"], file=file, row=r["row"], field=r["field"], value=r["value"])
            for r in df.iter_rows(named=True)
        ]


def _label(spec: KindSpec, col: str) -> str:
    info = spec.table.columns[col].info
    return f"{info.get('zh', col)}({col})"


def _map_headers(headers: list[str], spec: KindSpec, issues: _Issues) -> dict[str, str]:
    """File header → column; reports unknown, doubled and missing required columns (row 1)."""
    known = spec.header_map()
    mapping: dict[str, str] = {}
    taken: dict[str, str] = {}
    for h in headers:
        shown = h.split("\x00")[0]
        col = known.get(header_key(shown))
        if col is None:
            issues.header(
                shown,
                shown,
                f"未知列「{shown}」；可用列：{'、'.join(spec.column_names)}（中文表头见 docs/ingest.md）",
                f"unknown column {shown!r}; known columns: {', '.join(spec.column_names)}",
            )
        elif col in taken:
            issues.header(
                shown,
                shown,
                f"列「{shown}」与「{taken[col]}」都对应字段 {col}，重复",
                f"columns {shown!r} and {taken[col]!r} both map to {col}",
            )
        else:
            mapping[h] = col
            taken[col] = shown
    for col in spec.key:
        if col not in taken:
            issues.header(
                col,
                None,
                f"缺少必填列：{_label(spec, col)}",
                f"missing required column {col} ({spec.table.columns[col].info.get('en', col)})",
            )
    return mapping


def check_headers(file: str, headers: list[str], spec: KindSpec) -> None:
    """Refuse a wrong header row before the reader reads any data row.

    A file whose columns are wrong is refused whatever its rows hold, so reading them first only
    made the clerk wait (389 s for a 56 MB file) and the worker hold them all in memory.
    """
    issues = _Issues()
    _map_headers(headers, spec, issues)
    problems = issues.problems(file, ["", *spec.column_names, *headers])
    if problems:
        raise ValidationError(
            f"文件 {file} 的表头有误，未读取数据行，未写入任何数据",
            f"{file}: the header row is wrong; no data row was read, nothing was written",
            problems=problems,
        )


def _parse_date(s: pl.Expr, month: bool) -> pl.Expr:
    t = s.str.replace(r"[ T]00:00:00(\.0+)?$", "")
    if month:
        t = pl.when(t.str.contains(r"^\d{4}[-/.]\d{1,2}$")).then(t + "-01").otherwise(t)
        t = t.str.replace_all(r"[/.]", "-")
    return pl.coalesce([t.str.to_date(f, strict=False) for f in _DATE_FORMATS])


def _per_value(values: pl.Series, fn) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """Apply a Python check once per distinct value; returns value → (parsed, zh, en)."""
    rows = [(v, *fn(v)) for v in values.unique().drop_nulls().to_list()]
    return pl.DataFrame(
        rows,
        schema={"v": pl.String, "parsed": pl.String, "zh": pl.String, "en": pl.String},
        orient="row",
    )


_USCC_SHAPE = r"^[1-9ANY][0-9A-HJ-NPQRTUWXY]\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"


def _uscc_table(values: pl.Series) -> pl.DataFrame:
    """value → (normalised code, reason zh, reason en), vectorised over the distinct codes.

    The check character (GB 32100-2015, weights 3^i mod 31) is computed with Polars expressions;
    only codes that fail it go through :func:`kejin.ids.check_uscc`, which says exactly why.
    """
    uniq = values.unique().drop_nulls().to_frame("v")
    norm = pl.col("v").str.normalize("NFKC").str.strip_chars().str.to_uppercase()
    digit = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
    total = pl.sum_horizontal(
        pl.col("n").str.slice(i, 1).replace_strict(digit, default=0, return_dtype=pl.Int64) * w
        for i, w in enumerate(USCC_WEIGHTS)
    )
    expected = ((31 - total % 31) % 31).replace_strict(
        dict(enumerate(USCC_ALPHABET)), return_dtype=pl.String
    )
    fast = uniq.with_columns(norm.alias("n")).with_columns(
        (pl.col("n").str.contains(_USCC_SHAPE) & (pl.col("n").str.slice(17, 1) == expected))
        .fill_null(False)
        .alias("ok")
    )
    good = fast.filter("ok").select("v", pl.col("n").alias("parsed"))
    slow = []
    for v in fast.filter(~pl.col("ok"))["v"].to_list():
        r = check_uscc(v)
        if r.valid:
            slow.append((v, r.normalized, None, None))
        else:
            slow.append(
                (v, None, f"统一社会信用代码无效：{r.reason_zh}", f"invalid USCC: {r.reason_en}")
            )
    schema = {"v": pl.String, "parsed": pl.String, "zh": pl.String, "en": pl.String}
    return pl.concat(
        [
            good.with_columns(
                pl.lit(None, pl.String).alias("zh"), pl.lit(None, pl.String).alias("en")
            ),
            pl.DataFrame(slow, schema=schema, orient="row"),
        ]
    )


def _column(
    spec: KindSpec, col: str, txt: pl.DataFrame, issues: _Issues
) -> tuple[pl.Expr, pl.DataFrame | None]:
    """The typed expression for one column, after recording its type/range problems.

    Returns (expression over ``txt``, optional lookup frame joined on the text) for columns whose
    parsing goes through a per-value table (USCC, vocabulary).
    """
    column = spec.table.columns[col]
    t = column.type
    s = pl.col(col)
    if col == "uscc":
        table = _uscc_table(txt[col])
        issues.add(
            txt.join(table, left_on=col, right_on="v", how="left"),
            pl.col("zh").is_not_null(),
            col,
            pl.col("zh"),
            pl.col("en"),
        )
        return s, table
    if isinstance(t, Enum):
        vocab = spec.vocab(col)
        assert vocab is not None, f"enum column {col} has no vocabulary"
        allowed_zh = "、".join(f"{k}({v.zh})" for k, v in vocab.items())
        allowed_en = ", ".join(vocab)

        def term(v: str) -> tuple[str | None, str | None, str | None]:
            found = lookup(vocab, v)
            if found is not None:
                return found, None, None
            return (
                None,
                f"代码表中没有此值；可选：{allowed_zh}",
                f"not in the vocabulary; one of {allowed_en}",
            )

        table = _per_value(txt[col], term)
        issues.add(
            txt.join(table, left_on=col, right_on="v", how="left"),
            pl.col("zh").is_not_null(),
            col,
            pl.col("zh"),
            pl.col("en"),
        )
        return s, table
    if isinstance(t, FixedDecimal):
        # One regex decides; the reason is worked out only on the rows that fail it.
        clean = s.str.replace_all(",", "", literal=True)
        whole = t.precision - t.scale
        ok = clean.str.contains(rf"^[+-]?0*\d{{1,{whole}}}(\.\d{{0,{t.scale}}})?$")
        shape = clean.str.contains(r"^[+-]?\d+(\.\d+)?$")
        many_decimals = clean.str.contains(rf"\.\d{{{t.scale + 1},}}$")
        issues.add(
            txt,
            s.is_not_null() & ~ok,
            col,
            pl.when(~shape)
            .then(pl.lit("不是数字"))
            .when(many_decimals)
            .then(pl.lit(f"小数位数超过 {t.scale} 位（不会四舍五入）"))
            .otherwise(pl.lit(f"数值过大（整数部分超过 {whole} 位）")),
            pl.when(~shape)
            .then(pl.lit("not a number"))
            .when(many_decimals)
            .then(pl.lit(f"more than {t.scale} decimal places (never rounded)"))
            .otherwise(pl.lit(f"number too large (more than {whole} integer digits)")),
        )
        return pl.when(ok).then(clean).cast(pl.Decimal(t.precision, t.scale), strict=False), None
    if isinstance(t, Integer):
        clean = s.str.replace_all(",", "", literal=True)
        if txt[col].str.contains(".", literal=True).any():
            clean = clean.str.replace(r"\.0+$", "")  # 12.0 from a spreadsheet is 12
        parsed = clean.cast(pl.Int64, strict=False)
        in_range = parsed.abs() <= _INT32_MAX
        issues.add(
            txt,
            s.is_not_null() & ~in_range.fill_null(False),
            col,
            pl.when(parsed.is_null()).then(pl.lit("不是整数")).otherwise(pl.lit("数值过大")),
            pl.when(parsed.is_null())
            .then(pl.lit("not a whole number"))
            .otherwise(pl.lit("number too large")),
        )
        return pl.when(in_range).then(parsed), None
    if isinstance(t, Date):
        month = col == "month"
        parsed = _parse_date(s, month)
        issues.add(
            txt,
            s.is_not_null() & parsed.is_null(),
            col,
            "日期格式无法识别（应为 YYYY-MM-DD）" + ("或 YYYY-MM" if month else ""),
            "unrecognised date (expected YYYY-MM-DD" + (" or YYYY-MM)" if month else ")"),
        )
        issues.add(
            txt,
            (parsed.dt.year() < 1900) | (parsed.dt.year() > 2100),
            col,
            "日期超出 1900–2100 年范围",
            "date outside 1900–2100",
        )
        if month:
            issues.add(
                txt,
                parsed.dt.day() != 1,
                col,
                "月份应写作当月1日（如 2024-03-01）或 YYYY-MM",
                "a month is its first day (e.g. 2024-03-01) or YYYY-MM",
            )
        return parsed, None
    if isinstance(t, Boolean):
        low = s.str.to_lowercase()
        parsed = (
            pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False)
        )
        issues.add(
            txt,
            s.is_not_null() & parsed.is_null(),
            col,
            "应为 是/否（或 true/false、1/0）",
            "expected yes/no (是/否, true/false, 1/0)",
        )
        return parsed, None
    if isinstance(t, String):
        if t.length:
            issues.add(
                txt,
                s.str.len_chars() > t.length,
                col,
                f"长度超过 {t.length} 个字符",
                f"longer than {t.length} characters",
            )
        if col == "region_code":
            issues.add(
                txt,
                s.is_not_null() & ~s.str.contains(r"^\d{6}$"),
                col,
                "行政区划代码应为6位数字",
                "a region code is 6 digits (GB/T 2260)",
            )
        return s, None
    raise TypeError(f"no import rule for {col} of type {t!r}")  # a schema change needs a rule


def _required(spec: KindSpec, typed: pl.DataFrame, conn: Connection, issues: _Issues) -> None:
    """Rows new to the database need every required value; known rows may be partial updates.

    A file may carry only some columns (a department reports what it knows), so a missing
    required column or a blank required cell is a problem only for a row that would be inserted.
    """
    key = list(spec.key)
    if not set(key) <= set(typed.columns):
        return
    keyed = typed.filter(pl.all_horizontal(pl.col(key).is_not_null()))
    stored = existing(conn, spec, keyed, key).with_columns(pl.lit(True).alias("_known"))
    new = typed.join(stored, on=key, how="left").filter(pl.col("_known").is_null())
    if new.height == 0:
        return
    for col in spec.required:
        if col in key:
            continue
        label = spec.table.columns[col].info
        if col in typed.columns:
            raw = f"{col}__raw"
            issues.add(
                new,
                (pl.col(raw) if raw in new.columns else pl.col(col)).is_null(),
                col,
                f"新记录的必填项为空：{_label(spec, col)}",
                f"required value is empty for a new record: {col}",
            )
        else:
            issues.add(
                new,
                pl.lit(True),
                col,
                f"新记录缺少必填列：{_label(spec, col)}",
                f"new record lacks required column {col} ({label.get('en', col)})",
                value=pl.lit(None, pl.String),
            )


def _row_rules(spec: KindSpec, typed: pl.DataFrame, issues: _Issues) -> None:
    """Rules across columns or about signs; each mirrors a CHECK constraint of the table."""
    cols = set(typed.columns)
    for c in spec.columns:
        t = c.type
        if c.name not in cols or not isinstance(t, (FixedDecimal, Integer)) or c.name == "year":
            continue
        if c.info.get("signed"):
            continue
        issues.add(
            typed,
            pl.col(c.name) < 0,
            c.name,
            "金额不能为负数" if isinstance(t, FixedDecimal) else "不能为负数",
            "money cannot be negative" if isinstance(t, FixedDecimal) else "cannot be negative",
        )
    if "year" in cols:
        issues.add(
            typed,
            (pl.col("year") < 1949) | (pl.col("year") > 2100),
            "year",
            "年度应在 1949–2100 之间",
            "year must be within 1949–2100",
        )
    if "amount" in cols and spec.name in ("financing", "loans"):
        issues.add(
            typed, pl.col("amount") == 0, "amount", "金额必须大于0", "amount must be positive"
        )
    for lo, hi, equal_ok in spec.date_order:
        if lo in cols and hi in cols:
            bad = pl.col(lo) > pl.col(hi) if equal_ok else pl.col(lo) >= pl.col(hi)
            issues.add(
                typed,
                bad,
                hi,
                f"{_label(spec, hi)} 早于{'' if equal_ok else '或等于'} {_label(spec, lo)}",
                f"{hi} is before {'' if equal_ok else 'or on '}{lo}",
            )
    pairs = [
        ("min_amount", "max_amount"),
        ("rate_floor", "rate_ceiling"),
        ("amount", "credit_line"),
    ]
    for lo, hi in pairs:
        if lo in cols and hi in cols:
            issues.add(
                typed,
                pl.col(lo) > pl.col(hi),
                hi,
                f"{_label(spec, hi)} 小于 {_label(spec, lo)}",
                f"{hi} is less than {lo}",
            )


def _duplicates(spec: KindSpec, typed: pl.DataFrame, issues: _Issues) -> None:
    key = list(spec.key)
    if not set(key) <= set(typed.columns):
        return
    keyed = typed.filter(pl.all_horizontal(pl.col(key).is_not_null()))
    if not keyed.select(pl.struct(key).is_duplicated().any()).item():
        return
    first = keyed.group_by(key).agg(pl.col(ROW).min().alias("_first"))
    dup = keyed.join(first, on=key, nulls_equal=False).filter(pl.col(ROW) != pl.col("_first"))
    value = pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=" / ")
    issues.add(
        dup,
        pl.lit(True),
        key[-1],
        pl.format("主键（{}）与第 {} 行重复", pl.lit("、".join(key)), pl.col("_first")),
        pl.format("duplicate key ({}) of row {}", pl.lit(", ".join(key)), pl.col("_first")),
        value=value,
    )


def _references(spec: KindSpec, typed: pl.DataFrame, conn: Connection, issues: _Issues) -> None:
    """Every firm, institution, product and loan named must already be in the database."""
    for col, (table, target) in spec.references.items():
        if col not in typed.columns:
            continue
        known = read_frame(conn, table, [target]).rename({target: "_k"})
        wanted = typed.select(pl.col(col).unique().drop_nulls())
        absent = wanted.join(known, left_on=col, right_on="_k", how="anti")
        if absent.height == 0:
            continue
        missing = typed.join(absent, on=col, how="semi")
        label = table.name
        issues.add(
            missing,
            pl.col(col).is_not_null(),
            col,
            f"数据库中不存在此{ {'enterprises': '企业', 'institutions': '机构', 'products': '产品', 'loans': '贷款合同'}.get(label, label) }，请先导入",
            f"not found in {label}; import it first",
        )
    if {"product_id", "institution_id"} <= set(typed.columns) and spec.name == "loans":
        from kejin.lending.tables import Product

        owners = read_frame(conn, Product.__table__, ["id", "institution_id"]).rename(
            {"id": "product_id", "institution_id": "_owner"}
        )
        issues.add(
            typed.join(owners, on="product_id", how="inner"),
            pl.col("_owner") != pl.col("institution_id"),
            "product_id",
            pl.format("该产品属于机构 {}，不是本贷款的机构", pl.col("_owner")),
            pl.format("product belongs to institution {}, not this loan's", pl.col("_owner")),
        )


def validate(raw: RawFile, spec: KindSpec, conn: Connection, department: str) -> Validated:
    """Check everything; raise :class:`ValidationError` with every problem, or return typed rows."""
    issues = _Issues()
    mapping = _map_headers(raw.headers, spec, issues)
    txt = raw.frame.select(
        pl.col(ROW),
        *[pl.col(h).str.strip_chars().replace("", None).alias(c) for h, c in mapping.items()],
    )
    present = list(mapping.values())
    exprs: list[pl.Expr] = [pl.col(ROW)]
    lookups: dict[str, pl.DataFrame] = {}
    for col in present:
        if col in spec.key:
            issues.add(txt, pl.col(col).is_null(), col, "主键字段为空", "key value is empty")
        expr, table = _column(spec, col, txt, issues)
        if table is None:
            exprs.append(expr.alias(col))
        else:
            lookups[col] = table
            exprs.append(pl.col(col))
    typed = txt.select(exprs)
    for col, table in lookups.items():
        typed = (
            typed.join(
                table.select("v", "parsed"),
                left_on=col,
                right_on="v",
                how="left",
                maintain_order="left",
            )
            .drop(col)
            .rename({"parsed": col})
        )
    for col in spec.department_columns:
        if col not in present:
            typed = typed.with_columns(pl.lit(department).alias(col))
            present.append(col)
    typed = typed.select(ROW, *present)
    # Rules over typed values still quote the cell as the clerk wrote it.
    raw_cols = [c for c in present if c in txt.columns]
    typed = typed.hstack(txt.select(pl.col(c).alias(f"{c}__raw") for c in raw_cols))
    _required(spec, typed, conn, issues)
    _row_rules(spec, typed, issues)
    _duplicates(spec, typed, issues)
    _references(spec, typed, conn, issues)
    problems = issues.problems(raw.name, ["", *spec.column_names, *raw.headers])
    if problems:
        raise ValidationError(
            f"文件 {raw.name} 有 {len({p.row for p in problems})} 行存在问题，未写入任何数据",
            f"{raw.name}: {len({p.row for p in problems})} row(s) have problems; nothing was written",
            problems=problems,
        )
    return Validated(spec, typed.select(ROW, *present), present, raw)
