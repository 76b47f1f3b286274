"""The append-only, hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so editing any row breaks
its hash and deleting one leaves a gap in ``seq``. Writers serialise on a lock (an advisory lock
on PostgreSQL, the database write lock on SQLite) so the chain never forks, and the event is
written in the same transaction as the change it records: no change without its record.
Triggers installed by the migration refuse UPDATE and DELETE; ``verify`` is the proof for the
case where someone with owner rights went around them. Against such an owner the hashes alone
prove nothing (they can be recomputed): each event also carries a MAC under a key kept outside
the database (:mod:`kejin.access.auditkey`), and signed heads can be kept outside it too
(:mod:`kejin.access.checkpoints`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session

from kejin.access import auditkey
from kejin.access.checkpoints import Checkpoint
from kejin.access.tables import AuditEvent
from kejin.errors import Problem

GENESIS = "0" * 64
#: Text of the triggers that make the table append-only (installed by migration access_0001).
APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]
APPEND_ONLY_PG = [
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
]


def utcnow() -> datetime:
    """Naive UTC with microseconds: what both databases store and give back unchanged."""
    return datetime.now(UTC).replace(tzinfo=None)


def canonical(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any) -> str | None:
    """SHA-256 of a canonical JSON rendering; the audit log keeps digests, not the data itself.

    >>> digest(None) is None
    True
    >>> digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    True
    """
    if obj is None:
        return None
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def event_hash(ev: AuditEvent) -> str:
    body = [
        ev.seq,
        ev.at.isoformat(timespec="microseconds"),
        ev.actor,
        ev.actor_role,
        ev.action,
        ev.entity_kind,
        ev.entity_id,
        ev.before_digest,
        ev.after_digest,
        ev.detail,
        ev.prev_hash,
    ]
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def read_durable() -> bool:
    """Whether reads' events wait for the durable commit (``KEJIN_READ_AUDIT_DURABLE``)."""
    from kejin.access.settings import get_service_settings

    return get_service_settings().read_audit_durable


#: ``session.info`` key: the transaction that holds the chain lock (it must append inline).
LOCKED = "kejin_audit_lock"


def _lock_and_tail(session: Session, durable: bool) -> tuple[int, str]:
    """Take the chain lock and read the tail after it is granted: ``(seq, hash)`` of the last event.

    On PostgreSQL both go in one message of the simple protocol (one round trip, not two): each
    statement of it runs with its own snapshot, so the tail is read after the lock is held —
    one ``SELECT`` doing both would read the tail from a snapshot taken before any wait for the
    lock, and fork the chain. The lock is held until the transaction ends, so every round trip
    under it is time every other writer of the chain waits.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(lock_and_tail_sql(durable))
            while cur.nextset():
                pass
            last = cur.fetchone()
        finally:
            cur.close()
    else:
        # A no-op write takes SQLite's write lock now, before the tail is read.
        conn.execute(text("DELETE FROM audit_events WHERE 0"))
        last = conn.execute(TAIL).first()
    session.info[LOCKED] = session.get_transaction()
    return (last[0], last[1]) if last else (0, GENESIS)


def lock_and_tail_sql(durable: bool) -> str:
    """PostgreSQL text of the chain lock and the tail read after it, one message of several
    statements (no parameters); a read's commit may skip the WAL flush if configured so."""
    fast = "" if durable or read_durable() else "SET LOCAL synchronous_commit TO off; "
    return f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY}); {fast}{_tail_sql()}"


