"""The policy workflow as the API and the pages call it: tenancy, audit and the "why" of each row.

:mod:`kejin.policy.service` moves the money and enforces maker-checker; this module adds what a
request needs around it. Every read of enterprise data (a firm's applications, the region-wide
eligible list, a simulation over every firm) and every change is recorded in the audit chain, in
the request's transaction, so a refused change leaves no event and a committed one always has its
event. The acting officer is the logged-in user: maker-checker compares usernames.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import polars as pl
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.rules import Principal, authorize
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.policy import library, service
from kejin.policy.engine import Policy, Rounding, evaluate, money, with_reasons, zero
from kejin.policy.entities import REGISTRY_ENTITIES, registry_frames
from kejin.policy.simulate import Simulation, rows_for_year, simulate
from kejin.policy.tables import Application, Payment, Programme
from kejin.policy.trace import entity_filter

#: Largest budget accepted (the Money column holds 18 digits with 2 decimals).
MAX_BUDGET = Decimal("1000000000000")
#: A reform parameter is a rate, a cap or a count; anything beyond this is a typing error.
MAX_OVERRIDE = Decimal("1e12")


# ── views ─────────────────────────────────────────────────────────────────────────────────


def programme_view(p: Programme) -> dict[str, Any]:
    return {
        "id": p.id,
        "policy": p.policy_id,
        "year": p.year,
        "budget": p.budget,
        "reserved": p.reserved,
        "paid": p.paid,
        "remaining": p.budget - p.reserved,
        "allocation": p.allocation,
        "state": p.state,
        "made_by": p.made_by,
        "made_at": p.made_at,
        "approved_by": p.approved_by,
        "approved_at": p.approved_at,
        "params_as_of": p.params_as_of,
    }


def application_view(a: Application) -> dict[str, Any]:
    return {
        "id": a.id,
        "programme": a.programme_id,
        "firm": a.firm,
        "entity": a.entity,
        "state": a.state,
        "claimed": a.claimed,
        "approved_amount": a.approved_amount,
        "paid_total": a.paid_total,
        "applied_at": a.applied_at,
        "applied_by": a.applied_by,
        "reviewed_by": a.reviewed_by,
        "reviewed_at": a.reviewed_at,
        "approved_by": a.approved_by,
        "approved_at": a.approved_at,
        "note": a.note,
    }


def payment_view(pm: Payment) -> dict[str, Any]:
    return {
        "id": pm.id,
        "application": pm.application_id,
        "seq": pm.seq,
        "kind": pm.kind,
        "amount": pm.amount,
        "idempotency_key": pm.idempotency_key,
        "reason": pm.reason,
        "paid_by": pm.paid_by,
        "paid_at": pm.paid_at,
    }


def policy_view(policy: Policy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "title_zh": policy.title_zh,
        "title_en": policy.title_en,
        "document": policy.document,
    }


def clauses(policy: Policy, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule clauses that decide one result: each condition (met or not) and the amount
    formula with its value, each with the article it implements."""
    out: list[dict[str, Any]] = []
    for st in policy.steps:
        if st.kind == "condition":
            out.append(
                {
                    "kind": "condition",
                    "zh": st.zh,
                    "en": st.en,
                    "article": st.article,
                    "met": bool(row.get(st.name)),
                }
            )
        elif st.kind == "amount":
            v = row.get(st.name)
            out.append(
                {
                    "kind": "amount",
                    "zh": st.zh,
                    "en": st.en,
                    "article": st.article,
                    "value": None if v is None else fen(v, policy.rounding),
                }
            )
    return out


def fen(v: Decimal | float | int, rounding: Rounding = "half_up") -> Decimal:
    """An intermediate amount shown to the fen by the policy's rounding rule (the same rule
    that made the amount, so a clause never shows 245,631.56 beside a payment of .57)."""
    mode = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
    return Decimal(str(v)).quantize(Decimal("0.01"), rounding=mode[rounding])


