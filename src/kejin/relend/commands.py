"""``kejin relend …``: the relending ledger from the command line, acting as ``--who``.

Thin: parse, open one transaction as the named person, call the service the pages call, print.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kejin.access.acting import acting, who_option
from kejin.console import console, get_engine, print_json
from kejin.errors import Problem, ValidationError
from kejin.vocab import LOAN_PURPOSES, RELEND_BATCH_STATES, RELEND_TOOLS

relend_app = typer.Typer(help="再贷款/再贴现台账 / relending ledger", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="输出JSON / print JSON")


def _dec(text: str, field: str) -> Decimal:
    try:
        v = Decimal(text)
        if not v.is_finite():
            raise InvalidOperation
        return v
    except InvalidOperation:
        raise ValidationError(
            "数值无效",
            "invalid number",
            [Problem("不是数字", "not a number", field=field, value=text)],
        ) from None


@relend_app.command("quota")
def quota_cmd(
    bank: str = typer.Option(..., "--bank", help="银行机构编号 / bank id"),
    amount: str = typer.Option(..., "--amount", help="额度(元) / quota in yuan"),
    year: int = typer.Option(..., "--year"),
    tool: str = typer.Option("relending", "--tool", help="/".join(RELEND_TOOLS)),
    ratio: str = typer.Option("1", "--ratio", help="配套比例 / matching ratio (1 = 100%)"),
    rate_cap: str = typer.Option("0.045", "--rate-cap", help="贷款利率上限 / loan rate cap"),
    max_term: int = typer.Option(36, "--max-term", help="贷款最长期限(月) / longest loan term"),
    term: int = typer.Option(12, "--term", help="再贷款期限(月) / relending term"),
    purposes: str = typer.Option(
        "rd,tech_transformation,working_capital,equipment_upgrade",
        "--purposes",
        help="允许用途 / allowed purposes: " + ",".join(LOAN_PURPOSES),
    ),
    who: str | None = who_option(),
    as_json: bool = JSON,
) -> None:
    """设定银行再贷款额度 / Set a bank's quota for a tool and year."""
    from kejin.relend.service import set_quota

    with acting(get_engine(), who) as (s, p):
        q = set_quota(
            s, p, tool=tool, institution_id=bank, year=year, quota=_dec(amount, "--amount"),
            matching_ratio=_dec(ratio, "--ratio"), rate_cap=_dec(rate_cap, "--rate-cap"),
            max_term_months=max_term, term_months=term,
            purposes=[x.strip() for x in purposes.split(",") if x.strip()],
        )  # fmt: skip
        out = {"quota": q.id, "amount": q.quota}
    print_json(out) if as_json else console.print(f"额度已设定 / quota set: {out['quota']}")


@relend_app.command("submit")
def submit_cmd(
    quota: str = typer.Argument(..., help="额度编号 / quota id"),
    file: Path = typer.Argument(
        ..., help="批次Excel（合同编号、用途）/ batch workbook", exists=True
    ),
    who: str | None = who_option(),
    as_json: bool = JSON,
) -> None:
    """报送再贷款批次 / Submit a batch of loans (all eligible, or nothing is stored)."""
    from kejin.relend.service import read_batch_file, submit

    lines = read_batch_file(file)
    with acting(get_engine(), who) as (s, p):
        b = submit(s, p, quota, lines, channel="excel", file=file.name)
        out = {"batch": b.id, "amount": b.amount, "loans": len(lines), "state": b.state}
    print_json(out) if as_json else console.print(
        f"批次 {out['batch']} 已报送 / submitted: {out['loans']} 笔, {out['amount']} 元"
    )


@relend_app.command("approve")
def approve_cmd(
    batch: int = typer.Argument(...), who: str | None = who_option(), as_json: bool = JSON
) -> None:
    """审批并发放 / Approve a batch: drawn against its quota in full, never over it."""
    from kejin.relend.service import approve

    with acting(get_engine(), who) as (s, p):
        b = approve(s, p, batch)
        out = {"batch": b.id, "state": b.state, "amount": b.amount, "matures_on": b.matures_on}
    print_json(out) if as_json else console.print(
        f"批次 {batch} 已发放 / drawn: {out['amount']} 元, 到期 matures {out['matures_on']}"
    )


@relend_app.command("reject")
def reject_cmd(
    batch: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason"),
    who: str | None = who_option(),
) -> None:
    """退回批次 / Return a batch to the bank with a reason."""
    from kejin.relend.service import reject

    with acting(get_engine(), who) as (s, p):
        reject(s, p, batch, reason)
    console.print(f"批次 {batch} 已退回 / rejected")


@relend_app.command("repay")
def repay_cmd(
    batch: int = typer.Argument(...),
    amount: str = typer.Argument(..., help="归还金额(元) / amount repaid"),
    who: str | None = who_option(),
) -> None:
    """归还再贷款 / Record a repayment of a drawn batch."""
    from kejin.relend.service import repay

    with acting(get_engine(), who) as (s, p):
        b = repay(s, p, batch, _dec(amount, "amount"))
        left = b.amount - b.repaid
    console.print(f"批次 {batch} 已归还 / repaid; 未还 outstanding {left} 元")


@relend_app.command("ledger")
def ledger_cmd(who: str | None = who_option(), as_json: bool = JSON) -> None:
    """台账与额度使用 / Quotas, utilisation and batches (a bank sees its own)."""
    from kejin.relend.service import ledger

    with acting(get_engine(), who) as (s, p):
        res = ledger(s, p)
    if as_json:
        print_json(res)
        return
    t = Table("额度 quota", "银行 bank", "额度 amount", "已用 outstanding", "使用率 use")
    for q in res["quotas"]:
        t.add_row(q["tool_label"], q["bank_name"], str(q["quota"]), str(q["outstanding"]),
                  f"{q['utilisation']:.1%}")  # fmt: skip
    console.print(t)
    b = Table("批次 batch", "银行 bank", "状态 state", "金额 amount", "贷款 loans", "到期 matures")
    for x in res["batches"]:
        b.add_row(str(x["id"]), x["bank_name"], _state(x), str(x["amount"]), str(x["loans"]),
                  str(x["matures_on"] or "—"))  # fmt: skip
    console.print(b)


@relend_app.command("demo")
def demo_cmd(
    who: str | None = who_option("设定额度的管理员 / administrator setting quotas"),
    checker: str = typer.Option(..., "--checker", help="审批人（人民银行分支机构用户）/ approver"),
    bank: str = typer.Option(..., "--bank", help="报送批次的银行用户 / bank officer submitting"),
) -> None:
    """演示台账 / Fill the ledger: quotas for every bank, the demo bank's batches."""
    from kejin.access.acting import require_who
    from kejin.relend.demo import run

    res = run(get_engine(), require_who(who), checker, bank)
    console.print(
        f"再贷款演示 / relending demo {res['year']}: {res['quotas']} 个额度 quotas, "
        f"{res['eligible_loans']} 笔合格贷款 eligible loans, 批次 batches {res['batches']}"
    )


def _state(x: dict[str, Any]) -> str:
    label = RELEND_BATCH_STATES[x["state"]].zh
    return label + ("（逾期）" if x["overdue"] else "")


def register(app: typer.Typer) -> None:
    app.add_typer(relend_app, name="relend")
