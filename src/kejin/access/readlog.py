"""Group commit for audit events of reads on PostgreSQL.

The chain needs one writer at a time, so appending each read in its own request transaction
made every profile request queue on the chain lock: throughput was bounded by one lock
round-trip per read, whatever the number of workers. Here each process has one writer thread
per engine; requests hand it their event and wait until it is committed, and the thread
appends everything that arrived meanwhile under one lock and one commit. Under load the
batches grow and the lock is taken once per batch; with one client it costs one extra commit.

A request unit on the event loop (:class:`kejin.access.deps.Unit`) hands its event to a
:class:`LoopWriter` instead: the same batching, but as a task of that loop on an asyncio
connection of its own. A writer thread would need the GIL back from the busy loop thread after
every database round trip, one switch interval (5 ms) each time, and it holds the chain lock
through all of them: under load each read waited about 35 ms for its event, and writers in the
other worker processes waited on the lock behind it.

Inline appends stay where a batch could deadlock or escape the caller's transaction: on SQLite
(one writer: the thread would wait for the request's own write lock), for sessions bound to a
connection (a test's outer transaction), and for a transaction that already holds the chain
lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_

from kejin.access import audit
from kejin.access.tables import AuditEvent
from kejin.db import make_engine

#: Most events one commit carries (bounds the lock hold time of one batch).
MAX_BATCH = 500
#: A writer with nothing to do for this long ends its thread (tests create many engines).
IDLE_SECONDS = 10.0
#: How long a request waits for its event before failing (the read then fails too).
WAIT_SECONDS = 30.0
#: How long shutdown waits for the loop writer's last batch.
CLOSE_SECONDS = 5.0

_registry: dict[int, _Writer] = {}
_registry_lock = threading.Lock()


#: ``session.info`` key: the :class:`LoopWriter` of a unit running on the event loop.
LOOP_WRITER = "kejin_readlog_loop_writer"


def carry(session: Session, fields: dict[str, Any]) -> AuditEvent | None:
    """Append a read's event through a group-commit writer and return it once committed.

    ``None`` when no writer may carry it; the caller then appends inline, in its own transaction.
    """
    if session.info.get(audit.LOCKED) is session.get_transaction():
        return None
    loop_writer: LoopWriter | None = session.info.get(LOOP_WRITER)
    if loop_writer is not None:
        return loop_writer.append(fields)
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return None
    return _append(bind, fields)


def _append(engine: Engine, fields: dict[str, Any]) -> AuditEvent:
    """Hand ``fields`` to the engine's writer thread; return the event once it is committed."""
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


def _statements() -> tuple[str, str]:
    """The loop writer's two round trips, compiled from the chain's own definitions.

    1. ``BEGIN``, the chain lock, no WAL-flush wait unless reads are to be durable
       (:func:`audit.read_durable`), the tail — one simple-protocol message:
       each statement runs in turn with its own snapshot, so the tail is read after the lock
       is held.
    2. The insert and ``COMMIT`` — one pipeline.
    """
    head = "BEGIN; " + audit.lock_and_tail_sql(durable=False)
    cols = ", ".join(audit.COLUMNS)
    marks = ", ".join(["%s"] * len(audit.COLUMNS))
    return head, f"INSERT INTO {AuditEvent.__tablename__} ({cols}) VALUES ({marks})"


class LoopWriter:
    """Group commit as a task of the serving event loop (see the module's docstring).

    It speaks to PostgreSQL through psycopg directly, on a connection of its own (the units
    waiting for it hold the request pool's connections): a batch then costs two round trips —
    lock and tail, insert and commit — where a session's unit of work took five (begin, lock,
    tail, insert, commit). Every read waits for one batch, so those round trips were most of a
    profile request's latency under load. The events are linked by :func:`audit.link`, the
    function every other append uses.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.head, self.insert = _statements()
        self.conn: Any = None
        self.queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[AuditEvent]] | None] = (
            asyncio.Queue()
        )
        self.task = asyncio.get_running_loop().create_task(self._run(), name="kejin-readlog")

    def append(self, fields: dict[str, Any]) -> AuditEvent:
        """From a unit's greenlet: wait for the commit by yielding the loop, not blocking it."""
        fut: asyncio.Future[AuditEvent] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((fields, fut))
        return await_(asyncio.wait_for(fut, WAIT_SECONDS))

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                nxt = self.queue.get_nowait()
                if nxt is None:
                    self.queue.put_nowait(None)  # stop after this batch
                    break
                batch.append(nxt)
            try:
                events = await self._commit([f for f, _ in batch])
            except Exception as e:  # every waiting read fails with it rather than hang
                await self._reset()
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for ev, (_, fut) in zip(events, batch, strict=True):
                if not fut.done():  # a waiter that timed out has gone
                    fut.set_result(ev)

    async def _commit(self, batch: list[dict[str, Any]]) -> list[AuditEvent]:
        cur = await self._begin()
        while cur.nextset():
            pass
        last = await cur.fetchone()
        events = audit.link(batch, *(last if last else (0, audit.GENESIS)))
        async with self.conn.pipeline():
            await cur.executemany(
                self.insert, [tuple(getattr(ev, c) for c in audit.COLUMNS) for ev in events]
            )
            await cur.execute("COMMIT")
        return events

    async def _begin(self) -> Any:
        """Send the batch's first round trip (``BEGIN``, lock, tail) and return its cursor.

        A connection that died while idle (PostgreSQL restarted, the backend terminated) is
        only found out by using it; then nothing of the batch has been written, so it is sent
        once more on a new connection instead of failing every read waiting for it.
        """
        import psycopg

        for attempt in (1, 2):
            if self.conn is None:
                self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            cur = self.conn.cursor()
            try:
                await cur.execute(self.head)
                return cur
            except psycopg.OperationalError:
                if attempt == 2 or not self.conn.broken:
                    raise
                conn, self.conn = self.conn, None
                await conn.close()
        raise AssertionError("unreachable")

    async def _reset(self) -> None:
        """After a failure: roll back, or drop a broken connection (the next batch reconnects)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            await conn.execute("ROLLBACK")
            self.conn = conn
        except Exception:
            await conn.close()

    async def close(self) -> None:
        """Stop once the events already queued are committed (server shutdown).

        Bounded: a batch that cannot get the chain lock in time is cancelled (its readers have
        failed already) rather than keep the process from exiting.
        """
        self.queue.put_nowait(None)
        with contextlib.suppress(TimeoutError):  # wait_for then cancelled the task
            await asyncio.wait_for(self.task, CLOSE_SECONDS)
        if self.conn is not None:
            await self.conn.close()
