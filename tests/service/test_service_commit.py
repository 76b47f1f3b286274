"""Commit, then answer: a success is reported only once its transaction is committed.

The request's transaction used to commit after the response had been sent (FastAPI's default
for dependencies with ``yield``): a consent revoke answered 200 "inactive" was rolled back when
the commit failed, and a client's next request could be served before the commit landed — a
revoked token still read a profile, a revoked consent still opened the full profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from kejin.access.deps import db
from kejin.access.tables import AuditEvent, Consent
from kejin.api import create_app, route_table

from . import world as world_mod
from .conftest import live_server, login
from .world import F1, PASSWORD


def _db_dependants(dependant: Any) -> Iterator[Any]:
    for d in dependant.dependencies:
        if d.call is db:
            yield d
        yield from _db_dependants(d)


def test_every_route_commits_its_transaction_before_it_answers(sqlite_engine: Engine) -> None:
    app = create_app(sqlite_engine, session_key="k")
    seen = 0
    for method, path, route in route_table(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        for d in _db_dependants(dependant):
            seen += 1
            assert d.scope == "function", f'{method} {path}: Depends(db, scope="function")'
    assert seen > 50


@pytest.fixture
def failing_commit(engine: Engine) -> Iterator[list[bool]]:
    """Arm it (``armed.append(True)``) and the next commit of a session on ``engine`` fails."""
    armed: list[bool] = []

    def fail(session: Session) -> None:
        if armed and session.get_bind() is engine:
            armed.clear()
            raise RuntimeError("injected commit failure")

    event.listen(Session, "before_commit", fail)
    yield armed
    event.remove(Session, "before_commit", fail)


def test_a_failed_commit_is_answered_with_an_error_and_changes_nothing(
    app, engine: Engine, world, failing_commit: list[bool]
) -> None:
    ent = login(app, "ent")
    failing_commit.append(True)
    r = ent.post(f"/api/consents/{world.consents['c1']}/revoke")
    assert r.status_code == 500, r.text
    assert not failing_commit, "the request committed nothing"
    with Session(engine) as s:
        assert s.get(Consent, world.consents["c1"]).revoked_at is None
        assert not s.scalar(select(func.count()).where(AuditEvent.action == "consent.revoke"))
    # The same request without the failure: answered once committed.
    r = ent.post(f"/api/consents/{world.consents['c1']}/revoke")
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    with Session(engine) as s:
        assert s.get(Consent, world.consents["c1"]).revoked_at is not None


def _client(base: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers=headers)


def _logged_in(base: str, username: str) -> httpx.Client:
    c = _client(base)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def test_a_revoked_token_is_refused_on_the_very_next_request(app, world) -> None:
    with live_server(app) as base, closing(_logged_in(base, "bank")) as bank:
        for i in range(10):
            r = bank.post("/api/tokens", json={"name": f"system {i}", "days": 10})
            assert r.status_code == 201, r.text
            token = r.json()
            with _client(base, Authorization=f"Bearer {token['secret']}") as system:
                assert system.get(f"/api/firms/{F1}").status_code == 200
                r = bank.post(f"/api/tokens/{token['id']}/revoke")
                assert r.status_code == 200, r.text
                assert system.get(f"/api/firms/{F1}").status_code == 401, f"try {i}"


def test_after_a_consent_revoke_the_next_read_shows_only_the_whitelist(
    app, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    # F1 is also pushed to BKA: without its consent the bank still sees the whitelist fields.
    monkeypatch.setattr(world_mod, "PUSHED_TO_BKA", {F1, *world_mod.PUSHED_TO_BKA})
    token = {"Authorization": f"Bearer {world.secrets['t1']}"}
    expires = (datetime.now() + timedelta(days=30)).replace(microsecond=0).isoformat()
    grant = {"institution_id": "BKA", "purpose": "credit_assessment", "scope": "full"}
    consent = world.consents["c1"]
    with (
        live_server(app) as base,
        closing(_logged_in(base, "ent")) as ent,
        _client(base, **token) as bank,
    ):
        for i in range(10):
            full = bank.get(f"/api/firms/{F1}").json()
            assert full["level"] == "full" and "indicators" in full, full
            r = ent.post(f"/api/consents/{consent}/revoke")
            assert r.status_code == 200 and r.json()["active"] is False, r.text
            seen = bank.get(f"/api/firms/{F1}").json()
            assert seen["level"] == "whitelist", f"try {i}: {seen['level']}"
            assert not seen.get("indicators") and not seen.get("financing"), seen
            r = ent.post(f"/api/firms/{F1}/consents", json={**grant, "expires_at": expires})
            assert r.status_code == 201, r.text
            consent = r.json()["id"]
