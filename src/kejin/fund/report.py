"""The fund manager's report: one Excel workbook and one PNG dashboard with Chinese labels.

Figures come from :func:`kejin.fund.service.summary`, the claims table and the ledger audit, so the
report shows exactly what the CLI and the auditor see.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kejin.exports import Book
from kejin.fund import ledger
from kejin.fund import service as svc
from kejin.fund.statement import statement

AGE_BUCKETS = ((0, 30, "≤30天"), (31, 90, "31–90天"), (91, 180, "91–180天"), (181, 10**6, ">180天"))
STATUS_ZH = {
    "filed": "已申请",
    "reviewed": "已初审",
    "approved": "已审批",
    "rejected": "已驳回",
    "paid": "已支付",
    "closed": "已核销",
}


def _age_bucket(days: int) -> str:
    return next(label for lo, hi, label in AGE_BUCKETS if lo <= days <= hi)


def _cell(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)  # display only; the workbook is a report, the ledger stays exact
    if isinstance(v, (list, dict, set)):
        return str(v)
    return v


def write_report(engine: Engine, pool_id: str, on: date, out: Path) -> dict[str, Path]:
    """Write ``fund_<pool>.xlsx`` and ``fund_<pool>.png`` under ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    s = svc.summary(engine, pool_id, on)
    claims = svc.claims_table(engine, pool_id, on)
    with engine.connect() as conn:
        rep = ledger.audit(conn, pool_id)
    statement_rows = [
        {
            "参与方 / party": p["name"],
            "角色 / role": p["role_label"],
            "科目 / purpose": x["purpose"],
            "备查 / memo": "是 / yes" if x["memo"] else "",
            "余额（元）/ balance (CNY)": x["balance"],
        }
        for p in statement(engine, pool_id, "zh")["parties"]
        for x in p["lines"]
    ]
    xlsx = out / f"fund_{pool_id}.xlsx"
    book = Book()
    ws = book.sheet("概览 summary")
    ws.row(["指标 / item", "值 / value"])
    for k in (
        "pool",
        "scheme",
        "scheme_version",
        "as_of",
        "balance",
        "enrolled_balance",
        "leverage",
        "leverage_limit",
        "over_leverage",
        "paid",
        "recovered",
        "recovery_rate",
        "fees_collected",
    ):
        ws.row([k, _cell(s[k])])
    ws.row(["audit", "OK" if rep.ok else "FAILED"])
    sheets: list[tuple[str, list[dict[str, Any]]]] = [
        ("银行 banks", s["banks"]),
        ("理赔 claims", claims),
        ("逾期步骤 deadlines", s["overdue"]),
        ("对账单 statement", statement_rows),
        ("审计 audit", [c.__dict__ for c in rep.checks]),
    ]
    for title, rows in sheets:
        w = book.sheet(title)
        if rows:
            w.row(list(rows[0]))
            w.rows((_cell(v) for v in r.values()) for r in rows)
        else:
            w.row(["(无 / none)"])
    book.save(xlsx)
    png = out / f"fund_{pool_id}.png"
    _chart(s, claims, png)
    return {"xlsx": xlsx, "png": png}


def _chart(s: dict[str, Any], claims: list[dict[str, Any]], path: Path) -> None:
    from kejin.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    wan = Decimal(10000)

    ax = axes[0][0]
    vals = [s["balance"] / wan, s["enrolled_balance"] / wan, s["paid"] / wan, s["recovered"] / wan]
    names = ["资金池余额", "在保余额", "累计代偿", "累计追回"]
    bars = ax.bar(
        names, [float(v) for v in vals], color=["#2b6cb0", "#68a0d8", "#c05621", "#38a169"]
    )
    ax.bar_label(bars, fmt="%.0f")
    lev = s["leverage"]
    over = "\n超过上限（代偿支付后）：暂停新的贷款备案，直至补充资金" if s["over_leverage"] else ""
    ax.set_title(
        f"资金池概况（万元）  放大倍数 {lev if lev is not None else '—'} / 上限 {s['leverage_limit']}"
        + over,
        color="#b3261e" if over else "black",
    )

    ax = axes[0][1]
    statuses = [k for k in STATUS_ZH if any(c["status"] == k for c in claims)]
    buckets = [b[2] for b in AGE_BUCKETS]
    bottom = [0] * len(statuses)
    for b in buckets:
        counts = [
            sum(1 for c in claims if c["status"] == st and _age_bucket(c["age_days"]) == b)
            for st in statuses
        ]
        ax.bar([STATUS_ZH[x] for x in statuses], counts, bottom=bottom, label=f"账龄 {b}")
        bottom = [x + y for x, y in zip(bottom, counts, strict=True)]
    ax.set_title(f"理赔状态与账龄（件，共 {len(claims)} 件）")
    if statuses:
        ax.legend(fontsize=8)

    ax = axes[1][0]
    banks = s["banks"]
    ax.bar(
        [b["institution"] for b in banks],
        [float(b["compensation_rate"]) * 100 for b in banks],
        color=["#e53e3e" if b["suspended"] else "#4a5568" for b in banks],
    )
    ax.set_title("各银行代偿率（%，红色为超上限暂停）")
    ax.tick_params(axis="x", rotation=45, labelsize=7)

    ax = axes[1][1]
    rec = [float(b["recovered"] / b["paid"] * 100) if b["paid"] else 0.0 for b in banks]
    ax.bar([b["institution"] for b in banks], rec, color="#38a169")
    rr = s["recovery_rate"]
    ax.set_title(f"各银行追偿回收率（%），全池 {float(rr) * 100 if rr is not None else 0:.1f}%")
    ax.tick_params(axis="x", rotation=45, labelsize=7)

    fig.suptitle(
        f"风险补偿资金池 {s['pool']}（方案 {s['scheme']} {s['scheme_version']}）截至 {s['as_of']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