def clause_text(items: list[dict[str, Any]], lang: str) -> str:
    """One line a clerk can read: ``满足：…（三(二)8）；贴息金额 = … = 3,483.33（三(二)8）``."""
    parts = []
    for c in items:
        text = c["en"] if lang == "en" else c["zh"]
        if c["kind"] == "condition":
            if lang == "en":
                parts.append(f"{'met' if c['met'] else 'not met'}: {text} ({c['article']})")
            else:
                parts.append(f"{'满足' if c['met'] else '不满足'}：{text}（{c['article']}）")
        elif c["value"] is not None:
            amount = f"{c['value']:,.2f}"
            parts.append(
                f"{text} = {amount} ({c['article']})"
                if lang == "en"
                else f"{text} = {amount}（{c['article']}）"
            )
    return "; ".join(parts) if lang == "en" else "；".join(parts)


# ── programmes ────────────────────────────────────────────────────────────────────────────


def parse_budget(text: str) -> Decimal:
    try:
        v = Decimal(text.replace(",", "").strip())
    except (InvalidOperation, AttributeError):
        v = None
    if (
        v is None
        or not v.is_finite()
        or v < 0
        or v > MAX_BUDGET
        or v != v.quantize(Decimal("0.01"))
    ):
        raise ValidationError(
            "预算无效",
            "invalid budget",
            [
                Problem(
                    f"应为0至{MAX_BUDGET:,}元、至多两位小数的金额",
                    f"an amount from 0 to {MAX_BUDGET:,} CNY with at most 2 decimals",
                    field="budget",
                    value=text[:40],
                )
            ],
        )
    return v.quantize(Decimal("0.01"))


def claim_year(on: date) -> int:
    """The year a programme pays for, and so the one year a firm's eligibility is shown for:
    the last calendar year complete on ``on``.

    A policy pays on a year's interest, investment or revenue; a year still running has no final
    figures (the demo region's data stop mid-year). The budget form's default, the demo's
    programmes and the firm's policies page all take the year from here: programmes published
    for 2026 while the page computed eligibility on 2025 left a firm told it qualified with
    nothing it could apply for.

    >>> claim_year(date(2026, 12, 7)), claim_year(date(2026, 12, 31))
    (2025, 2026)
    """
    return on.year if (on.month, on.day) == (12, 31) else on.year - 1


def computable(policy: Policy) -> None:
    """Refuse a programme the platform cannot compute from the registry: nobody could be listed
    as eligible, notified or apply through the platform (its eligible list answered 422)."""
    if policy.entity not in REGISTRY_ENTITIES:
        raise ValidationError(
            f"《{policy.title_zh}》所需的数据不在登记库中，平台无法测算符合条件的企业，不能在平台发布",
            f"the registry holds no data for {policy.title_en}: the platform cannot compute who "
            "qualifies, so it cannot be published here",
            [
                Problem(
                    f"登记库中没有本政策所需的数据（{'、'.join(i.zh for i in policy.inputs)}）；"
                    "请先将这些数据导入登记库，或按文件线下测算",
                    "the registry lacks the data this policy needs "
                    f"({', '.join(i.en for i in policy.inputs)}): import it first, or evaluate "
                    "from a file off the platform",
                    field="policy",
                    value=policy.id,
                )
            ],
        )


def check_year(year: int) -> int:
    if not 2000 <= year <= 2100:
        raise ValidationError(
            "预算年度无效",
            "invalid budget year",
            [Problem("应在2000–2100之间", "between 2000 and 2100", field="year", value=year)],
        )
    return year


def create(
    s: Session, p: Principal, *, policy_id: str, year: int, budget: str, allocation: str
) -> dict[str, Any]:
    """A draft programme; its maker is the acting officer. Only a policy the platform can
    compute from the registry (:func:`computable`)."""
    computable(library.get(policy_id))
    prog = service.create_programme(
        s,
        policy_id=policy_id,
        year=check_year(year),
        budget=parse_budget(budget),
        allocation=allocation,
        by=p.username,
    )
    out = programme_view(prog)
    access.log(s, p, "policy.create", "programme", prog.id, after=out)
    return out


def publish(s: Session, p: Principal, programme_id: str, as_of: date | None) -> dict[str, Any]:
    """Publish a draft (checker ≠ maker, refused by the service otherwise) of a policy the
    platform can compute (a draft made before this rule, or by the CLI, may not be)."""
    prog = service.get_programme(s, programme_id)
    computable(library.get(prog.policy_id))
    before = programme_view(prog)
    prog = service.publish(s, programme_id, by=p.username, as_of=as_of or date.today())
    out = programme_view(prog)
    access.log(s, p, "policy.publish", "programme", prog.id, before=before, after=out)
    return out


