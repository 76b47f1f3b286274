"""The append-only, hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so editing any row breaks
its hash and deleting one leaves a gap in ``seq``. Writers serialise on a lock (an advisory lock
on PostgreSQL, the database write lock on SQLite) so the chain never forks, and the event is
written in the same transaction as the change it records: no change without its record.
Triggers installed by the migration refuse UPDATE and DELETE; ``verify`` is the proof for the
case where someone with owner rights went around them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

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


def _lock(session: Session, durable: bool) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # A read's commit may skip the WAL flush if configured so (see ``record``); one round trip.
        sql = "SELECT pg_advisory_xact_lock(:k)" + (
            "" if durable or read_durable() else ", set_config('synchronous_commit', 'off', true)"
        )
        session.execute(text(sql), {"k": PG_LOCK_KEY})
    else:
        # A no-op write takes SQLite's write lock now, before the tail is read.
        session.execute(text("DELETE FROM audit_events WHERE 0"))
    session.info[LOCKED] = session.get_transaction()


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
    the group-committed reads of a busy server append hundreds at a time.
    """
    _lock(session, durable)
    last = session.connection().execute(TAIL).first()
    out = link(batch, *((last.seq, last.hash) if last else (0, GENESIS)))
    session.connection().execute(
        insert(AuditEvent.__table__), [{c: getattr(ev, c) for c in COLUMNS} for ev in out]
    )
    return out


def link(batch: list[dict[str, Any]], seq: int, prev: str) -> list[AuditEvent]:
    """The events of ``batch`` chained after the tail ``(seq, prev)``; the caller holds the lock."""
    out = []
    for fields in batch:
        seq += 1
        ev = AuditEvent(seq=seq, prev_hash=prev, **fields)
        ev.hash = prev = event_hash(ev)
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
    if not durable:
        from kejin.access import readlog

        carried = readlog.carry(session, ev)
        if carried is not None:
            return carried
    return append(session, [ev], durable)[0]


@dataclass
class ChainReport:
    """What ``kejin audit verify`` proves: how many links, the head, and every break found."""

    events: int = 0
    head: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "problems": [p.to_dict() for p in self.problems],
        }


def _stream(engine: Engine) -> Iterator[AuditEvent]:
    with Session(engine) as s:
        yield from s.scalars(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)
        )


def verify(engine: Engine, expect_head: str | None = None) -> ChainReport:
    """Walk the whole chain; report gaps, broken links and rows whose content was changed.

    ``expect_head`` (a head printed by an earlier run and kept elsewhere) also catches removal of
    the newest events, which no chain can detect by itself.
    """
    rep = ChainReport()
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
        prev = ev.hash
        expected_seq = ev.seq + 1
    rep.head = prev
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
