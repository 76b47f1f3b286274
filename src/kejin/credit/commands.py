"""``kejin credit …``: fit, score and report on any CSV; decide, evidence and warnings on the DB."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer

from kejin.console import console, err_console, print_json

credit_app = typer.Typer(
    help="信用风险模型与授信决策 / credit risk models and decisions", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(credit_app, name="credit")


def _register(engine: Any, art: dict, name: str) -> dict[str, Any]:
    """Store the model in the registry: a batch job's result, recorded as the ``system``
    principal in the same transaction (a model in use for decisions has its audit record)."""
    from kejin.access.acting import system_event
    from kejin.credit import registry
    from kejin.db import transaction

    with transaction(engine) as s:
        row = registry.register(engine, art, name, session=s)
        out = {"name": row.name, "version": row.version, "id": row.id}
        system_event(s, "credit.model.register", "credit_model", row.id, after=out)
    return {"name": out["name"], "version": out["version"]}


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
    method: str = typer.Option("scorecard", "--method", help="scorecard | boosted | gbm"),
    out: Path = typer.Option(..., "--out", help="模型文件 / model JSON to write"),
    exclude: list[str] = typer.Option([], "--exclude", help="排除的列 / columns to ignore"),
    config: Path | None = typer.Option(None, "--config", help="配置 TOML/JSON / model config"),
    monotone: list[str] = typer.Option(
        [], "--monotone", help="GBM / boosted: COL=+1|-1 (PD direction)"
    ),
    register_as: str | None = typer.Option(
        None, "--register", help="登记到模型库的名称 / also store in the model registry"
    ),
) -> None:
    """训练评分卡、加性提升评分卡或GBM / Fit a scorecard, boosted scorecard or GBM on a CSV and
    write the sealed JSON artefact."""
    from kejin.credit import artefact, dataset, models
    from kejin.errors import Problem, ValidationError

    if method not in models.METHODS:  # before reading the data: refuse a typo at once
        raise ValidationError(
            "未知的建模方法", "unknown method", [Problem("", "", field="--method", value=method)]
        )
    from kejin.console import progress

    df = dataset.read_csv(data)
    prepared = dataset.prepare(df, target, bad, tuple(exclude), source=str(data))
    with progress() as bar:
        bar.add_task(f"训练 / fitting {method}", total=None)
        art = models.fit(prepared, method, _config(config, monotone))
    digest = artefact.save(art, out)
    summary = {"model": str(out), "content_hash": digest, "method": method, **art["metrics"]}
    if register_as:
        from kejin.console import get_engine

        summary["registered"] = _register(get_engine(), art, register_as)
    print_json(summary)


@credit_app.command("score")
def score_cmd(
    model: Path = typer.Option(..., "--model", help="模型文件 / model JSON"),
    data: Path = typer.Option(
        ...,
        "--data",
        help="待评分数据：CSV 或 Parquet（文件或目录）/ CSV or Parquet (file or directory)",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="输出：本地引擎为 CSV，Spark 引擎为 Parquet 目录 / CSV (local) or Parquet directory (spark)",
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local（本机 Polars）或 spark / local (Polars) or spark"
    ),
    master: str | None = typer.Option(
        None, "--master", help="Spark master（默认 local[2]）/ Spark master (default local[2])"
    ),
) -> None:
    """批量评分 / Score rows: input columns plus pd, points, reasons, flags."""
    from kejin.credit import artefact, models

    art = artefact.load(model)
    if engine == "spark":
        from kejin.credit import scale

        rep = scale.score_on_spark(art, data, out, master)
        flagged, rows = rep["flagged_rows"], rep["rows"]
    elif engine == "local":
        from kejin import exports
        from kejin.credit import dataset

        df = dataset.read_table(data)
        scored = models.score(art, df)
        exports.write_csv(df.hstack(scored), out, bom=False)
        flagged, rows = int((scored["flags"] != "").sum()), df.height
    else:
        raise typer.BadParameter("--engine: local | spark")
    print_json(
        {"rows": rows, "out": str(out), "flagged_rows": flagged, "model": art["content_hash"],
         "engine": engine}
    )  # fmt: skip
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


@credit_app.command("decide")
def decide_cmd(
    uscc: str = typer.Argument(..., help="统一社会信用代码 / USCC"),
    product: str = typer.Option(..., "--product", help="产品决策表 / product id or TOML file"),
    as_of: str | None = typer.Option(None, "--as-of", help="决策日 YYYY-MM-DD (default today)"),
    who: str | None = typer.Option(
        None,
        "--who",
        "--officer",
        help="经办人：银行用户（平台用户名），须有企业的授信评估授权 / the bank officer "
        "(platform username); needs the firm's credit-assessment consent",
    ),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
) -> None:
    """授信决策 / Decide eligibility, credit, limit, rate and term for a firm; record it.

    The same service as the web's request: the officer named by ``--who`` must be a bank user
    allowed ``credit.decide``, the firm's live credit-assessment consent (scope full) to the
    bank is required, and the decision and its audit record commit together.
    """
    from kejin.access.acting import acting
    from kejin.console import get_engine
    from kejin.credit import routes
    from kejin.credit.decisions import load_table, rating_scale
    from kejin.errors import parse_date
    from kejin.web.i18n import t as text

    day = parse_date(as_of, "--as-of") if as_of else None
    engine = get_engine()
    with acting(engine, who, "credit.decide", uscc) as (s, p):
        out = routes.decide(s, engine, p, uscc, product, as_of=day)
    if as_json:
        print_json(out)
        return
    from rich.table import Table

    t = Table(title=f"{out['uscc']} · {out['product']} · 决策 #{out['decision_id']}")
    for c in ("项目 component", "结果 value", "原因 reasons"):
        t.add_column(c)
    for name in (
        "eligible",
        "grade",
        "decision.credit_allowed",
        "decision.limit",
        "decision.rate",
        "decision.term_months",
    ):
        item = out[name]
        key = "cd_" + name.replace("decision.", "")
        t.add_row(
            f"{text(key, 'zh')} {text(key, 'en')}",
            str(item["value"]),
            "\n".join(f"{r['code']}: {r['zh']} / {r['en']}" for r in item["reasons"]),
        )
    console.print(t)
    table = load_table(product).table
    console.print(
        f"{text('cd_grade_scale', 'zh')}：{rating_scale(table, 'zh')}\n"
        f"{text('cd_grade_scale', 'en')}: {rating_scale(table, 'en')}"
    )
    if out["flags"]:
        err_console.print(f"标记 / flags: {', '.join(out['flags'])}")


def _spread(ranked: list[str], k: int) -> list[str]:
    """``k`` items spread evenly from the first to the last of ``ranked``.

    >>> _spread(list("abcdefghi"), 3), _spread(list("ab"), 5), _spread(list("abc"), 0)
    (['a', 'e', 'i'], ['a', 'b'], [])
    """
    if k <= 0 or not ranked:
        return []
    if k >= len(ranked):
        return list(ranked)
    if k == 1:
        return [ranked[0]]
    return [ranked[round(i * (len(ranked) - 1) / (k - 1))] for i in range(k)]


@credit_app.command("demo")
def demo_cmd(
    officer: str = typer.Option(
        "demo_bank", "--who", "--officer", help="演示客户经理（平台用户名）/ demo bank officer"
    ),
    product: str = typer.Option("points_credit", "--product", help="产品决策表 / product id"),
    firms: int = typer.Option(6, "--firms", min=1, max=50, help="企业数 / how many firms"),
    consents: int = typer.Option(
        0,
        "--consents",
        min=0,
        max=50,
        help="先请多少家借款企业向本行授权（分布在积分高低各处）/ borrowers that first grant "
        "the bank a credit-assessment consent, spread over the points ranking",
    ),
) -> None:
    """演示：客户经理为本行借款企业申请授信决策 / Decisions for the officer's bank's borrowers.

    First ``--consents`` borrowers in good standing, spread evenly over the points ranking (top,
    middle, bottom, unscored), grant the bank their credit-assessment consent through the
    audited consent service as their own users (:func:`kejin.access.commands.demo_borrower_consents`),
    so the bank's decisions show different outcomes rather than one firm's.

    The firms that consented to the bank come first (the demo firm), then the bank's other
    borrowers in good standing, highest innovation points first (those an officer would bring
    to a points-credit product; unscored firms last, by code) — of these only the firms with a
    live credit-assessment consent to the bank, since a decision reads their data. Each decision
    is the officer's own act, through the web's service (permission, consent, audit record), so
    the bank's decision history and evidence packs have something to show.
    """
    from rich.table import Table
    from sqlalchemy import select

    from kejin.access.acting import acting, person
    from kejin.access.audit import utcnow
    from kejin.access.commands import demo_borrower_consents
    from kejin.access.rules import live_consent
    from kejin.access.tables import Consent
    from kejin.console import console, get_engine
    from kejin.credit import decisions, points_link, routes
    from kejin.db import transaction
    from kejin.lending.tables import Loan
    from kejin.registry.tables import Enterprise

    engine = get_engine()
    with transaction(engine) as s:
        bank = person(s, officer, "credit.decide").institution_id
    assert bank is not None  # only a bank officer may decide
    decisions.load_table(product)  # an unknown product is refused before any work
    with engine.connect() as conn:
        consented = conn.scalars(
            select(Consent.uscc).where(Consent.institution_id == bank).order_by(Consent.uscc)
        ).all()
        borrowers = conn.scalars(
            select(Loan.uscc)
            .join(Enterprise, Enterprise.uscc == Loan.uscc)
            .where(Loan.institution_id == bank, Enterprise.in_good_standing())
            .distinct()
        ).all()
        pts = points_link.points_frame(conn, list(borrowers))
    latest: dict[str, float] = {}
    if pts is not None:
        latest = dict(points_link.latest(pts).select("uscc", "total").iter_rows())
    ranked = sorted(borrowers, key=lambda c: (c not in latest, -latest.get(c, 0.0), c))
    spread = _spread(ranked, consents)
    with transaction(engine) as s:
        granted = demo_borrower_consents(s, bank, spread)
    if granted:
        err_console.print(
            f"{len(granted)} 家借款企业（积分高低各处）以本企业用户身份向本行授予了授信评估授权 / "
            f"{len(granted)} borrowers across the points ranking granted the bank a "
            "credit-assessment consent as their own users"
        )
    # Only firms whose live consent lets the bank assess them: a decision reads their data.
    with transaction(engine) as s:
        now = utcnow()
        chosen = [
            c
            for c in dict.fromkeys([*consented, *spread, *ranked])
            if live_consent(s, bank, c, "credit_decision", now) is not None
        ][:firms]
    if not chosen:
        err_console.print(
            "该行没有企业授予有效的授信评估授权，未作任何决策 / no firm has a live "
            "credit-assessment consent to this bank: no decision made"
        )
        return
    t = Table(title=f"授信决策演示 / credit decisions · {bank} · {product} · {officer}")
    t.add_column("企业 USCC", no_wrap=True, min_width=18)  # a code is never cut
    for c in ("准入\neligible", "信用评级\nrating", "信用\nunsecured", "额度 万元\nlimit 10k", "利率\nrate",
              "期限 月\nmonths"):  # fmt: skip
        t.add_column(c, justify="right", no_wrap=True, min_width=6)
    yes_no = {True: "是 Y", False: "否 N"}
    for code in chosen:
        with acting(engine, officer, "credit.decide", code) as (s, p):
            out = routes.decide(s, engine, p, code, product)
        limit, rate = out["decision.limit"]["value"], out["decision.rate"]["value"]
        t.add_row(
            code, yes_no[out["eligible"]["value"]], str(out["grade"]["value"]),
            yes_no[out["decision.credit_allowed"]["value"]],
            f"{float(limit) / 1e4:,.0f}" if limit is not None else "—",
            f"{float(rate):.2%}" if rate is not None else "—",
            str(out["decision.term_months"]["value"] or "—"),
        )  # fmt: skip
    console.print(t)
    err_console.print(
        "原因与证据见网页「授信决策」/ reasons and evidence packs: the bank's 授信决策 page"
    )


@credit_app.command("act")
def act_cmd(
    decision_id: int = typer.Argument(..., help="决策编号 / decision id"),
    who: str | None = typer.Option(
        None, "--who", "--officer", help="经办人（平台用户名）/ officer (platform username)"
    ),
    action: str = typer.Option(..., "--action", help="approve | reject | refer | override"),
    note: str | None = typer.Option(None, "--note", help="说明 / note (required for override)"),
    loan: str | None = typer.Option(None, "--loan", help="合同编号 / loan contract number"),
) -> None:
    """记录经办人处理意见 / Record the officer's action on a decision (and the loan it led to).

    As on the web: only the decision's own bank, the loan must be the bank's loan to the firm,
    and the action and its audit record commit together.
    """
    from kejin.access.acting import acting
    from kejin.console import get_engine
    from kejin.credit import routes

    engine = get_engine()
    with acting(engine, who) as (s, p):
        out = routes.act(s, engine, p, decision_id, action, note, loan)
    print_json(out)


@credit_app.command("evidence")
def evidence_cmd(
    key: str = typer.Argument(..., help="贷款合同编号或决策编号 / LOAN_ID or DECISION_ID"),
    who: str = typer.Option(
        ...,
        "--who",
        help="读取人（平台用户名）：银行用户只见本行决策且受企业授权约束，审计员见全部 / "
        "platform user reading: a bank user its own bank's decisions under the firm's consent, "
        "the auditor all",
    ),
    out: Path = typer.Option(Path("evidence"), "--out", help="输出目录 / output directory"),
) -> None:
    """尽职免责证据包 / Export the evidence pack (JSON + Excel) and replay the decision.

    The same service as the web's download: the reader's permissions, the firm's consent and
    the audit log apply to the command as to the page.
    """
    from kejin.access.service import named_principal
    from kejin.console import get_engine
    from kejin.credit import evidence
    from kejin.credit.routes import export_evidence
    from kejin.db import transaction

    engine = get_engine()
    decision_id = evidence.find(engine, key).id
    with transaction(engine) as s:
        summary = export_evidence(s, engine, named_principal(s, who), decision_id, out)
    print_json(summary)
    if not summary["reproduces"]:
        raise typer.Exit(1)


@credit_app.command("warnings")
def warnings_cmd(
    month: str = typer.Option(..., "--month", help="月份 YYYY-MM / month"),
    model: str | None = typer.Option(
        "tech_firm", "--model", help="稳定性监测的模型名 / registered model for PSI ('' to skip)"
    ),
    limit: int = typer.Option(
        30, "--limit", min=1, help="终端显示前N家（最严重在前）/ rows shown, most severe first"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
) -> None:
    """月度预警与模型稳定性 / Monthly early-warning list and model stability (PSI).

    The terminal shows the ``--limit`` most severe firms (a region's list runs to thousands);
    ``--json`` gives every one.
    """
    from kejin.console import get_engine
    from kejin.credit import early_warning, monitoring
    from kejin.errors import NotFoundError

    engine = get_engine()
    out = early_warning.monthly(engine, month)
    if model:
        try:
            out["stability"] = monitoring.monthly_stability(
                engine, model, early_warning.parse_month(month)
            )
        except NotFoundError:
            out["flags"].append("model_unavailable")
    if as_json:
        print_json(out)
        return
    from rich.table import Table

    t = Table(title=f"预警 / early warning {month}: {out['by_level']}")
    for c in ("USCC", "企业 firm", "等级 level", "原因 reasons"):
        t.add_column(c)
    for w in out["warnings"][:limit]:
        t.add_row(
            w["uscc"],
            w["name"] or "",
            f"{w['level']} {w['level_zh']}/{w['level_en']}",
            "\n".join(f"{r['code']}: {r['zh']}" for r in w["reasons"]),
        )
    console.print(t)
    if len(out["warnings"]) > limit:
        more = len(out["warnings"]) - limit
        err_console.print(f"… 另有 {more} 家，--json 输出全部 / {more} more: --json lists them all")
    if "stability" in out and out["stability"]["psi"] is not None:
        s = out["stability"]
        err_console.print(
            f"模型稳定性 / stability: PSI = {s['psi']} ({s['psi_level']}), rows {s['rows']}"
        )
    if out["flags"]:
        err_console.print(f"标记 / flags: {', '.join(out['flags'])}")


@credit_app.command("tech-model")
def tech_model_cmd(
    out: Path = typer.Option(..., "--out", help="模型文件 / model JSON to write"),
    method: str = typer.Option("scorecard", "--method", help="scorecard | boosted | gbm"),
    end: str | None = typer.Option(
        None, "--end", help="观察期末 YYYY-MM-DD (default: month after the latest loan status)"
    ),
    register_as: str | None = typer.Option(
        None, "--register", help="登记名称 / register under this name (e.g. tech_firm)"
    ),
    points: bool = typer.Option(
        True, "--points/--no-points", help="使用创新积分特征 / use innovation-points features"
    ),
    min_defaults: int = typer.Option(
        10, "--min-defaults", min=2, help="每个窗口最少违约数 / fewest defaults per window"
    ),
    skip_if_insufficient: bool = typer.Option(
        False,
        "--skip-if-insufficient",
        help="违约不足时说明原因并以0退出(演示用) / explain and exit 0 when defaults are too few",
    ),
) -> None:
    """科技企业授信模型 / Train the tech-firm model on the registry with an out-of-time test.

    Train on the first half of the last 12 months of loan status, test on the second half.
    With fewer than ``--min-defaults`` defaults in either half nothing is trained or registered
    (exit 3); ``--skip-if-insufficient`` prints the same reason and exits 0 (small demo regions).
    """
    from datetime import date

    from sqlalchemy import func, select

    from kejin.console import get_engine, progress
    from kejin.credit import artefact, tech_model
    from kejin.errors import ValidationError, parse_date
    from kejin.lending.tables import LoanStatus

    engine = get_engine()
    if end is None:
        with engine.connect() as conn:
            last = conn.execute(select(func.max(LoanStatus.month))).scalar()
        if last is None:
            raise ValidationError("数据库中没有贷款状态", "no loan status in the database", [])
        stop = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    else:
        stop = parse_date(end, "--end")
    mid = date(stop.year - (stop.month <= 6), (stop.month - 7) % 12 + 1, 1)
    start = date(stop.year - 1, stop.month, 1)
    try:
        with progress() as bar:
            bar.add_task(f"训练 / fitting {method} {start} – {stop}", total=None)
            art, result, _ = tech_model.fit_and_test(
                engine, start, mid, stop, method, use_points=points, min_defaults=min_defaults
            )
    except tech_model.InsufficientDefaultsError as e:
        if not skip_if_insufficient:
            raise
        err_console.print(f"[yellow]未训练 / not trained[/]: {e.render()}")
        return
    result["content_hash"] = artefact.save(art, out)
    if register_as:
        result["registered"] = _register(engine, art, register_as)
    print_json(result)
