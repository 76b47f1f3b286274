"""Group commit for audit events of reads on PostgreSQL.

The chain needs one writer at a time, so appending each read in its own request transaction
made every profile request queue on the chain lock: throughput was bounded by one lock
round-trip per read, whatever the number of workers. Here each process has one writer thread
per engine; requests hand it their event and wait until it is committed, and the thread
appends everything that arrived meanwhile under one lock and one commit. Under load the
batches grow and the lock is taken once per batch; with one client it costs one extra commit.

Inline appends stay where a batch could deadlock or escape the caller's transaction: on SQLite
(one writer: the thread would wait for the request's own write lock), for sessions bound to a
connection (a test's outer transaction), and for a transaction that already holds the chain
lock.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.tables import AuditEvent
from kejin.db import make_engine

#: Most events one commit carries (bounds the lock hold time of one batch).
MAX_BATCH = 500
#: A writer with nothing to do for this long ends its thread (tests create many engines).
IDLE_SECONDS = 10.0
#: How long a request waits for its event before failing (the read then fails too).
WAIT_SECONDS = 30.0

_registry: dict[int, _Writer] = {}
_registry_lock = threading.Lock()


def engine_for(session: Session) -> Engine | None:
    """The engine whose writer may carry this session's read event, or ``None`` to append inline."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return None
    if session.info.get(audit.LOCKED) is session.get_transaction():
        return None
    return bind


def append(engine: Engine, fields: dict[str, Any]) -> AuditEvent:
    """Hand ``fields`` to the engine's writer; return the event once it is committed."""
    fut: Future[AuditEvent] = Future()
    # Enqueue under the registry lock, so an idle writer cannot exit between lookup and put.
    with _registry_lock:
        w = _registry.get(id(engine))
        if w is None:
            w = _registry[id(engine)] = _Writer(engine)
            w.thread.start()
        w.queue.put((fields, fut))
    return fut.result(timeout=WAIT_SECONDS)


class _Writer:
    def __init__(self, engine: Engine) -> None:
        # Held so that ``id(engine)``, the registry key, cannot be reused while this writer lives.
        self.source, self.key = engine, id(engine)
        # A connection of its own: taking one from the requests' pool would deadlock once every
        # pooled connection belongs to a request waiting for this writer.
        self.engine = make_engine(
            engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
        )
        self.queue: queue.SimpleQueue[tuple[dict[str, Any], Future[AuditEvent]]] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._run, name="kejin-readlog", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _registry_lock:
                    if self.queue.empty():
                        _registry.pop(self.key, None)
                        self.engine.dispose()
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[tuple[dict[str, Any], Future[AuditEvent]]]) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as s, s.begin():
                events = audit.append(s, [f for f, _ in batch], durable=False)
        except Exception as e:  # every waiting read fails with it rather than hang
            for _, fut in batch:
                fut.set_exception(e)
            return
        for ev, (_, fut) in zip(events, batch, strict=True):
            fut.set_result(ev)
