"""The double-entry journal: accounts, balanced immutable entries, reversals, commands and audit.

Everything here works on a SQLAlchemy Core ``Connection`` inside the caller's transaction, because
a payout is one short transaction and the ORM's unit of work would double its cost.

Locking (PostgreSQL): the only row a payout must serialise on is the pool's ``cash`` account. Its
balance is changed by one guarded statement, ``UPDATE … SET balance = balance + :d WHERE id = :cash
AND balance + :d >= 0``, which takes the row lock and re-checks the guard on the newest committed
version, so two payouts can never both see the same money. It runs after the entry and postings
are inserted (those take no shared locks), so the lock is held only for the remaining balance
updates and the commit. See ``docs/fund.md`` for why row locks and not SERIALIZABLE.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from kejin.access.rules import Forbidden
from kejin.console import dumps
from kejin.db import Money
from kejin.errors import ConflictError, KejinError, NotFoundError, Problem, ValidationError
from kejin.fund.tables import (
    Claim,
    FundAccount,
    FundBalance,
    FundCommand,
    FundPool,
    JournalEntry,
    PeriodClose,
    Posting,
)

ACC = FundAccount.__table__
BAL = FundBalance.__table__
ENT = JournalEntry.__table__
POST = Posting.__table__
CMD = FundCommand.__table__
POOL = FundPool.__table__
CLAIM = Claim.__table__
PERIOD = PeriodClose.__table__
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
#: Shards of every maintained balance (see :class:`kejin.fund.tables.FundBalance`).
SHARDS = 16


@dataclass(frozen=True)
class Actor:
    """Who acts, on which business date, and why: recorded on every command and entry."""

    who: str
    on: date
    why: str

    def __post_init__(self) -> None:
        if not self.who.strip():
            raise ValidationError(
                "必须注明操作人",
                "an actor is required",
                [Problem("操作人为空", "empty actor", field="actor")],
            )
        if not self.why.strip():
            raise ValidationError(
                "必须注明事由",
                "a reason is required",
                [Problem("事由为空", "empty reason", field="reason")],
            )


@dataclass
class EntrySpec:
    """An entry to post: ``lines`` are (account id, signed amount), debit positive."""

    kind: str
    lines: list[tuple[int, Decimal]]
    memo: bool = False
    claim_id: int | None = None
    reverses_id: int | None = None


def _upsert(conn: Connection):  # type: ignore[no-untyped-def]
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(ACC)


def ensure_accounts(
    conn: Connection, pool_id: str, keys: Iterable[tuple[str, str, bool]]
) -> dict[tuple[str, str], int]:
    """Account ids for (party, purpose, memo) triples, creating missing ones (race-safe)."""
    keys = list(keys)
    rows = [{"pool_id": pool_id, "party": p, "purpose": u, "memo": m} for p, u, m in keys]
    if rows:
        conn.execute(_upsert(conn).on_conflict_do_nothing(), rows)
    found = conn.execute(
        select(ACC.c.party, ACC.c.purpose, ACC.c.id).where(ACC.c.pool_id == pool_id)
    ).all()
    return {(r.party, r.purpose): r.id for r in found}


def account_ids(conn: Connection, pool_id: str) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        select(ACC.c.party, ACC.c.purpose, ACC.c.id).where(ACC.c.pool_id == pool_id)
    ).all()
    return {(r.party, r.purpose): r.id for r in rows}


def _check_open(conn: Connection, pool_id: str, on: date) -> None:
    closed = conn.execute(select(POOL.c.closed_through).where(POOL.c.id == pool_id)).scalar()
    if closed is not None and on <= closed:
        raise ValidationError(
            f"会计期间已结账至{closed}，不能记入{on}",
            f"periods are closed through {closed}; cannot post on {on}",
            [Problem("期间已结账", "period closed", field="business_date", value=str(on))],
        )


def post(
    conn: Connection,
    pool_id: str,
    actor: Actor,
    command_key: str,
    entries: Sequence[EntrySpec],
    cash_ids: Iterable[int] = (),
    check_open: bool = True,
    shard: int | None = 0,
) -> list[int]:
    """Post balanced entries and update maintained balances; returns the new entry ids.

    ``cash_ids`` names accounts that must never go negative; they are updated first (see
    :func:`apply_deltas`), in ``shard``. Refuses (nothing written, the caller's transaction is
    rolled back) an unbalanced entry, a zero line, or a pool that would be overdrawn.
    """
    if check_open:
        _check_open(conn, pool_id, actor.on)
    for e in entries:
        total = sum((a for _, a in e.lines), ZERO)
        if total != 0 or not e.lines or any(a == 0 for _, a in e.lines):
            raise ValidationError(
                "分录借贷不平衡或含零金额",
                "entry unbalanced or has a zero line",
                [Problem("借贷不平", "unbalanced", field=e.kind, value=str(total))],
            )
    ids = list(
        conn.execute(
            insert(ENT).returning(ENT.c.id, sort_by_parameter_order=True),
            [
                {
                    "pool_id": pool_id,
                    "kind": e.kind,
                    "memo": e.memo,
                    "business_date": actor.on,
                    "command_key": command_key,
                    "claim_id": e.claim_id,
                    "reverses_id": e.reverses_id,
                    "actor": actor.who,
                    "reason": actor.why,
                }
                for e in entries
            ],
        ).scalars()
    )
    conn.execute(
        insert(POST),
        [
            {"entry_id": eid, "account_id": acc, "amount": amt}
            for eid, e in zip(ids, entries, strict=True)
            for acc, amt in e.lines
        ],
    )
    deltas: dict[int, Decimal] = {}
    for e in entries:
        for acc, amt in e.lines:
            deltas[acc] = deltas.get(acc, ZERO) + amt
    apply_deltas(conn, {k: v for k, v in deltas.items() if v != 0}, set(cash_ids), shard)
    return ids


def _bal_upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add to shard rows, creating them on first use (one statement, rows in key order)."""
    ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(BAL)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[BAL.c.account_id, BAL.c.shard],
            set_={"balance": BAL.c.balance + ins.excluded.balance},
        ),
        rows,
    )


