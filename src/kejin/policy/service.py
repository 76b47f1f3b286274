"""Budgets and the application workflow: publish → apply → review → approve → pay → correct.

Every operation runs inside the caller's session (one transaction), validates first and raises a
:class:`kejin.errors.KejinError` before writing anything. Money moves only here:

* **Maker-checker.** A programme is published by someone other than its maker; an application is
  approved by someone other than its reviewer. CHECK constraints back both rules.
* **Budget.** Approval reserves money; the programme row is locked (``SELECT … FOR UPDATE``) and
  its ``reserved`` total can never pass the budget (CHECK constraint). When reviewed demand
  exceeds what is left, the programme's allocation decides: ``fcfs`` serves applications in the
  order they were made (the one that crosses the line gets the remainder), ``pro_rata`` scales
  every claim by ``remaining / demand``, rounded down to the cent so the sum never exceeds it.
* **Not twice.** An entity can be applied for once per programme; an application is paid once
  (``seq`` 0); a cost item already approved or paid under another programme is refused
  ("从优、就高、不重复": the precise-push and stacking views pick the highest beforehand).
* **Idempotency.** Each payment has a key and the digest of what it asked: the same key with the
  same request returns the first payment, with a different request it is refused.
* **Retroactive correction.** When a parameter is revised after payment, each paid application is
  recomputed from its stored inputs "as known on" the revision date, scaled by the share of its
  claim it was allocated, and the difference becomes a top-up or a claw-back.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.console import dumps
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.policy import library
from kejin.policy.engine import Policy, evaluate, money, with_reasons
from kejin.policy.tables import ALLOCATIONS, Application, Payment, Programme

CENT = Decimal("0.01")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now().replace(microsecond=0)


def get_programme(s: Session, programme_id: str, lock: bool = False) -> Programme:
    """The programme, or NotFoundError; ``lock`` takes the row lock that guards its budget."""
    p = s.get(Programme, programme_id, with_for_update=lock)
    if p is None:
        raise NotFoundError(
            f"没有项目{programme_id}",
            f"no programme {programme_id}",
            [Problem("未找到", "not found", field="programme", value=programme_id)],
        )
    return p


def get_application(s: Session, application_id: int) -> Application:
    """The application, or NotFoundError."""
    a = s.get(Application, application_id)
    if a is None:
        raise NotFoundError(
            f"没有申请{application_id}",
            f"no application {application_id}",
            [Problem("未找到", "not found", field="application", value=application_id)],
        )
    return a


def _same_person(who: str, other: str | None, what_zh: str, what_en: str) -> None:
    if other is not None and who == other:
        raise ValidationError(
            f"{what_zh}须由另一人完成（经办与审批分离）",
            f"{what_en} must be done by someone else (maker-checker)",
            [
                Problem(
                    "审批人不能是经办人", "the checker cannot be the maker", field="by", value=who
                )
            ],
        )


def create_programme(
    s: Session,
    *,
    policy_id: str,
    year: int,
    budget: Decimal,
    allocation: str,
    by: str,
    now: datetime | None = None,
) -> Programme:
    """A draft programme: a policy of the library funded with ``budget`` for ``year``."""
    library.get(policy_id)
    if allocation not in ALLOCATIONS:
        raise ValidationError(
            "分配方式无效",
            "unknown allocation",
            [
                Problem(
                    f"可选：{ALLOCATIONS}",
                    f"one of {ALLOCATIONS}",
                    field="allocation",
                    value=allocation,
                )
            ],
        )
    if budget < 0 or budget != budget.quantize(CENT):
        raise ValidationError(
            "预算须为非负、至多两位小数",
            "budget must be non-negative with at most 2 decimals",
            [Problem("预算无效", "bad budget", field="budget", value=str(budget))],
        )
    pid = f"{policy_id}-{year}"
    if s.get(Programme, pid) is not None:
        raise ConflictError(
            f"项目{pid}已存在",
            f"programme {pid} exists",
            [Problem("重复", "duplicate", field="programme", value=pid)],
        )
    prog = Programme(
        id=pid,
        policy_id=policy_id,
        year=year,
        budget=budget,
        reserved=Decimal("0"),
        paid=Decimal("0"),
        allocation=allocation,
        state="draft",
        made_by=by,
        made_at=_now(now),
    )
    s.add(prog)
    s.flush()
    return prog


def publish(
    s: Session, programme_id: str, *, by: str, as_of: date, now: datetime | None = None
) -> Programme:
    """Publish a draft; the checker must not be its maker. Parameters are fixed "as known on" ``as_of``."""
    prog = get_programme(s, programme_id, lock=True)
    if prog.state != "draft":
        raise ConflictError(
            f"项目{programme_id}已发布", f"programme {programme_id} is already published"
        )
    _same_person(by, prog.made_by, "发布", "publication")
    prog.state, prog.approved_by, prog.approved_at, prog.params_as_of = (
        "published",
        by,
        _now(now),
        as_of,
    )
    s.flush()
    return prog


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(dumps(row))


def frame_from_inputs(policy: Policy, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rebuild an input frame from stored JSON rows: dates come back from ISO text and money
    from exact decimal text (older rows stored a JSON number, read through its text too)."""
    schema = {i.name: i.dtype for i in policy.inputs}
    text = {k for k, v in schema.items() if v == pl.Date or isinstance(v, pl.Decimal)}
    raw = pl.DataFrame(
        [{k: (None if r.get(k) is None else str(r[k])) if k in text else r.get(k) for k in schema}
         for r in rows],
        schema={k: (pl.String if k in text else v) for k, v in schema.items()},
        orient="row",
    )  # fmt: skip
    return raw.with_columns(
        pl.col(k).str.to_date() if v == pl.Date else pl.col(k).cast(v)
        for k, v in schema.items()
        if k in text
    )


