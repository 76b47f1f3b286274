"""``kejin stats …``: the monthly regulator statistics, their trend, the statistics book and the
LPR table (the bank evaluation and the index come from their own commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from kejin.console import print_json

stats_app = typer.Typer(help="科技金融统计 / sci-tech finance statistics", no_args_is_help=True)
lpr_app = typer.Typer(help="贷款市场报价利率 / the loan prime rate table", no_args_is_help=True)
stats_app.add_typer(lpr_app, name="lpr")

BY_HELP = "分组 / breakdown: bank|chain|region|stage|tier|qualification|product-kind"
#: The indicators a terminal has room for in the trend table (``--json`` gives every one).
TREND_COLUMNS = (
    "tech_loan_balance",
    "tech_loan_yoy",
    "tech_loan_mom",
    "borrowers",
    "loan_access_rate",
    "first_time_borrowers",
    "npl_ratio",
)
POP_HELP = "统计口径 / population: list (七类资质 seven kinds) | whitelist (白名单)"
ENGINE_HELP = "local（本机）或 spark（读 --snapshot）/ local or spark (reads --snapshot)"
SNAPSHOT_HELP = "kejin export snapshot 的目录 / a kejin export snapshot directory"
MASTER_HELP = "Spark master（默认 local[2]）/ Spark master (default local[2])"


@stats_app.command("month")
def month_cmd(
    month: str = typer.Argument(..., help="月份 YYYY-MM / month"),
    by: str | None = typer.Option(None, "--by", help=BY_HELP),
    population: str = typer.Option("list", "--population", help=POP_HELP),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
    engine_name: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    snapshot: Path | None = typer.Option(None, "--snapshot", help=SNAPSHOT_HELP),
    master: str | None = typer.Option(None, "--master", help=MASTER_HELP),
) -> None:
    """月度统计指标 / The month's indicators at its month end, overall and by a breakdown.
    ``--engine spark --snapshot DIR`` computes the same report on Spark (docs/scale.md)."""
    from kejin.console import console, get_engine
    from kejin.scale.commands import check_engine
    from kejin.stats.service import month_report

    check_engine(engine_name, snapshot)
    if snapshot is not None:
        from kejin.scale.stats import month_reports_on_spark

        res = month_reports_on_spark(snapshot, month, [by], population, master)[by]
    else:
        res = month_report(get_engine(), month, by, population)
    if as_json:
        print_json(res)
        return
    from rich.table import Table

    from kejin.stats.labels import group_label, institution_names, shown

    defs = res["definitions"]
    groups = res.get("groups", [])
    names: dict[str, str] = {}
    if by == "bank" and snapshot is not None:  # a Spark run reads no database
        from kejin.scale.snapshot import table

        names = dict(table(snapshot, "institutions").select("id", "name").collect().iter_rows())
    elif by == "bank":
        names = institution_names(get_engine())
    t = Table(
        "指标 indicator", "全部 all", *[group_label(by, g["group"], names, "zh") for g in groups]
    )
    t.title = (
        f"{res['month']} (统计日 date {res['date']}, 数据 data {res['data_as_of'] or '—'}; "
        f"{res['population']['zh']})"
    )
    for ind, v in res["indicators"].items():
        d = defs[ind]
        t.add_row(
            f"{d['label_zh']} {ind}",
            shown(d["unit"], v),
            *[shown(d["unit"], g["indicators"][ind]) for g in groups],
        )
    console.print(t)
    console.print("金额单位：万元 / money in CNY 10k")
    bad = res["first_time_flag_disagreements"]
    if bad:
        console.print(
            f"首贷户标志与历史不符 {len(bad)} 笔 / {len(bad)} loans whose first-time flag "
            f"contradicts the history: " + ", ".join(r["contract_no"] for r in bad[:20])
        )


@stats_app.command("trend")
def trend_cmd(
    through: str = typer.Argument(..., help="截至月份 YYYY-MM / last month"),
    months: int = typer.Option(13, "--months", min=1, max=60, help="月数 / months"),
    by: str | None = typer.Option(None, "--by", help=BY_HELP),
    population: str = typer.Option("list", "--population", help=POP_HELP),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
    engine_name: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    snapshot: Path | None = typer.Option(None, "--snapshot", help=SNAPSHOT_HELP),
    master: str | None = typer.Option(None, "--master", help=MASTER_HELP),
) -> None:
    """指标趋势 / The indicators month by month up to a month (the months with data).
    ``--engine spark --snapshot DIR`` computes the same trend on Spark (docs/scale.md)."""
    from kejin.console import console, get_engine
    from kejin.scale.commands import check_engine
    from kejin.stats.service import series

    check_engine(engine_name, snapshot)
    if snapshot is not None:
        from kejin.scale.stats import series_on_spark

        res = series_on_spark(snapshot, through, months, by, population, master)
    else:
        res = series(get_engine(), through, months, by, population)
    if as_json:
        print_json(res)
        return
    from rich.table import Table

    from kejin.stats.labels import group_label, institution_names, shown

    defs = res["definitions"]
    names: dict[str, str] = {}
    if by == "bank" and snapshot is not None:  # a Spark run reads no database
        from kejin.scale.snapshot import table

        names = dict(table(snapshot, "institutions").select("id", "name").collect().iter_rows())
    elif by == "bank":
        names = institution_names(get_engine())
    t = Table("月份 month", "分组 group", *[defs[i]["label_zh"] for i in TREND_COLUMNS])
    for r in res["rows"]:
        t.add_row(
            r["month"],
            group_label(by, r["group"], names, "zh"),
            *[shown(defs[i]["unit"], r["indicators"][i]) for i in TREND_COLUMNS],
        )
    console.print(t)
    console.print(
        "金额单位：万元；全部指标见 --json / money in CNY 10k; every indicator with --json"
    )


@stats_app.command("book")
def book_cmd(
    month: str = typer.Option(..., "--month", help="月份 YYYY-MM / month"),
    out: Path = typer.Option(..., "--out", help="Excel 文件 / workbook (.xlsx)"),
    charts: Path | None = typer.Option(
        None, "--charts", help="图表目录 / folder for the PNG charts"
    ),
    population: str = typer.Option("list", "--population", help=POP_HELP),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
) -> None:
    """月度统计手册 / The month's statistics book: Excel (one sheet per table, definitions) and
    PNG charts."""
    from kejin.console import console, get_engine
    from kejin.stats.book import build

    res = build(get_engine(), month, out, population, charts)
    if as_json:
        print_json(res)
        return
    console.print(
        f"已写出 / written: {res['out']}（{res['sheets']} 张表 sheets）; 图表 charts: "
        + ", ".join(res["charts"])
    )


@lpr_app.command("import")
def lpr_import_cmd(
    file: Path | None = typer.Argument(
        None,
        help="CSV: month,lpr_1y,lpr_5y,source（缺省为随附的公布值 / default: the shipped table）",
    ),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
) -> None:
    """导入LPR / Import the published LPR by month (all rows or none)."""
    from kejin.console import console, get_engine
    from kejin.stats.service import import_lpr

    res = import_lpr(get_engine(), file)
    if as_json:
        print_json(res)
        return
    console.print(
        f"已导入 / imported {res['months']} 个月 months ({res['first']} – {res['last']}) "
        f"from {res['file']}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(stats_app, name="stats")
