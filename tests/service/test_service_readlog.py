"""Read events through the group-committed writer (PostgreSQL) or inline (SQLite).

What must hold either way: a read's event is committed by the time ``record`` returns, the chain
stays gap-free and verifiable under concurrent readers, and a transaction that already holds
the chain lock never waits for the writer (it would wait for itself).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.tables import AuditEvent


def _read(engine: Engine, i: int) -> int:
    with Session(engine) as s, s.begin():
        ev = audit.record(
            s,
            actor=f"reader{i % 7}",
            actor_role="bank_officer",
            action="firm.read",
            entity_kind="firm",
            entity_id=f"F{i}",
            durable=False,
        )
        seq = ev.seq
    # Visible to anyone from the moment record() returned (and the request's own commit).
    with engine.connect() as c:
        assert c.scalar(select(AuditEvent.entity_id).where(AuditEvent.seq == seq)) == f"F{i}"
    return seq


def _count(engine: Engine) -> int:
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_concurrent_reads_each_get_a_link_and_the_chain_stays_whole(engine: Engine) -> None:
    n = 120
    with ThreadPoolExecutor(24) as ex:
        seqs = list(ex.map(lambda i: _read(engine, i), range(n)))
    assert sorted(seqs) == list(range(1, n + 1))
    rep = audit.verify(engine)
    assert rep.ok and rep.events == n
    with engine.connect() as c:
        assert sorted(c.scalars(select(AuditEvent.entity_id))) == sorted(f"F{i}" for i in range(n))


def test_a_read_is_recorded_even_if_the_request_then_fails(engine: Engine) -> None:
    """On PostgreSQL the read's event is committed apart from the request; on SQLite it shares
    the request's transaction. A change's event always shares its change's fate."""
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        audit.record(
            s,
            actor="a",
            actor_role="auditor",
            action="firm.read",
            entity_kind="firm",
            entity_id="F1",
            durable=False,
        )
        raise RuntimeError("handler failed after reading")
    assert _count(engine) == (1 if engine.dialect.name == "postgresql" else 0)
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        audit.record(
            s,
            actor="a",
            actor_role="gov_admin",
            action="user.create",
            entity_kind="user",
            entity_id="7",
            after={"x": 1},
        )
        raise RuntimeError("change failed")
    assert _count(engine) == (1 if engine.dialect.name == "postgresql" else 0)
    assert audit.verify(engine).ok


def test_a_transaction_holding_the_chain_lock_appends_its_reads_inline(engine: Engine) -> None:
    """Recording a change takes the chain lock; a read logged after it in the same transaction
    must not be handed to the writer (which would wait for this very lock until its timeout)."""
    with Session(engine) as s, s.begin():
        change = audit.record(
            s,
            actor="g",
            actor_role="gov_admin",
            action="consent.grant",
            entity_kind="consent",
            entity_id="1",
            after={"scope": "full"},
        )
        read = audit.record(
            s,
            actor="g",
            actor_role="gov_admin",
            action="firm.read",
            entity_kind="firm",
            entity_id="F1",
            durable=False,
        )
        assert read.seq == change.seq + 1 and read.prev_hash == change.hash
        s.rollback()
    assert _count(engine) == 0


@pytest.mark.postgres
def test_a_failing_batch_fails_every_read_waiting_on_it(pg_engine: Engine, monkeypatch) -> None:
    engine = pg_engine
    real = audit.append

    def broken(session: Session, batch: list, durable: bool = True) -> list:
        raise OSError("disk full")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(OSError, match="disk full"), Session(engine) as s, s.begin():
        audit.record(
            s,
            actor="a",
            actor_role="auditor",
            action="firm.read",
            entity_kind="firm",
            entity_id="F1",
            durable=False,
        )
    monkeypatch.setattr(audit, "append", real)
    assert _count(engine) == 0
    assert _read(engine, 1) == 1
