"""``kejin points …``: official evaluations, scoring runs, profiles and sensitivity (thin layer)."""

from __future__ import annotations

from pathlib import Path

import typer

from kejin.console import err_console, print_json

points_app = typer.Typer(
    help="创新积分与官方评价 / innovation points and official evaluations", no_args_is_help=True
)


@points_app.command("official")
def official(
    scheme: str = typer.Option(..., "--scheme", help="tsme | innovative-sme"),
    input: Path = typer.Option(..., "--input", help="输入 CSV/XLSX / input file"),
    out: Path = typer.Option(..., "--out", help="输出 CSV/XLSX / output file"),
    json: bool = typer.Option(False, "--json", help="JSON 摘要 / print a JSON summary"),
) -> None:
    """官方评价（科技型/创新型中小企业）/ Evaluate a spreadsheet under an official scheme."""
    from kejin.points.official.batch import evaluate_file

    summary = evaluate_file(scheme, input, out)
    if json:
        print_json(summary)
    else:
        err_console.print(
            f"{summary['firms']} 家企业，{summary['passed']} 家通过 / {summary['firms']} firms, "
            f"{summary['passed']} passed → {summary['output']}"
        )


@points_app.command("score")
def score(
    system: str = typer.Option("most-v1", "--system", help="指标体系 / system id or YAML path"),
    year: int | None = typer.Option(None, "--year", help="数据年度 / data year (default latest)"),
    peer: str | None = typer.Option(
        None, "--peer", help="同业组附加维度 / none|chain|revenue_band"
    ),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
) -> None:
    """按指标体系为全部企业评分并保存 / Score every firm and store the run."""
    from kejin.console import get_engine
    from kejin.points.service import score_run

    result = score_run(get_engine(), system, year, peer)
    if json:
        print_json(result)
        return
    from rich.table import Table

    from kejin.console import console

    console.print(
        f"评分批次 / run {result['run_id']}: {result['system']} v{result['version']}, "
        f"{result['firms']} 家企业 / firms, 结果哈希 / results sha256 {result['results_sha256'][:16]}…"
    )
    console.print(f"名单 / lists: {result['lists']}  等级 / grades: {result['grades']}")
    t = Table(
        "区域排名 rank", "USCC", "同业组 peer group", "积分 points", "等级 grade", "名单 list"
    )
    for r in result["top"]:
        t.add_row(
            str(r["rank_region"]),
            r["uscc"],
            r["peer_group"],
            f"{r['total']:.2f}",
            r["grade"],
            r["list_id"] or "",
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(points_app, name="points")
