"""Request units (``permit_unit``): the same answers on both paths, every read audited once.

A unit runs on the event loop through the asyncio engine when the application was started with
its lifespan on PostgreSQL (``with TestClient(app)``, ``kejin serve``), and in one worker-thread
hop otherwise. Whatever the path, a caller must get the same status and body, and each read
that hands out data must leave exactly one link in an intact chain.
"""

from __future__ import annotations

import gc
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kejin.access import audit
from kejin.access.rules import remove_visibility
from kejin.access.tables import AuditEvent
from kejin.api import create_app

from .conftest import live_server
from .world import F1, F2, F3, F4, PASSWORD, World, uscc

UNKNOWN = uscc(99)
CASES = [
    # (who, firm): bank by token and by login, enterprise, government, anonymous
    ("t1", F1),  # consented, full
    ("t1", F2),  # pushed: whitelist fields only
    ("t1", F3),  # another bank's consent: refused
    ("t1", F4),
    ("t1", UNKNOWN),
    ("t1", "91320700MA0000001X"),  # bad check character: 422 with the reason
    ("t2", F3),  # bank B, profile scope
    ("bank", F1),
    ("ent", F1),
    ("ent", F2),
    ("gov", F4),
    ("gov", UNKNOWN),
    ("anon", F1),
]


def _client(c: TestClient, world: World, who: str) -> TestClient:
    if who.startswith("t"):
        c.headers["Authorization"] = f"Bearer {world.secrets[who]}"
    elif who != "anon":
        r = c.post("/api/auth/login", json={"username": who, "password": PASSWORD})
        assert r.status_code == 200, r.text
    return c


def _reads(engine: Engine) -> int:
    with engine.connect() as c:
        return (
            c.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "firm.read")
            )
            or 0
        )


def _answers(app, world: World, lifespan: bool) -> list[tuple[int, object]]:  # type: ignore[no-untyped-def]
    out = []
    for who, firm in CASES:
        c = TestClient(app, raise_server_exceptions=False)
        if lifespan:
            with c:
                engine_ready = app.state.async_engine is not None
                assert engine_ready == (app.state.engine.dialect.name == "postgresql")
                r = _client(c, world, who).get(f"/api/firms/{firm}")
        else:
            r = _client(c, world, who).get(f"/api/firms/{firm}")
        out.append((r.status_code, r.json()))
    return out


def test_both_paths_answer_alike_and_audit_each_read_once(
    engine: Engine, world: World, app
) -> None:  # type: ignore[no-untyped-def]
    before = _reads(engine)
    threaded = _answers(app, world, lifespan=False)
    after_threaded = _reads(engine)
    on_loop = _answers(app, world, lifespan=True)
    assert on_loop == threaded
    statuses = [s for s, _ in threaded]
    assert statuses == [200, 200, 403, 403, 403, 422, 200, 200, 200, 403, 200, 404, 401]
    levels = [b["level"] for s, b in threaded if s == 200]
    assert levels == ["full", "whitelist", "profile", "full", "full", "full"]
    served = statuses.count(200)
    # One firm.read per profile handed out, on either path; refusals hand out nothing.
    assert after_threaded - before == served
    assert _reads(engine) - after_threaded == served
    assert audit.verify(engine).ok


@pytest.mark.postgres
def test_concurrent_reads_on_the_loop_each_leave_one_link(pg_engine: Engine) -> None:
    from . import world as world_mod

    w = world_mod.build(pg_engine)
    try:
        app = create_app(pg_engine, session_key="test-session-key")
        n = 80
        with live_server(app) as base:

            def get(i: int) -> tuple[int, str]:
                firm = (F1, F2)[i % 2]
                req = urllib.request.Request(
                    f"{base}/api/firms/{firm}",
                    headers={"Authorization": f"Bearer {w.secrets['t1']}"},
                )
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read())["level"]

            with ThreadPoolExecutor(16) as ex:
                got = list(ex.map(get, range(n)))
            assert app.state.readlog_writer is not None  # served by the loop's writer
        assert got == [(200, ("full", "whitelist")[i % 2]) for i in range(n)]
        assert _reads(pg_engine) == n
        with pg_engine.connect() as c:
            ids = list(
                c.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "firm.read"))
            )
        assert sorted(ids) == sorted([F1, F2] * (n // 2))
        rep = audit.verify(pg_engine)
        assert rep.ok, rep.problems
    finally:
        remove_visibility("test_push")


@pytest.mark.postgres
def test_no_profile_leaves_when_its_read_cannot_be_recorded(pg_engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The loop's writer failing fails the read: the data is never handed out unrecorded."""
    from . import world as world_mod

    w = world_mod.build(pg_engine)
    try:
        app = create_app(pg_engine, session_key="test-session-key")

        def broken(batch, seq, prev):  # type: ignore[no-untyped-def]
            raise OSError("disk full")

        with TestClient(app, raise_server_exceptions=False) as c:
            c.headers["Authorization"] = f"Bearer {w.secrets['t1']}"
            assert c.get(f"/api/firms/{F1}").status_code == 200
            monkeypatch.setattr(audit, "link", broken)
            r = c.get(f"/api/firms/{F1}")
            assert r.status_code == 500
            assert "name" not in r.json() and "incident" in r.json()["reason_en"]
            monkeypatch.undo()
            assert c.get(f"/api/firms/{F1}").status_code == 200  # the writer carries on
        assert _reads(pg_engine) == 2
        assert audit.verify(pg_engine).ok
    finally:
        remove_visibility("test_push")


def test_serving_freezes_start_up_objects_out_of_the_collector(app) -> None:  # type: ignore[no-untyped-def]
    gc.unfreeze()
    with TestClient(app):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_a_refused_unit_is_not_served_by_the_loop_writer_either(
    engine: Engine, world: World, app
) -> None:  # type: ignore[no-untyped-def]
    """An expired or revoked token is refused before any read, on the loop as in a thread."""
    from kejin.access.service import revoke_token
    from kejin.db import transaction

    with transaction(engine) as s:
        from kejin.access.rules import Principal

        gov = Principal(
            user_id=world.users["gov"],
            username="gov",
            role="gov_admin",
            institution_id=None,
            uscc=None,
        )
        revoke_token(s, gov, world.tokens["t1"])
    before = _reads(engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {world.secrets['t1']}"
        r = c.get(f"/api/firms/{F1}")
    assert r.status_code == 401
    assert _reads(engine) == before


@pytest.mark.postgres
def test_units_on_the_loop_cannot_write(pg_engine: Engine) -> None:
    """A unit's connection is read-only: a write slipped into a read route fails loudly."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    app = create_app(pg_engine, session_key="test-session-key")

    async def write() -> None:
        async with app.state.async_engine.connect() as conn:
            await conn.execute(
                text(
                    "INSERT INTO institutions (id, name, kind, region_code, partner_bank, "
                    "tech_branch) VALUES ('BKX', 'x', 'bank', '320700', false, false)"
                )
            )

    with TestClient(app) as c, pytest.raises(DBAPIError, match="read-only"):
        c.portal.call(write)
    with pg_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM institutions WHERE id = 'BKX'")) == 0
