"""The fund's lifecycle: capital in → enrol → monthly status → claim → review → approve → pay →
recover → write off, each step one transaction that either completes or changes nothing.

Every step is a persisted command with an idempotency key, an actor, a business date and a reason
(:func:`kejin.fund.ledger.run_command`). The business date is an argument, never the wall clock,
so scenario tests and back-office corrections can run any day's business. Money moves only through
balanced journal entries (:mod:`kejin.fund.ledger`); claim rows hold the computed shares and the
review trail that explain each payout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.fund import ledger, money
from kejin.fund.ledger import ACC, BAL, CLAIM, CMD, ENT, POOL, Actor, EntrySpec
from kejin.fund.scheme import LENDER, Category, Condition, Scheme, parse_scheme, read_scheme_text
from kejin.fund.scheme import sha256 as text_sha256
from kejin.fund.tables import ClaimShare, Enrolment
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.vocab import CLASSIFICATIONS, GUARANTEE_FAMILY, GUARANTEE_KINDS

ENR = Enrolment.__table__
SHARE = ClaimShare.__table__
LOAN = Loan.__table__
STATUS = LoanStatus.__table__
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
#: An enrolment's status as a sentence reads it (zh, en).
ENROLMENT_WORDS = {
    "active": ("在保", "under cover"),
    "claimed": ("已申请代偿", "already claimed on"),
    "closed": ("已结束", "closed"),
}


def _refuse(zh: str, en: str, field: str, value: Any = None, cls: type = ValidationError) -> Any:
    raise cls(zh, en, [Problem(zh, en, field=field, value=value)])


def _positive(amount: Decimal, field: str = "amount") -> Decimal:
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        _refuse(
            "金额须为正数且最多两位小数",
            "amount must be positive with at most 2 decimals",
            field,
            str(amount),
        )
    return amount


@lru_cache(maxsize=64)
def _scheme_from_text(digest: str, text: str) -> Scheme:
    return parse_scheme(text, f"pool scheme {digest[:12]}")


def pool_scheme(conn: Connection, pool_id: str) -> tuple[Scheme, date | None]:
    """The pool's pinned scheme (parsed once per process) and its closed-through date."""
    row = conn.execute(
        select(POOL.c.scheme_sha256, POOL.c.closed_through).where(POOL.c.id == pool_id)
    ).first()
    if row is None:
        _refuse(f"资金池 {pool_id} 不存在", f"no pool {pool_id}", "pool", pool_id, NotFoundError)
    return _cached_scheme(conn, pool_id, row.scheme_sha256), row.closed_through


_scheme_text_cache: dict[str, str] = {}


def _cached_scheme(conn: Connection, pool_id: str, digest: str) -> Scheme:
    text = _scheme_text_cache.get(digest)
    if text is None:
        text = conn.execute(select(POOL.c.scheme_text).where(POOL.c.id == pool_id)).scalar_one()
        _scheme_text_cache[digest] = text
    return _scheme_from_text(digest, text)


# ---------------------------------------------------------------- pool and capital