def apply_deltas(
    conn: Connection, deltas: dict[int, Decimal], cash: set[int], shard: int | None
) -> None:
    """Update maintained balances: cash accounts first (their row locks), then the rest.

    ``shard=None`` spreads each cash credit evenly over all shards (capital in), so every shard
    has money to pay from. A cash debit is taken from the transaction's shard by a guarded UPDATE;
    if that shard is short, every cash shard is locked in shard order and the debit is taken from
    several, so a payout is refused only when the pool as a whole cannot cover it. Lock order is
    always: cash shards ascending, then other rows by (account, shard); no cycle can form.
    """
    home = 0 if shard is None else shard
    for c in sorted(k for k in deltas if k in cash):
        d = deltas[c]
        if d > 0 and shard is None:
            part = (d / SHARDS).quantize(CENT, rounding=ROUND_DOWN)
            parts = [part] * SHARDS
            parts[0] += d - part * SHARDS
            _bal_upsert(
                conn,
                [
                    {"account_id": c, "shard": i, "nonneg": True, "balance": x}
                    for i, x in enumerate(parts)
                    if x != 0
                ],
            )
        elif d > 0:
            _bal_upsert(conn, [{"account_id": c, "shard": home, "nonneg": True, "balance": d}])
        else:
            _debit_cash(conn, c, -d, home)
    rest = sorted(k for k in deltas if k not in cash)
    if rest:
        _bal_upsert(
            conn,
            [{"account_id": k, "shard": home, "nonneg": False, "balance": deltas[k]} for k in rest],
        )