def apply(
    s: Session, programme_id: str, frame: pl.DataFrame, *, by: str, now: datetime | None = None
) -> list[Application]:
    """File applications for every row of ``frame``; any ineligible row refuses the whole batch."""
    prog = get_programme(s, programme_id)
    if prog.state != "published":
        raise ConflictError(
            f"项目{programme_id}尚未发布", f"programme {programme_id} is not published"
        )
    policy = library.get(prog.policy_id)
    result, _ = evaluate(policy, frame, as_of=prog.params_as_of)
    result = money(with_reasons(policy, result))
    bad = result.filter(~pl.col("eligible") | (pl.col("amount") <= 0))
    if bad.height:
        raise ValidationError(
            "不符合条件，不能申请",
            "not eligible, cannot apply",
            [
                Problem(
                    r["reason_zh"],
                    r["reason_en"],
                    row=i + 2,
                    field="/".join(policy.key),
                    value="/".join(str(r[k]) for k in policy.key),
                    document=policy.document,
                )
                for i, r in enumerate(bad.iter_rows(named=True))
            ],
        )
    cost = (
        result.select(policy.cost_item.alias("c")).to_series()
        if policy.cost_item is not None
        else pl.Series([None] * result.height)
    )
    input_names = [i.name for i in policy.inputs]
    out = []
    t = _now(now)
    for row, c in zip(result.iter_rows(named=True), cost, strict=True):
        entity = "/".join(str(row[k]) for k in policy.key)
        exists = s.scalar(
            select(Application.id).where(
                Application.programme_id == programme_id, Application.entity == entity
            )
        )
        if exists is not None:
            raise ConflictError(
                f"{entity}已申请",
                f"{entity} has already applied",
                [
                    Problem(
                        "同一对象只能申请一次",
                        "one application per entity",
                        field="entity",
                        value=entity,
                    )
                ],
            )
        app = Application(
            programme_id=programme_id,
            firm=str(row[policy.firm_column]),
            entity=entity,
            cost_item=c,
            inputs=_jsonable({k: row[k] for k in input_names}),
            state="applied",
            claimed=row["amount"],
            paid_total=Decimal("0"),
            applied_at=t,
            applied_by=by,
        )
        s.add(app)
        out.append(app)
    s.flush()
    return out


