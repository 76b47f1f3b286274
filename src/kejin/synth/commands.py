"""``kejin synth`` builds the synthetic region; ``kejin summary`` describes the region in a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kejin.console import console, err_console, get_engine, print_json, progress
from kejin.vocab import (
    INDUSTRY_CHAINS,
    INSTITUTION_KINDS,
    PRODUCT_KINDS,
    QUALIFICATION_KINDS,
    STAGES,
    Term,
)


def synth(
    firms: int = typer.Option(5000, "--firms", min=1, help="企业数 / number of firms"),
    seed: int = typer.Option(20241, "--seed", help="随机种子 / random seed"),
    replace: bool = typer.Option(
        False, "--replace", help="清空已有区域数据后重建 / empty the registry first"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON"),
    to_parquet: Path | None = typer.Option(
        None,
        "--to-parquet",
        help="直接写成 Parquet 快照目录（不经数据库，分片）/ write a snapshot directory of "
        "Parquet parts instead of the database",
    ),
    chunk: int = typer.Option(
        500_000, "--chunk", min=1, help="每片企业数（--to-parquet）/ firms per part"
    ),
) -> None:
    """生成合成区域（企业、指标、资质、融资、机构、贷款） / Build the synthetic region.

    A batch job, no one's decision: recorded as the ``system`` principal, the region and its
    audit record committed together. With ``--to-parquet DIR`` the region goes to a snapshot
    directory (the layout ``--engine spark --snapshot DIR`` reads) part by part, with no
    database: for regions of tens of millions of firms."""
    if to_parquet is not None:
        import time

        from kejin.synth.parquet import write_region

        t0 = time.perf_counter()
        with progress(quiet=as_json) as bar:
            task = bar.add_task("生成 Parquet / writing parts", total=firms)
            manifest = write_region(
                to_parquet, firms, seed, chunk,
                progress=lambda done, total: bar.update(task, completed=done),
            )  # fmt: skip
        rows = {k: v["rows"] for k, v in manifest["tables"].items()}
        secs = round(time.perf_counter() - t0, 1)
        if as_json:
            print_json({"out": str(to_parquet), "firms": firms, "seed": seed, "rows": rows,
                        "seconds": secs})  # fmt: skip
        else:
            err_console.print(
                f"已写入 {firms:,} 家企业的快照，共 {sum(rows.values()):,} 行，用时 {secs} 秒 → {to_parquet}"
                f" / wrote a snapshot of {firms:,} firms, {sum(rows.values()):,} rows in {secs} s"
            )
        return
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from kejin.access.acting import system_event
    from kejin.synth.service import BuildReport, build_region

    def audit(conn: Connection, rep: BuildReport) -> None:
        with Session(bind=conn) as s:
            system_event(
                s,
                "synth.build",
                "region",
                f"seed {seed}",
                {"firms": firms, "seed": seed, "replace": replace, "rows": rep.rows},
            )

    engine = get_engine()
    with progress(quiet=as_json) as bar:
        task = bar.add_task("生成 / generating", total=None)

        def advance(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        report = build_region(
            engine, firms=firms, seed=seed, replace=replace, progress=advance, audit=audit
        )
    if as_json:
        print_json(report.to_dict())
        return
    err_console.print(
        f"已生成 {report.firms} 家企业，共 {report.total_rows} 行，用时 {report.total_seconds:.1f} 秒"
        f" / built {report.firms} firms, {report.total_rows} rows in "
        f"{report.total_seconds:.1f} s (seed {report.seed})"
    )


def _table(title: str, vocab: dict[str, Term], counts: dict[str, int]) -> Table:
    t = Table(title=title)
    t.add_column("类别 / category")
    t.add_column("数量 / count", justify="right")
    for key, n in counts.items():
        term = vocab.get(key)
        t.add_row(f"{term.zh} / {term.en}" if term else key, f"{n:,}")
    return t


def _money(v: Any) -> str:
    return f"{float(v) / 1e8:,.2f} 亿元 / 100M CNY"


def summary(as_json: bool = typer.Option(False, "--json", help="输出JSON / print JSON")) -> None:
    """区域概览：企业、资质、机构、产品、贷款 / Summary of the region in the database."""
    from kejin.synth.service import region_summary

    s = region_summary(get_engine())
    if as_json:
        print_json(s)
        return
    f, loans = s["firms"], s["loans"]
    from kejin.asof import RULE

    console.print(
        f"[bold]企业总数 / firms: {f['total']:,}[/]  （数据截至 / data as of {s['as_of']}）"
    )
    err_console.print(f"{RULE[0]}\n{RULE[1]}")
    console.print(_table("生命周期阶段 / lifecycle stage", STAGES, f["by_stage"]))
    console.print(_table("重点产业链 / industry chain", INDUSTRY_CHAINS, f["by_chain"]))
    console.print(
        _table(
            "有效资质企业数 / firms holding a valid title",
            QUALIFICATION_KINDS,
            f["by_qualification"],
        )
    )
    inst = s["institutions"]
    t = _table("金融机构 / institutions", INSTITUTION_KINDS, inst["by_kind"])
    t.add_row("科技金融合作银行 / partner banks", f"{inst['partner_banks']:,}")
    t.add_row("科技支行 / tech sub-branches", f"{inst['tech_branches']:,}")
    console.print(t)
    console.print(_table("金融产品 / products", PRODUCT_KINDS, s["products"]["by_kind"]))
    lt = Table(title="贷款 / loans")
    lt.add_column("指标 / measure")
    lt.add_column("数值 / value", justify="right")
    rate = loans["default_rate"]
    npl = loans["npl_ratio"]
    lt.add_row("贷款笔数 / loans", f"{loans['count']:,}")
    lt.add_row("有贷户 / borrowers", f"{loans['borrowers']:,}")
    lt.add_row("放款金额 / amount lent", _money(loans["amount"]))
    lt.add_row(
        f"贷款余额 / outstanding balance ({loans['latest_month'] or '-'})",
        _money(loans["outstanding_balance"]),
    )
    lt.add_row("违约率 / default rate (90+ dpd)", "-" if rate is None else f"{rate:.2%}")
    lt.add_row("不良率 / NPL ratio", "-" if npl is None else f"{npl:.2%}")
    console.print(lt)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
    app.command("summary")(summary)