def _why(s: Session, apps: list[Application]) -> dict[int, list[dict[str, Any]]]:
    """Clauses per application, recomputed from its stored inputs with its programme's
    parameters (as known on the publication date), one evaluation per programme."""
    out: dict[int, list[dict[str, Any]]] = {}
    by_prog: dict[str, list[Application]] = {}
    for a in apps:
        by_prog.setdefault(a.programme_id, []).append(a)
    for pid, group in by_prog.items():
        prog = service.get_programme(s, pid)
        policy = library.get(prog.policy_id)
        frame = service.frame_from_inputs(policy, [a.inputs for a in group])
        res, _ = evaluate(policy, frame, as_of=prog.params_as_of)
        for a, row in zip(group, res.iter_rows(named=True), strict=True):
            out[a.id] = clauses(policy, row)
    return out


def _with_why(s: Session, apps: list[Application]) -> list[dict[str, Any]]:
    """Views with clauses; ``corrected`` marks applications whose amount a later parameter
    revision changed (their clauses show the original computation, the payments the rest)."""
    why = _why(s, apps)
    corrected = set(
        s.scalars(
            select(Payment.application_id).where(
                Payment.application_id.in_([a.id for a in apps]), Payment.seq > 0
            )
        )
    )
    return [
        {**application_view(a), "clauses": why[a.id], "corrected": a.id in corrected} for a in apps
    ]


def programme_detail(s: Session, p: Principal, programme_id: str) -> dict[str, Any]:
    """A programme with its applications (each with its clauses) and payments; audited, since
    it shows every applicant's figures."""
    prog = service.get_programme(s, programme_id)
    apps = list(
        s.scalars(
            select(Application)
            .where(Application.programme_id == programme_id)
            .order_by(Application.applied_at, Application.id)
        )
    )
    pays = list(
        s.scalars(
            select(Payment)
            .join(Application, Application.id == Payment.application_id)
            .where(Application.programme_id == programme_id)
            .order_by(Payment.paid_at, Payment.id)
        )
    )
    access.log(
        s,
        p,
        "policy.programme",
        "programme",
        programme_id,
        detail={"applications": len(apps), "payments": len(pays)},
    )
    return {
        **programme_view(prog),
        "applications": _with_why(s, apps),
        "payments": [payment_view(x) for x in pays],
    }


def approve(s: Session, p: Principal, programme_id: str) -> list[dict[str, Any]]:
    """Approve every reviewed application (checker ≠ reviewer), reserving budget."""
    before = programme_view(service.get_programme(s, programme_id))
    apps = service.approve(s, programme_id, by=p.username)
    out = [application_view(a) for a in apps]
    access.log(
        s,
        p,
        "policy.approve",
        "programme",
        programme_id,
        before=before,
        after=programme_view(service.get_programme(s, programme_id)),
        detail={
            "applications": [
                {"id": a["id"], "state": a["state"], "approved": a["approved_amount"]} for a in out
            ]
        },
    )
    return out


# ── applications ──────────────────────────────────────────────────────────────────────────


def firm_applications(s: Session, p: Principal, uscc: str) -> list[dict[str, Any]]:
    """The firm's applications with status, amounts and the clauses behind them (audited)."""
    apps = list(
        s.scalars(
            select(Application)
            .where(Application.firm == uscc)
            .order_by(Application.applied_at.desc(), Application.id.desc())
        )
    )
    access.log(s, p, "policy.applications", "enterprise", uscc, detail={"rows": len(apps)})
    return _with_why(s, apps)


def _registry_frame(engine: Engine, policy: Policy, uscc: str | None) -> dict[str, pl.DataFrame]:
    if policy.entity not in REGISTRY_ENTITIES:
        raise ValidationError(
            f"登记库没有{policy.entity}数据，本政策须按文件测算",
            f"the registry holds no {policy.entity} data; this policy is evaluated from files",
            [
                Problem(
                    "请用 kejin policy eval 按文件测算",
                    "use kejin policy eval with a file",
                    field="policy",
                    value=policy.id,
                )
            ],
        )
    return registry_frames(engine, uscc)


