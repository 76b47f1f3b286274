"""The fund's steps as people and bank systems take them on the platform: who may, on whose
loans and claims, and the audit record of each, around :mod:`kejin.fund.service`.

The service knows actors by name and business dates; this layer knows principals. It checks the
rule table again (a route's gate is not the only caller), keeps a bank officer to its own
institution's loans and claims — a contract number of another bank is refused exactly like one
that does not exist, so probing reveals nothing — and records every change and every read of a
claim (which names a firm) in the hash-chained audit log. Idempotency keys are namespaced by
user, so two banks can never collide on a key, and a double-submitted form replays.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.fund import ledger, service
from kejin.fund.ledger import Actor
from kejin.fund.scheme import Scheme
from kejin.fund.tables import Claim, ClaimShare, Enrolment, FundPool
from kejin.lending.tables import Loan
from kejin.registry.tables import Enterprise

#: Longest key a caller may send; the namespace prefix must still fit the 80-character column.
KEY_MAX = 60


def command_key(p: Principal, key: str | None) -> str:
    """The caller's idempotency key within its own namespace (``web:<user id>:<key>``); a
    request without one gets a fresh key (returned with the result as ``command``)."""
    key = uuid.uuid4().hex if key is None else key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise ValidationError(
            f"幂等键须为1–{KEY_MAX}个可见字符",
            f"idempotency key must be 1–{KEY_MAX} printable characters",
            [Problem("幂等键无效", "bad key", field="key", value=key[:80])],
        )
    return f"web:{p.user_id}:{key}"


def actor(p: Principal, why: str, on: date | None = None) -> Actor:
    return Actor(p.username, on or date.today(), why)


def _refuse_loan(contract_no: str) -> Forbidden:
    return Forbidden(
        f"贷款合同 {contract_no} 不属于本行或不存在",
        f"loan {contract_no} is not your institution's or does not exist",
        [
            Problem(
                "只能操作本行贷款",
                "only your own institution's loans",
                field="contract_no",
                value=contract_no,
            )
        ],
    )


def own_loan(s: Session, p: Principal, contract_no: str) -> Loan:
    """The loan, if the principal may act on it: a bank officer only on its institution's."""
    loan = s.get(Loan, contract_no)
    _check_loan(p, contract_no, loan)
    assert loan is not None  # refused above
    return loan


def _check_loan(p: Principal, contract_no: str, loan: Any) -> None:
    """The tenant rule on a loan (an ORM object or a row): a bank officer only its own
    institution's, refused exactly like a loan that does not exist."""
    if p.role == "bank_officer" and (loan is None or loan.institution_id != p.institution_id):
        raise _refuse_loan(contract_no)
    if loan is None:
        raise NotFoundError(
            f"贷款合同 {contract_no} 不存在",
            f"no loan {contract_no}",
            [Problem("合同不存在", "no such loan", field="contract_no", value=contract_no)],
        )


def own_claim(s: Session, p: Principal, claim_id: int) -> Claim:
    """The claim, if the principal may see it: a bank officer only its institution's claims."""
    c = s.get(Claim, claim_id)
    if p.role == "bank_officer" and (c is None or c.institution_id != p.institution_id):
        raise Forbidden(
            f"理赔 {claim_id} 不属于本行或不存在",
            f"claim {claim_id} is not your institution's or does not exist",
            [Problem("只能查看本行理赔", "only your own claims", field="claim", value=claim_id)],
        )
    if c is None:
        raise NotFoundError(
            f"理赔 {claim_id} 不存在",
            f"no claim {claim_id}",
            [Problem("理赔不存在", "no such claim", field="claim", value=claim_id)],
        )
    return c


class _Step(NamedTuple):
    claim: Claim
    actor: Actor
    key: str
    audit: ledger.AuditHook


def _claim_step(
    s: Session, p: Principal, action: str, claim_id: int, why: str, key: str | None, on: date | None
) -> _Step:
    """The opening every step on one claim shares: the rule, the tenant's claim, who acts, the
    request's key and the audit record written inside the money's own transaction."""
    authorize(s, p, action)
    c = own_claim(s, p, claim_id)
    return _Step(
        c, actor(p, why, on), command_key(p, key), audit_hook(p, action, "fund_claim", claim_id)
    )


