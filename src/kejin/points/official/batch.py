"""The clerk's batch: read a spreadsheet, evaluate every firm, write the results — all or nothing."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.points.official import innovative_sme, tsme
from kejin.points.official.io import add_problems, money_out, read_table, write_table

SCHEMES: dict[str, ModuleType] = {"tsme": tsme, "innovative-sme": innovative_sme}


def _cross_checks(scheme: str, df: pl.DataFrame, file: str) -> list[Problem]:
    """Checks that involve two fields of one row (one field's checks are done at parse time)."""
    problems: list[Problem] = []
    if scheme == "tsme":
        add_problems(
            problems,
            df,
            pl.col("tech_staff") > pl.col("staff"),
            file,
            "tech_staff",
            "科技人员数大于职工总数",
            "tech staff exceed total staff",
        )
    else:
        for sub in ("ip_class1_high_value", "ip_class1_self_developed"):
            add_problems(
                problems,
                df,
                pl.col(sub) > pl.col("ip_class1"),
                file,
                sub,
                "不能大于Ⅰ类知识产权总数",
                "cannot exceed the Class I IP total",
            )
        add_problems(
            problems,
            df,
            pl.col("main_revenue") > pl.col("operating_revenue"),
            file,
            "main_revenue",
            "主营业务收入大于营业收入",
            "main-business revenue exceeds operating revenue",
        )
    return problems


def evaluate_frame(scheme: str, df: pl.DataFrame) -> pl.DataFrame:
    """Evaluate a parsed frame and add the reason columns; returns input + output columns."""
    mod = SCHEMES[scheme]
    out = mod.evaluate(df)
    texts = [mod.reasons(r) for r in out.iter_rows(named=True)]
    out = out.with_columns(
        reason_zh=pl.Series([t[0] for t in texts], dtype=pl.String),
        reason_en=pl.Series([t[1] for t in texts], dtype=pl.String),
    )
    return out


def evaluate_on_spark(scheme: str, df: pl.DataFrame, master: str | None = None) -> pl.DataFrame:
    """:func:`evaluate_frame` run by Spark, partition by partition (each firm is evaluated
    alone, so the split is exact); rows come back in input order."""
    from kejin.scale import spark

    ss = spark.session(master, app="kejin points official")
    rows = df.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
    out = spark.to_polars(
        spark.map_frames(
            spark.from_polars(ss, rows), lambda part: evaluate_frame(scheme, part), rows.head(16)
        )
    )
    local_schema = evaluate_frame(scheme, df.head(1)).schema
    return (
        out.sort("__row").drop("__row").select([pl.col(c).cast(t) for c, t in local_schema.items()])
    )


def evaluate_file(
    scheme: str, input_path: Path, out_path: Path, engine: str = "local", master: str | None = None
) -> dict[str, Any]:
    """Evaluate ``input_path`` under ``scheme`` and write ``out_path``; returns a summary.
    ``engine="spark"``: the file is read and checked here (the same parsing rules), evaluated
    on Spark, and written here only once every row is back."""
    if scheme not in SCHEMES:
        raise ValidationError(
            "未知的评价方案",
            "unknown evaluation scheme",
            [
                Problem(
                    "应为 tsme 或 innovative-sme",
                    "expected tsme or innovative-sme",
                    field="scheme",
                    value=scheme,
                )
            ],
        )
    if out_path.suffix.lower() not in (".csv", ".xlsx"):
        raise ValidationError(
            "输出仅支持 CSV 或 XLSX",
            "output must be CSV or XLSX",
            [
                Problem(
                    "文件类型不支持",
                    "unsupported file type",
                    file=str(out_path),
                    value=out_path.suffix,
                )
            ],
        )
    mod = SCHEMES[scheme]
    df = read_table(input_path, mod.COLUMNS)
    problems = _cross_checks(scheme, df, str(input_path))
    if problems:
        raise ValidationError(
            "输入文件有错误，未生成结果", "the input has errors; nothing was written", problems
        )
    out = evaluate_on_spark(scheme, df, master) if engine == "spark" else evaluate_frame(scheme, df)
    cols = [c.id for c in mod.COLUMNS] + list(mod.OUTPUT_COLUMNS)
    write_table(out_path, money_out(out.select(cols), mod.COLUMNS))
    routes = out.group_by("route").len().sort("route")
    return {
        "scheme": scheme,
        "document": mod.DOCUMENT,
        "input": str(input_path),
        "output": str(out_path),
        "firms": out.height,
        "passed": int(out["passed"].sum()),
        "routes": dict(routes.iter_rows()),
        "engine": engine,
    }