def firm_policies(s: Session, engine: Engine, p: Principal, uscc: str) -> dict[str, Any]:
    """What the firm's policies page says it qualifies for, policy by policy, in the years it can
    claim: each published programme's year, else the :func:`claim_year` (then marked "not open
    yet", outside the total). The same year filter as :func:`open_programmes` and :func:`apply`,
    so every amount in the total is one the firm can apply for. Audited like the API's read."""
    from kejin.policy.stacking import claims, no_stacking

    frames = registry_frames(engine, uscc)
    if frames["firm"].height == 0:
        raise NotFoundError(
            f"登记库中没有企业{uscc}",
            f"no firm {uscc} in the registry",
            [Problem("未找到", "not found", field="uscc", value=uscc)],
        )
    today = date.today()
    published: dict[str, dict[int, str]] = {}
    for prog in s.scalars(select(Programme).where(Programme.state == "published")):
        published.setdefault(prog.policy_id, {})[prog.year] = prog.id
    pols = library.all_policies()
    years = {pol.id: set(published.get(pol.id, {claim_year(today): ""})) for pol in pols}
    found: list[dict[str, Any]] = []
    for pol in pols:
        if pol.entity not in frames:
            found.append(
                {"policy": pol.id, "title_zh": pol.title_zh, "title_en": pol.title_en,
                 "document": pol.document, "status": "needs_data", "year": None,
                 "inputs_zh": [i.zh for i in pol.inputs], "inputs_en": [i.en for i in pol.inputs]}
            )  # fmt: skip
    for y in sorted({y for ys in years.values() for y in ys}, reverse=True):
        results, parts = {}, []
        for pol in pols:
            if pol.entity not in frames or y not in years[pol.id]:
                continue
            try:
                res, _ = evaluate(pol, rows_for_year(pol, frames[pol.entity], y), as_of=today)
            except ValidationError:
                continue  # parameters not in force for that year: nothing to claim, no entitlement
            results[pol.id] = with_reasons(pol, res)
            parts.append(claims(pol, res))
        stacked = no_stacking(parts)
        for pol_id, res in results.items():
            pol = library.get(pol_id)
            programme = published.get(pol_id, {}).get(y)
            for r in res.iter_rows(named=True):
                entity = "/".join(str(r[k]) for k in pol.key)
                st = stacked.filter((pl.col("policy_id") == pol_id) & (pl.col("entity") == entity))
                kept = st.height == 0 or st["kept"][0]
                status = "not_eligible"
                if r["eligible"] and r["amount"] > 0:
                    status = ("eligible" if programme else "not_open") if kept else "set_aside"
                found.append(
                    {"policy": pol_id, "title_zh": pol.title_zh, "title_en": pol.title_en,
                     "document": pol.document, "status": status, "entity": entity, "year": y,
                     "programme": programme, "amount": Decimal(f"{r['amount']:.2f}"),
                     "reason_zh": r["reason_zh"], "reason_en": r["reason_en"],
                     "set_aside_by": None if kept else st["set_aside_by"][0]}
                )  # fmt: skip
    eligible = [m for m in found if m["status"] == "eligible"]
    access.log(s, p, "policy.matches", "enterprise", uscc, detail={"eligible": len(eligible)})
    return {
        "uscc": uscc,
        "name": frames["firm"]["name"][0],
        "total": sum((m["amount"] for m in eligible), Decimal("0")),
        "matches": found,
    }


def open_programmes(s: Session, engine: Engine, p: Principal, uscc: str) -> list[dict[str, Any]]:
    """Each published programme's entities of the firm in the budget year: eligible or not,
    amount, clauses, and whether already applied for (audited: it evaluates the firm's data)."""
    progs = list(
        s.scalars(
            select(Programme)
            .where(Programme.state == "published")
            .order_by(Programme.year.desc(), Programme.id)
        )
    )
    applied = set(
        s.execute(
            select(Application.programme_id, Application.entity).where(Application.firm == uscc)
        ).all()
    )
    frames = registry_frames(engine, uscc)
    out = []
    for prog in progs:
        policy = library.get(prog.policy_id)
        if policy.entity not in frames:
            continue
        rows = rows_for_year(policy, frames[policy.entity], prog.year)
        if rows.height == 0:
            continue
        head = {
            "programme": prog.id,
            "policy": policy.id,
            "title_zh": policy.title_zh,
            "title_en": policy.title_en,
            "document": policy.document,
            "year": prog.year,
        }
        try:
            res, _ = evaluate(policy, rows, as_of=prog.params_as_of)
        except ValidationError as e:
            # One programme whose parameters do not cover the firm's rows must not hide the
            # others: it is listed with the reason, and applying would be refused with it.
            out.append(
                {**head, "entity": "—", "eligible": False, "amount": None,
                 "reason_zh": e.reason_zh, "reason_en": e.reason_en, "clauses": [],
                 "applied": False}
            )  # fmt: skip
            continue
        res = money(with_reasons(policy, res))
        for r in res.iter_rows(named=True):
            entity = "/".join(str(r[k]) for k in policy.key)
            out.append(
                {
                    **head,
                    "entity": entity,
                    "eligible": bool(r["eligible"]) and r["amount"] > 0,
                    "amount": r["amount"],
                    "reason_zh": r["reason_zh"],
                    "reason_en": r["reason_en"],
                    "clauses": clauses(policy, r),
                    "applied": (prog.id, entity) in applied,
                }
            )
    access.log(s, p, "policy.open", "enterprise", uscc, detail={"rows": len(out)})
    return out