def audit_hook(
    p: Principal,
    action: str,
    kind: str,
    entity: Any,
    after: Callable[[dict[str, Any]], Any] = lambda out: out,
) -> ledger.AuditHook:
    """The step's audit record, written by the service inside the step's own transaction: the
    change and its record commit together or not at all. (Written afterwards in the request's
    session, a payout committed and its record could still be lost: 600 payouts under
    terminated backends left 598 ``fund.pay`` events.)"""

    def write(conn: Connection, out: dict[str, Any]) -> None:
        with Session(bind=conn) as s:
            access.log(s, p, action, kind, entity, after=after(out))

    return write


# ---------------------------------------------------------------- government


def deposit(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    party: str,
    amount: Decimal,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    authorize(s, p, "fund.deposit")
    audit = audit_hook(p, "fund.deposit", "fund_pool", pool)
    return service.deposit(
        engine, pool, party, amount, actor(p, why, on), command_key(p, key), audit=audit
    )


def create_pool(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    name: str,
    scheme: str,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Set up a pool under a scheme (the government's act, like every capital movement)."""
    authorize(s, p, "fund.create")
    audit = audit_hook(p, "fund.create", "fund_pool", pool)
    return service.create_pool(
        engine, pool, name, scheme, actor(p, why, on), command_key(p, key), audit=audit
    )


def collect_fee(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    contract_no: str,
    amount: Decimal | None,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """A guarantee fee into the pool (scheme rate × covered amount when none is given)."""
    authorize(s, p, "fund.fee")
    loan = own_loan(s, p, contract_no)
    audit = audit_hook(p, "fund.fee", "enterprise", loan.uscc, lambda out: {"pool": pool, **out})
    return service.collect_fee(
        engine, pool, contract_no, amount, actor(p, why, on), command_key(p, key), audit=audit
    )


def close_period(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    period_end: date,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Close the pool's periods through ``period_end`` (after a clean ledger audit)."""
    authorize(s, p, "fund.close")
    audit = audit_hook(p, "fund.close", "fund_pool", pool)
    return service.close_period(
        engine, pool, period_end, actor(p, why, on), command_key(p, key), audit=audit
    )


def review(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    ok: bool,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """First review; the service refuses the filer (maker-checker)."""
    st = _claim_step(s, p, "fund.review", claim_id, why, key, on)
    return service.review(engine, claim_id, ok, st.actor, st.key, audit=st.audit)


def approve(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    ok: bool,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Approval; the service refuses the filer and the first reviewer (maker-checker)."""
    st = _claim_step(s, p, "fund.approve", claim_id, why, key, on)
    return service.approve(engine, claim_id, ok, st.actor, st.key, audit=st.audit)


def pay(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    st = _claim_step(s, p, "fund.pay", claim_id, why, key, on)
    return service.pay(engine, st.claim.pool_id, claim_id, st.actor, st.key, audit=st.audit)


def reverse(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Undo a payout by reversal entries; the claim returns to approved."""
    st = _claim_step(s, p, "fund.reverse", claim_id, why, key, on)
    return service.reverse_payout(engine, claim_id, st.actor, st.key, audit=st.audit)


def recover(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    amount: Decimal,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Money recovered after a payout, shared back pro rata (a bank: its own claims only)."""
    st = _claim_step(s, p, "fund.recover", claim_id, why, key, on)
    return service.record_recovery(engine, claim_id, amount, st.actor, st.key, audit=st.audit)


def write_off(
    s: Session,
    engine: Engine,
    p: Principal,
    claim_id: int,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Close a paid claim (核销结案)."""
    st = _claim_step(s, p, "fund.write_off", claim_id, why, key, on)
    return service.write_off(engine, claim_id, st.actor, st.key, audit=st.audit)


# ---------------------------------------------------------------- bank


def enrol(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    contract_no: str,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    authorize(s, p, "fund.enrol")
    loan = own_loan(s, p, contract_no)
    audit = audit_hook(p, "fund.enrol", "enterprise", loan.uscc, lambda out: {"pool": pool, **out})
    return service.enrol(
        engine, pool, contract_no, actor(p, why, on), command_key(p, key), audit=audit
    )


def report_status(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    contract_no: str,
    month: date,
    balance: Decimal,
    days_past_due: int,
    classification: str,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """A month-end status of an enrolled loan (what a claim's trigger is judged on)."""
    authorize(s, p, "fund.report")
    loan = own_loan(s, p, contract_no)
    return service.record_status(
        engine,
        pool,
        contract_no,
        month,
        balance,
        days_past_due,
        classification,
        actor(p, why, on),
        command_key(p, key),
        audit=audit_hook(
            p, "fund.report", "enterprise", loan.uscc, lambda out: {"pool": pool, **out}
        ),
    )


def file_claim(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    pool: str,
    contract_no: str,
    why: str,
    key: str | None,
    on: date | None = None,
) -> dict[str, Any]:
    """A claim on the bank's own loan. The tenant check reads the loan inside the claim's own
    transaction (``service.file_claim(own=...)``), and that same row names the firm in the audit
    record: one read of the loan instead of a second one in the request's session before the
    claim (its checkout and round trips were a tenth of a claim's cost). A refusal raises there,
    rolls the claim back and is audited as a refusal like any other."""
    authorize(s, p, "fund.file")
    firm: list[str] = []

    def own(loan: Any) -> None:
        _check_loan(p, contract_no, loan)
        firm.append(loan.uscc)

    def write(conn: Connection, out: dict[str, Any]) -> None:
        with Session(bind=conn) as a:
            access.log(a, p, "fund.file", "enterprise", firm[0], after={"pool": pool, **out})

    return service.file_claim(
        engine, pool, contract_no, actor(p, why, on), command_key(p, key), audit=write, own=own
    )


# ---------------------------------------------------------------- reading


def pool_names(s: Session) -> list[tuple[str, str]]:
    return [tuple(r) for r in s.execute(select(FundPool.id, FundPool.name).order_by(FundPool.id))]  # type: ignore[misc]


def accounts(engine: Engine, pool_id: str) -> list[dict[str, Any]]:
    """Every ledger account of the pool with its balance from postings (debit positive)."""
    with engine.connect() as conn:
        return ledger.trial_balance(conn, pool_id)


def funders(engine: Engine, pool_id: str) -> list[str]:
    """The scheme's government funders: the parties a deposit may come from."""
    with engine.connect() as conn:
        return service.pool_scheme(conn, pool_id)[0].pool_parties


def share_clauses(s: Scheme, category: str, facts: dict[str, Any]) -> dict[str, list[dict]]:
    """For each scheme party: the clauses that decide its share of a loss in this category —
    the category's cited article and that of every bonus that held for the loan and moved points
    to or from the party."""
    cat = next(c for c in s.categories if c.id == category)
    names = {x.id: (x.name_zh, x.name_en) for x in s.participants}
    base = s.citation(f"categories.{cat.id}")
    out: dict[str, list[dict]] = {party: [dict(base)] for party in cat.shares}
    for j, b in enumerate(cat.bonuses):
        if any(service._holds(w, facts) for w in b.when_any):
            why = s.citation(f"categories.{cat.id}.bonuses[{j}]")
            note = {
                **why,
                "bonus": f"{b.from_} → {b.to} +{b.points}",
                # the same by the parties' names, for the pages (the ids above are codes)
                "bonus_zh": f"{names[b.from_][0]} → {names[b.to][0]} +{b.points}",
                "bonus_en": f"{names[b.from_][1]} → {names[b.to][1]} +{b.points}",
            }
            out[b.to].append(note)
            out[b.from_].append(note)
    return out


def claim_detail(s: Session, engine: Engine, p: Principal, claim_id: int) -> dict[str, Any]:
    """One claim with its review trail, the firm, and every party's share with the scheme
    clause deciding it; reading it is audited (it names the firm and its loss)."""
    authorize(s, p, "fund.claim")
    c = own_claim(s, p, claim_id)
    enr = s.get(Enrolment, c.enrolment_id)
    assert enr is not None
    firm = s.get(Enterprise, enr.uscc)
    shares = s.scalars(
        select(ClaimShare).where(ClaimShare.claim_id == claim_id).order_by(ClaimShare.party)
    ).all()
    with engine.connect() as conn:
        scheme, _ = service.pool_scheme(conn, c.pool_id)
        loan = conn.execute(
            select(service.LOAN).where(service.LOAN.c.contract_no == enr.contract_no)
        ).first()
        facts = service.loan_facts(conn, loan, enr.enrolled_on)
    clauses = share_clauses(scheme, enr.category, facts)
    cat = next(x for x in scheme.categories if x.id == enr.category)
    names = {x.id: (x.name_zh, x.name_en) for x in scheme.participants}
    out = {
        "claim": c.id,
        "pool": c.pool_id,
        "scheme": scheme.id,
        "scheme_version": scheme.version,
        "scheme_name": [scheme.name_zh, scheme.name_en],
        "category": [cat.id, cat.name_zh, cat.name_en],
        "contract_no": enr.contract_no,
        "institution": c.institution_id,
        "uscc": enr.uscc,
        "firm": firm.name if firm else None,
        "status": c.status,
        "trigger": c.trigger,
        "loss_base": c.loss_base,
        "pool_rate": c.pool_rate,
        "pool_amount": c.pool_amount,
        "caps": c.cap_note,
        "filed": {"by": c.filed_by, "on": c.filed_on},
        "review": {"by": c.reviewed_by, "on": c.reviewed_on, "due": c.review_due},
        "approval": {"by": c.approved_by, "on": c.approved_on, "due": c.approval_due},
        "paid_on": c.paid_on,
        "recovered_to_pool": c.recovered_to_pool,
        "shares": [
            {
                "party": sh.party,
                "name": list(names.get(scheme.party_of_role(sh.role, sh.party), (sh.party,) * 2)),
                "role": sh.role,
                "rate": sh.rate,
                "amount": sh.amount,
                "recovered": sh.recovered,
                "clauses": clauses.get(scheme.party_of_role(sh.role, sh.party), []),
            }
            for sh in shares
        ],
    }
    access.log(s, p, "fund.claim", "enterprise", enr.uscc, detail={"claim": claim_id})
    return out


def claims(
    s: Session, p: Principal, *, pool: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Claims newest first with loan and firm: every claim for the government and the auditor,
    only its own for a bank officer (the newest ``limit`` when given)."""
    q = (
        select(Claim, Enrolment.contract_no, Enrolment.uscc, Enterprise.name)
        .join(Enrolment, Enrolment.id == Claim.enrolment_id)
        .outerjoin(Enterprise, Enterprise.uscc == Enrolment.uscc)
        .order_by(Claim.id.desc())
    )
    if p.role == "bank_officer":
        q = q.where(Claim.institution_id == p.institution_id)
    if pool is not None:
        q = q.where(Claim.pool_id == pool)
    if limit is not None:
        q = q.limit(limit)
    return [
        {
            "claim": c.id,
            "pool": c.pool_id,
            "contract_no": contract,
            "uscc": uscc,
            "firm": name,
            "institution": c.institution_id,
            "status": c.status,
            "filed_on": c.filed_on,
            "filed_by": c.filed_by,
            "reviewed_by": c.reviewed_by,
            "approved_by": c.approved_by,
            "review_due": c.review_due,
            "approval_due": c.approval_due,
            "loss_base": c.loss_base,
            "pool_amount": c.pool_amount,
            "paid_on": c.paid_on,
            "trigger": c.trigger,
        }
        for c, contract, uscc, name in s.execute(q).all()
    ]


def enrolments(s: Session, p: Principal) -> list[dict[str, Any]]:
    """The bank's enrolled loans in every pool (what it may claim on)."""
    rows = s.scalars(
        select(Enrolment)
        .where(Enrolment.institution_id == p.institution_id)
        .order_by(Enrolment.id.desc())
    ).all()
    return [
        {
            "pool": e.pool_id,
            "contract_no": e.contract_no,
            "uscc": e.uscc,
            "category": e.category,
            "covered_amount": e.covered_amount,
            "covered_balance": e.covered_balance,
            "enrolled_on": e.enrolled_on,
            "status": e.status,
        }
        for e in rows
    ]


def enrollable(
    s: Session, engine: Engine, p: Principal, on: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per pool, the bank's own loans an enrolment would accept today (the enrol form offers
    these and no others: never a loan the rules would refuse), with the firm's name."""
    authorize(s, p, "fund.enrol")
    assert p.institution_id is not None
    day = on or date.today()
    out = {pid: service.enrollable(engine, pid, p.institution_id, day) for pid, _ in pool_names(s)}
    codes = {x["uscc"] for rows in out.values() for x in rows}
    names = (
        dict(
            s.execute(
                select(Enterprise.uscc, Enterprise.name).where(Enterprise.uscc.in_(codes))
            ).all()
        )
        if codes
        else {}
    )
    for rows in out.values():
        for x in rows:
            x["firm"] = names.get(x["uscc"], x["uscc"])
    return out
