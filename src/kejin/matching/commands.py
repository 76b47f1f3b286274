"""``kejin match …``: the marketplace from the command line, thin over the same audited services.

``--who USER`` names a registered user: the command runs as that person, with that person's role
and institution, through the rule table and into the audit chain, exactly as the API does.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from kejin.access.rules import Principal
from kejin.console import console, get_engine, print_json
from kejin.db import transaction
from kejin.errors import Problem, ValidationError

match_app = typer.Typer(help="融资对接 / financing marketplace", no_args_is_help=True)
products_app = typer.Typer(help="产品超市 / product catalogue", no_args_is_help=True)
needs_app = typer.Typer(help="融资需求 / financing needs", no_args_is_help=True)
match_app.add_typer(products_app, name="products")
match_app.add_typer(needs_app, name="needs")
event_app = typer.Typer(help="银企对接会与路演 / matchmaking events", no_args_is_help=True)
match_app.add_typer(event_app, name="event")

WHO = typer.Option(..., "--who", help="操作人（已登记用户名）/ acting user (username)")
JSON = typer.Option(False, "--json", help="输出JSON / print JSON")


def principal(s: Session, username: str) -> Principal:
    """The active registered user ``username`` as the services see a caller (an unknown or
    deactivated account is refused naming --who, as every area's CLI does)."""
    from kejin.access.service import named_principal

    return named_principal(s, username, "--who")


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result)
    elif isinstance(result, list):
        for r in result:
            console.print(r)
    else:
        for k, v in result.items():
            console.print(f"[bold]{k}[/]: {v}")


@products_app.command("import")
def products_import(path: Path, who: str = WHO, as_json: bool = JSON) -> None:
    """导入产品（提交待复核）/ Import products from Excel; each awaits a second person."""
    from kejin.matching import excel

    with transaction(get_engine()) as s:
        rows = excel.import_products(s, principal(s, who), path)
    _show({"imported": len(rows), "versions": [r["version_id"] for r in rows]}, as_json)


@products_app.command("export")
def products_export(path: Path, who: str = WHO, as_json: bool = JSON) -> None:
    """导出在售产品 / Export the live catalogue to Excel (the import layout)."""
    from kejin.matching import excel

    with transaction(get_engine()) as s:
        n = excel.export_products(s, principal(s, who), path)
    _show({"exported": n, "file": str(path)}, as_json)


@products_app.command("approve")
def products_approve(version_id: int, who: str = WHO, as_json: bool = JSON) -> None:
    """复核上线 / Approve a submitted version (not its maker)."""
    from kejin.matching import products

    with transaction(get_engine()) as s:
        v = products.view(products.approve(s, principal(s, who), version_id))
    _show(v, as_json)


@products_app.command("adopt")
def products_adopt(
    who: str = WHO,
    checker: str = typer.Option(..., "--checker", help="复核人 / approving user"),
    as_json: bool = JSON,
) -> None:
    """已有产品纳入产品超市 / Bring the registry's products (e.g. the synthetic region's) live."""
    from kejin.matching import products

    with transaction(get_engine()) as s:
        ids = products.adopt_registry(s, principal(s, who), principal(s, checker))
    _show({"adopted": len(ids), "products": ids}, as_json)


@needs_app.command("import")
def needs_import(path: Path, who: str = WHO, as_json: bool = JSON) -> None:
    """导入需求调查表 / Import a needs survey (every bad row named; nothing written on error)."""
    from kejin.matching import excel

    with transaction(get_engine()) as s:
        ids = excel.import_needs(s, principal(s, who), path)
    _show({"imported": len(ids), "needs": ids}, as_json)


@match_app.command("for-need")
def for_need(need_id: int, who: str = WHO, as_json: bool = JSON) -> None:
    """需求匹配的产品（含不符合原因）/ Every product for a need, with the failed conditions."""
    from kejin.matching import query

    with transaction(get_engine()) as s:
        res = query.for_need(s, principal(s, who), need_id)
    if as_json:
        print_json(res)
        return
    for r in res["products"]:
        mark = f"#{r['rank']}" if r["eligible"] else "✗"
        why = "；".join(x["reason_zh"] for x in r["reasons"])
        console.print(f"{mark} {r['product_id']} {r['name']} {r['expected_rate']:.2%} {why}")