def apply(
    s: Session,
    engine: Engine,
    p: Principal,
    uscc: str,
    programme_id: str,
    entity: str | None,
) -> list[dict[str, Any]]:
    """Apply for the firm's eligible entities of the programme's year (or the one named), from
    the registry's data. Only the firm's own user may apply for it (rule ``policy.apply``)."""
    authorize(s, p, "policy.apply", uscc)
    prog = service.get_programme(s, programme_id)
    policy = library.get(prog.policy_id)
    frame = rows_for_year(policy, _registry_frame(engine, policy, uscc)[policy.entity], prog.year)
    entity = (entity or "").strip() or None
    if entity:
        frame = frame.filter(entity_filter(policy, entity))
    elif frame.height:
        res, _ = evaluate(policy, frame, as_of=prog.params_as_of)
        frame = frame.filter(res["eligible"] & (res["amount"] > 0))
    if frame.height == 0:
        raise ValidationError(
            "没有可申请的对象",
            "nothing eligible to apply for",
            [
                Problem(
                    f"本企业在{prog.year}年度没有符合条件的对象"
                    if not entity
                    else f"本企业在{prog.year}年度没有对象{entity}",
                    f"the firm has no eligible entity in {prog.year}"
                    if not entity
                    else f"the firm has no entity {entity} in {prog.year}",
                    field="entity",
                    value=entity or uscc,
                )
            ],
        )
    apps = service.apply(s, programme_id, frame, by=p.username)
    out = _with_why(s, apps)
    for a in out:
        access.log(
            s,
            p,
            "policy.apply",
            "application",
            a["id"],
            after={k: a[k] for k in ("programme", "firm", "entity", "state", "claimed")},
        )
    return out


def review(
    s: Session, p: Principal, application_id: int, *, accept: bool, note: str | None
) -> dict[str, Any]:
    before = application_view(service.get_application(s, application_id))
    a = service.review(s, application_id, by=p.username, accept=accept, note=note or None)
    out = application_view(a)
    access.log(s, p, "policy.review", "application", a.id, before=before, after=out)
    return out


def pay(s: Session, p: Principal, application_id: int, key: str) -> dict[str, Any]:
    """Pay once; the same key returns the first payment (and is audited as a replay)."""
    before = application_view(service.get_application(s, application_id))
    pm = service.pay(s, application_id, idempotency_key=key, by=p.username)
    out = payment_view(pm)
    access.log(
        s,
        p,
        "policy.pay",
        "application",
        application_id,
        before=before,
        after=out,
        detail={"replay": before["state"] == "paid"},
    )
    return out


def corrections(s: Session, p: Principal, programme_id: str, as_of: date) -> dict[str, Any]:
    """What each paid application would receive with parameters as known on ``as_of`` and the
    top-up or claw-back that follows (a preview; audited, it shows every payee's figures)."""
    prog = service.get_programme(s, programme_id)
    items = service.corrections(s, programme_id, as_of=as_of)
    zero = Decimal("0.00")
    out = {
        "programme": programme_view(prog),
        "as_of": as_of,
        "items": items,
        "top_up": sum((c["delta"] for c in items if c["delta"] > 0), zero),
        "claw_back": sum((c["delta"] for c in items if c["delta"] < 0), zero),
    }
    out["net"] = out["top_up"] + out["claw_back"]
    access.log(
        s,
        p,
        "policy.corrections",
        "programme",
        programme_id,
        detail={"as_of": as_of, "rows": len(items), "net": out["net"]},
    )
    return out