def _debit_cash(conn: Connection, account: int, amount: Decimal, shard: int) -> None:
    res = conn.execute(
        update(BAL)
        .where(
            BAL.c.account_id == account,
            BAL.c.shard == shard,
            BAL.c.balance >= bindparam("d", type_=Money()),
        )
        .values(balance=BAL.c.balance - bindparam("d", type_=Money())),
        {"d": amount},
    )
    if res.rowcount == 1:
        return
    rows = conn.execute(
        select(BAL.c.shard, BAL.c.balance)
        .where(BAL.c.account_id == account)
        .order_by(BAL.c.shard)
        .with_for_update()
    ).all()
    total = sum((r.balance for r in rows), ZERO)
    if total < amount:
        raise ValidationError(
            f"资金池余额{total}不足以支付{amount}",
            f"pool balance {total} cannot cover {amount}",
            [Problem("余额不足", "insufficient pool balance", field="amount", value=str(amount))],
        )
    left = amount
    for r in sorted(rows, key=lambda r: -r.balance):
        take = min(left, r.balance)
        if take > 0:
            conn.execute(
                update(BAL)
                .where(BAL.c.account_id == account, BAL.c.shard == r.shard)
                .values(balance=BAL.c.balance - bindparam("d", type_=Money())),
                {"d": take},
            )
            left -= take
        if left == 0:
            break


def balances(conn: Connection, account_ids: Iterable[int]) -> dict[int, Decimal]:
    """Maintained balances (sum of shards) of some accounts."""
    ids = list(account_ids)
    rows = conn.execute(
        select(BAL.c.account_id, func.sum(BAL.c.balance))
        .where(BAL.c.account_id.in_(ids))
        .group_by(BAL.c.account_id)
    ).all()
    got = {a: Decimal(b) for a, b in rows}
    return {i: got.get(i, ZERO) for i in ids}


def reverse(
    conn: Connection,
    pool_id: str,
    actor: Actor,
    command_key: str,
    entry_ids: Sequence[int],
    cash_ids: Iterable[int] = (),
    shard: int | None = 0,
) -> list[int]:
    """Post exact negations of entries (each may be reversed once; reversals are not reversed)."""
    specs = []
    for eid in entry_ids:
        e = conn.execute(select(ENT).where(ENT.c.id == eid, ENT.c.pool_id == pool_id)).first()
        if e is None:
            raise NotFoundError(
                "分录不存在",
                "no such entry",
                [Problem("未找到", "not found", field="entry_id", value=eid)],
            )
        if e.reverses_id is not None:
            raise ValidationError(
                "冲销分录不能再冲销",
                "a reversal cannot itself be reversed",
                [Problem("已是冲销", "is a reversal", field="entry_id", value=eid)],
            )
        done = conn.execute(select(ENT.c.id).where(ENT.c.reverses_id == eid)).scalar()
        if done is not None:
            raise ConflictError(
                "分录已被冲销",
                "entry already reversed",
                [Problem(f"已由{done}冲销", f"reversed by {done}", field="entry_id", value=eid)],
            )
        lines = conn.execute(
            select(POST.c.account_id, POST.c.amount)
            .where(POST.c.entry_id == eid)
            .order_by(POST.c.id)
        ).all()
        specs.append(
            EntrySpec(
                f"reversal:{e.kind}"[:30], [(a, -m) for a, m in lines], e.memo, e.claim_id, eid
            )
        )
    return post(conn, pool_id, actor, command_key, specs, cash_ids, shard=shard)


# ---------------------------------------------------------------- commands and idempotency


class SlowPath(Exception):
    """Raised by a command's fast path: roll its transaction back and run the general ``body``."""


def _is_retryable(e: DBAPIError) -> bool:
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01")


#: Writes a command's audit record into the command's own transaction, given the result.
AuditHook = Callable[[Connection, dict[str, Any]], None]


