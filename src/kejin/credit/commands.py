"""``kejin credit …``: fit, score and report on any CSV; decide, evidence and warnings on the DB."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import typer

from kejin.console import err_console, print_json

credit_app = typer.Typer(
    help="信用风险模型与授信决策 / credit risk models and decisions", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(credit_app, name="credit")


def _config(path: Path | None, monotone: list[str]) -> dict:
    """Model config from a TOML/JSON file, plus ``--monotone col=+1`` pairs for the GBM."""
    from kejin.errors import Problem, ValidationError

    cfg: dict = {}
    if path is not None:
        text = path.read_text(encoding="utf-8")
        cfg = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    for m in monotone:
        name, _, sign = m.partition("=")
        if sign not in ("+1", "1", "-1", "0"):
            raise ValidationError(
                "单调约束格式应为 列名=+1 或 列名=-1",
                "monotone constraint must be COL=+1 or COL=-1",
                [Problem("", "", field="--monotone", value=m)],
            )
        cfg.setdefault("monotone", {})[name] = int(sign)
    return cfg


@credit_app.command("fit")
def fit_cmd(
    data: Path = typer.Option(..., "--data", help="训练数据CSV / training CSV"),
    target: str = typer.Option(..., "--target", help="目标列 / target column"),
    bad: str | None = typer.Option(
        None, "--bad", help="坏样本取值 / value meaning bad (default 1)"
    ),
    method: str = typer.Option("scorecard", "--method", help="scorecard | gbm"),
    out: Path = typer.Option(..., "--out", help="模型文件 / model JSON to write"),
    exclude: list[str] = typer.Option([], "--exclude", help="排除的列 / columns to ignore"),
    config: Path | None = typer.Option(None, "--config", help="配置 TOML/JSON / model config"),
    monotone: list[str] = typer.Option([], "--monotone", help="GBM: COL=+1|-1 (PD direction)"),
    register_as: str | None = typer.Option(
        None, "--register", help="登记到模型库的名称 / also store in the model registry"
    ),
) -> None:
    """训练评分卡或GBM / Fit a scorecard or GBM on a CSV and write the sealed JSON artefact."""
    from kejin.credit import artefact, dataset, models
    from kejin.errors import Problem, ValidationError

    if method not in ("scorecard", "gbm"):
        raise ValidationError(
            "未知的建模方法", "unknown method", [Problem("", "", field="--method", value=method)]
        )
    df = dataset.read_csv(data)
    prepared = dataset.prepare(df, target, bad, tuple(exclude), source=str(data))
    art = models.fit(prepared, method, _config(config, monotone))
    digest = artefact.save(art, out)
    summary = {"model": str(out), "content_hash": digest, "method": method, **art["metrics"]}
    if register_as:
        from kejin.console import get_engine
        from kejin.credit import registry

        row = registry.register(get_engine(), art, register_as)
        summary["registered"] = {"name": row.name, "version": row.version}
    print_json(summary)


@credit_app.command("score")
def score_cmd(
    model: Path = typer.Option(..., "--model", help="模型文件 / model JSON"),
    data: Path = typer.Option(..., "--data", help="待评分CSV / CSV to score"),
    out: Path = typer.Option(..., "--out", help="输出CSV / output CSV"),
) -> None:
    """批量评分 / Score a CSV: input rows plus pd, points, reasons, flags."""
    from kejin.credit import artefact, dataset, models

    art = artefact.load(model)
    df = dataset.read_csv(data)
    scored = models.score(art, df)
    df.hstack(scored).write_csv(out)
    flagged = int((scored["flags"] != "").sum())
    print_json(
        {"rows": df.height, "out": str(out), "flagged_rows": flagged, "model": art["content_hash"]}
    )
    if flagged:
        err_console.print(
            f"{flagged} 行含训练中未见的取值，已按特殊值分箱评分并标记 / "
            f"{flagged} rows had values unseen in training; scored via the special bin and flagged"
        )


@credit_app.command("report")
def report_cmd(
    model: Path = typer.Option(..., "--model", help="模型文件 / model JSON"),
    data: Path = typer.Option(..., "--data", help="含目标列的CSV / CSV with the target column"),
    out: Path = typer.Option(Path("credit-report"), "--out", help="输出目录 / output directory"),
) -> None:
    """模型报告 / Excel workbook + PNG charts: AUC, KS, Gini, deciles, calibration, PSI, points."""
    from kejin.credit import artefact, dataset, report

    art = artefact.load(model)
    df = dataset.read_csv(data)
    print_json(report.build(art, df, out, source=str(data)))
