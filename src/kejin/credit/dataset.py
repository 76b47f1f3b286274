"""Training data from a CSV or a frame: the target and the candidate variables, validated once.

Every check that can fail on user data lives here, so that ``fit`` either gets a clean problem or
refuses with every bad column named at once (target missing, one class only, unknown bad value,
constant or all-missing variables), in Chinese and English.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from kejin.errors import Problem, ValidationError


def read_csv(path: str | Path) -> pl.DataFrame:
    """Read a CSV as an analyst exported it: empty, NA and NULL cells are missing."""
    p = Path(path)
    if not p.exists():
        raise ValidationError(
            "数据文件不存在", "data file not found", [Problem("", "", file=str(p))]
        )
    try:
        return pl.read_csv(
            p, infer_schema_length=None, null_values=["", "NA", "NULL", "null", "NaN"]
        )
    except pl.exceptions.PolarsError as e:
        raise ValidationError(
            "无法读取CSV文件", "cannot read the CSV file", [Problem(str(e), str(e), file=str(p))]
        ) from None


def read_table(path: str | Path) -> pl.DataFrame:
    """Rows to score: a CSV (:func:`read_csv`) or Parquet, one file or a directory of parts."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return read_csv(p)
    if not p.exists():
        raise ValidationError(
            "数据文件不存在", "data file not found", [Problem("", "", file=str(p))]
        )
    try:
        return pl.read_parquet(p / "*.parquet" if p.is_dir() else p)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise ValidationError(
            "无法读取Parquet数据",
            "cannot read the Parquet data",
            [Problem(str(e), str(e), file=str(p))],
        ) from None


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


@dataclass(frozen=True)
class TrainingData:
    """The prepared problem: features frame, 0/1 target (1 = bad) and the data's hash."""

    X: pl.DataFrame
    y: np.ndarray
    target: str
    bad_value: str | None
    sha256: str


def frame_sha256(df: pl.DataFrame) -> str:
    """Hash of the training data as canonical CSV (column order as given)."""
    return hashlib.sha256(df.write_csv().encode()).hexdigest()


def prepare(
    df: pl.DataFrame,
    target: str,
    bad: str | None = None,
    exclude: tuple[str, ...] = (),
    source: str = "<data>",
    check_features: bool = True,
) -> TrainingData:
    """Split ``df`` into features and a 0/1 target, refusing what a model cannot learn from.

    ``check_features=False`` is for evaluation data, where a variable that happens to be
    constant in this sample is a finding of the report, not an error.
    """
    if target not in df.columns:
        raise ValidationError(
            "目标列不存在",
            "target column not found",
            [
                Problem(
                    f"现有列: {', '.join(df.columns)}",
                    f"columns are: {', '.join(df.columns)}",
                    file=source,
                    field=target,
                )
            ],
        )
    col = df[target]
    problems: list[Problem] = []
    nulls = col.is_null().arg_true().to_list()
    if nulls:
        problems.append(
            Problem(
                f"目标值缺失（共{len(nulls)}行）",
                f"target value missing ({len(nulls)} rows)",
                file=source,
                row=nulls[0] + 2,
                field=target,
            )
        )
    if bad is not None:
        values = col.cast(pl.String)
        if not (values == bad).any():
            problems.append(
                Problem(
                    "目标列中没有指定的坏样本取值",
                    "the bad value does not occur in the target column",
                    file=source,
                    field=target,
                    value=bad,
                )
            )
        y = (values == bad).fill_null(False).to_numpy().astype(np.int8)
    else:
        values = col.cast(pl.String)
        odd = (~values.is_in(["0", "1", "true", "false"]) & values.is_not_null()).arg_true()
        if len(odd):
            problems.append(
                Problem(
                    "目标列应为0/1，或用 --bad 指定坏样本取值",
                    "target must be 0/1, or name the bad value with --bad",
                    file=source,
                    row=int(odd[0]) + 2,
                    field=target,
                    value=values[int(odd[0])],
                )
            )
        y = values.is_in(["1", "true"]).to_numpy().astype(np.int8)
    if not problems and (y.sum() == 0 or y.sum() == len(y)):
        problems.append(
            Problem(
                "目标只有一个类别，无法训练",
                "target has only one class; nothing to learn",
                file=source,
                field=target,
                value=int(y[0]) if len(y) else None,
            )
        )
    features = [c for c in df.columns if c != target and c not in exclude]
    for c in exclude:
        if c not in df.columns:
            problems.append(
                Problem("排除的列不存在", "excluded column not found", file=source, field=c)
            )
    for c in features if check_features else ():
        s = df[c]
        if s.null_count() == len(s):
            problems.append(
                Problem(
                    "变量全部缺失（可用 --exclude 排除）",
                    "variable is missing in every row (drop it with --exclude)",
                    file=source,
                    field=c,
                )
            )
        elif s.drop_nulls().n_unique() == 1 and s.null_count() == 0:
            problems.append(
                Problem(
                    "变量为常数，不含信息（可用 --exclude 排除）",
                    "variable is constant, it carries no information (drop it with --exclude)",
                    file=source,
                    field=c,
                    value=s[0],
                )
            )
    if not features:
        problems.append(Problem("没有可用的自变量", "no candidate variables", file=source))
    if problems:
        raise ValidationError("训练数据不可用", "training data cannot be used", problems)
    X = df.select(features)
    return TrainingData(X, y, target, bad, frame_sha256(df.select([*features, target])))


def numeric_values(s: pl.Series) -> np.ndarray:
    """A column as float64 with NaN for missing, refusing text in a numeric variable by row."""
    cast = s.cast(pl.Float64, strict=False)
    bad = (cast.is_null() & s.is_not_null()).arg_true()
    if len(bad):
        i = int(bad[0])
        raise ValidationError(
            "数值变量中出现非数值内容",
            "non-numeric value in a numeric variable",
            [Problem(f"共{len(bad)}行", f"{len(bad)} rows", row=i + 2, field=s.name, value=s[i])],
        )
    return cast.fill_null(np.nan).to_numpy()
