"""The monthly statistics book: one workbook per month, one sheet per table, a definitions sheet,
and the charts as PNG files.

Every figure travels with its definition, population and dates: the overview gives them on each
row, each table's header names the unit, and the definitions sheet gives the formula, the
population, the source document and the date of effect. Money is shown in 万元 and ratios in %
by Excel number formats over the exact values, so nothing is rounded away in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kejin.exports import Book
from kejin.plotting import pyplot
from kejin.stats import kernels
from kejin.stats.labels import (
    BREAKDOWN_LABELS,
    EXCEL_FORMATS,
    POPULATION_LABELS,
    UNIT_LABELS,
    group_label,
    in_unit,
    institution_names,
    pick,
)
from kejin.stats.service import definitions, month_reports, parse_month, series

#: The breakdowns of the book, in the order of its sheets.
BOOK_BREAKDOWNS = ("bank", "region", "chain", "stage", "tier", "qualification", "product-kind")
TREND_MONTHS = 13


def _head(ind: str, defs: dict[str, Any]) -> str:
    d = defs[ind]
    return f"{d['label_zh']}（{UNIT_LABELS[d['unit']][0]}） {d['label_en']}"


def build(
    engine: Engine, month_text: str, out: Path, population: str = "list", charts: Path | None = None
) -> dict[str, Any]:
    """Write the book for ``month_text`` to ``out`` and its charts (PNG) to ``charts`` (default:
    a folder beside the workbook); the month's refusals are those of :func:`month_report`."""
    month = parse_month(month_text)
    reports = month_reports(engine, month_text, [None, *BOOK_BREAKDOWNS], population)
    overall = reports[None]
    parts = {by: reports[by] for by in BOOK_BREAKDOWNS}
    trend = series(engine, month_text, TREND_MONTHS, None, population)
    defs = definitions(kernels.month_end(month))
    ids = list(defs)
    names = institution_names(engine)
    date, as_of = overall["date"], overall["data_as_of"] or "—"
    basis = pick(POPULATION_LABELS[population], "zh")

    book = Book()
    sh = book.sheet("总览 Overview")
    sh.row(["指标 indicator", "编号 id", "数值 value", "单位 unit", "口径 population",
            "统计日 date", "数据日期 data as of"])  # fmt: skip
    for ind in ids:
        d = defs[ind]
        sh.row(
            [d["label_zh"] + " " + d["label_en"], ind, in_unit(d["unit"], overall["indicators"][ind]),
             UNIT_LABELS[d["unit"]][0], basis if d["population"] == "list" else "全部贷款 all loans",
             date, as_of],
            [None, None, EXCEL_FORMATS[d["unit"]]],
        )  # fmt: skip
    sh.freeze("A2")
    sh.widths([52, 24, 18, 10, 26, 12, 20])

    fmts = [None, *[EXCEL_FORMATS[defs[i]["unit"]] for i in ids]]
    note = (
        f"统计日 date {date}；数据日期 data as of {as_of}；口径 population：{basis}；"
        "各指标定义见“指标定义”表 / definitions on the Definitions sheet"
    )
    for by in BOOK_BREAKDOWNS:
        zh, en = BREAKDOWN_LABELS[by]
        sh = book.sheet(f"{zh} {en}")
        sh.row(
            [f"{zh.removeprefix('按')} {en.removeprefix('by ')}", *[_head(i, defs) for i in ids]]
        )
        for g in parts[by]["groups"]:
            label = group_label(by, g["group"], names, "zh")
            sh.row([label, *[in_unit(defs[i]["unit"], g["indicators"][i]) for i in ids]], fmts)
        sh.row([])
        sh.row([note])
        sh.freeze("B2")
        sh.widths([24, *[16] * len(ids)])

    sh = book.sheet("趋势 Trend")
    sh.row(["月份 month", *[_head(i, defs) for i in ids]])
    for r in trend["rows"]:
        sh.row([r["month"], *[in_unit(defs[i]["unit"], r["indicators"][i]) for i in ids]], fmts)
    sh.row([])
    sh.row([note.replace(f"统计日 date {date}", f"截至 through {date}")])
    sh.freeze("B2")
    sh.widths([12, *[16] * len(ids)])

    sh = book.sheet("首贷户核对 First-loan check")
    sh.row(["合同编号 contract", "统一社会信用代码 USCC", "银行 bank", "放款日 disbursed",
            "银行报送 reported", "按历史 computed", "首次放款日 first disbursed"])  # fmt: skip
    for r in overall["first_time_flag_disagreements"]:
        sh.row([r["contract_no"], r["uscc"], names.get(r["institution_id"], r["institution_id"]),
                r["disbursed_on"], "是 yes" if r["reported"] else "否 no",
                "是 yes" if r["computed"] else "否 no", r["first_disbursed_on"]])  # fmt: skip
    sh.freeze("A2")
    sh.widths([22, 22, 24, 14, 14, 14, 16])

    sh = book.sheet("指标定义 Definitions")
    sh.row(["编号 id", "指标 indicator", "indicator", "单位 unit", "口径 population", "公式 formula",
            "来源文件 document", "条款 article", "生效日期 in effect from"])  # fmt: skip
    for ind in ids:
        d = defs[ind]
        f = d["formula"]
        formula = f["kind"] + "(" + ", ".join(v for k, v in f.items() if k != "kind") + ")"
        sh.row([ind, d["label_zh"], d["label_en"], pick(UNIT_LABELS[d["unit"]], "zh"),
                overall["population"]["zh"] if d["population"] == "list" else "全部贷款 all loans",
                formula, d["source"]["document"], d["source"]["article"], d["effective_from"]])  # fmt: skip
    sh.row([])
    sh.row(["统计日 date", date])
    sh.row(["数据日期 data as of", as_of])
    sh.row(["口径 population", overall["population"]["zh"], overall["population"]["en"]])
    lpr = overall["lpr"]
    sh.row(["当月LPR LPR of the month",
            "—" if lpr is None else f"1年期 {lpr['lpr_1y']}，5年期以上 {lpr['lpr_5y']}",
            "全国银行间同业拆借中心 CFETS"])  # fmt: skip
    sh.freeze("A2")
    sh.widths([24, 30, 40, 8, 40, 40, 10, 50, 14])

    folder = charts or out.with_name(out.stem + "-charts")
    pngs = draw_charts(trend, parts["bank"], names, folder, month)
    sh = book.sheet("图表 Charts")
    sh.row(["图表 charts: " + ", ".join(p.name for p in pngs)])
    for k, png in enumerate(pngs):
        sh.image(png, f"A{2 + 26 * k}", 0.8)
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return {
        "month": overall["month"],
        "out": str(out),
        "sheets": 3 + len(BOOK_BREAKDOWNS) + 2,
        "charts": [str(p) for p in pngs],
        "population_basis": population,
        # The flag-check sheet names firms: the download route audits the read of these.
        "first_time_flag_disagreements": overall["first_time_flag_disagreements"],
    }


