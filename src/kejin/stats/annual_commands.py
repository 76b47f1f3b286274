"""``kejin stats banks | mark | index | effect``: the yearly figures (evaluation, index, effects).

Added to the ``kejin stats`` group beside the monthly commands. Reads without ``--who`` show the
whole region, as ``kejin stats month`` does; with ``--who`` they act as that person (a bank
officer sees only its own scorecard). Entering a qualitative mark always names the person.
"""

from __future__ import annotations

from contextlib import nullcontext
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kejin.access.acting import acting, who_option
from kejin.console import console, get_engine, print_json
from kejin.errors import Problem, ValidationError
from kejin.stats.commands import stats_app

JSON = typer.Option(False, "--json", help="输出JSON / print JSON")
READ_WHO = typer.Option(None, "--who", help="以此用户身份查看 / view as this platform user")


def _as(who: str | None) -> Any:
    return nullcontext((None, None)) if who is None else acting(get_engine(), who)


@stats_app.command("banks")
def banks_cmd(
    year: int = typer.Option(..., "--year", help="评估年度 / year"),
    draws: int = typer.Option(200, "--draws", help="敏感性抽样次数 / sensitivity draws"),
    who: str | None = READ_WHO,
    as_json: bool = JSON,
) -> None:
    """银行服务成效评估 / Bank service-effect evaluation: scorecards and annual rank."""
    from kejin.stats.evaluation.service import evaluate

    with _as(who) as (s, p):
        res = evaluate(get_engine(), year, s, p, draws=draws)
    if as_json:
        print_json(res)
        return
    t = Table("名次 rank", "区间 interval", "银行 bank", "定量 quant.", "定性 qual.", "总分 total")
    t.title = f"{year} 银行科技金融服务成效评估（统计日 {res['date']}，比 {res['last_year_end']}）"
    for c in res["scorecards"]:
        t.add_row(str(c["rank"]), f"{c['rank_p5']}–{c['rank_p95']}", c["bank_name"],
                  f"{c['quantitative']:.2f}", f"{c['qualitative']:.2f}", f"{c['total']:.2f}")  # fmt: skip
    console.print(t)


@stats_app.command("mark")
def mark_cmd(
    bank: str = typer.Option(..., "--bank"),
    year: int = typer.Option(..., "--year"),
    item: str = typer.Option(..., "--item", help="定性项目 / qualitative item id"),
    points: str = typer.Option(..., "--points"),
    reason: str = typer.Option(..., "--reason", help="评分理由 / reason"),
    evidence: Path = typer.Option(..., "--evidence", exists=True, help="佐证材料 / evidence file"),
    who: str | None = who_option(),
) -> None:
    """录入定性评分 / Enter a qualitative mark with its evidence file (stored and audited)."""
    from kejin.stats.evaluation.service import enter_mark

    try:
        pts = Decimal(points)
    except InvalidOperation:
        raise ValidationError(
            "得分无效", "invalid points", [Problem("不是数字", "not a number", field="--points", value=points)]
        ) from None  # fmt: skip
    with acting(get_engine(), who) as (s, p):
        enter_mark(s, p, year=year, bank=bank, item=item, points=pts, reason=reason,
                   evidence_name=evidence.name, evidence=evidence.read_bytes())  # fmt: skip
    console.print(f"已录入 / entered: {bank} {year} {item} = {pts}")


@stats_app.command("index")
def index_cmd(
    year: int = typer.Option(..., "--year", help="年度 / year"),
    draws: int = typer.Option(200, "--draws", help="敏感性抽样次数 / sensitivity draws"),
    as_json: bool = JSON,
) -> None:
    """科技金融发展指数 / The development index (base month = 100), dimensions and trend."""
    from kejin.stats.index import index_report

    res = index_report(get_engine(), year, draws=draws)
    if as_json:
        print_json(res)
        return
    console.print(
        f"{year} 科技金融发展指数 / development index: {res['index']} "
        f"（{res['range_p5']}–{res['range_p95']}，基期 base {res['base']} = 100，统计日 {res['date']}）"
    )
    t = Table("维度 dimension", "权重 weight", "指数 index")
    for d in res["dimensions"].values():
        t.add_row(
            f"{d['zh']} {d['en']}",
            f"{d['weight']:g}",
            "—" if d["value"] is None else str(d["value"]),
        )
    console.print(t)


@stats_app.command("effect")
def effect_cmd(
    programme: str = typer.Argument(..., help="政策项目编号 / programme id"),
    as_json: bool = JSON,
) -> None:
    """政策效果评估 / Matched difference-in-differences for a programme's beneficiaries."""
    from kejin.stats.effect import effect_report

    res = effect_report(get_engine(), programme)
    if as_json:
        print_json(res)
        return
    console.print(
        f"{programme}: 受益企业 {res['beneficiaries']} 户，拨付 {res['amount_paid']:,.2f} 元；"
        f"匹配 {res['matched']} 户（未匹配 {res['unmatched']}）/ beneficiaries, paid, matched"
    )
    t = Table("结果 outcome", "估计 estimate", "95% 区间 CI", "配对 pairs", "朴素 naive")
    for o in res["outcomes"].values():
        ci = "—" if o["estimate"] is None else f"[{o['ci_low']:.4f}, {o['ci_high']:.4f}]"
        est = "—" if o["estimate"] is None else f"{o['estimate']:.4f}"
        t.add_row(f"{o['label_zh']} {o['label_en']}", est, ci, str(o["pairs"]), str(o["naive"]))
    console.print(t)


@stats_app.command("demo")
def demo_cmd(
    year: int | None = typer.Option(
        None, "--year", help="默认：最近有数据的年度 / default: latest"
    ),
    who: str | None = who_option(),
) -> None:
    """演示：录入各银行定性评分及佐证 / Demo: qualitative marks with evidence for every bank."""
    from sqlalchemy import func, select

    from kejin.access.acting import require_who
    from kejin.lending.tables import LoanStatus
    from kejin.stats.evaluation.demo import run

    engine = get_engine()
    if year is None:
        with engine.connect() as c:
            last = c.scalar(select(func.max(LoanStatus.month)))
        year = last.year if last is not None else None
    if year is None:
        raise ValidationError(
            "尚无贷款状态数据",
            "no loan-status data yet",
            [Problem("无数据", "no data", field="--year")],
        )
    n = run(engine, require_who(who), year)
    console.print(f"已录入定性评分 {n} 项 / {n} qualitative marks entered")


def register(app: typer.Typer) -> None:
    """Nothing to add to ``app``: importing this module adds the commands to ``kejin stats``."""