def record_corrections(
    s: Session, p: Principal, programme_id: str, as_of: date, key_prefix: str
) -> list[dict[str, Any]]:
    """Record the top-ups and claw-backs; the same prefix returns the same payments."""
    before = programme_view(service.get_programme(s, programme_id))
    pays = service.apply_corrections(
        s, programme_id, as_of=as_of, by=p.username, key_prefix=key_prefix
    )
    out = [payment_view(x) for x in pays]
    access.log(
        s,
        p,
        "policy.correct",
        "programme",
        programme_id,
        before=before,
        after=programme_view(service.get_programme(s, programme_id)),
        detail={
            "as_of": as_of,
            "key_prefix": key_prefix,
            "payments": [{"id": x["id"], "kind": x["kind"], "amount": x["amount"]} for x in out],
        },
    )
    return out


# ── the precise push: eligible firms of a programme ──────────────────────────────────────


def _eligible_frame(engine: Engine, prog: Programme) -> tuple[Policy, pl.DataFrame]:
    """Every eligible entity of the programme's year in the region, largest amount first."""
    policy = library.get(prog.policy_id)
    frames = _registry_frame(engine, policy, None)
    rows = rows_for_year(policy, frames[policy.entity], prog.year)
    res, _ = evaluate(policy, rows, as_of=prog.params_as_of)
    res = money(with_reasons(policy, res).filter(pl.col("eligible") & (pl.col("amount") > 0)))
    if policy.firm_column == "uscc":
        res = res.join(frames["firm"].select("uscc", "name", "region_code"), on="uscc", how="left")
    else:
        res = res.with_columns(
            pl.lit(None, dtype=pl.String).alias("name"),
            pl.lit(None, dtype=pl.String).alias("region_code"),
        )
    key = [k for k in policy.key if k != policy.firm_column]
    return policy, res.sort(
        ["amount", policy.firm_column, *key], descending=[True, False, *[False] * len(key)]
    )


def _eligible_row(policy: Policy, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "firm": r[policy.firm_column],
        "name": r["name"],
        "region_code": r["region_code"],
        "entity": "/".join(str(r[k]) for k in policy.key),
        "amount": r["amount"],
        "clauses": clauses(policy, r),
    }


def eligible(
    s: Session, engine: Engine, p: Principal, programme_id: str, *, offset: int, limit: int
) -> dict[str, Any]:
    """One page of the eligible list with totals and the budget it would need (audited)."""
    prog = service.get_programme(s, programme_id)
    policy, res = _eligible_frame(engine, prog)
    total = (res["amount"].sum() or Decimal(0)).quantize(Decimal("0.01"))
    page = res.slice(offset, limit)
    access.log(
        s,
        p,
        "policy.eligible",
        "programme",
        programme_id,
        detail={"rows": res.height, "offset": offset, "limit": limit},
    )
    return {
        "programme": programme_view(prog),
        "policy": policy_view(policy),
        "total": res.height,
        "firms": res[policy.firm_column].n_unique(),
        "amount": total,
        "over_budget": total > prog.budget - prog.reserved,
        "offset": offset,
        "limit": limit,
        "items": [_eligible_row(policy, r) for r in page.iter_rows(named=True)],
    }


NOTIFY_HEADER = (
    "统一社会信用代码 USCC",
    "企业名称 name",
    "行政区划 region",
    "对象 entity",
    "预计金额（元） amount (CNY)",
    "依据条款",
    "basis (clauses)",
)


def notify_xlsx(
    s: Session, engine: Engine, p: Principal, programme_id: str
) -> tuple[str, bytes, int]:
    """The notify list (精准推送) as an Excel file: name, bytes and row count (audited)."""
    from kejin.exports import Book

    prog = service.get_programme(s, programme_id)
    policy, res = _eligible_frame(engine, prog)
    book = Book()
    ws = book.sheet(programme_id)
    ws.row([f"{policy.title_zh}（{policy.document}） {prog.year}年度 待通知企业清单"])
    ws.row(list(NOTIFY_HEADER))
    for r in res.iter_rows(named=True):
        row = _eligible_row(policy, r)
        ws.row(
            [
                row["firm"],
                row["name"],
                row["region_code"],
                row["entity"],
                float(row["amount"]),
                clause_text(row["clauses"], "zh"),
                clause_text(row["clauses"], "en"),
            ],
        )
    ws.widths((22, 30, 10, 22, 16, 70, 70))
    ws.freeze("A3")
    data = book.to_bytes()
    access.log(s, p, "policy.notify", "programme", programme_id, detail={"rows": res.height})
    return f"notify-{programme_id}.xlsx", data, res.height