def draw_charts(
    trend: dict[str, Any], by_bank: dict[str, Any], names: dict[str, str], folder: Path, month: Any
) -> list[Path]:
    """The trend of the tech-firm loan balance with its growth, and the balance by bank (PNG)."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    months = [r["month"] for r in trend["rows"]]
    bal = [in_unit("yuan", r["indicators"]["tech_loan_balance"]) or 0 for r in trend["rows"]]
    # Year-on-year growth where a year of history exists, else month on month (said so).
    growth, growth_label = "tech_loan_yoy", "同比增速（%）"
    if all(r["indicators"]["tech_loan_yoy"] is None for r in trend["rows"]):
        growth, growth_label = "tech_loan_mom", "环比增速（%）（无一年前数据）"
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    ax.bar(months, bal, color="#1f5fa8", label="余额（万元）")
    ax.set_ylabel("科技型企业贷款余额（万元）")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.tick_params(axis="x", rotation=45)
    ax2 = ax.twinx()
    pts = [
        (r["month"], r["indicators"][growth] * 100)
        for r in trend["rows"]
        if r["indicators"][growth] is not None
    ]
    if pts:
        ax2.plot([m for m, _ in pts], [v for _, v in pts], color="#c0772b", marker="o")
    ax2.set_ylabel(growth_label)
    if not any(bal):
        ax.text(0.5, 0.5, "本口径下无贷款余额 / no balance in this population", ha="center",
                va="center", transform=ax.transAxes, color="#666")  # fmt: skip
    ax.set_title(f"科技型企业贷款余额及{growth_label[:4]}（截至 {month:%Y-%m}）")
    fig.tight_layout()
    p = folder / f"trend-{month:%Y-%m}.png"
    fig.savefig(p)
    plt.close(fig)
    out.append(p)

    rows = [g for g in by_bank["groups"] if g["group"] != kernels.NONE]
    rows.sort(key=lambda g: float(g["indicators"]["tech_loan_balance"] or 0))
    fig, ax = plt.subplots(figsize=(9, 0.5 * max(len(rows), 4) + 1.2), dpi=110)
    ax.barh(
        [group_label("bank", g["group"], names, "zh") for g in rows],
        [in_unit("yuan", g["indicators"]["tech_loan_balance"]) or 0 for g in rows],
        color="#2f8f6f",
    )
    ax.set_xlabel("万元")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_title(f"各银行科技型企业贷款余额（{month:%Y-%m}）")
    fig.tight_layout()
    p = folder / f"banks-{month:%Y-%m}.png"
    fig.savefig(p)
    plt.close(fig)
    out.append(p)
    return out