def run_command(
    engine: Engine,
    pool_id: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    actor: Actor,
    body: Callable[[Connection], dict[str, Any]],
    retries: int = 30,
    fast: Callable[[Connection, dict[str, Any]], dict[str, Any] | None] | None = None,
    audit: AuditHook | None = None,
) -> dict[str, Any]:
    """Run ``body`` once per idempotency key, in one transaction, recording who/when/why/result.

    Same key and same payload → the stored result (``replayed: true``), nothing posted again.
    Same key, different payload or command → refused. The command row is written last, with its
    result (entries reference it through a deferred foreign key), so the common path costs one
    statement; a duplicate key is caught by the primary key — immediately for a replay, or after
    the winner commits for a concurrent duplicate — and the loser's work is rolled back. A body
    refused because the work is already done (the claim is paid) also replays when its key was
    used before with the same payload.

    ``fast`` (optional) is a one-statement version of ``body`` that also writes the command row
    (it gets the row's columns, without ``result``). It runs first; ``None`` means "nothing was
    written, run ``body``" in the same transaction; :class:`SlowPath` means "roll back and run
    ``body`` in a new transaction".

    ``audit`` (optional) writes the audit record of the change, given the result as the caller
    receives it, in the same transaction: the money and its record commit together or not at
    all (a record written afterwards in the request's own transaction was lost whenever that
    second commit failed). A replay changes nothing and writes no record.
    """
    if not key or len(key) > 80:
        raise ValidationError(
            "幂等键须为1–80个字符",
            "idempotency key must be 1–80 characters",
            [Problem("幂等键无效", "bad key", field="key", value=key)],
        )
    full = {"kind": kind, "pool": pool_id, "actor": actor.who, "on": actor.on, **payload}
    text = dumps(dict(sorted(full.items())))
    digest = hashlib.sha256(text.encode()).hexdigest()
    for attempt in range(retries):
        try:
            with engine.begin() as conn:
                record = {
                    "key": key,
                    "pool_id": pool_id,
                    "kind": kind,
                    "payload_sha256": digest,
                    "payload": text,
                    "actor": actor.who,
                    "reason": actor.why,
                    "business_date": actor.on,
                    "recorded_at": datetime.now(),
                }
                result = fast(conn, record) if fast is not None else None
                if result is None:
                    result = body(conn)
                    conn.execute(insert(CMD), {**record, "result": dumps(result)})
                # Exactly what a replay returns (amounts as exact decimal strings), so a caller
                # never sees different types for the first call and a repeat.
                out = {**json.loads(dumps(result)), "command": key, "replayed": False}
                if audit is not None:
                    audit(conn, out)
            return out
        except SlowPath:
            fast = None
            continue
        except Forbidden:
            # A refusal of who may act (a tenant check run inside the body) is never answered
            # with a stored result: the caller's right is judged now, not when the key was used.
            raise
        except KejinError:
            prior = _prior(engine, key)
            if prior is not None:
                return _replay(prior, digest, key)
            raise
        except IntegrityError:
            prior = _prior(engine, key)
            if prior is not None:
                return _replay(prior, digest, key)
            # A unique constraint other than the key: a concurrent command got there first
            # (the same loan enrolled or claimed twice at once). Nothing of ours was written.
            raise ConflictError(
                "并发操作冲突：同一对象已被另一命令修改",
                "conflict: a concurrent command changed the same record first",
                [Problem("唯一约束冲突", "unique constraint", field="key", value=key)],
            ) from None
        except DBAPIError as e:
            if _is_retryable(e) and attempt + 1 < retries:
                continue
            raise
    raise AssertionError("unreachable")


def _prior(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(CMD.c.payload_sha256, CMD.c.result).where(CMD.c.key == key)
        ).first()


def _replay(prior: Any, digest: str, key: str) -> dict[str, Any]:
    if prior.payload_sha256 != digest:
        raise ConflictError(
            "幂等键已用于不同的请求",
            "idempotency key already used with a different payload",
            [Problem("参数不同", "payload differs", field="key", value=key)],
        )
    return {**json.loads(prior.result), "command": key, "replayed": True}


