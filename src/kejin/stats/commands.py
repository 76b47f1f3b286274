"""``kejin stats …``: the monthly regulator statistics (the book, banks, index come later)."""

from __future__ import annotations

import typer

from kejin.console import print_json

stats_app = typer.Typer(help="科技金融统计 / sci-tech finance statistics", no_args_is_help=True)


@stats_app.command("month")
def month_cmd(
    month: str = typer.Argument(..., help="月份 YYYY-MM / month"),
    by: str | None = typer.Option(
        None, "--by", help="分组 / breakdown: bank|chain|stage|tier|qualification|product-kind"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
) -> None:
    """月度统计指标 / The month's indicators at its month end, overall and by a breakdown."""
    from kejin.console import console, get_engine
    from kejin.stats.service import month_report

    res = month_report(get_engine(), month, by)
    if as_json:
        print_json(res)
        return
    from rich.table import Table

    defs = res["definitions"]
    groups = res.get("groups", [])
    t = Table("指标 indicator", "全部 all", *[g["group"] for g in groups])
    t.title = f"{res['month']} (统计日 date {res['date']})"
    for ind, v in res["indicators"].items():
        label = f"{defs[ind]['label_zh']} {ind}"
        t.add_row(label, _cell(v), *[_cell(g["indicators"][ind]) for g in groups])
    console.print(t)
    bad = res["first_time_flag_disagreements"]
    if bad:
        console.print(
            f"首贷户标志与历史不符 {len(bad)} 笔 / {len(bad)} loans whose first-time flag "
            f"contradicts the history: " + ", ".join(r["contract_no"] for r in bad[:20])
        )


def _cell(v: object) -> str:
    return "—" if v is None else str(v)


def register(app: typer.Typer) -> None:
    app.add_typer(stats_app, name="stats")
