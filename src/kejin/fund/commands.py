"""``kejin fund …``: every step of a risk-compensation pool, thin over :mod:`kejin.fund.service`.

Every command that changes state takes ``--actor``, ``--on`` (business date, default today),
``--why`` and ``--key``. Without ``--key`` a command gets a fresh idempotency key, printed with its
result (``command``): running it again is a new request, and a retry that must not post twice
passes that key back with ``--key``, which replays the first result.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kejin.console import console, get_engine, print_json
from kejin.errors import Problem, ValidationError, parse_date
from kejin.fund import ledger
from kejin.fund import service as svc
from kejin.fund.ledger import Actor

fund_app = typer.Typer(help="风险补偿资金池 / risk-sharing fund", no_args_is_help=True)

ACTOR = typer.Option("cli", "--actor", "-u", help="操作人 / who acts")
ON = typer.Option(None, "--on", help="业务日期 YYYY-MM-DD（默认今天）/ business date")
WHY = typer.Option("命令行操作 / CLI", "--why", help="事由 / reason")
KEY = typer.Option(
    None,
    "--key",
    help="幂等键（默认新生成并随结果输出，重试时传回）/ idempotency key (default: fresh, printed)",
)
JSON = typer.Option(False, "--json", help="输出JSON / print JSON")


def _date(text: str | None, field: str = "on") -> date:
    return date.today() if text is None else parse_date(text, field)


def _money(text: str, field: str = "amount") -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValidationError(
            "金额无效",
            "invalid amount",
            [Problem("不是数字", "not a number", field=field, value=text)],
        ) from None


def _ctx(kind: str, actor: str, on: str | None, why: str, key: str | None) -> tuple[Actor, str]:
    """The actor and the idempotency key: ``--key`` when given, else a fresh one. A key names a
    request, not its content, so two genuine deposits of the same amount on the same day both
    post; the key is printed with the result (``command``) for a retry to pass as ``--key``."""
    return Actor(actor, _date(on), why), key or f"cli:{kind}:{uuid.uuid4().hex}"


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    if isinstance(result, list):
        if not result:
            console.print("（无 / none）")
            return
        t = Table()
        for col in result[0]:
            t.add_column(str(col))
        for r in result:
            t.add_row(*(str(v) for v in r.values()))
        console.print(t)
        return
    for k, v in result.items():
        console.print(f"[bold]{k}[/]: {v}")


@fund_app.command("schemes")
def schemes(
    check: Path | None = typer.Option(None, "--check", help="校验方案文件 / validate a YAML file"),
    as_json: bool = JSON,
) -> None:
    """方案库 / List the scheme library, or validate a scheme file."""
    from kejin.fund.scheme import library, load_scheme

    items = [load_scheme(str(check))] if check else library()
    rows = [
        {
            "id": s.id,
            "version": s.version,
            "name": s.name_zh,
            "participants": ", ".join(p.id for p in s.participants),
            "categories": ", ".join(c.id for c in s.categories),
            "reference": s.references[0].document,
        }
        for s in items
    ]
    _show(rows, as_json)


@fund_app.command("create")
def create(
    pool: str,
    scheme: str = typer.Option(..., "--scheme", help="方案id或YAML路径"),
    name: str = typer.Option(None, "--name"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """设立资金池 / Set up a pool under a scheme."""
    a, k = _ctx("create", actor, on, why, key)
    _show(svc.create_pool(get_engine(), pool, name or pool, scheme, a, k), as_json)


@fund_app.command("deposit")
def deposit(
    pool: str,
    amount: str = typer.Option(..., "--amount"),
    party: str = typer.Option("pool", "--party", help="出资方 / funder"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """注资 / Capital in."""
    a, k = _ctx("deposit", actor, on, why, key)
    _show(svc.deposit(get_engine(), pool, party, _money(amount), a, k), as_json)


@fund_app.command("fee")
def fee(
    pool: str,
    contract: str,
    amount: str = typer.Option(None, "--amount"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """收取担保费 / Collect a guarantee fee (default: scheme rate × covered amount)."""
    a, k = _ctx("fee", actor, on, why, key)
    amt = _money(amount) if amount is not None else None
    _show(svc.collect_fee(get_engine(), pool, contract, amt, a, k), as_json)


@fund_app.command("enrol")
def enrol(
    pool: str,
    contract: str,
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """贷款备案入池 / Enrol a loan (eligibility, caps, leverage)."""
    a, k = _ctx("enrol", actor, on, why, key)
    _show(svc.enrol(get_engine(), pool, contract, a, k), as_json)


@fund_app.command("status")
def status(
    pool: str,
    contract: str,
    month: str = typer.Option(..., "--month"),
    balance: str = typer.Option(..., "--balance"),
    dpd: int = typer.Option(0, "--dpd", help="逾期天数 / days past due"),
    classification: str = typer.Option("normal", "--class", help="五级分类"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """月度贷款状态 / Monthly loan status report."""
    a, k = _ctx("status", actor, on, why, key)
    _show(
        svc.record_status(
            get_engine(),
            pool,
            contract,
            _date(month, "month"),
            _money(balance, "balance"),
            dpd,
            classification,
            a,
            k,
        ),
        as_json,
    )


@fund_app.command("claim")
def claim(
    pool: str,
    contract: str,
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """申请代偿 / File a claim on a loan past the trigger."""
    a, k = _ctx("claim", actor, on, why, key)
    _show(svc.file_claim(get_engine(), pool, contract, a, k), as_json)


@fund_app.command("review")
def review(
    claim_id: int,
    reject: bool = typer.Option(False, "--reject"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """初审 / First review (not by the filer)."""
    a, k = _ctx("review", actor, on, why, key)
    _show(svc.review(get_engine(), claim_id, not reject, a, k), as_json)


@fund_app.command("approve")
def approve(
    claim_id: int,
    reject: bool = typer.Option(False, "--reject"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """审批（双人复核）/ Approval by a second person."""
    a, k = _ctx("approve", actor, on, why, key)
    _show(svc.approve(get_engine(), claim_id, not reject, a, k), as_json)


@fund_app.command("pay")
def pay(
    pool: str,
    claim_id: int,
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """支付代偿 / Pay an approved claim."""
    a, k = _ctx("pay", actor, on, why, key)
    _show(svc.pay(get_engine(), pool, claim_id, a, k), as_json)


@fund_app.command("reverse")
def reverse(
    claim_id: int,
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """冲销支付 / Reverse a payout (by reversal entries)."""
    a, k = _ctx("reverse", actor, on, why, key)
    _show(svc.reverse_payout(get_engine(), claim_id, a, k), as_json)


@fund_app.command("recover")
def recover(
    claim_id: int,
    amount: str = typer.Option(..., "--amount"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """登记追偿回款（按比例返还）/ Record a recovery, shared back pro rata."""
    a, k = _ctx("recover", actor, on, why, key)
    _show(svc.record_recovery(get_engine(), claim_id, _money(amount), a, k), as_json)


@fund_app.command("write-off")
def write_off(
    claim_id: int,
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """核销结案 / Write off and close a paid claim."""
    a, k = _ctx("write_off", actor, on, why, key)
    _show(svc.write_off(get_engine(), claim_id, a, k), as_json)


@fund_app.command("close")
def close(
    pool: str,
    period_end: str = typer.Option(..., "--period-end"),
    actor: str = ACTOR,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """期末结账 / Close periods through a date (after a clean audit)."""
    a, k = _ctx("close", actor, on, why, key)
    _show(svc.close_period(get_engine(), pool, _date(period_end, "period_end"), a, k), as_json)


@fund_app.command("show")
def show(pool: str, on: str = ON, as_json: bool = JSON) -> None:
    """资金池概况 / Balance, leverage, enrolled balance, claims, per-bank rates."""
    _show(svc.summary(get_engine(), pool, _date(on)), as_json)


@fund_app.command("claims")
def claims(pool: str, on: str = ON, as_json: bool = JSON) -> None:
    """理赔列表（状态、账龄）/ Claims with status and age."""
    _show(svc.claims_table(get_engine(), pool, _date(on)), as_json)


@fund_app.command("deadlines")
def deadlines(pool: str, on: str = ON, as_json: bool = JSON) -> None:
    """逾期与超时的审核步骤 / Review steps overdue or done late."""
    _show(svc.deadlines(get_engine(), pool, _date(on)), as_json)


@fund_app.command("log")
def log(pool: str, as_json: bool = JSON) -> None:
    """命令日志（谁、何时、为何）/ Every command: who, when, why."""
    _show(svc.commands_log(get_engine(), pool), as_json)


@fund_app.command("audit")
def audit(
    pool: str = typer.Argument(None, help="资金池（默认全部）/ pool (default: all)"),
    as_json: bool = JSON,
) -> None:
    """全账审计：证明每一元都有来处去处 / Full ledger audit; exit 1 on any violation."""
    with get_engine().connect() as conn:
        rep = ledger.audit(conn, pool)
    if as_json:
        print_json(rep.to_dict())
    else:
        t = Table(
            title=f"审计 / audit {pool or '全部 / all'}: {'通过 OK' if rep.ok else '未通过 FAILED'}"
        )
        t.add_column("检查 / check")
        t.add_column("结果 / result")
        for c in rep.checks:
            t.add_row(c.name, ("✓ " if c.ok else "✗ ") + c.detail)
        console.print(t)
        for k, v in rep.totals.items():
            console.print(f"  {k}: {v}")
    raise typer.Exit(0 if rep.ok else 1)


@fund_app.command("report")
def report(
    pool: str, out: Path = typer.Option(Path("out"), "--out"), on: str = ON, as_json: bool = JSON
) -> None:
    """报表（Excel + PNG）/ Write the fund report."""
    from kejin.fund.report import write_report

    files = write_report(get_engine(), pool, _date(on), out)
    _show({k: str(v) for k, v in files.items()}, as_json)


@fund_app.command("demo")
def demo(
    scheme: str = typer.Option("anhui", "--scheme"),
    capital: str = typer.Option("50000000", "--capital"),
    out: Path = typer.Option(Path("out"), "--out"),
    firms: int = typer.Option(5000, "--firms", help="无贷款数据时生成的企业数"),
    seed: int = typer.Option(20241, "--seed"),
    recovery: str = typer.Option(
        "0.20", "--recovery-share", help="假设追回比例 / assumed share of each loss recovered"
    ),
    replace: bool = typer.Option(
        False, "--replace", help="先删除同名演示资金池 / drop the demo pool first"
    ),
    as_json: bool = JSON,
) -> None:
    """演示：在区域贷款与违约上运行资金池 / Run a pool over the registry's loans and defaults."""
    from kejin.fund.demo import run_demo, story

    res = run_demo(
        get_engine(),
        scheme,
        _money(capital, "capital"),
        out,
        firms,
        seed,
        _money(recovery, "recovery_share"),
        replace,
    )
    if as_json:
        print_json(res)
        return
    # What it did in sentences, Chinese then English (a dict of counters read as code).
    for zh, _ in story(res):  # soft wrap: a terminal's width never cuts a number or a path
        console.print(zh, soft_wrap=True)
    console.print()
    for _, en in story(res):
        console.print(en, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(fund_app, name="fund")
