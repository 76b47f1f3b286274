"""``kejin fund …``: every step of a risk-compensation pool, thin over :mod:`kejin.fund.service`.

Every command that changes state acts as the platform user ``--who`` names, through the same
step of :mod:`kejin.fund.desk` as the web: the same permission, the same tenancy (a bank officer
its own loans and claims), the same maker-checker and the same audit record, written in the
money's own transaction. It also takes ``--on`` (business date, default today), ``--why`` and
``--key``. Without ``--key`` a command gets a fresh idempotency key, printed with its result
(``command``): running it again is a new request, and a retry that must not post twice passes
that key back with ``--key``, which replays the first result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from kejin.access.acting import acting, who_option
from kejin.console import console, get_engine, print_json
from kejin.errors import Problem, ValidationError, parse_date
from kejin.fund import desk, ledger
from kejin.fund import routes as _rules  # noqa: F401  (registers the fund's permission rules)
from kejin.fund import service as svc

fund_app = typer.Typer(help="风险补偿资金池 / risk-sharing fund", no_args_is_help=True)

WHO = who_option("操作人（平台用户名）/ acting person (platform username)", "-u")
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


def _step(
    step: Callable[..., dict[str, Any]],
    who: str | None,
    key: str | None,
    on: str | None,
    as_json: bool,
    **kw: Any,
) -> None:
    """Run a desk step as ``--who`` with the key ``--key`` (default fresh). A key names a request,
    not its content, so two genuine deposits of the same amount on the same day both post; the
    key is printed with the result (``command``) for a retry to pass back as ``--key``, and is
    namespaced by the desk to the acting user as on the web."""
    k = key or uuid.uuid4().hex
    engine = get_engine()
    with acting(engine, who) as (s, p):
        out = step(s, engine, p, key=k, on=_date(on), **kw)
    _show({**out, "command": k}, as_json)


def _same_pool(pool: str, claim_id: int) -> None:
    """``fund pay POOL CLAIM``: the claim must be of that pool (the desk pays the claim's)."""
    from kejin.fund.tables import Claim

    with get_engine().connect() as conn:
        owner = conn.scalar(select(Claim.pool_id).where(Claim.id == claim_id))
    if owner is not None and owner != pool:
        raise ValidationError(
            "理赔不属于该资金池",
            "claim belongs to another pool",
            [
                Problem(
                    "理赔不属于该资金池", "claim belongs to another pool", field="pool", value=pool
                )
            ],
        )


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
    """方案库 / List the region's scheme and the library, or validate a scheme file."""
    from kejin.fund.scheme import library, load_scheme, region_scheme_id

    own = region_scheme_id()
    items = (
        [load_scheme(str(check))] if check else [*([load_scheme(own)] if own else []), *library()]
    )
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
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """设立资金池 / Set up a pool under a scheme."""
    _step(
        desk.create_pool,
        who,
        key,
        on,
        as_json,
        pool=pool,
        name=name or pool,
        scheme=scheme,
        why=why,
    )


@fund_app.command("deposit")
def deposit(
    pool: str,
    amount: str = typer.Option(..., "--amount"),
    party: str = typer.Option("pool", "--party", help="出资方 / funder"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """注资 / Capital in."""
    _step(
        desk.deposit, who, key, on, as_json, pool=pool, party=party, amount=_money(amount), why=why
    )


@fund_app.command("fee")
def fee(
    pool: str,
    contract: str,
    amount: str = typer.Option(None, "--amount"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """收取担保费 / Collect a guarantee fee (default: scheme rate × covered amount)."""
    amt = _money(amount) if amount is not None else None
    _step(
        desk.collect_fee,
        who,
        key,
        on,
        as_json,
        pool=pool,
        contract_no=contract,
        amount=amt,
        why=why,
    )


@fund_app.command("enrol")
def enrol(
    pool: str,
    contract: str,
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """贷款备案入池 / Enrol a loan (eligibility, caps, leverage)."""
    _step(desk.enrol, who, key, on, as_json, pool=pool, contract_no=contract, why=why)


@fund_app.command("status")
def status(
    pool: str,
    contract: str,
    month: str = typer.Option(..., "--month"),
    balance: str = typer.Option(..., "--balance"),
    dpd: int = typer.Option(0, "--dpd", help="逾期天数 / days past due"),
    classification: str = typer.Option("normal", "--class", help="五级分类"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """月度贷款状态 / Monthly loan status report."""
    _step(
        desk.report_status,
        who,
        key,
        on,
        as_json,
        pool=pool,
        contract_no=contract,
        month=_date(month, "month"),
        balance=_money(balance, "balance"),
        days_past_due=dpd,
        classification=classification,
        why=why,
    )


@fund_app.command("claim")
def claim(
    pool: str,
    contract: str,
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """申请代偿 / File a claim on a loan past the trigger."""
    _step(desk.file_claim, who, key, on, as_json, pool=pool, contract_no=contract, why=why)


@fund_app.command("review")
def review(
    claim_id: int,
    reject: bool = typer.Option(False, "--reject"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """初审 / First review (not by the filer)."""
    _step(desk.review, who, key, on, as_json, claim_id=claim_id, ok=not reject, why=why)


@fund_app.command("approve")
def approve(
    claim_id: int,
    reject: bool = typer.Option(False, "--reject"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """审批（双人复核）/ Approval by a second person."""
    _step(desk.approve, who, key, on, as_json, claim_id=claim_id, ok=not reject, why=why)


@fund_app.command("pay")
def pay(
    pool: str,
    claim_id: int,
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """支付代偿 / Pay an approved claim."""
    _same_pool(pool, claim_id)
    _step(desk.pay, who, key, on, as_json, claim_id=claim_id, why=why)


@fund_app.command("reverse")
def reverse(
    claim_id: int,
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """冲销支付 / Reverse a payout (by reversal entries)."""
    _step(desk.reverse, who, key, on, as_json, claim_id=claim_id, why=why)


@fund_app.command("recover")
def recover(
    claim_id: int,
    amount: str = typer.Option(..., "--amount"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """登记追偿回款（按比例返还）/ Record a recovery, shared back pro rata."""
    _step(desk.recover, who, key, on, as_json, claim_id=claim_id, amount=_money(amount), why=why)


@fund_app.command("write-off")
def write_off(
    claim_id: int,
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """核销结案 / Write off and close a paid claim."""
    _step(desk.write_off, who, key, on, as_json, claim_id=claim_id, why=why)


@fund_app.command("close")
def close(
    pool: str,
    period_end: str = typer.Option(..., "--period-end"),
    who: str = WHO,
    on: str = ON,
    why: str = WHY,
    key: str = KEY,
    as_json: bool = JSON,
) -> None:
    """期末结账 / Close periods through a date (after a clean audit)."""
    _step(
        desk.close_period,
        who,
        key,
        on,
        as_json,
        pool=pool,
        period_end=_date(period_end, "period_end"),
        why=why,
    )


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
    scheme: str = typer.Option(
        None,
        "--scheme",
        help="方案（默认：所配置区域的资金池方案） / scheme (default: the configured region's)",
    ),
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
    who: str = who_option(
        "政府经办人：设立、注资、初审、支付 / government officer: set-up, capital, review, payout"
    ),
    checker: str = typer.Option(
        None, "--checker", help="审批人（另一人）/ approver, a second person"
    ),
    as_json: bool = JSON,
) -> None:
    """演示：在区域贷款与违约上运行资金池 / Run a pool over the registry's loans and defaults.

    The government's steps are taken as ``--who`` and approvals as ``--checker`` (maker-checker,
    audited as on the web); the banks' side is the region's history replayed as ``system``.
    """
    from kejin.access.acting import person
    from kejin.console import progress
    from kejin.db import transaction
    from kejin.fund.demo import run_demo, story
    from kejin.fund.scheme import region_scheme_id

    scheme = scheme or region_scheme_id() or "anhui"

    engine = get_engine()
    with transaction(engine) as s:
        gov = person(s, who)
        approver = person(s, checker, option="--checker")
    with progress(as_json) as bar:
        task = bar.add_task("资金池演示 / fund demo", total=None)

        def tick(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        res = run_demo(
            engine,
            scheme,
            _money(capital, "capital"),
            out,
            gov,
            approver,
            firms,
            seed,
            _money(recovery, "recovery_share"),
            replace,
            tick,
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
