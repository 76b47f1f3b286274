"""A web request's change is linked into the audit chain at its commit, not when it is made.

The chain lock is held from the append to the end of the transaction. Appended in the handler,
a write held it through the handler's return to the event loop and the wait for a thread to
commit in: under the mixed load every read's audit batch and every other write of both workers
queued behind it (sampled in ``pg_stat_activity``: the lock's holder was mostly idle in its
transaction, waiting for its own process). What must hold: no lock while the handler works, the
event still in the change's transaction (gone with a rollback, kept with a commit), a savepoint's
events gone with the savepoint while the transaction's others stay, and a chain that verifies.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.tables import AuditEvent


def _event(s: Session, name: str) -> None:
    audit.record(
        s,
        actor="officer",
        actor_role="bank_officer",
        action="consent.grant",
        entity_kind="firm",
        entity_id=name,
    )


def _ids(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.scalars(select(AuditEvent.entity_id).order_by(AuditEvent.seq)))


def _lock_free(engine: Engine) -> bool:
    """Whether another connection could take the chain lock right now (PostgreSQL)."""
    with engine.connect() as c:
        got = c.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": audit.PG_LOCK_KEY})
        c.rollback()
        return bool(got)


def test_a_deferred_change_holds_no_lock_until_commit_and_commits_with_its_event(
    engine: Engine,
) -> None:
    with Session(engine) as s, s.begin():
        audit.defer_to_commit(s)
        _event(s, "A")
        _event(s, "B")
        assert _ids(engine) == []  # nothing written yet: the transaction is open
        if engine.dialect.name == "postgresql":
            assert _lock_free(engine)  # the handler's work goes on without the chain lock
    assert _ids(engine) == ["A", "B"]  # in the order recorded
    assert audit.verify(engine).ok


def test_a_rolled_back_change_leaves_no_event(engine: Engine) -> None:
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        audit.defer_to_commit(s)
        _event(s, "gone")
        raise RuntimeError("the change fails")
    with Session(engine) as s, s.begin():
        audit.defer_to_commit(s)
        _event(s, "kept")
    assert _ids(engine) == ["kept"]
    assert audit.verify(engine).ok


def test_a_savepoint_takes_its_own_events_and_only_those(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        audit.defer_to_commit(s)
        _event(s, "before")
        try:
            with s.begin_nested():
                _event(s, "inside")  # appended at once, inside the savepoint
                raise RuntimeError("the form is refused")
        except RuntimeError:
            pass
        with s.begin_nested():
            _event(s, "kept inside")
        _event(s, "after")
    got = _ids(engine)
    assert sorted(got) == ["after", "before", "kept inside"]
    assert audit.verify(engine).ok
    with engine.connect() as c:
        assert c.scalar(select(func.max(AuditEvent.seq))) == 3  # no gap left by the savepoint


def test_without_deferral_the_event_is_written_where_it_is_recorded(engine: Engine) -> None:
    """Commands and services outside a web request keep appending at once (they may read the
    log in the same transaction), and a failing commit still takes the event with it."""
    with Session(engine) as s, s.begin():
        _event(s, "now")
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
