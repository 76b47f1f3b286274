"""After PostgreSQL's backends are terminated, the next requests still succeed.

An administrator's ``pg_terminate_backend``, a failover or a server restart kills every pooled
connection while it sits idle; the client only finds out by using it. Each pool must replace a
dead connection before a request gets it: the synchronous engine (logins, payouts), the asyncio
engine of the read units (profiles), and the read-audit writer's own connection.
"""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import kejin.fund.routes  # noqa: F401  (registers the fund rules before the world issues tokens)
from kejin.fund import service as svc
from kejin.fund.ledger import Actor

from .conftest import live_server
from .fundworld import build_fund
from .world import F1, PASSWORD


def terminate_backends(engine: Engine) -> int:
    """Kill every other connection to the test database, as an administrator would."""
    admin = create_engine(engine.url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        admin.dispose()


def _login(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def test_login_payout_and_profile_read_succeed_after_backends_are_terminated(
    app, engine: Engine, world
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("terminating backends is PostgreSQL's")
    pg_engine = engine
    claim = build_fund(pg_engine, claims=True)["claim_BKA_own"]
    today = date.today()
    svc.review(pg_engine, claim, True, Actor("gov", today, "ok"), "t:review")
    svc.approve(pg_engine, claim, True, Actor("rev", today, "ok"), "t:approve")
    token = {"Authorization": f"Bearer {world.secrets['t1']}"}
    with live_server(app) as base:
        # Fill every pool first: the synchronous one, the units' asyncio one, the audit writer's.
        gov = _login(base, "gov")
        with httpx.Client(base_url=base, timeout=30, headers=token) as bank:
            for _ in range(3):
                assert bank.get(f"/api/firms/{F1}").status_code == 200
                assert gov.get("/api/fund/pools").status_code == 200
            assert terminate_backends(pg_engine) >= 3

            again = _login(base, "gov")
            r = again.post(f"/api/fund/claim/{claim}/payment", json={"reason": "拨付", "key": "p"})
            assert r.status_code == 200, r.text
            assert r.json()["replayed"] is False
            r = bank.get(f"/api/firms/{F1}")
            assert r.status_code == 200, r.text
            assert r.json()["uscc"] == F1
        gov.close()
        again.close()
