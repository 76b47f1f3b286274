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


def register(app: typer.Typer) -> None:
    app.add_typer(points_app, name="points")