@cache
def _tail_sql() -> str:
    from sqlalchemy.dialects import postgresql

    return str(TAIL.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def event_fields(
    *,
    actor: str,
    actor_role: str,
    action: str,
    entity_kind: str,
    entity_id: str,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event's own fields, stamped now; ``append`` links them into the chain."""
    return {
        "at": utcnow(),
        "actor": actor,
        "actor_role": actor_role,
        "action": action,
        "entity_kind": entity_kind,
        "entity_id": str(entity_id)[:80],
        "before_digest": digest(before),
        "after_digest": digest(after),
        "detail": canonical(detail or {}),
    }


TAIL = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
COLUMNS = [c.name for c in AuditEvent.__table__.columns]
#: Key of the PostgreSQL advisory lock that serialises appends ("kejin audit").
PG_LOCK_KEY = 0x6B656A696E


def append(session: Session, batch: list[dict[str, Any]], durable: bool = True) -> list[AuditEvent]:
    """Link ``batch`` (from :func:`event_fields`) to the chain's tail in the caller's transaction.

    Inserted through Core, not the unit of work: the events are never changed afterwards, and
    the group-committed reads of a busy server append hundreds at a time. Events the
    transaction deferred (see :func:`defer_to_commit`) go first, in the order they were recorded.
    """
    out = link(_take_pending(session) + batch, *_lock_and_tail(session, durable))
    session.connection().execute(
        insert(AuditEvent.__table__), [{c: getattr(ev, c) for c in COLUMNS} for ev in out]
    )
    return out


#: ``session.info`` keys: whether the session's changes record their events at commit, and the
#: events waiting for it (with the transaction they belong to).
DEFER = "kejin_audit_defer"
PENDING = "kejin_audit_pending"


def defer_to_commit(session: Session) -> None:
    """Record this session's changes in the chain when it commits, not when they are made.

    The chain lock is held from the append to the end of the transaction. A web request's
    change appended its event in the handler and committed in a later step, after the handler
    had returned to the event loop and a worker thread had been found for the commit: under
    load the lock stayed held for tens of milliseconds of waiting for the loop and the GIL, and
    every other write and every read's audit batch of every worker queued behind it. Appended at
    commit, the lock is held for the lock-and-tail round trip, the insert and the commit only.
    The event is still written in the same transaction as the change (no change without its
    record, nor a record without the change). Events recorded inside a savepoint are appended
    at once: a savepoint rolled back takes its events with it, as before.
    """
    session.info[DEFER] = True


def _take_pending(session: Session) -> list[dict[str, Any]]:
    """The events the transaction deferred, taken for appending. None inside a savepoint: one
    rolled back must not take them with it (a savepoint's commit leaves them to the root's)."""
    pending = session.info.get(PENDING)
    if (
        pending is None
        or pending[0] is not session.get_transaction()
        or session.in_nested_transaction()
    ):
        return []
    del session.info[PENDING]
    return pending[1]


@event.listens_for(Session, "before_commit")
def _append_deferred(session: Session) -> None:
    pending = _take_pending(session)
    if pending:
        append(session, pending)


@event.listens_for(Session, "after_transaction_end")
def _drop_deferred(session: Session, transaction: Any) -> None:
    pending = session.info.get(PENDING)
    if pending is not None and pending[0] is transaction:
        del session.info[PENDING]  # rolled back (a commit has popped them already)


def link(batch: list[dict[str, Any]], seq: int, prev: str) -> list[AuditEvent]:
    """The events of ``batch`` chained after the tail ``(seq, prev)``; the caller holds the lock.

    Each is MACed under the process's audit key here, the one function every writer (inline,
    writer thread, the event loop's writer) links through, so none can write an unkeyed event
    while a key is configured.
    """
    keys = auditkey.current()
    out = []
    for fields in batch:
        seq += 1
        ev = AuditEvent(seq=seq, prev_hash=prev, **fields)
        ev.hash = prev = event_hash(ev)
        ev.mac = keys.mac(ev.hash)
        out.append(ev)
    return out


def record(
    session: Session,
    *,
    durable: bool = True,
    **fields: Any,
) -> AuditEvent:
    """Append one event (keyword fields as :func:`event_fields`).

    A change (``durable=True``) is appended in the caller's transaction, so it commits with the
    change it describes: no change without its record. A read (``durable=False``) on
    PostgreSQL goes through the process's :mod:`~kejin.access.readlog` writer instead, which
    commits many reads under one chain lock and one commit and returns only once this one is
    committed: the data is not handed out before its record exists, and concurrent readers no
    longer queue one by one on the chain lock. Whether a read's commit waits for the WAL flush
    is the setting ``read_audit_durable`` (default: it waits). When it does not, a crash of the
    database server can lose the last fraction of a second of read events; the chain stays
    whole and verifiable.
    """
    ev = event_fields(**fields)
    if durable and session.info.get(DEFER) and not session.in_nested_transaction():
        root = session.get_transaction()
        if session.info.get(LOCKED) is not root:
            pending = session.info.get(PENDING)
            if pending is None or pending[0] is not root:
                pending = session.info[PENDING] = (root, [])
            pending[1].append(ev)
            return AuditEvent(**ev)  # linked into the chain at commit
    if not durable:
        from kejin.access import readlog

        carried = readlog.carry(session, ev)
        if carried is not None:
            return carried
    return append(session, [ev], durable)[0]


#: Said by every verification made without a key (zh, en): what such a proof is worth.
UNKEYED_NOTE = (
    "审计链未设密钥（KEJIN_AUDIT_KEY 或 KEJIN_AUDIT_KEY_FILE）：只能发现无权改写此表者的改动，"
    "数据库所有者可改动记录并重算其后全部哈希而不被发现",
    "the audit chain is unkeyed (no KEJIN_AUDIT_KEY or KEJIN_AUDIT_KEY_FILE): it only detects "
    "edits by someone who cannot rewrite the table; a database owner could edit an event and "
    "recompute every later hash undetected",
)


@dataclass
class ChainReport:
    """What ``kejin audit verify`` proves: how many links, the head, and every break found.

    ``unsealed`` holds the events of a keyed verification that carry no MAC and that no signed
    checkpoint vouches for: apart from ``problems`` so that ``kejin audit checkpoint
    --seal-unkeyed`` can vouch for them (events written before the key was set) while refusing
    to sign any other break.
    """

    events: int = 0
    head: str = GENESIS
    head_seq: int = 0
    keyed: bool = False
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    unsealed: list[Problem] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unsealed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "keyed": self.keyed,
            "events": self.events,
            "head": self.head,
            "head_seq": self.head_seq,
            "checkpoints": self.checkpoints,
            "problems": [p.to_dict() for p in self.problems + self.unsealed],
            "notes": [{"zh": zh, "en": en} for zh, en in self.notes],
        }


class _Runs:
    """Consecutive events with the same MAC fault, reported once per run: a rewritten tail of a
    million events is one problem naming its first ``seq``, not a million problems."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        self.spans: list[list[int]] = []

    def add(self, seq: int) -> None:
        if self.spans and self.spans[-1][1] == seq - 1:
            self.spans[-1][1] = seq
        else:
            self.spans.append([seq, seq])

    def problems(self, after: int = 0) -> list[Problem]:
        """One problem per run, leaving out the events up to ``after``."""
        out = []
        for first, last in self.spans:
            first = max(first, after + 1)
            if first <= last:
                span = str(first) if first == last else f"{first}..{last}"
                out.append(Problem(self.zh, self.en, "audit_events", first, "mac", span))
        return out


def _stream(engine: Engine) -> Iterator[AuditEvent]:
    with Session(engine) as s:
        yield from s.scalars(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)
        )


def verify(
    engine: Engine,
    expect_head: str | None = None,
    checkpoints: list[Checkpoint] | None = None,
    keys: auditkey.Keyring | None = None,
) -> ChainReport:
    """Walk the whole chain; report gaps, broken links and rows whose content was changed.

    With an audit key (``keys``, by default the process's), every event's MAC must hold: a row
    edited by someone without the key, hashes recomputed or not, fails from the first such row.
    Each of ``checkpoints`` (heads kept outside the database) must still be in the chain, which
    catches a cut or rewritten tail; ``expect_head`` is the same check for one head kept by hand.
    """
    keys = keys if keys is not None else auditkey.current()
    rep = ChainReport(keyed=keys.keyed)
    if not keys.keyed:
        rep.notes.append(UNKEYED_NOTE)
    pending: dict[int, list[tuple[Checkpoint, bool]]] = {}
    for cp in checkpoints or ():
        bad = cp.signature_problem(keys)
        if bad is not None:
            rep.problems.append(bad)
        pending.setdefault(cp.seq, []).append((cp, bad is None))
    bad_mac = _Runs(
        "MAC不符：记录或其哈希被无密钥者改写",
        "MAC mismatch: the event or its hash was rewritten by someone without the key",
    )
    unknown_key = _Runs(
        "MAC的密钥未知（请在密钥文件中保留旧密钥）",
        "MAC made with an unknown key (keep retired keys in the key file)",
    )
    unsealed = _Runs(
        "记录没有MAC，也没有已签名的检查点为其担保",
        "event has no MAC and no signed checkpoint vouches for it",
    )
    unchecked = anchored = 0
    prev = GENESIS
    expected_seq = 1
    for ev in _stream(engine):
        rep.events += 1
        where = {"file": "audit_events", "row": ev.seq}
        if ev.seq != expected_seq:
            rep.problems.append(
                Problem(
                    f"序号不连续：缺少第{expected_seq}条起的记录",
                    f"sequence gap: events from {expected_seq} are missing",
                    field="seq",
                    value=ev.seq,
                    **where,
                )
            )
        if ev.prev_hash != prev:
            rep.problems.append(
                Problem(
                    "链接断裂：前序哈希不符",
                    "broken link: prev_hash does not match the previous event",
                    field="prev_hash",
                    value=ev.prev_hash,
                    **where,
                )
            )
        if event_hash(ev) != ev.hash:
            rep.problems.append(
                Problem(
                    "记录内容被改动：哈希不符",
                    "event content was altered: hash mismatch",
                    field="hash",
                    value=ev.hash,
                    **where,
                )
            )
        if ev.mac is None:
            if keys.keyed:
                unsealed.add(ev.seq)
        elif not keys.keyed:
            unchecked += 1
        else:
            ok = keys.check(ev.hash, ev.mac)
            if ok is None:
                unknown_key.add(ev.seq)
            elif not ok:
                bad_mac.add(ev.seq)
        for cp, trusted in pending.pop(ev.seq, ()):
            rep.checkpoints += 1
            if cp.hash != ev.hash:
                rep.problems.append(
                    Problem(
                        "与检查点不符：此后的记录被改写",
                        "differs from a checkpoint: the chain was rewritten from here on",
                        file=cp.file,
                        row=ev.seq,
                        field="hash",
                        value=ev.hash,
                    )
                )
            elif trusted and keys.keyed:
                anchored = max(anchored, ev.seq)
        prev = ev.hash
        rep.head_seq = ev.seq
        expected_seq = ev.seq + 1
    rep.head = prev
    for seq, cps in sorted(pending.items()):
        for cp, _ in cps:
            rep.checkpoints += 1
            rep.problems.append(
                Problem(
                    f"检查点记录的事件已不在链中（链头为第{rep.head_seq}条）：记录被删除",
                    f"the checkpointed event is no longer in the chain (head is {rep.head_seq}): "
                    "events were removed",
                    file=cp.file,
                    row=seq,
                    field="seq",
                    value=cp.hash,
                )
            )
    rep.problems += bad_mac.problems() + unknown_key.problems()
    rep.unsealed = unsealed.problems(after=anchored)
    if unchecked:
        rep.notes.append(
            (
                f"{unchecked}条记录带有MAC，但未设密钥，未能校验",
                f"{unchecked} events carry a MAC that was not checked: no key is set",
            )
        )
    if checkpoints and not keys.keyed:
        rep.notes.append(
            (
                "未设密钥：检查点的签名未校验",
                "no key is set: checkpoint signatures were not checked",
            )
        )
    if expect_head is not None and expect_head != prev:
        rep.problems.append(
            Problem(
                "链头与预期不符（末尾记录可能被删除）",
                "head differs from the expected head (newest events may have been removed)",
                field="head",
                value=prev,
            )
        )
    return rep