def review(
    s: Session,
    application_id: int,
    *,
    by: str,
    accept: bool = True,
    note: str | None = None,
    now: datetime | None = None,
) -> Application:
    """The maker's review: accept (→ reviewed) or reject with a note."""
    app = get_application(s, application_id)
    if app.state != "applied":
        raise ConflictError(
            f"申请{application_id}状态为{app.state}",
            f"application {application_id} is {app.state}, not applied",
        )
    app.reviewed_by, app.reviewed_at, app.note = by, _now(now), note
    app.state = "reviewed" if accept else "rejected"
    s.flush()
    return app


def approve(
    s: Session, programme_id: str, *, by: str, now: datetime | None = None
) -> list[Application]:
    """The checker approves every reviewed application, reserving budget by the allocation rule."""
    prog = get_programme(s, programme_id, lock=True)
    apps = list(
        s.scalars(
            select(Application)
            .where(Application.programme_id == programme_id, Application.state == "reviewed")
            .order_by(Application.applied_at, Application.id)
        )
    )
    for a in apps:
        _same_person(by, a.reviewed_by, "审批", "approval")
    t = _now(now)
    live = []
    for a in apps:
        other = s.scalar(
            select(Application.programme_id).where(
                Application.firm == a.firm,
                Application.cost_item == a.cost_item,
                Application.cost_item.is_not(None),
                Application.programme_id != programme_id,
                Application.state.in_(("approved", "paid")),
            )
        )
        if other is not None:
            a.state, a.approved_by, a.approved_at, a.approved_amount = (
                "rejected",
                by,
                t,
                Decimal("0"),
            )
            a.note = (
                f"从优、就高、不重复：已由{other}支付 / not stacked: already covered by {other}"
            )
        else:
            live.append(a)
    remaining = prog.budget - prog.reserved
    demand = sum((a.claimed for a in live), Decimal("0"))
    grants: list[Decimal]
    if demand <= remaining:
        grants = [a.claimed for a in live]
    elif prog.allocation == "fcfs":
        grants, left = [], remaining
        for a in live:
            g = min(a.claimed, left)
            grants.append(g)
            left -= g
    else:
        factor = remaining / demand
        grants = [(a.claimed * factor).quantize(CENT, rounding=ROUND_DOWN) for a in live]
    for a, g in zip(live, grants, strict=True):
        a.approved_by, a.approved_at, a.approved_amount = by, t, g
        if g > 0:
            a.state = "approved"
        else:
            a.state, a.note = "rejected", "预算已用完 / budget exhausted"
    prog.reserved += sum(grants, Decimal("0"))
    s.flush()
    return apps


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(dumps(payload).encode()).hexdigest()


def _replay(s: Session, key: str, payload: dict[str, Any]) -> Payment | None:
    prev = s.scalar(select(Payment).where(Payment.idempotency_key == key))
    if prev is None:
        return None
    if prev.payload_sha256 != _digest(payload):
        raise ConflictError(
            "幂等键已用于另一笔不同的支付",
            "idempotency key already used for a different payment",
            [
                Problem(
                    "同一键、不同内容：拒绝",
                    "same key, different request: refused",
                    field="idempotency_key",
                    value=key,
                )
            ],
        )
    return prev