# ---------------------------------------------------------------- audit and period close


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class AuditReport:
    pool_id: str | None
    checks: list[Check] = field(default_factory=list)
    totals: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, bad: list[Any], what: str) -> None:
        detail = "ok" if not bad else f"{len(bad)} {what}: {bad[:5]}"
        self.checks.append(Check(name, not bad, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool_id,
            "ok": self.ok,
            "checks": [c.__dict__ for c in self.checks],
            "totals": self.totals,
        }


def audit(conn: Connection, pool_id: str | None = None) -> AuditReport:
    """Prove from postings alone that every yuan is accounted for (read-only, any time).

    Checks: every entry balances and has lines; all postings sum to zero; each maintained balance
    equals the sum of its postings; no cash account is negative; each reversal exactly negates
    its original; each claim is paid at most once (net of reversals) and the net paid equals its
    computed amount; recoveries returned to the pool never exceed what was paid; every entry
    belongs to a recorded command. Totals give the sources and uses of the pool's cash.
    """
    rep = AuditReport(pool_id)
    ent_f = [] if pool_id is None else [ENT.c.pool_id == pool_id]
    acc_f = [] if pool_id is None else [ACC.c.pool_id == pool_id]
    per_entry = (
        select(POST.c.entry_id, func.sum(POST.c.amount).label("s"), func.count().label("n"))
        .join(ENT, ENT.c.id == POST.c.entry_id)
        .where(*ent_f)
        .group_by(POST.c.entry_id)
        .subquery()
    )
    unbalanced = (
        conn.execute(select(per_entry.c.entry_id).where(per_entry.c.s != 0)).scalars().all()
    )
    rep.add("entries_balance", list(unbalanced), "unbalanced entries")
    empty = (
        conn.execute(select(ENT.c.id).where(*ent_f, ~ENT.c.id.in_(select(POST.c.entry_id))))
        .scalars()
        .all()
    )
    rep.add("entries_have_lines", list(empty), "entries without postings")
    total = conn.execute(
        select(func.coalesce(func.sum(POST.c.amount), 0))
        .join(ENT, ENT.c.id == POST.c.entry_id)
        .where(*ent_f)
    ).scalar()
    rep.add("postings_sum_zero", [] if Decimal(total) == 0 else [str(total)], "non-zero total")
    sums = (
        select(POST.c.account_id, func.sum(POST.c.amount).label("s"))
        .group_by(POST.c.account_id)
        .subquery()
    )
    kept = (
        select(BAL.c.account_id, func.sum(BAL.c.balance).label("b"))
        .group_by(BAL.c.account_id)
        .subquery()
    )
    drift = conn.execute(
        select(
            ACC.c.id,
            ACC.c.party,
            ACC.c.purpose,
            func.coalesce(kept.c.b, 0).label("balance"),
            sums.c.s,
        )
        .outerjoin(sums, sums.c.account_id == ACC.c.id)
        .outerjoin(kept, kept.c.account_id == ACC.c.id)
        .where(*acc_f, func.coalesce(kept.c.b, 0) != func.coalesce(sums.c.s, 0))
    ).all()
    rep.add(
        "maintained_balances",
        [(r.id, r.party, r.purpose, str(r.balance)) for r in drift],
        "accounts whose balance differs from their postings",
    )
    neg = conn.execute(
        select(ACC.c.id, BAL.c.balance)
        .join(BAL, BAL.c.account_id == ACC.c.id)
        .where(*acc_f, BAL.c.nonneg, BAL.c.balance < 0)
    ).all()
    rep.add("cash_nonnegative", [(r.id, str(r.balance)) for r in neg], "negative cash accounts")
    orig = ENT.alias("orig")
    rev_lines = (
        select(ENT.c.id.label("rid"), POST.c.account_id, func.sum(POST.c.amount).label("s"))
        .join(POST, POST.c.entry_id == ENT.c.id)
        .where(*ent_f, ENT.c.reverses_id.is_not(None))
        .group_by(ENT.c.id, POST.c.account_id)
        .subquery()
    )
    orig_lines = (
        select(ENT.c.id.label("rid"), POST.c.account_id, func.sum(POST.c.amount).label("s"))
        .join(orig, orig.c.id == ENT.c.reverses_id)
        .join(POST, POST.c.entry_id == orig.c.id)
        .where(*ent_f)
        .group_by(ENT.c.id, POST.c.account_id)
        .subquery()
    )
    bad_rev = (
        conn.execute(
            select(rev_lines.c.rid)
            .outerjoin(
                orig_lines,
                and_(
                    orig_lines.c.rid == rev_lines.c.rid,
                    orig_lines.c.account_id == rev_lines.c.account_id,
                ),
            )
            .where(func.coalesce(orig_lines.c.s, 0) != -rev_lines.c.s)
        )
        .scalars()
        .all()
    )
    rep.add("reversals_negate", sorted(set(bad_rev)), "reversals that do not negate their original")
    # Claims: net payouts per claim from the ledger (payout entries minus their reversals).
    cash_out = (
        select(ENT.c.claim_id, func.sum(POST.c.amount).label("paid"))
        .join(POST, POST.c.entry_id == ENT.c.id)
        .join(ACC, ACC.c.id == POST.c.account_id)
        .where(
            *ent_f,
            ENT.c.claim_id.is_not(None),
            ENT.c.kind.in_(["payout", "reversal:payout"]),
            ACC.c.purpose == "compensation",
        )
        .group_by(ENT.c.claim_id)
        .subquery()
    )
    n_pay = (
        select(ENT.c.claim_id, func.count().label("n"))
        .where(*ent_f, ENT.c.kind == "payout")
        .group_by(ENT.c.claim_id)
        .subquery()
    )
    n_rev = (
        select(ENT.c.claim_id, func.count().label("n"))
        .where(*ent_f, ENT.c.kind == "reversal:payout")
        .group_by(ENT.c.claim_id)
        .subquery()
    )
    cl_f = [] if pool_id is None else [CLAIM.c.pool_id == pool_id]
    rows = conn.execute(
        select(
            CLAIM.c.id,
            CLAIM.c.status,
            CLAIM.c.pool_amount,
            CLAIM.c.loss_base,
            CLAIM.c.pool_rate,
            CLAIM.c.recovered_to_pool,
            func.coalesce(cash_out.c.paid, 0).label("paid"),
            func.coalesce(n_pay.c.n, 0).label("np"),
            func.coalesce(n_rev.c.n, 0).label("nr"),
        )
        .outerjoin(cash_out, cash_out.c.claim_id == CLAIM.c.id)
        .outerjoin(n_pay, n_pay.c.claim_id == CLAIM.c.id)
        .outerjoin(n_rev, n_rev.c.claim_id == CLAIM.c.id)
        .where(*cl_f)
    ).all()
    twice, wrong, over, rec = [], [], [], []
    for r in rows:
        live = r.np - r.nr
        paid_state = r.status in ("paid", "closed")
        # A claim the fee cap left at nothing (Pingshan: payouts ≤ 2× fees, the room used up by
        # earlier claims) is paid with no payout entry: there was no money to move.
        expected = 1 if paid_state and r.pool_amount > 0 else 0
        if live > 1 or live < 0 or live != expected:
            twice.append((r.id, r.status, live))
        paid = Decimal(r.paid)
        if paid != (r.pool_amount if paid_state else 0):
            wrong.append((r.id, str(paid), str(r.pool_amount)))
        if (
            r.pool_amount > (r.loss_base * r.pool_rate).quantize(CENT, ROUND_HALF_UP)
            or r.pool_amount > r.loss_base
        ):
            over.append((r.id, str(r.pool_amount)))
        if r.recovered_to_pool > paid:
            rec.append((r.id, str(r.recovered_to_pool), str(paid)))
    rep.add("claims_paid_at_most_once", twice, "claims paid a wrong number of times")
    rep.add("payouts_match_claims", wrong, "claims whose ledger payout differs from the claim")
    rep.add("payouts_within_share", over, "claims paid above their share of the loss")
    rep.add("recoveries_within_paid", rec, "claims with more recovered than paid")
    rec_ledger = (
        select(ENT.c.claim_id, func.sum(POST.c.amount).label("s"))
        .join(POST, POST.c.entry_id == ENT.c.id)
        .join(ACC, ACC.c.id == POST.c.account_id)
        .where(*ent_f, ENT.c.kind == "recovery", ACC.c.purpose == "cash")
        .group_by(ENT.c.claim_id)
        .subquery()
    )
    drift_rec = conn.execute(
        select(CLAIM.c.id, CLAIM.c.recovered_to_pool, rec_ledger.c.s)
        .outerjoin(rec_ledger, rec_ledger.c.claim_id == CLAIM.c.id)
        .where(*cl_f, CLAIM.c.recovered_to_pool != func.coalesce(rec_ledger.c.s, 0))
    ).all()
    rep.add(
        "recoveries_match_claims",
        [(r.id, str(r.recovered_to_pool), str(r.s)) for r in drift_rec],
        "claims whose recorded recoveries differ from the ledger",
    )
    orphan = (
        conn.execute(select(ENT.c.id).where(*ent_f, ~ENT.c.command_key.in_(select(CMD.c.key))))
        .scalars()
        .all()
    )
    rep.add("entries_have_commands", list(orphan), "entries without a recorded command")
    by_purpose = conn.execute(
        select(ACC.c.purpose, ACC.c.memo, func.sum(BAL.c.balance))
        .join(BAL, BAL.c.account_id == ACC.c.id)
        .where(*acc_f)
        .group_by(ACC.c.purpose, ACC.c.memo)
    ).all()
    rep.totals = {f"{p}{' (memo)' if m else ''}": str(Decimal(s)) for p, m, s in by_purpose}
    # Sources and uses: cash = capital in + fees + recoveries − compensation paid.
    t = {p: Decimal(s) for p, m, s in by_purpose if not m}
    identity = t.get("cash", ZERO) + sum(
        (t.get(p, ZERO) for p in ("capital", "fee_income", "recovery", "compensation")), ZERO
    )
    rep.add(
        "cash_identity",
        [] if identity == 0 else [str(identity)],
        "cash ≠ capital + fees + recoveries − compensation",
    )
    return rep


def trial_balance(
    conn: Connection, pool_id: str, as_of: date | None = None
) -> list[dict[str, Any]]:
    """Balance of every account from postings (dated on or before ``as_of`` when given)."""
    cond = [ENT.c.pool_id == pool_id]
    if as_of is not None:
        cond.append(ENT.c.business_date <= as_of)
    sums = (
        select(POST.c.account_id, func.sum(POST.c.amount).label("s"))
        .join(ENT, ENT.c.id == POST.c.entry_id)
        .where(*cond)
        .group_by(POST.c.account_id)
        .subquery()
    )
    rows = conn.execute(
        select(ACC.c.party, ACC.c.purpose, ACC.c.memo, func.coalesce(sums.c.s, 0).label("b"))
        .outerjoin(sums, sums.c.account_id == ACC.c.id)
        .where(ACC.c.pool_id == pool_id)
        .order_by(ACC.c.memo, ACC.c.purpose, ACC.c.party)
    ).all()
    return [
        {"party": r.party, "purpose": r.purpose, "memo": r.memo, "balance": Decimal(r.b)}
        for r in rows
    ]


def close_period(
    conn: Connection, pool_id: str, period_end: date, command_key: str
) -> dict[str, Any]:
    """Close every period through ``period_end`` after a clean audit; later entries must be after it."""
    closed = conn.execute(select(POOL.c.closed_through).where(POOL.c.id == pool_id)).scalar()
    if closed is not None and period_end <= closed:
        raise ValidationError(
            f"已结账至{closed}",
            f"already closed through {closed}",
            [
                Problem(
                    "期末不晚于已结账日",
                    "not after the last close",
                    field="period_end",
                    value=str(period_end),
                )
            ],
        )
    late = conn.execute(
        select(func.count())
        .select_from(ENT)
        .where(ENT.c.pool_id == pool_id, ENT.c.business_date > period_end)
    ).scalar()
    rep = audit(conn, pool_id)
    if not rep.ok:
        raise ValidationError(
            "审计未通过，不能结账",
            "audit failed; cannot close",
            [Problem(c.detail, c.detail, field=c.name) for c in rep.checks if not c.ok],
        )
    tb = trial_balance(conn, pool_id, as_of=period_end)
    conn.execute(
        insert(PERIOD),
        {
            "pool_id": pool_id,
            "period_end": period_end,
            "command_key": command_key,
            "trial_balance": dumps(tb),
        },
    )
    conn.execute(update(POOL).where(POOL.c.id == pool_id).values(closed_through=period_end))
    return {
        "pool": pool_id,
        "closed_through": period_end,
        "entries_after": late,
        "trial_balance": tb,
    }