# ── simulation ────────────────────────────────────────────────────────────────────────────


def parse_overrides(pairs: list[tuple[str, str]]) -> dict[str, Decimal]:
    """``[(name, value)]`` → exact overrides; empty values are skipped, bad ones refused by field."""
    out: dict[str, Decimal] = {}
    problems = []
    for name, text in pairs:
        if not text.strip():
            continue
        try:
            v = Decimal(text.strip())
        except InvalidOperation:
            v = Decimal("NaN")
        if not v.is_finite() or abs(v) > MAX_OVERRIDE:
            problems.append(
                Problem("应为有限数值", "a finite number is expected", field=name, value=text[:40])
            )
            continue
        out[name] = v
    if problems:
        raise ValidationError("模拟参数无效", "invalid simulation parameter", problems)
    return out


def firm_changes(sim: Simulation) -> pl.DataFrame:
    """Per firm: baseline and reform amounts and the difference (reform − baseline)."""
    col = sim.policy.firm_column

    def per_firm(res: pl.DataFrame, name: str) -> pl.DataFrame:
        return res.group_by(col).agg(pl.col("amount").sum().alias(name))

    return (
        per_firm(sim.baseline, "baseline")
        .join(per_firm(sim.reform, "reform"), on=col, how="full", coalesce=True)
        .fill_null(zero())
        .with_columns((pl.col("reform") - pl.col("baseline")).alias("delta"))
    )


def simulation(
    s: Session,
    engine: Engine,
    p: Principal,
    programme_id: str,
    overrides: dict[str, Decimal],
    *,
    top: int = 20,
) -> dict[str, Any]:
    """Baseline vs reform for the programme's year: firms, cost against the budget, winners
    and losers (audited: it evaluates every firm's data)."""
    prog = service.get_programme(s, programme_id)
    policy = library.get(prog.policy_id)
    frames = _registry_frame(engine, policy, None)
    sim = simulate(
        policy,
        frames[policy.entity],
        frames["firm"],
        overrides,
        year=prog.year,
        as_of=prog.params_as_of,
    )
    ch = firm_changes(sim)
    names = dict(zip(frames["firm"]["uscc"], frames["firm"]["name"], strict=True))
    col = policy.firm_column

    def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
        return [
            {
                "firm": r[col],
                "name": names.get(r[col]),
                **{k: r[k] for k in ("baseline", "reform", "delta")},
            }
            for r in df.head(top).iter_rows(named=True)
        ]

    winners = ch.filter(pl.col("delta") > 0).sort(["delta", col], descending=[True, False])
    losers = ch.filter(pl.col("delta") < 0).sort(["delta", col])
    params = {}
    for name, prm in policy.params.items():
        v = sim.baseline[name][0] if sim.baseline.height else None
        v = v.normalize() if isinstance(v, Decimal) else v  # 0.2, not 0.200000000000
        params[name] = {
            "baseline": v,
            "reform": overrides.get(name, v),
            "unit": prm.unit,
            "description": prm.description,
            "article": prm.article,
        }
    budget = prog.budget
    by_chain = sim.by.get("industry_chain")
    out = {
        "programme": programme_view(prog),
        "policy": policy_view(policy),
        "overrides": overrides,
        "parameters": params,
        **sim.totals,
        "budget": budget,
        "baseline_within_budget": sim.totals["baseline_cost"] <= budget,  # type: ignore[operator]
        "reform_within_budget": sim.totals["reform_cost"] <= budget,  # type: ignore[operator]
        "winners": winners.height,
        "losers": losers.height,
        "unchanged": ch.height - winners.height - losers.height,
        "top_winners": rows(winners),
        "top_losers": rows(losers),
        "by_chain": [] if by_chain is None else by_chain.to_dicts(),
    }
    access.log(
        s,
        p,
        "policy.simulate",
        "programme",
        programme_id,
        detail={
            "overrides": overrides,
            "reform_cost": sim.totals["reform_cost"],
            "winners": winners.height,
            "losers": losers.height,
        },
    )
    return out