def pay(
    s: Session, application_id: int, *, idempotency_key: str, by: str, now: datetime | None = None
) -> Payment:
    """Pay an approved application its approved amount, once."""
    payload = {"application": application_id, "kind": "payment"}
    prev = _replay(s, idempotency_key, payload)
    if prev is not None:
        return prev
    app = get_application(s, application_id)
    prog = get_programme(s, app.programme_id, lock=True)
    if app.state != "approved":
        raise ConflictError(
            f"申请{application_id}状态为{app.state}，不能支付",
            f"application {application_id} is {app.state}; only approved applications are paid",
            [
                Problem(
                    "不能重复支付" if app.state == "paid" else "尚未审批",
                    "never paid twice" if app.state == "paid" else "not approved",
                    field="application",
                    value=application_id,
                )
            ],
        )
    amount = app.approved_amount or Decimal("0")
    pm = Payment(
        application_id=app.id,
        seq=0,
        kind="payment",
        amount=amount,
        idempotency_key=idempotency_key,
        payload_sha256=_digest(payload),
        # a memo people read (the transfer's purpose): the policy by its title, not its id
        reason=f"{library.get(prog.policy_id).title_zh} {app.entity}",
        paid_by=by,
        paid_at=_now(now),
    )
    s.add(pm)
    app.paid_total += amount
    app.state = "paid"
    prog.paid += amount
    s.flush()
    return pm


def corrections(s: Session, programme_id: str, *, as_of: date) -> list[dict[str, Any]]:
    """Per paid application: what it would receive with parameters as known on ``as_of``, and the delta."""
    prog = get_programme(s, programme_id)
    policy = library.get(prog.policy_id)
    apps = list(
        s.scalars(
            select(Application)
            .where(Application.programme_id == programme_id, Application.state == "paid")
            .order_by(Application.id)
        )
    )
    if not apps:
        return []
    result, _ = evaluate(policy, frame_from_inputs(policy, [a.inputs for a in apps]), as_of=as_of)
    result = money(result)
    out = []
    for a, new in zip(apps, result["amount"], strict=True):
        share = (a.approved_amount or Decimal("0")) / a.claimed if a.claimed else Decimal("0")
        entitled = (new * share).quantize(CENT, rounding=ROUND_HALF_UP)
        delta = entitled - a.paid_total
        out.append(
            {
                "application": a.id,
                "firm": a.firm,
                "entity": a.entity,
                "paid": a.paid_total,
                "recomputed": new,
                "allocated_share": share.quantize(Decimal("0.000001")),
                "entitled": entitled,
                "delta": delta,
                "kind": "top_up" if delta > 0 else "claw_back" if delta < 0 else "none",
            }
        )
    return out


def apply_corrections(
    s: Session,
    programme_id: str,
    *,
    as_of: date,
    by: str,
    key_prefix: str,
    now: datetime | None = None,
) -> list[Payment]:
    """Record the top-ups and claw-backs of :func:`corrections`, each with key ``prefix:application``."""
    prog = get_programme(s, programme_id, lock=True)
    out = []
    t = _now(now)
    for c in corrections(s, programme_id, as_of=as_of):
        key = f"{key_prefix}:{c['application']}"
        payload = {"application": c["application"], "as_of": as_of, "prefix": key_prefix}
        prev = _replay(s, key, payload)
        if prev is not None:
            out.append(prev)
            continue
        if c["delta"] == 0:
            continue
        if prog.reserved + c["delta"] > prog.budget:
            raise ConflictError(
                "补发将超出预算",
                "the top-up would exceed the budget",
                [
                    Problem(
                        f"剩余预算{prog.budget - prog.reserved}",
                        f"remaining budget {prog.budget - prog.reserved}",
                        field="delta",
                        value=str(c["delta"]),
                    )
                ],
            )
        app = get_application(s, c["application"])
        seq = (
            s.scalar(select(func.max(Payment.seq)).where(Payment.application_id == app.id)) or 0
        ) + 1
        pm = Payment(
            application_id=app.id,
            seq=seq,
            kind=c["kind"],
            amount=c["delta"],
            idempotency_key=key,
            payload_sha256=_digest(payload),
            reason=f"参数更正（截至{as_of}）/ parameter revision as known on {as_of}",
            paid_by=by,
            paid_at=t,
        )
        s.add(pm)
        app.paid_total += c["delta"]
        app.claimed, app.approved_amount = c["recomputed"], c["entitled"]
        prog.paid += c["delta"]
        prog.reserved += c["delta"]
        out.append(pm)
    s.flush()
    return out