@match_app.command("for-product")
def for_product(product_id: str, who: str = WHO, as_json: bool = JSON) -> None:
    """产品匹配的需求与首贷培育名单 / Needs and prospects for a product."""
    from kejin.matching import query

    with transaction(get_engine()) as s:
        res = query.for_product(s, principal(s, who), product_id)
    _show(res, as_json)


@match_app.command("take")
def take(
    need_id: int,
    institution: str = typer.Option(..., "--institution", help="接单机构 / institution id"),
    product: str | None = typer.Option(None, "--product", help="对接产品 / product id"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """接单 / Take a need for an institution (exclusive for the configured working days)."""
    from kejin.matching import service

    with transaction(get_engine()) as s:
        n = service.take(
            s, principal(s, who), need_id, institution_id=institution, product_id=product
        )
        out = service.view(n)
    _show(out, as_json)


@match_app.command("decide")
def decide(
    need_id: int,
    approve: bool = typer.Option(False, "--approve", help="批准 / approve"),
    decline: str | None = typer.Option(None, "--decline", help="拒绝原因代码 / decline reason"),
    note: str | None = typer.Option(None, "--note"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """审批决定 / Approve, or decline with a reason code."""
    from kejin.matching import service

    if approve == (decline is not None):
        raise ValidationError(
            "须且只能指定 --approve 或 --decline REASON",
            "give exactly one of --approve or --decline REASON",
            [Problem("", "", field="decision")],
        )
    with transaction(get_engine()) as s:
        n = service.decide(
            s, principal(s, who), need_id, approve=approve, reason=decline, note=note
        )
        out = service.view(n)
    _show(out, as_json)


@match_app.command("disburse")
def disburse(
    need_id: int,
    amount: str = typer.Option(..., "--amount"),
    contract: str | None = typer.Option(None, "--contract", help="贷款合同编号 / contract"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """放款 / Record the disbursement of an approved need."""
    from kejin.matching import service

    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise ValidationError(
            "金额无效", "invalid amount", [Problem("", "", field="amount", value=amount)]
        ) from None
    with transaction(get_engine()) as s:
        out = service.view(
            service.disburse(s, principal(s, who), need_id, amount=value, contract_no=contract)
        )
    _show(out, as_json)


@match_app.command("redispatch")
def redispatch(who: str = WHO, as_json: bool = JSON) -> None:
    """超时派单规则 / Flag, expire and release needs by the service-level rule."""
    from kejin.matching import service

    with transaction(get_engine()) as s:
        res = service.redispatch(s, principal(s, who))
    _show(res, as_json)


@match_app.command("funnel")
def funnel(
    by: str = typer.Option("bank", "--by", help="bank|kind|chain|tier|month"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """对接漏斗 / The funnel by bank, product kind, chain, tier or month."""
    from kejin.matching import query

    with transaction(get_engine()) as s:
        res = query.funnel(s, principal(s, who), by)
    _show(res, as_json)


@match_app.command("quality")
def quality(
    needs: int = typer.Option(2000, "--needs", min=10, max=200_000, help="需求数 / needs drawn"),
    seed: int = typer.Option(7, "--seed", help="随机种子 / seed"),
    model: str = typer.Option("tech_firm", "--model", help="授信模型名 / credit model name"),
    save_approval: Path | None = typer.Option(
        None,
        "--save-approval",
        help="保存拟合的获批概率模型 / write the fitted approval model (JSON) to this file",
    ),
    as_json: bool = JSON,
) -> None:
    """排序质量（对照合成区域真值）/ Ranking quality against the synthetic region's truth.

    A batch measurement on the synthetic region (aggregates only; no firm's data is shown),
    recorded as the system, like the credit model's training.
    """
    import polars as pl

    from kejin.access.audit import utcnow
    from kejin.matching import params, quality, query
    from kejin.matching.tables import ProductVersion
    from kejin.synth import market
    from kejin.synth.service import require_schema

    engine = get_engine()
    require_schema(engine, (ProductVersion.__tablename__,))
    with transaction(engine) as s:
        conn = s.connection()
        truth = market.truth_frame(conn)
        if truth.height == 0:
            raise ValidationError(
                "数据库中没有合成区域真值（先运行 kejin synth）",
                "no synthetic region truth in the database (run kejin synth first)",
                [Problem("", "", field="synth_truth", value="0")],
            )
        as_of = quality.as_of_of_region(conn) or utcnow().date()
        firms = query.firms(conn, None, as_of)
        prods = query.products_frame(s).filter(pl.col("kind") == "loan")
        usccs = firms.join(truth, on="uscc", how="semi")["uscc"].to_list()
        approvals, _ = query.approvals(
            conn, prods.with_columns(pl.lit(model).alias("credit_model")), usccs, as_of
        )
        res = quality.measure(
            firms, prods, truth, params.pricing(as_of), approvals, model, needs, seed
        )
    if save_approval is not None:
        from kejin.matching import approval

        fitted = res["approval_model"]
        approval.save(
            approval.Model(fitted["coef"], fitted["pd_mean"], fitted["trained_on"]), save_approval
        )
    _show(res, as_json)


@match_app.command("demo")
def demo(
    who: str = WHO,
    checker: str = typer.Option(..., "--checker", help="产品复核人 / product checker"),
    firm: str = typer.Option("demo_firm", "--firm", help="演示企业用户 / demo firm user"),
    bank: str = typer.Option("demo_bank", "--bank", help="演示银行客户经理 / demo bank officer"),
    investor: str = typer.Option(
        "demo_investor", "--investor", help="演示投资机构用户（无此账户则跳过）/ demo investor"
    ),
    needs: int = typer.Option(80, "--needs", min=0, max=5000, help="需求数 / needs to post"),
    seed: int = typer.Option(7, "--seed", help="随机种子 / seed"),
    as_json: bool = JSON,
) -> None:
    """演示对接数据：产品上架、需求、接单、拒绝与放款 / Fill the demo marketplace (seeded)."""
    from kejin.matching import demo as demo_fill

    with transaction(get_engine()) as s:
        res = demo_fill.fill(
            s,
            principal(s, who),
            principal(s, checker),
            principal(s, firm),
            principal(s, bank),
            needs=needs,
            seed=seed,
            investor=_maybe(s, investor),
        )
    _show(res, as_json)


def _maybe(s: Session, username: str) -> Principal | None:
    """The user ``username`` if the account exists (a region without a venture fund has no
    demo investor), else None."""
    from sqlalchemy import select

    from kejin.access.tables import User

    if s.scalar(select(User.id).where(User.username == username)) is None:
        return None
    return principal(s, username)


def _decimal(text: str, fld: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise ValidationError(
            "金额无效", "invalid amount", [Problem("不是数字", "not a number", fld, text)]
        ) from None


@event_app.command("create")
def event_create(
    title: str = typer.Option(..., "--title", help="活动名称 / title"),
    on: str = typer.Option(..., "--on", help="举办日期 YYYY-MM-DD / date"),
    place: str = typer.Option(..., "--place", help="地点 / place"),
    kind: str = typer.Option(
        "bank_firm",
        "--kind",
        help="bank_firm 银企对接会 | roadshow 路演 | invest_loan 投贷联动专场",
    ),
    chain: str | None = typer.Option(None, "--chain", help="产业链代码 / industry chain"),
    theme: str | None = typer.Option(None, "--theme", help="主题 / theme"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """新建对接活动 / Create a matchmaking event (government)."""
    from datetime import date

    from kejin.access.audit import utcnow
    from kejin.matching import events

    try:
        held_on = date.fromisoformat(on)
    except ValueError:
        raise ValidationError(
            "日期应为 YYYY-MM-DD", "the date must be YYYY-MM-DD",
            [Problem("日期无效", "invalid date", "--on", on)],
        ) from None  # fmt: skip
    with transaction(get_engine()) as s:
        ev = events.create(
            s, principal(s, who), events.EventIn(title, kind, held_on, place, chain, theme)
        )
        out = events.view(ev, utcnow().date())
    _show(out, as_json)


@event_app.command("invite")
def event_invite(
    event_id: int,
    tier: list[str] = typer.Option([], "--tier", help="白名单层级（可多次）/ tier (repeatable)"),
    chain: list[str] = typer.Option([], "--chain", help="产业链（可多次）/ chain (repeatable)"),
    stage: list[str] = typer.Option([], "--stage", help="生命周期阶段（可多次）/ stage"),
    points_min: float | None = typer.Option(None, "--points-min", help="积分下限 / lowest points"),
    points_max: float | None = typer.Option(None, "--points-max", help="积分上限 / highest points"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """按白名单条件邀请企业（名单随条件冻结）/ Invite whitelist firms by filter (list frozen)."""
    from kejin.matching import events

    f = events.InviteFilter(list(tier), list(chain), list(stage), points_min, points_max)
    with transaction(get_engine()) as s:
        p = principal(s, who)
        ev = events.invite(s, p, event_id, f)
        d = events.detail(s, p, ev.id)
    _show({"event": ev.id, "filter": d["invite_filter"], "whitelist_version": d["whitelist_version"],
           "invited": [r["uscc"] for r in d["invitees"]]}, as_json)  # fmt: skip


@event_app.command("list")
def event_list(who: str = WHO, as_json: bool = JSON) -> None:
    """对接活动列表 / Events (a firm sees those it is invited to)."""
    from kejin.matching import events

    with transaction(get_engine()) as s:
        rows = events.listing(s, principal(s, who))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(
            f"#{r['id']} {r['held_on']} {r['title']} · {r['place']} · "
            f"邀请/invited {r['invited']} · 报名/sign-ups {r['signups']} · 意向/intents {r['intents']}"
        )


@event_app.command("show")
def event_show(event_id: int, who: str = WHO, as_json: bool = JSON) -> None:
    """活动详情：受邀企业、报名机构、意向与结果 / One event with invitees, sign-ups, intents."""
    from kejin.matching import events

    with transaction(get_engine()) as s:
        d = events.detail(s, principal(s, who), event_id)
    if as_json:
        print_json(d)
        return
    for k in ("id", "title", "kind", "held_on", "place", "invite_filter"):
        console.print(f"[bold]{k}[/]: {d[k]}")
    console.print(f"[bold]summary[/]: {d['summary']}")


@event_app.command("signup")
def event_signup(
    event_id: int,
    institution: str | None = typer.Option(None, "--institution", help="机构 / institution id"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """机构报名 / Sign an institution up (a bank officer: its own)."""
    from kejin.matching import events

    with transaction(get_engine()) as s:
        r = events.signup(s, principal(s, who), event_id, institution)
        out = {"event": r.event_id, "institution": r.institution_id, "signed_at": r.signed_at}
    _show(out, as_json)


@event_app.command("intent")
def event_intent(
    event_id: int,
    uscc: str = typer.Option(..., "--firm", help="企业统一社会信用代码 / firm USCC"),
    kind: str = typer.Option(..., "--kind", help="loan 贷款 | equity 股权 | loan_equity 投贷联动"),
    amount: str = typer.Option(..., "--amount", help="意向金额（元）/ amount (CNY)"),
    institution: str | None = typer.Option(None, "--institution", help="机构 / institution"),
    partner: str | None = typer.Option(None, "--partner", help="联动机构 / partner"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """登记对接意向 / Record an intent met at the event."""
    from kejin.matching import events

    i = events.IntentIn(uscc, institution, kind, _decimal(amount, "--amount"), partner)
    with transaction(get_engine()) as s:
        r = events.record_intent(s, principal(s, who), event_id, i)
        out = {"intent": r.id, "event": event_id, "institution": r.institution_id}
    _show(out, as_json)


@event_app.command("outcome")
def event_outcome(
    intent_id: int,
    outcome: str = typer.Option(..., "--outcome", help="signed | disbursed | invested | none"),
    amount: str | None = typer.Option(None, "--amount", help="成交金额 / amount concluded"),
    reason: str | None = typer.Option(None, "--reason", help="未成交原因 / no-deal reason"),
    who: str = WHO,
    as_json: bool = JSON,
) -> None:
    """登记对接结果 / Record how an intent ended."""
    from kejin.matching import events

    value = _decimal(amount, "--amount") if amount else None
    with transaction(get_engine()) as s:
        r = events.record_outcome(s, principal(s, who), intent_id, outcome, value, reason)
        out = {"intent": r.id, "outcome": r.outcome, "amount": r.outcome_amount}
    _show(out, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(match_app, name="match")