def create_pool(
    engine: Engine,
    pool_id: str,
    name: str,
    scheme: str,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Set up a pool under a library scheme (by id) or a scheme file; its text is pinned."""
    text, file = read_scheme_text(scheme)
    s = parse_scheme(text, file)
    digest = text_sha256(text)
    payload = {"pool": pool_id, "name": name, "scheme_sha256": digest}

    def body(conn: Connection) -> dict[str, Any]:
        # The pool row is written with its accounts and the command (and its audit record) in
        # one transaction: a pool is never set up without the record of who set it up.
        exists = conn.execute(select(POOL.c.scheme_sha256).where(POOL.c.id == pool_id)).first()
        if exists is None:
            conn.execute(
                insert(POOL),
                {
                    "id": pool_id,
                    "name": name,
                    "scheme_id": s.id,
                    "scheme_sha256": digest,
                    "scheme_text": text,
                    "created_on": actor.on,
                },
            )
        keys = [("pool", "cash", False), ("pool", "fee_income", False)]
        keys += [(p, "capital", False) for p in s.pool_parties]
        keys += [
            (p.id, u, True)
            for p in s.participants
            if p.role != LENDER
            for u in ("loss_share", "loss_contra")
        ]
        ledger.ensure_accounts(conn, pool_id, keys)
        return {
            "pool": pool_id,
            "scheme": s.id,
            "scheme_version": s.version,
            "scheme_sha256": digest,
        }

    return ledger.run_command(
        engine, pool_id, "create_pool", key, payload, actor, body, audit=audit
    )


def deposit(
    engine: Engine,
    pool_id: str,
    party: str,
    amount: Decimal,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Capital in from one government funder: Dr pool cash, Cr that funder's capital."""
    amount = _positive(amount)

    def body(conn: Connection) -> dict[str, Any]:
        s, _ = pool_scheme(conn, pool_id)
        if party not in s.pool_parties:
            _refuse(
                f"{party} 不是本方案的政府出资方（{', '.join(s.pool_parties)}）",
                f"{party} is not a government funder of this scheme ({', '.join(s.pool_parties)})",
                "party",
                party,
            )
        ids = ledger.account_ids(conn, pool_id)
        cash = ids[("pool", "cash")]
        ledger.post(
            conn,
            pool_id,
            actor,
            key,
            [EntrySpec("capital_in", [(cash, amount), (ids[(party, "capital")], -amount)])],
            cash_ids=[cash],
            shard=None,
        )
        return {"pool": pool_id, "party": party, "amount": amount, "balance": _cash(conn, pool_id)}

    return ledger.run_command(
        engine,
        pool_id,
        "deposit",
        key,
        {"party": party, "amount": amount},
        actor,
        body,
        audit=audit,
    )


def _cash(conn: Connection, pool_id: str) -> Decimal:
    """The pool's balance: the sum of its cash account's shards."""
    return Decimal(
        conn.execute(
            select(func.coalesce(func.sum(BAL.c.balance), 0))
            .join(ACC, ACC.c.id == BAL.c.account_id)
            .where(ACC.c.pool_id == pool_id, ACC.c.party == "pool", ACC.c.purpose == "cash")
        ).scalar_one()
    )


def collect_fee(
    engine: Engine,
    pool_id: str,
    contract_no: str,
    amount: Decimal | None,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Guarantee fee into the pool (Pingshan: 1%/yr of the covered amount when none is given)."""

    def body(conn: Connection) -> dict[str, Any]:
        s, _ = pool_scheme(conn, pool_id)
        if s.fee_rate is None:
            _refuse("本方案不收取担保费", "this scheme collects no fee", "pool", pool_id)
        enr = _enrolment(conn, pool_id, contract_no)
        fee = (
            _positive(amount)
            if amount is not None
            else money.line(enr.covered_amount, s.fee_rate, s.rounding.mode)
        )
        ids = ledger.account_ids(conn, pool_id)
        ledger.post(
            conn,
            pool_id,
            actor,
            key,
            [EntrySpec("fee", [(ids[("pool", "cash")], fee), (ids[("pool", "fee_income")], -fee)])],
            cash_ids=[ids[("pool", "cash")]],
        )
        return {"pool": pool_id, "contract_no": contract_no, "fee": fee}

    return ledger.run_command(
        engine,
        pool_id,
        "collect_fee",
        key,
        {"contract_no": contract_no, "amount": amount},
        actor,
        body,
        audit=audit,
    )


# ---------------------------------------------------------------- enrolment


def loan_facts(conn: Connection, loan: Any, on: date, years: int = 2) -> dict[str, Any]:
    """What scheme conditions look at: guarantee, first loan, valid titles, recent profits."""
    quals = set(
        conn.execute(
            select(Qualification.kind).where(
                Qualification.uscc == loan.uscc,
                Qualification.valid_from <= on,
                Qualification.valid_to >= on,
            )
        ).scalars()
    )
    profits = conn.execute(
        select(AnnualIndicator.year, AnnualIndicator.profit)
        .where(AnnualIndicator.uscc == loan.uscc, AnnualIndicator.year < on.year)
        .order_by(AnnualIndicator.year.desc())
        .limit(years)
    ).all()
    return {
        "guarantee_type": loan.guarantee_type,
        "first_time_borrower": loan.first_time_borrower,
        "qualifications": quals,
        "profits": [(y, p) for y, p in profits],
    }


def _holds(c: Condition, facts: dict[str, Any]) -> bool:
    g = facts["guarantee_type"]
    if c.guarantee_kinds is not None and g not in c.guarantee_kinds:
        return False
    if c.guarantee_families is not None and GUARANTEE_FAMILY[g] not in c.guarantee_families:
        return False
    if c.first_time_borrower is not None and facts["first_time_borrower"] != c.first_time_borrower:
        return False
    if c.qualifications is not None and not (facts["qualifications"] & set(c.qualifications)):
        return False
    if c.profitable_years is not None:
        pr = facts["profits"][: c.profitable_years]
        if len(pr) < c.profitable_years or any(p is None or p <= 0 for _, p in pr):
            return False
    return True


def match_category(s: Scheme, facts: dict[str, Any]) -> Category | None:
    return next((c for c in s.categories if _holds(c.when, facts)), None)


def effective_shares(cat: Category, facts: dict[str, Any]) -> dict[str, Decimal]:
    """The category's shares after any bonus whose condition holds (each bonus at most once)."""
    shares = dict(cat.shares)
    for b in cat.bonuses:
        if any(_holds(w, facts) for w in b.when_any):
            shares[b.to] += b.points
            shares[b.from_] -= b.points
    return shares


def bank_compensation_rate(conn: Connection, pool_id: str, institution_id: str) -> Decimal:
    """Claimed principal loss ÷ enrolled loan amount for one bank over the cooperation period."""
    enrolled = conn.execute(
        select(func.coalesce(func.sum(ENR.c.loan_amount), 0)).where(
            ENR.c.pool_id == pool_id, ENR.c.institution_id == institution_id
        )
    ).scalar()
    claimed = conn.execute(
        select(func.coalesce(func.sum(CLAIM.c.loss_base), 0)).where(
            CLAIM.c.pool_id == pool_id,
            CLAIM.c.institution_id == institution_id,
            CLAIM.c.status != "rejected",
        )
    ).scalar()
    return Decimal(0) if not enrolled else Decimal(claimed) / Decimal(enrolled)


def enrolled_balance(conn: Connection, pool_id: str) -> Decimal:
    return Decimal(
        conn.execute(
            select(func.coalesce(func.sum(ENR.c.covered_balance), 0)).where(
                ENR.c.pool_id == pool_id, ENR.c.status != "closed"
            )
        ).scalar()
    )


def basis(s: Scheme, path: str | None) -> tuple[str, str]:
    """Where a scheme's figure comes from, as the end of a sentence (zh, en): the document and
    its article, or — for a figure no source fixes — that the scheme file sets it. ``None``:
    the scheme's rules as a whole (its first reference)."""
    if path is None:
        r = s.references[0]
        return f"依据：《{r.document}》{r.article}", f"basis: {r.document}, {r.article}"
    c = s.sources.get(path)
    r = None if c is None else next((r for r in s.references if r.id == c.ref), None)
    if c is None or r is None:
        return (
            f"依据：《{s.name_zh}》方案文件的设定（所引文件未规定此数值）",
            f"basis: the {s.name_en} scheme file (its sources fix no figure here)",
        )
    return f"依据：《{r.document}》{c.article}", f"basis: {r.document}, {c.article}"


def _refuse_by(
    s: Scheme,
    path: str | None,
    zh: str,
    en: str,
    field: str,
    value: Any = None,
    cls: type = ValidationError,
) -> Any:
    """A refusal that explains itself: the rule and the figures in a sentence, then its basis."""
    bz, be = basis(s, path)
    _refuse(f"{zh}。{bz}", f"{en}. {be}", field, value, cls)


def _category_words(s: Scheme, lang: str) -> str:
    names = [c.name_en if lang == "en" else c.name_zh for c in s.categories]
    return ", ".join(names) if lang == "en" else "、".join(names)


class LiveReads:
    """What :func:`admissible` reads about a loan, read now, one loan at a time (enrolment)."""

    def __init__(self, conn: Connection, pool_id: str, on: date) -> None:
        self.conn, self.pool_id, self.on = conn, pool_id, on

    def firm_barred(self, uscc: str) -> bool:
        firm = self.conn.execute(
            select(Enterprise.dishonest, Enterprise.deregistered).where(Enterprise.uscc == uscc)
        ).first()
        return firm is not None and bool(firm.dishonest or firm.deregistered)

    def facts(self, loan: Any) -> dict[str, Any]:
        return loan_facts(self.conn, loan, self.on)

    def rate(self, institution_id: str) -> Decimal:
        return bank_compensation_rate(self.conn, self.pool_id, institution_id)

    def used(self, uscc: str) -> Decimal:
        return Decimal(
            self.conn.execute(
                select(func.coalesce(func.sum(ENR.c.covered_amount), 0)).where(
                    ENR.c.pool_id == self.pool_id, ENR.c.uscc == uscc, ENR.c.status != "closed"
                )
            ).scalar()
        )

    def latest(self, contract_no: str) -> Any:
        return _latest_status(self.conn, contract_no, self.on)

    def cash(self) -> Decimal:
        return _cash(self.conn, self.pool_id)

    def enrolled(self) -> Decimal:
        return enrolled_balance(self.conn, self.pool_id)


class BatchReads(LiveReads):
    """The same reads for many loans of one bank at once (the enrol form's offer): a handful of
    queries for all of them instead of several per loan, then the same rules."""

    def __init__(self, conn: Connection, pool_id: str, on: date, loans: list[Any]) -> None:
        super().__init__(conn, pool_id, on)
        codes = sorted({x.uscc for x in loans})
        self._quals: dict[str, set[str]] = {}
        for uscc, kind in conn.execute(
            select(Qualification.uscc, Qualification.kind).where(
                Qualification.uscc.in_(codes),
                Qualification.valid_from <= on,
                Qualification.valid_to >= on,
            )
        ):
            self._quals.setdefault(uscc, set()).add(kind)
        self._profits: dict[str, list[tuple[int, Any]]] = {}
        for uscc, year, profit in conn.execute(
            select(AnnualIndicator.uscc, AnnualIndicator.year, AnnualIndicator.profit)
            .where(AnnualIndicator.uscc.in_(codes), AnnualIndicator.year < on.year)
            .order_by(AnnualIndicator.uscc, AnnualIndicator.year.desc())
        ):
            self._profits.setdefault(uscc, []).append((year, profit))
        self._used = dict(
            conn.execute(
                select(ENR.c.uscc, func.sum(ENR.c.covered_amount))
                .where(ENR.c.pool_id == pool_id, ENR.c.uscc.in_(codes), ENR.c.status != "closed")
                .group_by(ENR.c.uscc)
            ).all()
        )
        self._latest: dict[str, Any] = {}
        for row in conn.execute(
            select(STATUS)
            .where(STATUS.c.contract_no.in_([x.contract_no for x in loans]), STATUS.c.month <= on)
            .order_by(STATUS.c.contract_no, STATUS.c.month)
        ):
            self._latest[row.contract_no] = row  # the last month wins
        self._rates: dict[str, Decimal] = {}
        self._cash, self._enrolled = _cash(conn, pool_id), enrolled_balance(conn, pool_id)

    def firm_barred(self, uscc: str) -> bool:
        return False  # the offer's query keeps only firms in good standing

    def facts(self, loan: Any) -> dict[str, Any]:
        return {
            "guarantee_type": loan.guarantee_type,
            "first_time_borrower": loan.first_time_borrower,
            "qualifications": self._quals.get(loan.uscc, set()),
            "profits": self._profits.get(loan.uscc, [])[:2],
        }

    def rate(self, institution_id: str) -> Decimal:
        if institution_id not in self._rates:
            self._rates[institution_id] = super().rate(institution_id)
        return self._rates[institution_id]

    def used(self, uscc: str) -> Decimal:
        return Decimal(self._used.get(uscc) or 0)

    def latest(self, contract_no: str) -> Any:
        return self._latest.get(contract_no)

    def cash(self) -> Decimal:
        return self._cash

    def enrolled(self) -> Decimal:
        return self._enrolled


def admissible(
    s: Scheme, loan: Any, on: date, reads: LiveReads
) -> tuple[Category, dict[str, str], Decimal, Decimal, list[str]]:
    """Every rule a loan must pass to be enrolled on ``on`` (after "not yet enrolled"): the firm
    in good standing, not matured, a category of the scheme, a named payee, the bank not
    suspended, room under the per-firm cap and the leverage. Each refusal is a sentence with the
    rule, the figures and the scheme's article. Used by :func:`enrol` and, so that a form never
    offers a loan it would refuse, by :func:`enrollable`."""
    if reads.firm_barred(loan.uscc):
        _refuse(
            "借款企业为失信被执行人或已注销，不得纳入风险补偿",
            "the borrower is a dishonest party or deregistered: it cannot be covered",
            "uscc",
            loan.uscc,
        )
    if loan.maturity_on <= on:
        _refuse(
            f"贷款已于 {loan.maturity_on} 到期，到期贷款不能备案",
            f"the loan matured on {loan.maturity_on}: a matured loan cannot be enrolled",
            "maturity_on",
            str(loan.maturity_on),
        )
    facts = reads.facts(loan)
    cat = match_category(s, facts)
    if cat is None:
        kind = GUARANTEE_KINDS.get(loan.guarantee_type)
        kz, ke = (kind.zh, kind.en) if kind else (loan.guarantee_type, loan.guarantee_type)
        _refuse_by(
            s,
            None,
            f"本笔贷款（担保方式：{kz}）不属于方案覆盖的任何类别（{_category_words(s, 'zh')}）",
            f"the loan (guarantee: {ke}) fits no category of the scheme "
            f"({_category_words(s, 'en')})",
            "guarantee_type",
            loan.guarantee_type,
        )
    names = party_names(s, loan)
    _payee(s, cat, names, loan.contract_no)
    cap = s.caps.compensation_rate
    if cap is not None:
        rate = reads.rate(loan.institution_id)
        if rate > cap:
            _refuse_by(
                s,
                "caps.compensation_rate",
                f"本行代偿率 {rate:.2%} 超过方案上限 {cap:.2%}，暂停新增备案",
                f"the bank's compensation rate {rate:.2%} exceeds the scheme's cap {cap:.2%}: "
                "new enrolments are suspended",
                "institution_id",
                loan.institution_id,
            )
    covered, notes = loan.amount, []
    if s.caps.per_loan is not None and covered > s.caps.per_loan:
        covered, _ = s.caps.per_loan.quantize(CENT), notes.append(f"per_loan {s.caps.per_loan}")
    if s.caps.per_firm is not None:
        used = reads.used(loan.uscc)
        room = s.caps.per_firm.quantize(CENT) - used
        if room <= 0:
            _refuse_by(
                s,
                "caps.per_firm",
                f"该企业在保金额已达单户上限 {s.caps.per_firm:,.2f} 元（已用 {used:,.2f} 元）",
                f"the firm's covered amount is at the per-firm cap of {s.caps.per_firm:,.2f} "
                f"yuan ({used:,.2f} used)",
                "uscc",
                loan.uscc,
            )
        if covered > room:
            covered, _ = room, notes.append(f"per_firm room {room}")
    latest = reads.latest(loan.contract_no)
    if latest is not None and latest.balance <= 0:
        _refuse(
            f"贷款已结清（{latest.month} 余额为 0），不能备案",
            f"the loan is repaid (balance 0 in {latest.month}): it cannot be enrolled",
            "contract_no",
            loan.contract_no,
        )
    cov_bal = min(covered, latest.balance) if latest is not None else covered
    if s.leverage is not None:
        cash = reads.cash()
        after = reads.enrolled() + cov_bal
        if after > s.leverage * cash:
            _refuse_by(
                s,
                "leverage",
                f"备案后在保余额 {after:,.2f} 元将超过资金池余额 {cash:,.2f} 元的 {s.leverage} 倍"
                f"（上限 {s.leverage * cash:,.2f} 元）",
                f"the enrolled balance would be {after:,.2f} yuan, above {s.leverage} × the "
                f"pool's balance of {cash:,.2f} yuan (limit {s.leverage * cash:,.2f})",
                "leverage",
                str(after),
            )
    return cat, names, covered, cov_bal, notes


def enrollable(engine: Engine, pool_id: str, institution_id: str, on: date) -> list[dict[str, Any]]:
    """The institution's loans :func:`enrol` would accept in the pool on ``on``, by contract:
    not yet enrolled there, and passing :func:`admissible` (each checked as if enrolled alone;
    the leverage room is shared, so the last of several may still be refused, with its reason).
    """
    out = []
    with engine.connect() as conn:
        s, _ = pool_scheme(conn, pool_id)
        taken = select(ENR.c.contract_no).where(ENR.c.pool_id == pool_id)
        loans = conn.execute(
            select(LOAN)
            .join(Enterprise, Enterprise.uscc == LOAN.c.uscc)
            .where(
                LOAN.c.institution_id == institution_id,
                LOAN.c.maturity_on > on,
                LOAN.c.contract_no.not_in(taken),
                Enterprise.dishonest.is_(False),
                Enterprise.deregistered.is_(False),
            )
            .order_by(LOAN.c.contract_no)
        ).all()
        reads = BatchReads(conn, pool_id, on, list(loans))
        for loan in loans:
            try:
                cat, *_ = admissible(s, loan, on, reads)
            except (ValidationError, ConflictError):
                continue
            out.append(
                {
                    "contract_no": loan.contract_no,
                    "uscc": loan.uscc,
                    "amount": loan.amount,
                    "category": cat.id,
                }
            )
    return out


def enrol(
    engine: Engine,
    pool_id: str,
    contract_no: str,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Bring a loan under cover: category, per-loan/per-firm caps, leverage, bank suspension."""

    def body(conn: Connection) -> dict[str, Any]:
        s, _ = pool_scheme(conn, pool_id)
        # Leverage and per-firm caps read totals: enrolments in one pool take turns.
        conn.execute(select(POOL.c.id).where(POOL.c.id == pool_id).with_for_update())
        loan = conn.execute(select(LOAN).where(LOAN.c.contract_no == contract_no)).first()
        if loan is None:
            _refuse(
                f"贷款合同 {contract_no} 不存在",
                f"no loan {contract_no}",
                "contract_no",
                contract_no,
                NotFoundError,
            )
        if conn.execute(
            select(ENR.c.id).where(ENR.c.pool_id == pool_id, ENR.c.contract_no == contract_no)
        ).first():
            _refuse(
                f"贷款 {contract_no} 已备案于本资金池，不能重复备案",
                f"loan {contract_no} is already enrolled in this pool",
                "contract_no",
                contract_no,
                ConflictError,
            )
        reads = LiveReads(conn, pool_id, actor.on)
        cat, names, covered, cov_bal, notes = admissible(s, loan, actor.on, reads)
        eid = conn.execute(
            insert(ENR).returning(ENR.c.id),
            {
                "pool_id": pool_id,
                "contract_no": contract_no,
                "uscc": loan.uscc,
                "institution_id": loan.institution_id,
                "category": cat.id,
                "loan_amount": loan.amount,
                "covered_amount": covered,
                "covered_balance": cov_bal,
                "enrolled_on": actor.on,
                "status": "active",
            },
        ).scalar_one()
        # The loan's own parties (its bank, and its guarantor when it names one) get accounts:
        # the pool pays the party the category compensates, and every share is booked by name.
        named = sorted(set(names.values()))
        ledger.ensure_accounts(
            conn,
            pool_id,
            [
                (inst, purpose, purpose.startswith("loss"))
                for inst in named
                for purpose in ("compensation", "recovery", "loss_share", "loss_contra")
            ],
        )
        return {
            "enrolment": eid,
            "contract_no": contract_no,
            "category": cat.id,
            "covered_amount": covered,
            "covered_balance": cov_bal,
            "caps": notes,
        }

    return ledger.run_command(
        engine, pool_id, "enrol", key, {"contract_no": contract_no}, actor, body, audit=audit
    )


def _enrolment(conn: Connection, pool_id: str, contract_no: str) -> Any:
    row = conn.execute(
        select(ENR)
        .where(ENR.c.pool_id == pool_id, ENR.c.contract_no == contract_no)
        .with_for_update()
    ).first()
    if row is None:
        _refuse(
            f"贷款 {contract_no} 未在资金池 {pool_id} 备案",
            f"loan {contract_no} is not enrolled in pool {pool_id}",
            "contract_no",
            contract_no,
            NotFoundError,
        )
    return row


def _latest_status(conn: Connection, contract_no: str, on: date) -> Any:
    return conn.execute(
        select(STATUS)
        .where(STATUS.c.contract_no == contract_no, STATUS.c.month <= on)
        .order_by(STATUS.c.month.desc())
        .limit(1)
    ).first()


def record_status(
    engine: Engine,
    pool_id: str,
    contract_no: str,
    month: date,
    balance: Decimal,
    days_past_due: int,
    classification: str,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """A bank's month-end report on an enrolled loan; updates the covered balance."""
    if classification not in CLASSIFICATIONS:
        _refuse("未知五级分类", "unknown classification", "classification", classification)
    if days_past_due < 0:
        _refuse(
            "逾期天数不能为负", "days past due cannot be negative", "days_past_due", days_past_due
        )
    balance = Decimal(balance)
    if balance < 0:
        _refuse("余额不能为负", "balance cannot be negative", "balance", str(balance))
    month = month.replace(day=1)
    if month > actor.on:
        _refuse("不能报告未来月份", "cannot report a future month", "month", str(month))

    def body(conn: Connection) -> dict[str, Any]:
        enr = _enrolment(conn, pool_id, contract_no)
        row = {"balance": balance, "days_past_due": days_past_due, "classification": classification}
        done = conn.execute(
            update(STATUS)
            .where(STATUS.c.contract_no == contract_no, STATUS.c.month == month)
            .values(**row)
        )
        if done.rowcount == 0:
            conn.execute(insert(STATUS), {"contract_no": contract_no, "month": month, **row})
        cov = enr.covered_balance
        if enr.status == "active":
            cov = min(enr.covered_amount, balance)
            conn.execute(update(ENR).where(ENR.c.id == enr.id).values(covered_balance=cov))
        return {"contract_no": contract_no, "month": month, "covered_balance": cov}

    return ledger.run_command(
        engine,
        pool_id,
        "status",
        key,
        {
            "contract_no": contract_no,
            "month": month,
            "balance": balance,
            "days_past_due": days_past_due,
            "classification": classification,
        },
        actor,
        body,
        audit=audit,
    )


# ---------------------------------------------------------------- claims


def compute_claim(
    s: Scheme,
    cat: Category,
    facts: dict[str, Any],
    loss: Decimal,
    covered: Decimal,
    names: dict[str, str],
) -> tuple[dict[str, Decimal], dict[str, Decimal], list[str]]:
    """(rates, amounts, notes) of a principal loss, by named party; the amounts add up to it.

    The covered part of the loss (``covered``: the enrolment's cover, the whole loan unless a
    region's cap says otherwise) is shared by the category's rates, each line rounded by the
    scheme's rule and the residue to its remainder party (:mod:`kejin.fund.money`). A cap on the
    government share (``max_share_of_liability``) and any loss beyond the cover fall to the party
    the category compensates, because it is that party's own liability: the amounts say what each
    party actually bears. ``names`` maps scheme participants to real parties (``bank`` → the
    lending institution, ``guarantor`` → the loan's guarantor).
    """
    rates = effective_shares(cat, facts)
    base = min(loss, covered)
    amounts = money.split(base, rates, s.remainder_party(cat), s.rounding.mode)
    gov = [p for p in rates if s.role_of(p) == "government_pool"]
    bearer = cat.compensates
    notes: list[str] = []
    pool_total = sum((amounts[p] for p in gov), ZERO)
    limit = s.caps.max_share_of_liability
    if limit is not None and pool_total > money.cap(loss, limit):
        target = money.cap(loss, limit)
        notes.append(
            f"max_share_of_liability {limit}: {pool_total} → {target}, {bearer} bears the rest"
        )
        weights = {p: rates[p] for p in gov if rates[p] > 0}
        scaled = money.prorata(target, weights, next(iter(weights)), s.rounding.mode)
        amounts.update({p: scaled.get(p, ZERO) for p in gov})
        amounts[bearer] += pool_total - target
    if loss > base:
        notes.append(f"covered {covered}: {loss - base} beyond the cover borne by {bearer}")
        amounts[bearer] += loss - base
    if s.interest_borne_by:
        notes.append(f"interest borne by {s.interest_borne_by}")
    return (
        {names.get(p, p): r for p, r in rates.items()},
        {names.get(p, p): a for p, a in amounts.items()},
        notes,
    )


def party_names(s: Scheme, loan: Any) -> dict[str, str]:
    """Scheme participants that stand for a loan's own parties: the lender and its guarantor."""
    names = {LENDER: loan.institution_id}
    if loan.guarantor_id is not None:
        names.update({p.id: loan.guarantor_id for p in s.participants if p.role == "guarantor"})
    return names


def trigger_words(s: Scheme) -> tuple[str, str]:
    """The scheme's claim trigger in words (zh, en)."""
    t, zh, en = s.trigger, [], []
    if t.days_past_due is not None:
        zh.append(f"逾期满 {t.days_past_due} 天")
        en.append(f"{t.days_past_due} days past due")
    if t.classification is not None:
        c = CLASSIFICATIONS[t.classification]
        zh.append(f"五级分类为{c.zh}或更差")
        en.append(f"classified {c.en} or worse")
    return "或".join(zh), " or ".join(en)


def _not_triggered(s: Scheme, contract_no: str, st: Any) -> Any:
    """Refuse a claim whose loan has not reached the trigger, saying the rule, the loan's own
    figures and the articles the trigger rests on."""
    tz, te = trigger_words(s)
    paths = [f"trigger.{k}" for k, v in s.trigger if v is not None]
    bz, be = basis(s, paths[0]) if paths else basis(s, None)
    if st is None:
        seen_zh = "尚无月度报告：请先报送该贷款的月末状态（余额、逾期天数、五级分类）"
        seen_en = "it has no monthly status yet: report its month-end status first (balance, "
        seen_en += "days past due, classification)"
    else:
        c = CLASSIFICATIONS[st.classification]
        seen_zh = f"最近一期（{st.month:%Y-%m}）逾期 {st.days_past_due} 天、五级分类为{c.zh}"
        seen_en = (
            f"its latest status ({st.month:%Y-%m}) is {st.days_past_due} days past due, "
            f"classified {c.en}"
        )
    _refuse(
        f"贷款 {contract_no} 未达到代偿触发条件：方案规定{tz}方可申请代偿，本笔贷款{seen_zh}。{bz}",
        f"loan {contract_no}: trigger not reached — the scheme allows a claim once a loan is "
        f"{te}; {seen_en}. {be}",
        "contract_no",
        contract_no,
    )


def file_claim(
    engine: Engine,
    pool_id: str,
    contract_no: str,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
    own: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """A bank claims on an enrolled loan past the trigger; shares and caps computed now.

    ``own`` (optional) is the caller's tenant check, given the loan's row (``None`` if there is
    no such loan) before anything else is read, in the claim's own transaction: one read of the
    loan serves the check, the claim and the audit record (the desk's request then needs no
    read of its own). Raising refuses the claim and rolls everything back."""

    def body(conn: Connection) -> dict[str, Any]:
        loan = conn.execute(select(LOAN).where(LOAN.c.contract_no == contract_no)).first()
        if own is not None:
            own(loan)
        s, _ = pool_scheme(conn, pool_id)
        enr = _enrolment(conn, pool_id, contract_no)
        if enr.status != "active":
            _refuse(
                f"贷款 {contract_no} 的备案状态为“{ENROLMENT_WORDS.get(enr.status, enr.status)[0]}”"
                "，只有在保的贷款可以申请代偿",
                f"loan {contract_no} is {ENROLMENT_WORDS.get(enr.status, enr.status)[1]}: only a "
                "loan under cover can be claimed on",
                "contract_no",
                contract_no,
                ConflictError,
            )
        st = _latest_status(conn, contract_no, actor.on)
        why = None if st is None else s.triggered(st.days_past_due, st.classification)
        if why is None:
            _not_triggered(s, contract_no, st)
        # The whole principal outstanding is the loss; the cover limits what the others share.
        loss = st.balance
        if loss <= 0:
            _refuse(
                f"贷款 {contract_no} 在 {st.month} 的本金余额为 0，没有可补偿的本金损失",
                f"loan {contract_no} had no principal outstanding in {st.month}: there is no "
                "loss to compensate",
                "balance",
                str(st.balance),
            )
        facts = loan_facts(conn, loan, enr.enrolled_on)
        cat = next(c for c in s.categories if c.id == enr.category)
        names = party_names(s, loan)
        payee = _payee(s, cat, names, contract_no)
        rates, amounts, notes = compute_claim(s, cat, facts, loss, enr.covered_amount, names)
        gov = set(s.pool_parties)
        pool_amount = sum((a for p, a in amounts.items() if p in gov), ZERO)
        pool_rate = sum((r for p, r in rates.items() if p in gov), Decimal(0))
        roles = {names.get(p.id, p.id): p.role for p in s.participants}
        lines = payout_lines(ledger.account_ids(conn, pool_id), payee, amounts)
        cid = conn.execute(
            insert(CLAIM).returning(CLAIM.c.id),
            {
                "pool_id": pool_id,
                "enrolment_id": enr.id,
                "institution_id": enr.institution_id,
                "paid_to": payee,
                "status": "filed",
                "trigger": f"{st.month}: {why}",
                "loss_base": loss,
                "pool_rate": pool_rate,
                "pool_amount": pool_amount,
                "cap_note": "; ".join(notes),
                "filed_by": actor.who,
                "filed_on": actor.on,
                "review_due": s.due_date(actor.on, s.deadlines.first_review_working_days),
                "approval_due": s.due_date(actor.on, s.deadlines.approval_working_days),
                "recovered_total": ZERO,
                "recovered_to_pool": ZERO,
                "payout_lines": json.dumps(lines),
            },
        ).scalar_one()
        conn.execute(
            insert(SHARE),
            [
                {
                    "claim_id": cid,
                    "party": p,
                    "rate": rates[p],
                    "amount": a,
                    "recovered": ZERO,
                    "role": roles[p],
                }
                for p, a in amounts.items()
            ],
        )
        conn.execute(update(ENR).where(ENR.c.id == enr.id).values(status="claimed"))
        return {
            "claim": cid,
            "contract_no": contract_no,
            "loss_base": loss,
            "pool_amount": pool_amount,
            "paid_to": payee,
            "shares": amounts,
            "bank_share": amounts.get(enr.institution_id, ZERO),
            "trigger": why,
            "caps": notes,
        }

    return ledger.run_command(
        engine, pool_id, "file_claim", key, {"contract_no": contract_no}, actor, body, audit=audit
    )


def _payee(s: Scheme, cat: Category, names: dict[str, str], contract_no: str) -> str:
    """The institution the pool pays: the party the category compensates, named on the loan."""
    payee = names.get(cat.compensates)
    if payee is None:
        _refuse(
            f"方案 {s.id} 的类别 {cat.id} 补偿担保机构，但贷款 {contract_no} 未登记担保机构",
            f"category {cat.id} of scheme {s.id} compensates the guarantor, but loan "
            f"{contract_no} names no guarantor",
            "guarantor_id",
            contract_no,
        )
    return payee


def payout_lines(
    ids: dict[tuple[str, str], int], payee: str, amounts: dict[str, Decimal]
) -> dict[str, Any]:
    """The accounts a payout will post to, fixed at filing so the payout does no lookups.

    Real entry: Dr the payee's compensation, Cr the pool's cash. Memo entry: for every party
    with a share (government pools included, so a split between province and city shows), Dr its
    loss_share and Cr its loss_contra by its amount.
    """
    return {
        "cash": ids[("pool", "cash")],
        "compensation": ids[(payee, "compensation")],
        "memo": memo_lines(ids, amounts),
    }


def memo_lines(ids: dict[tuple[str, str], int], amounts: dict[str, Decimal]) -> list[list[Any]]:
    """Dr loss_share, Cr loss_contra of every party with a share, by its amount."""
    memo = []
    for party, amount in sorted(amounts.items()):
        if amount > 0:
            memo.append([ids[(party, "loss_share")], str(amount)])
            memo.append([ids[(party, "loss_contra")], str(-amount)])
    return memo


def _claim(conn: Connection, claim_id: int, lock: bool = True) -> Any:
    """The claim row, locked for the rest of the transaction (every transition reads then writes
    it; without the lock two concurrent recoveries would both add to the same old total)."""
    q = select(CLAIM).where(CLAIM.c.id == claim_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        _refuse(f"理赔 {claim_id} 不存在", f"no claim {claim_id}", "claim", claim_id, NotFoundError)
    return row


def _pool_of(engine: Engine, claim_id: int) -> str:
    with engine.connect() as conn:
        return _claim(conn, claim_id, lock=False).pool_id


def review(
    engine: Engine,
    claim_id: int,
    approve: bool,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """First review (初审): by someone other than the filer; late if after the due date."""

    def body(conn: Connection) -> dict[str, Any]:
        c = _claim(conn, claim_id)
        if c.status != "filed":
            _refuse(
                f"理赔状态为 {c.status}，不能初审",
                f"claim is {c.status}, not filed",
                "claim",
                claim_id,
                ConflictError,
            )
        if actor.who == c.filed_by:
            _refuse(
                "申请人不能初审自己的理赔",
                "the filer cannot review their own claim",
                "actor",
                actor.who,
            )
        return _decide(conn, c, approve, actor, "reviewed", c.review_due)

    return ledger.run_command(
        engine,
        _pool_of(engine, claim_id),
        "review",
        key,
        {"claim": claim_id, "approve": approve},
        actor,
        body,
        audit=audit,
    )


def _decide(
    conn: Connection, c: Any, approve: bool, actor: Actor, stage: str, due: date
) -> dict[str, Any]:
    """Record one review step (``stage`` is ``reviewed`` or ``approved``, naming its columns);
    a rejection puts the loan's enrolment back to active so it can be claimed again."""
    status = stage if approve else "rejected"
    conn.execute(
        update(CLAIM)
        .where(CLAIM.c.id == c.id)
        .values({"status": status, f"{stage}_by": actor.who, f"{stage}_on": actor.on})
    )
    if not approve:
        conn.execute(update(ENR).where(ENR.c.id == c.enrolment_id).values(status="active"))
    return {"claim": c.id, "status": status, "late": actor.on > due, "due": due}


def approve(
    engine: Engine,
    claim_id: int,
    approve: bool,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Approval (审批), the checker: must differ from the filer and the first reviewer."""

    def body(conn: Connection) -> dict[str, Any]:
        c = _claim(conn, claim_id)
        if c.status != "reviewed":
            _refuse(
                f"理赔状态为 {c.status}，须先初审",
                f"claim is {c.status}, not reviewed",
                "claim",
                claim_id,
                ConflictError,
            )
        if actor.who in (c.filed_by, c.reviewed_by):
            _refuse(
                "审批人不能是申请人或初审人（双人复核）",
                "the approver must differ from the filer and the first reviewer (maker-checker)",
                "actor",
                actor.who,
            )
        return _decide(conn, c, approve, actor, "approved", c.approval_due)

    return ledger.run_command(
        engine,
        _pool_of(engine, claim_id),
        "approve",
        key,
        {"claim": claim_id, "approve": approve},
        actor,
        body,
        audit=audit,
    )


def pay(
    engine: Engine,
    pool_id: str,
    claim_id: int,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Pay an approved claim: the pool's cash to the institution, every party's share as memo.

    The hot path. On PostgreSQL the whole payout is one pipelined statement (``fast``,
    ``_PAY_IN_ONE``); ``body`` is the general path (SQLite, a short cash shard, a pool-wide payout
    cap, or a claim that cannot be paid, to say why): Core statements only, one guarded status
    flip on the claim (so it is paid once), one multi-row insert of postings, the cash row lock.
    """

    def body(conn: Connection) -> dict[str, Any]:
        # One round trip flips the claim, checks the period is open and fetches the scheme's
        # fingerprint; the parsed scheme is cached by that fingerprint.
        open_period = ~(
            select(POOL.c.id)
            .where(POOL.c.id == pool_id, POOL.c.closed_through >= actor.on)
            .exists()
        )
        sha = select(POOL.c.scheme_sha256).where(POOL.c.id == pool_id).scalar_subquery()
        row = conn.execute(
            update(CLAIM)
            .where(
                CLAIM.c.id == claim_id,
                CLAIM.c.pool_id == pool_id,
                CLAIM.c.status == "approved",
                open_period,
            )
            .values(status="paid", paid_on=actor.on)
            .returning(
                CLAIM.c.pool_amount,
                CLAIM.c.institution_id,
                CLAIM.c.payout_lines,
                sha.label("sha"),
            )
        ).first()
        if row is None:
            _, closed = pool_scheme(conn, pool_id)
            if closed is not None and actor.on <= closed:
                _refuse(
                    f"期间已结账至{closed}",
                    f"periods closed through {closed}",
                    "business_date",
                    str(actor.on),
                )
        if row is None:
            c = _claim(conn, claim_id)
            if c.pool_id != pool_id:
                _refuse("理赔不属于该资金池", "claim belongs to another pool", "pool", pool_id)
            _refuse(
                f"理赔状态为 {c.status}，不能支付（须已审批且未支付）",
                f"claim is {c.status}; only an approved, unpaid claim can be paid",
                "claim",
                claim_id,
                ConflictError,
            )
        s = _cached_scheme(conn, pool_id, row.sha)
        plan = json.loads(row.payout_lines)
        cash, amount, notes = plan["cash"], row.pool_amount, []
        mult = s.caps.payout_to_fee_multiple
        if mult is not None:
            amount, memo_plan, notes = _within_fee_cap(conn, s, pool_id, claim_id, mult)
            plan["memo"] = memo_plan if memo_plan is not None else plan["memo"]
        specs = []
        if amount > 0:
            specs.append(
                EntrySpec(
                    "payout", [(plan["compensation"], amount), (cash, -amount)], claim_id=claim_id
                )
            )
        memo = [(acc, Decimal(a)) for acc, a in plan["memo"]]
        if memo:
            specs.append(EntrySpec("payout_memo", memo, memo=True, claim_id=claim_id))
        # A pool-wide cap on payouts must see every payout: such schemes use one shard.
        shard = 0 if mult is not None else claim_id % ledger.SHARDS
        ledger.post(conn, pool_id, actor, key, specs, [cash], check_open=False, shard=shard)
        out = {"claim": claim_id, "paid": amount, "institution": row.institution_id}
        return {**out, "caps": notes} if notes else out

    def fast(conn: Connection, record: dict[str, Any]) -> dict[str, Any] | None:
        if conn.dialect.name != "postgresql" or _slow_pools.get(pool_id) in _slow_schemes:
            return None
        shard = claim_id % ledger.SHARDS
        row = _pipelined(conn, {**record, "claim": claim_id, "pool": pool_id, "shard": shard})
        if not row.flipped:
            return None  # not payable now: ``body`` finds out why (same transaction, no writes)
        s = _cached_scheme(conn, pool_id, row.sha)
        if s.caps.payout_to_fee_multiple is not None:
            # A pool-wide cap on payouts needs shard 0 and a check after posting.
            _slow_pools[pool_id] = row.sha
            _slow_schemes.add(row.sha)
            raise ledger.SlowPath
        if row.institution_id is None:
            raise ledger.SlowPath  # the cash shard is short (or the plan is off): lock them all
        return {"claim": claim_id, "paid": row.pool_amount, "institution": row.institution_id}

    return ledger.run_command(
        engine, pool_id, "pay", key, {"claim": claim_id}, actor, body, fast=fast, audit=audit
    )


def _within_fee_cap(
    conn: Connection, s: Scheme, pool_id: str, claim_id: int, mult: Decimal
) -> tuple[Decimal, list[list[Any]] | None, list[str]]:
    """(pool payout, memo lines or None if unchanged, notes) of a claim under a fee-funded cap.

    What the pool and the guarantor pay together stays within ``mult`` × the fees collected
    (Pingshan: 2×). A claim beyond the room left is paid up to it, the pool and the guarantor cut
    in proportion to their shares, and the bank bears the rest; the claim's shares and note say
    so. Payouts of such a pool take turns on the pool row, so each sees the ones before it.
    """
    conn.execute(select(POOL.c.id).where(POOL.c.id == pool_id).with_for_update())
    capped_roles = ("government_pool", "guarantor")
    before = conn.execute(
        select(func.coalesce(func.sum(SHARE.c.amount), 0))
        .join(CLAIM, CLAIM.c.id == SHARE.c.claim_id)
        .where(
            CLAIM.c.pool_id == pool_id,
            CLAIM.c.id != claim_id,
            CLAIM.c.status.in_(("paid", "closed")),
            SHARE.c.role.in_(capped_roles),
        )
    ).scalar_one()
    _, fees = _paid_and_fees(conn, pool_id)
    room = max(mult * fees - Decimal(before), ZERO)
    rows = conn.execute(select(SHARE).where(SHARE.c.claim_id == claim_id)).all()
    capped = {r.party: r.amount for r in rows if r.role in capped_roles and r.amount > 0}
    total = sum(capped.values(), ZERO)
    gov = [r.party for r in rows if r.role == "government_pool"]
    pool_amount = sum((r.amount for r in rows if r.role == "government_pool"), ZERO)
    if total <= room:
        return pool_amount, None, []
    new = money.prorata(room, capped, next(iter(capped)), s.rounding.mode) if room else {}
    bank = next(r for r in rows if r.role == "bank")
    amounts = {r.party: new.get(r.party, ZERO) if r.party in capped else r.amount for r in rows}
    amounts[bank.party] += total - room
    note = (
        f"payout_to_fee_multiple {mult}: pool and guarantor {total} → {room} "
        f"({mult} × fees {fees} − {before} paid before), bank bears the rest"
    )
    for party, a in amounts.items():
        conn.execute(
            update(SHARE)
            .where(SHARE.c.claim_id == claim_id, SHARE.c.party == party)
            .values(amount=a)
        )
    pool_amount = sum((amounts[p] for p in gov), ZERO)
    old = conn.execute(select(CLAIM.c.cap_note).where(CLAIM.c.id == claim_id)).scalar_one()
    conn.execute(
        update(CLAIM)
        .where(CLAIM.c.id == claim_id)
        .values(pool_amount=pool_amount, cap_note="; ".join(x for x in (old, note) if x))
    )
    ids = ledger.account_ids(conn, pool_id)
    return pool_amount, memo_lines(ids, amounts), [note]


def _pipelined(conn: Connection, params: dict[str, Any]) -> Any:
    """Run ``_PAY_IN_ONE`` in psycopg pipeline mode: the transaction's implicit BEGIN and the
    statement leave in one packet and come back in one, so a payout costs two round trips
    (this and the commit) instead of three. Errors are raised as SQLAlchemy's (IntegrityError for
    a duplicate key, DBAPIError with the SQLSTATE for a serialization failure), as
    ``ledger.run_command`` expects."""
    raw = conn.connection.driver_connection
    try:
        with raw.cursor(row_factory=namedtuple_row) as cur:
            with raw.pipeline():
                cur.execute(_PAY_SQL, params)
            return cur.fetchone()
    except psycopg.Error as e:
        raise DBAPIError.instance(_PAY_SQL, params, e, psycopg.Error) from e


#: Pools whose scheme needs the general payout (a pool-wide cap): pool → scheme fingerprint, and
#: the fingerprints of such schemes. A hint only: a wrong entry costs speed, never correctness,
#: because the fast statement returns the fingerprint and is rolled back for such schemes.
_slow_pools: dict[str, str] = {}
_slow_schemes: set[str] = set()

#: A whole payout in one statement (PostgreSQL): the same writes as ``pay``'s ``body`` with
#: ``ledger.post`` and the command row, in the same lock order — the claim row (guarded flip),
#: then the pool's cash shard (guarded debit), then the other balance rows in account order;
#: entries, postings and the command take only key-share locks. ``gate`` holds the claim only if
#: the debit succeeded, so a short shard writes nothing but the flip, which the caller rolls back.
#: Memo lines must sum to zero or nothing is posted either. One round trip instead of seven.
_PAY_IN_ONE = """
WITH flip AS (
    UPDATE fund_claims SET status = 'paid', paid_on = :business_date
    WHERE id = :claim AND pool_id = :pool AND status = 'approved'
      AND NOT EXISTS (
          SELECT 1 FROM fund_pools p WHERE p.id = :pool AND p.closed_through >= :business_date)
    RETURNING pool_amount, institution_id, CAST(payout_lines AS jsonb) AS plan,
              (SELECT scheme_sha256 FROM fund_pools WHERE id = :pool) AS sha
), debit AS (
    UPDATE fund_balances b SET balance = b.balance - f.pool_amount
    FROM flip f
    WHERE f.pool_amount > 0 AND b.account_id = CAST(f.plan ->> 'cash' AS bigint)
      AND b.shard = :shard AND b.balance >= f.pool_amount
    RETURNING b.account_id
), gate AS (
    SELECT f.* FROM flip f
    WHERE (f.pool_amount = 0 OR EXISTS (SELECT 1 FROM debit))
      AND (SELECT coalesce(sum(CAST(m ->> 1 AS numeric)), 0)
           FROM jsonb_array_elements(f.plan -> 'memo') m) = 0
), lines AS (
    SELECT 'payout' AS kind, CAST(g.plan ->> 'compensation' AS bigint) AS acc,
           g.pool_amount AS amt
    FROM gate g WHERE g.pool_amount > 0
    UNION ALL
    SELECT 'payout', CAST(g.plan ->> 'cash' AS bigint), -g.pool_amount
    FROM gate g WHERE g.pool_amount > 0
    UNION ALL
    SELECT 'payout_memo', CAST(m ->> 0 AS bigint), CAST(m ->> 1 AS numeric)
    FROM gate g, jsonb_array_elements(g.plan -> 'memo') m
), ent AS (
    INSERT INTO fund_entries
        (pool_id, kind, memo, business_date, command_key, claim_id, actor, reason)
    SELECT :pool, k.kind, k.kind = 'payout_memo', :business_date, :key, :claim, :actor, :reason
    FROM (SELECT DISTINCT kind FROM lines) k ORDER BY k.kind
    RETURNING id, kind
), post AS (
    INSERT INTO fund_postings (entry_id, account_id, amount)
    SELECT e.id, l.acc, l.amt FROM ent e JOIN lines l ON l.kind = e.kind ORDER BY e.id
    RETURNING 1
), bal AS (
    INSERT INTO fund_balances AS b (account_id, shard, nonneg, balance)
    SELECT l.acc, :shard, false, sum(l.amt)
    FROM lines l, gate g WHERE l.acc <> CAST(g.plan ->> 'cash' AS bigint)
    GROUP BY l.acc ORDER BY l.acc
    ON CONFLICT (account_id, shard) DO UPDATE SET balance = b.balance + excluded.balance
    RETURNING 1
), cmd AS (
    INSERT INTO fund_commands (key, pool_id, kind, payload_sha256, payload, actor, reason,
                               business_date, recorded_at, result)
    SELECT :key, :pool_id, :kind, :payload_sha256, :payload, :actor, :reason,
           :business_date, :recorded_at,
           json_build_object('claim', CAST(:claim AS bigint), 'paid', CAST(g.pool_amount AS text),
                             'institution', g.institution_id)::text
    FROM gate g
    RETURNING 1
)
SELECT (SELECT count(*) FROM flip) AS flipped, (SELECT max(sha) FROM flip) AS sha,
       g.pool_amount, g.institution_id,
       (SELECT count(*) FROM post) AS postings, (SELECT count(*) FROM bal) AS balances,
       (SELECT count(*) FROM cmd) AS commands
FROM (SELECT 1) AS one LEFT JOIN gate g ON true
"""
#: The statement in psycopg's placeholder style (``%(name)s``), sent with the raw cursor.
_PAY_SQL = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _PAY_IN_ONE)


def _paid_and_fees(conn: Connection, pool_id: str) -> tuple[Decimal, Decimal]:
    rows = dict(
        conn.execute(
            select(ACC.c.purpose, func.sum(BAL.c.balance))
            .join(BAL, BAL.c.account_id == ACC.c.id)
            .where(ACC.c.pool_id == pool_id, ACC.c.purpose.in_(("compensation", "fee_income")))
            .group_by(ACC.c.purpose)
        ).all()
    )
    return Decimal(rows.get("compensation", 0)), -Decimal(rows.get("fee_income", 0))


def reverse_payout(
    engine: Engine, claim_id: int, actor: Actor, key: str, audit: ledger.AuditHook | None = None
) -> dict[str, Any]:
    """Undo a payout by reversal entries (never by deleting); the claim returns to approved."""
    pool_id = _pool_of(engine, claim_id)

    def body(conn: Connection) -> dict[str, Any]:
        c = _claim(conn, claim_id)
        if c.status != "paid":
            _refuse(
                f"理赔状态为 {c.status}，只能冲销已支付的理赔",
                f"claim is {c.status}; only a paid claim can be reversed",
                "claim",
                claim_id,
                ConflictError,
            )
        if c.recovered_total > 0:
            _refuse(
                "已有追偿回款，不能冲销支付",
                "recoveries recorded; payout cannot be reversed",
                "claim",
                claim_id,
                ConflictError,
            )
        live = (
            conn.execute(
                select(ENT.c.id)
                .where(
                    ENT.c.claim_id == claim_id,
                    ENT.c.kind.in_(("payout", "payout_memo")),
                    ~ENT.c.id.in_(select(ENT.c.reverses_id).where(ENT.c.reverses_id.is_not(None))),
                )
                .order_by(ENT.c.id)
            )
            .scalars()
            .all()
        )
        cash = ledger.account_ids(conn, pool_id)[("pool", "cash")]
        ids = ledger.reverse(
            conn, pool_id, actor, key, live, cash_ids=[cash], shard=claim_id % ledger.SHARDS
        )
        conn.execute(
            update(CLAIM).where(CLAIM.c.id == claim_id).values(status="approved", paid_on=None)
        )
        return {"claim": claim_id, "reversal_entries": ids, "status": "approved"}

    return ledger.run_command(
        engine, pool_id, "reverse_payout", key, {"claim": claim_id}, actor, body, audit=audit
    )


def record_recovery(
    engine: Engine,
    claim_id: int,
    amount: Decimal,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    """Money the bank recovered after a payout, shared back to every party pro rata."""
    amount = _positive(amount)
    pool_id = _pool_of(engine, claim_id)

    def body(conn: Connection) -> dict[str, Any]:
        c = _claim(conn, claim_id)
        if c.status != "paid":
            _refuse(
                f"理赔状态为 {c.status}，只能对已支付理赔登记追偿",
                f"claim is {c.status}; recoveries only on paid claims",
                "claim",
                claim_id,
                ConflictError,
            )
        total = c.recovered_total + amount
        if total > c.loss_base:
            _refuse(
                f"累计追回 {total} 超过损失本金 {c.loss_base}",
                f"recoveries {total} would exceed the principal loss {c.loss_base}",
                "amount",
                str(amount),
            )
        # Cumulative pro rata, so rounding never drifts: pool's share of all recoveries so far.
        s, _ = pool_scheme(conn, pool_id)
        mode = s.rounding.mode
        to_pool = min(money.part(total, c.pool_amount, c.loss_base, mode), c.pool_amount)
        pool_part = to_pool - c.recovered_to_pool
        shares = conn.execute(select(SHARE).where(SHARE.c.claim_id == claim_id)).all()
        ids = ledger.account_ids(conn, pool_id)
        specs, memo = [], []
        if pool_part > 0:
            specs.append(
                EntrySpec(
                    "recovery",
                    [
                        (ids[("pool", "cash")], pool_part),
                        (ids[(c.paid_to, "recovery")], -pool_part),
                    ],
                    claim_id=claim_id,
                )
            )
        for sh in shares:
            back = min(money.part(total, sh.amount, c.loss_base, mode), sh.amount) - sh.recovered
            if back > 0:
                memo += [
                    (ids[(sh.party, "loss_contra")], back),
                    (ids[(sh.party, "loss_share")], -back),
                ]
                conn.execute(
                    update(SHARE)
                    .where(SHARE.c.claim_id == claim_id, SHARE.c.party == sh.party)
                    .values(recovered=sh.recovered + back)
                )
        if memo:
            specs.append(EntrySpec("recovery_memo", memo, memo=True, claim_id=claim_id))
        if specs:
            ledger.post(
                conn,
                pool_id,
                actor,
                key,
                specs,
                [ids[("pool", "cash")]],
                shard=claim_id % ledger.SHARDS,
            )
        conn.execute(
            update(CLAIM)
            .where(CLAIM.c.id == claim_id)
            .values(recovered_total=total, recovered_to_pool=to_pool)
        )
        return {
            "claim": claim_id,
            "recovered": amount,
            "to_pool": pool_part,
            "recovered_total": total,
        }

    return ledger.run_command(
        engine,
        pool_id,
        "recovery",
        key,
        {"claim": claim_id, "amount": amount},
        actor,
        body,
        audit=audit,
    )


def write_off(
    engine: Engine, claim_id: int, actor: Actor, key: str, audit: ledger.AuditHook | None = None
) -> dict[str, Any]:
    """Close a paid claim (核销结案): recoveries end and the enrolment is closed."""
    pool_id = _pool_of(engine, claim_id)

    def body(conn: Connection) -> dict[str, Any]:
        c = _claim(conn, claim_id)
        if c.status != "paid":
            _refuse(
                f"理赔状态为 {c.status}，只能核销已支付理赔",
                f"claim is {c.status}; only paid claims are written off",
                "claim",
                claim_id,
                ConflictError,
            )
        conn.execute(
            update(CLAIM).where(CLAIM.c.id == claim_id).values(status="closed", closed_on=actor.on)
        )
        conn.execute(
            update(ENR)
            .where(ENR.c.id == c.enrolment_id)
            .values(status="closed", covered_balance=ZERO)
        )
        return {
            "claim": claim_id,
            "status": "closed",
            "final_pool_loss": c.pool_amount - c.recovered_to_pool,
        }

    return ledger.run_command(
        engine, pool_id, "write_off", key, {"claim": claim_id}, actor, body, audit=audit
    )


def close_period(
    engine: Engine,
    pool_id: str,
    period_end: date,
    actor: Actor,
    key: str,
    audit: ledger.AuditHook | None = None,
) -> dict[str, Any]:
    if period_end > actor.on:
        _refuse("不能结账到未来日期", "cannot close a future period", "period_end", str(period_end))
    return ledger.run_command(
        engine,
        pool_id,
        "close_period",
        key,
        {"period_end": period_end},
        actor,
        lambda conn: ledger.close_period(conn, pool_id, period_end, key),
        audit=audit,
    )


# ---------------------------------------------------------------- reading


def deadlines(engine: Engine, pool_id: str, on: date) -> list[dict[str, Any]]:
    """Claims whose review or approval is overdue on ``on``, or was done late."""
    out = []
    with engine.connect() as conn:
        for c in conn.execute(
            select(CLAIM).where(CLAIM.c.pool_id == pool_id).order_by(CLAIM.c.id)
        ).all():
            flags = []
            if c.reviewed_on is None and c.status == "filed" and on > c.review_due:
                flags.append(("first_review", "overdue", c.review_due))
            if c.reviewed_on is not None and c.reviewed_on > c.review_due:
                flags.append(("first_review", "late", c.review_due))
            if c.approved_on is None and c.status in ("filed", "reviewed") and on > c.approval_due:
                flags.append(("approval", "overdue", c.approval_due))
            if c.approved_on is not None and c.approved_on > c.approval_due:
                flags.append(("approval", "late", c.approval_due))
            out += [{"claim": c.id, "step": st, "flag": fl, "due": due} for st, fl, due in flags]
    return out


def summary(engine: Engine, pool_id: str, on: date) -> dict[str, Any]:
    """What a fund manager watches: balance, leverage, enrolled balance, claims, per-bank rates."""
    with engine.connect() as conn:
        s, closed = pool_scheme(conn, pool_id)
        cash = _cash(conn, pool_id)
        enrolled = enrolled_balance(conn, pool_id)
        claims = conn.execute(select(CLAIM).where(CLAIM.c.pool_id == pool_id)).all()
        banks = conn.execute(
            select(
                ENR.c.institution_id,
                func.count(),
                func.sum(ENR.c.loan_amount),
                func.sum(ENR.c.covered_balance),
            )
            .where(ENR.c.pool_id == pool_id)
            .group_by(ENR.c.institution_id)
        ).all()
        _, fees = _paid_and_fees(conn, pool_id)
    by_status: dict[str, int] = {}
    for c in claims:
        by_status[c.status] = by_status.get(c.status, 0) + 1
    per_bank = []
    for inst, n, amt, bal in banks:
        mine = [c for c in claims if c.institution_id == inst]
        claimed = sum((c.loss_base for c in mine if c.status != "rejected"), ZERO)
        paid_b = sum((c.pool_amount for c in mine if c.status in ("paid", "closed")), ZERO)
        rec_b = sum((c.recovered_to_pool for c in mine), ZERO)
        rate = claimed / amt if amt else Decimal(0)
        cap = s.caps.compensation_rate
        per_bank.append(
            {
                "institution": inst,
                "loans": n,
                "enrolled_amount": amt,
                "covered_balance": bal,
                "claimed_loss": claimed,
                "compensation_rate": rate.quantize(Decimal("0.0001")),
                "paid": paid_b,
                "recovered": rec_b,
                "suspended": cap is not None and rate > cap,
            }
        )
    paid_total = sum((c.pool_amount for c in claims if c.status in ("paid", "closed")), ZERO)
    rec_total = sum((c.recovered_to_pool for c in claims), ZERO)
    return {
        "pool": pool_id,
        "scheme": s.id,
        "scheme_version": s.version,
        "as_of": on,
        "closed_through": closed,
        "balance": cash,
        "enrolled_balance": enrolled,
        "leverage": (enrolled / cash).quantize(Decimal("0.01")) if cash else None,
        "leverage_limit": s.leverage,
        # Payouts shrink the pool under loans already covered, so leverage can pass the limit
        # without any enrolment breaking it; the same rule as ``enrol`` then refuses new loans
        # until the pool is replenished. Said here so the page can say it.
        "over_leverage": s.leverage is not None and enrolled > s.leverage * cash,
        "claims_by_status": by_status,
        "paid": paid_total,
        "recovered": rec_total,
        "recovery_rate": (rec_total / paid_total).quantize(Decimal("0.0001"))
        if paid_total
        else None,
        "fees_collected": fees,
        "banks": per_bank,
        "overdue": deadlines(engine, pool_id, on),
    }


def claims_table(engine: Engine, pool_id: str, on: date) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(CLAIM, ENR.c.contract_no)
            .join(ENR, ENR.c.id == CLAIM.c.enrolment_id)
            .where(CLAIM.c.pool_id == pool_id)
            .order_by(CLAIM.c.id)
        ).all()
    return [
        {
            "claim": r.id,
            "contract_no": r.contract_no,
            "institution": r.institution_id,
            "status": r.status,
            "filed_on": r.filed_on,
            "age_days": (on - r.filed_on).days,
            "loss_base": r.loss_base,
            "pool_amount": r.pool_amount,
            "recovered_to_pool": r.recovered_to_pool,
            "trigger": r.trigger,
        }
        for r in rows
    ]


def commands_log(engine: Engine, pool_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(CMD).where(CMD.c.pool_id == pool_id).order_by(CMD.c.recorded_at)
        ).all()
    return [
        {
            "key": r.key,
            "kind": r.kind,
            "actor": r.actor,
            "business_date": r.business_date,
            "reason": r.reason,
            "recorded_at": r.recorded_at,
        }
        for r in rows
    ]
