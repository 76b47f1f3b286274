"""Needs and their lifecycle: post, publish, take (接单), review, decide, disburse, close.

Every transition is one function that authorises, validates, changes the row, writes the dated
transition (``match_need_events``) and the audit event — in the caller's transaction, so a
refusal leaves nothing and a committed change always has both records. The API and the CLI call
these same functions with the acting person's principal.

The allowed moves::

    draft → published → taken → first_review → approved → disbursed → closed
                          ↘ declined (reason code required)   ↘ declined
    draft/published → withdrawn;  published → expired;  taken → published (exclusivity lapsed)

Taking is one conditional ``UPDATE … WHERE id = ? AND state = 'published'``: the database lets
exactly one of several concurrent takes change the row (SQLite serialises writers; PostgreSQL
re-checks the WHERE on the row it waited for), and every loser reads who holds the need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.access.service import grant_consent, log, revoke_consent
from kejin.access.tables import Consent
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution, Loan
from kejin.matching import params
from kejin.matching.tables import Need, NeedEvent, ProductVersion
from kejin.registry.tables import Enterprise
from kejin.vocab import DECLINE_REASONS, GUARANTEE_KINDS

#: Where each transition may start.
MOVES: dict[str, tuple[str, ...]] = {
    "published": ("draft",),
    "withdrawn": ("draft", "published"),
    "expired": ("published",),
    "taken": ("published",),
    "first_review": ("taken",),
    "approved": ("taken", "first_review"),
    "declined": ("taken", "first_review"),
    "disbursed": ("approved",),
    "closed": ("disbursed",),
}
MAX_TERM_MONTHS = 360


@dataclass
class NeedIn:
    """What a firm states about a need (the enterprise page, the API, a survey row)."""

    amount: Decimal
    term_months: int
    purpose: str
    guarantee_offered: list[str] = field(default_factory=list)
    max_rate: Decimal | None = None
    urgency: str = "normal"
    repayment_source: str | None = None
    survey: dict[str, Any] | None = None


def need_problems(
    n: NeedIn, now: datetime, row: int | None = None, file: str | None = None
) -> list[Problem]:
    """Every problem with a stated need, each naming its field (empty when valid)."""
    out: list[Problem] = []

    def bad(fld: str, value: Any, zh: str, en: str, **ref: str) -> None:
        out.append(Problem(zh, en, file=file, row=row, field=fld, value=value, **ref))

    if n.amount <= 0:
        bad("amount", n.amount, "需求金额须大于0", "amount must be positive")
    if not 0 < n.term_months <= MAX_TERM_MONTHS:
        bad(
            "term_months",
            n.term_months,
            f"期限须为1–{MAX_TERM_MONTHS}个月",
            f"term must be 1–{MAX_TERM_MONTHS} months",
        )
    if not n.purpose.strip():
        bad("purpose", n.purpose, "用途不能为空", "purpose must not be empty")
    for g in n.guarantee_offered:
        if g not in GUARANTEE_KINDS:
            bad(
                "guarantee_offered",
                g,
                "增信方式不在词表中",
                "credit enhancement not in the vocabulary",
            )
    if n.urgency not in ("normal", "urgent"):
        bad(
            "urgency",
            n.urgency,
            "紧急程度须为 normal 或 urgent",
            "urgency must be normal or urgent",
        )
    if n.max_rate is not None:
        cap = params.rate_cap(now.date())
        ref = params.parameters()["rate_cap_lpr_multiple"]
        if n.max_rate <= 0:
            bad("max_rate", n.max_rate, "可接受利率须大于0", "acceptable rate must be positive")
        elif n.max_rate > cap:
            bad(
                "max_rate",
                n.max_rate,
                f"可接受利率超过法定上限 {cap:.2%}",
                f"acceptable rate above the legal ceiling {cap:.2%}",
                document=ref.document,
                article=ref.article,
            )
    return out


def view(n: Need) -> dict[str, Any]:
    return {
        "id": n.id,
        "uscc": n.uscc,
        "amount": n.amount,
        "term_months": n.term_months,
        "purpose": n.purpose,
        "guarantee_offered": list(n.guarantee_offered),
        "max_rate": n.max_rate,
        "urgency": n.urgency,
        "state": n.state,
        "published_at": n.published_at,
        "expires_on": n.expires_on,
        "institution_id": n.institution_id,
        "product_id": n.product_id,
        "taken_by": n.taken_by,
        "taken_at": n.taken_at,
        "exclusive_until": n.exclusive_until,
        "decline_reason": n.decline_reason,
        "disbursed_amount": n.disbursed_amount,
        "contract_no": n.contract_no,
        "flagged_at": n.flagged_at,
        "rating": n.rating,
    }


def get(s: Session, need_id: int, lock: bool = False) -> Need:
    q = select(Need).where(Need.id == need_id)
    n = s.scalars(q.with_for_update() if lock else q).first()
    if n is None:
        raise NotFoundError(
            "需求不存在", "no such need", [Problem("", "", field="need_id", value=need_id)]
        )
    return n


def _event(
    s: Session,
    p: Principal,
    n: Need,
    old: str | None,
    new: str,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    s.add(
        NeedEvent(
            need_id=n.id,
            from_state=old,
            to_state=new,
            at=now,
            by=p.username,
            institution_id=p.institution_id,
            reason=reason,
            note=note,
        )
    )
    log(s, p, f"match.need.{new}", "need", n.id, detail={"from": old, "reason": reason})


def _move(
    s: Session,
    p: Principal,
    n: Need,
    new: str,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    if n.state not in MOVES[new]:
        (now_zh, now_en), (new_zh, new_en) = _state_words(n.state), _state_words(new)
        raise ConflictError(
            f"需求{n.id}当前为「{now_zh}」，不能变为「{new_zh}」",
            f"need {n.id} is {now_en}; it cannot become {new_en}",
            [
                Problem(
                    "状态不允许此操作",
                    "the state does not allow this",
                    field="state",
                    value=n.state,
                )
            ],
        )
    old, n.state = n.state, new
    _event(s, p, n, old, new, now, reason, note)


def _state_words(state: str) -> tuple[str, str]:
    """A need state as a person reads it (the refusals name states, never their codes)."""
    from kejin.matching.texts import NEED_STATE_TERMS  # the labels live with the pages' words

    term = NEED_STATE_TERMS.get(state)
    return (term.zh, term.en) if term else (state, state)


def _bank_name(s: Session, institution_id: str | None) -> str:
    """The holder of a need by its name: a refusal tells a second bank who has it."""
    name = s.scalar(select(Institution.name).where(Institution.id == institution_id))
    return name or str(institution_id)


def _own_need(p: Principal, n: Need) -> None:
    if p.role == "enterprise_user" and p.uscc != n.uscc:
        raise Forbidden("只能操作本企业的需求", "a firm acts on its own needs only")


def _holder(p: Principal, n: Need) -> None:
    if p.role == "bank_officer" and p.institution_id != n.institution_id:
        from sqlalchemy.orm import object_session

        s = object_session(n)
        name = _bank_name(s, n.institution_id) if s is not None else str(n.institution_id)
        raise Forbidden(
            f"该需求由{name}接单，只有接单银行可以办理",
            f"the need is held by {name}; only the holder acts on it",
            [
                Problem(
                    "已由其他银行接单",
                    "held by another bank",
                    field="institution_id",
                    value=n.institution_id,
                )
            ],
        )


def post(
    s: Session,
    p: Principal,
    uscc: str,
    n: NeedIn,
    *,
    publish: bool = True,
    now: datetime | None = None,
    action: str = "match.need.post",
) -> Need:
    """A firm's new need (published at once unless ``publish`` is false).

    ``action`` is ``match.need.import`` when a government officer posts a surveyed need on the
    firm's behalf (the survey import); the rule table decides who may do either.
    """
    authorize(s, p, action, uscc)
    now = now or utcnow()
    if s.get(Enterprise, uscc) is None:
        raise NotFoundError(
            "企业不存在", "no such firm", [Problem("", "", field="uscc", value=uscc)]
        )
    bad = need_problems(n, now)
    if bad:
        raise ValidationError("融资需求有误，未保存", "invalid need; nothing was saved", bad)
    need = Need(
        uscc=uscc,
        amount=n.amount,
        term_months=n.term_months,
        purpose=n.purpose.strip(),
        guarantee_offered=list(n.guarantee_offered),
        max_rate=n.max_rate,
        urgency=n.urgency,
        repayment_source=n.repayment_source,
        survey=n.survey,
        state="draft",
        created_by=p.username,
        created_at=now,
    )
    s.add(need)
    s.flush()
    _event(s, p, need, None, "draft", now)
    if publish:
        _publish(s, p, need, now)
    return need


def _publish(s: Session, p: Principal, n: Need, now: datetime) -> None:
    _move(s, p, n, "published", now)
    n.published_at = now
    n.expires_on = now.date() + timedelta(days=int(params.value("need_validity_days", now.date())))


def publish(s: Session, p: Principal, need_id: int, now: datetime | None = None) -> Need:
    n = get(s, need_id, lock=True)
    authorize(s, p, "match.need.post", n.uscc)
    _publish(s, p, n, now or utcnow())
    return n


def withdraw(s: Session, p: Principal, need_id: int, now: datetime | None = None) -> Need:
    """The firm takes its need off the market; the consents it granted for it end with it."""
    n = get(s, need_id, lock=True)
    authorize(s, p, "match.need.post", n.uscc)
    now = now or utcnow()
    _move(s, p, n, "withdrawn", now)
    for c in s.scalars(
        select(Consent).where(Consent.need_id == n.id, Consent.revoked_at.is_(None))
    ):
        revoke_consent(s, p, c.id, now)
    return n


def share(
    s: Session,
    p: Principal,
    need_id: int,
    institution_ids: list[str],
    now: datetime | None = None,
) -> list[Consent]:
    """The banks that may see the firm's profile and figures for this need.

    One consent per bank, purpose ``product_matching``, scope ``full`` (the queue shows the
    firm's figures to these banks only), tied to the need and lasting until the need's
    expiry; :func:`withdraw` revokes them. Granted through the one consent door
    (:func:`kejin.access.service.grant_consent`), so the firm's own rule and audit apply.
    """
    n = get(s, need_id)
    now = now or utcnow()
    authorize(s, p, "match.need.post", n.uscc)
    until = datetime.combine(
        n.expires_on
        or now.date() + timedelta(days=int(params.value("need_validity_days", now.date()))),
        time.max.replace(microsecond=0),
    )
    banks = set(s.scalars(select(Institution.id).where(Institution.id.in_(institution_ids))))
    unknown = [i for i in institution_ids if i not in banks]
    if unknown:
        raise ValidationError(
            "所选机构不存在",
            "no such institution",
            [Problem("机构不存在", "no such institution", field="banks", value=i) for i in unknown],
        )
    return [
        grant_consent(
            s,
            p,
            uscc=n.uscc,
            institution_id=i,
            purpose="product_matching",
            scope="full",
            expires_at=until,
            now=now,
            need_id=n.id,
        )
        for i in dict.fromkeys(institution_ids)
    ]


def shared_with(s: Session, need_id: int, now: datetime | None = None) -> list[str]:
    """The institutions a need's live consents open the firm to."""
    now = now or utcnow()
    return list(
        s.scalars(
            select(Consent.institution_id)
            .where(
                Consent.need_id == need_id,
                Consent.revoked_at.is_(None),
                Consent.expires_at > now,
            )
            .order_by(Consent.institution_id)
        )
    )


RATEABLE = ("approved", "declined", "disbursed", "closed")


def rate(
    s: Session,
    p: Principal,
    need_id: int,
    stars: int,
    note: str | None = None,
    now: datetime | None = None,
) -> Need:
    """The firm rates the bank's service once the bank has decided (once per need)."""
    n = get(s, need_id, lock=True)
    authorize(s, p, "match.need.rate", n.uscc)
    bad = []
    if n.state not in RATEABLE:
        bad.append(
            Problem(
                "银行作出决定后才能评价",
                "a service can be rated after the bank's decision",
                field="state",
                value=n.state,
            )
        )
    if n.rating is not None:
        bad.append(Problem("已评价过", "already rated", field="rating", value=n.rating))
    if not 1 <= stars <= 5:
        bad.append(Problem("评分须为1–5", "the rating must be 1–5", field="rating", value=stars))
    if bad:
        raise ValidationError("评价未保存", "the rating was not saved", bad)
    n.rating, n.rating_note, n.rated_at = stars, (note or "").strip() or None, now or utcnow()
    log(
        s,
        p,
        "match.need.rate",
        "need",
        n.id,
        detail={"rating": stars, "institution_id": n.institution_id},
    )
    return n


def take(
    s: Session,
    p: Principal,
    need_id: int,
    *,
    institution_id: str | None = None,
    product_id: str | None = None,
    now: datetime | None = None,
) -> Need:
    """接单: the institution holds the need exclusively for the configured working days.

    Exactly one of concurrent takes wins (one conditional UPDATE); a loser is told who holds it.
    """
    authorize(s, p, "match.take")
    inst = institution_id or p.institution_id
    if p.role == "bank_officer" and inst != p.institution_id:
        raise Forbidden(
            "只能以本机构名义接单", "an officer takes needs for its own institution only"
        )
    return _take(s, p, need_id, inst, product_id, now or utcnow())


def assign(
    s: Session,
    p: Principal,
    need_id: int,
    *,
    institution_id: str,
    now: datetime | None = None,
) -> Need:
    """派单: the government hands a published need nobody took in time to a bank by hand.

    The same conditional UPDATE as :func:`take` (a bank taking it at the same moment wins or
    loses cleanly); the transition records ``assigned`` as its reason.
    """
    authorize(s, p, "match.assign")
    return _take(s, p, need_id, institution_id, None, now or utcnow(), reason="assigned")


def _take(
    s: Session,
    p: Principal,
    need_id: int,
    inst: str | None,
    product_id: str | None,
    now: datetime,
    reason: str | None = None,
) -> Need:
    if inst is None or s.get(Institution, inst) is None:
        raise NotFoundError(
            "机构不存在", "no such institution", [Problem("", "", field="institution", value=inst)]
        )
    if product_id is not None:
        ok = s.scalar(
            select(ProductVersion.id).where(
                ProductVersion.product_id == product_id,
                ProductVersion.institution_id == inst,
                ProductVersion.state == "live",
            )
        )
        if ok is None:
            raise ValidationError(
                "产品不是本机构的在售产品",
                "not a live product of this institution",
                [Problem("", "", field="product_id", value=product_id)],
            )
    until = params.add_working_days(
        now.date(), int(params.value("exclusive_working_days", now.date()))
    )
    res = s.execute(
        update(Need)
        .where(Need.id == need_id, Need.state == "published")
        .values(
            state="taken",
            institution_id=inst,
            product_id=product_id,
            taken_by=p.username,
            taken_at=now,
            exclusive_until=until,
        )
        .execution_options(synchronize_session=False)
    )
    n = get(s, need_id)
    s.refresh(n)
    if res.rowcount != 1:
        if n.institution_id is not None:
            holder = _bank_name(s, n.institution_id)
            raise ConflictError(
                f"需求{need_id}已由{holder}接单",
                f"need {need_id} is already taken by {holder}",
                [
                    Problem(
                        "已被接单", "already taken", field="institution_id", value=n.institution_id
                    )
                ],
            )
        state_zh, state_en = _state_words(n.state)
        raise ConflictError(
            f"需求{need_id}当前为「{state_zh}」，不能接单",
            f"need {need_id} is {state_en}; it cannot be taken",
            [
                Problem(
                    "状态不允许接单",
                    "the state does not allow taking",
                    field="state",
                    value=n.state,
                )
            ],
        )
    _event(s, p, n, "published", "taken", now, reason=reason)
    return n


def review(
    s: Session, p: Principal, need_id: int, note: str | None = None, now: datetime | None = None
) -> Need:
    """初审 passed: the holding bank records its first review."""
    authorize(s, p, "match.decide")
    n = get(s, need_id, lock=True)
    _holder(p, n)
    _move(s, p, n, "first_review", now or utcnow(), note=note)
    return n


def decide(
    s: Session,
    p: Principal,
    need_id: int,
    *,
    approve: bool,
    reason: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Need:
    """Approve, or decline with a reason code from :data:`kejin.vocab.DECLINE_REASONS`."""
    authorize(s, p, "match.decide")
    if not approve and (reason is None or reason not in DECLINE_REASONS):
        raise ValidationError(
            "拒绝须给出原因代码",
            "a decline needs a reason code",
            [
                Problem(
                    f"可选：{', '.join(DECLINE_REASONS)}",
                    f"one of: {', '.join(DECLINE_REASONS)}",
                    field="reason",
                    value=reason,
                )
            ],
        )
    n = get(s, need_id, lock=True)
    _holder(p, n)
    now = now or utcnow()
    if not approve:
        n.decline_reason = reason  # before the move: its audit flush must see a reasoned decline
    _move(s, p, n, "approved" if approve else "declined", now, None if approve else reason, note)
    n.decided_at = now
    return n


def disburse(
    s: Session,
    p: Principal,
    need_id: int,
    *,
    amount: Decimal,
    contract_no: str | None = None,
    now: datetime | None = None,
) -> Need:
    """Disbursement of an approved need, linked to its loan contract when one is registered."""
    authorize(s, p, "match.decide")
    n = get(s, need_id, lock=True)
    _holder(p, n)
    if amount <= 0:
        raise ValidationError(
            "放款金额须大于0",
            "the disbursed amount must be positive",
            [Problem("", "", field="amount", value=amount)],
        )
    if contract_no is not None:
        loan = s.get(Loan, contract_no)
        if loan is None or loan.uscc != n.uscc or loan.institution_id != n.institution_id:
            raise ValidationError(
                "合同不是该企业在本机构的贷款",
                "the contract is not this firm's loan at this bank",
                [Problem("", "", field="contract_no", value=contract_no)],
            )
    _move(s, p, n, "disbursed", now or utcnow(), note=contract_no)
    n.disbursed_amount, n.contract_no = amount, contract_no
    return n


def close(s: Session, p: Principal, need_id: int, now: datetime | None = None) -> Need:
    authorize(s, p, "match.decide")
    n = get(s, need_id, lock=True)
    _holder(p, n)
    _move(s, p, n, "closed", now or utcnow())
    return n


def redispatch(s: Session, p: Principal, now: datetime | None = None) -> dict[str, list[int]]:
    """The government's service-level rule, run on demand or by a schedule.

    * a published need untaken for more than ``sla_working_days`` is flagged (once) for
      re-dispatch; past its ``expires_on`` it expires;
    * a taken need whose exclusive period ended without a first review returns to the market,
      flagged for re-dispatch.
    """
    authorize(s, p, "match.redispatch")
    now = now or utcnow()
    sla = int(params.value("sla_working_days", now.date()))
    flagged, expired, released = [], [], []
    for n in s.scalars(
        select(Need)
        .where(Need.state.in_(("published", "taken")))
        .order_by(Need.id)
        .with_for_update()
    ):
        if n.state == "published":
            if n.expires_on is not None and now.date() > n.expires_on:
                _move(s, p, n, "expired", now)
                expired.append(n.id)
            elif (
                n.flagged_at is None
                and n.published_at
                and params.working_days(n.published_at.date(), now.date()) > sla
            ):
                n.flagged_at = now
                _event(s, p, n, n.state, n.state, now, reason="sla_exceeded")
                flagged.append(n.id)
        elif n.exclusive_until is not None and now.date() > n.exclusive_until:
            old = n.institution_id
            n.state, n.institution_id, n.product_id, n.taken_by, n.taken_at, n.exclusive_until = (
                "published",
                None,
                None,
                None,
                None,
                None,
            )
            n.flagged_at = now  # back on the market, flagged for re-dispatch
            _event(s, p, n, "taken", "published", now, reason="exclusive_lapsed", note=old)
            released.append(n.id)
    return {"flagged": flagged, "expired": expired, "released": released}


def history(s: Session, p: Principal, need_id: int) -> list[dict[str, Any]]:
    n = get(s, need_id)
    authorize(s, p, "match.need.read")
    _own_need(p, n)
    return [
        {
            "from": e.from_state,
            "to": e.to_state,
            "at": e.at,
            "by": e.by,
            "institution_id": e.institution_id,
            "reason": e.reason,
            "note": e.note,
        }
        for e in s.scalars(
            select(NeedEvent).where(NeedEvent.need_id == need_id).order_by(NeedEvent.id)
        )
    ]


def firm_needs(s: Session, p: Principal, uscc: str) -> list[dict[str, Any]]:
    authorize(s, p, "match.need.list", uscc)
    rows = s.scalars(select(Need).where(Need.uscc == uscc).order_by(Need.id))
    log(s, p, "match.need.list", "enterprise", uscc)
    return [view(n) for n in rows]
