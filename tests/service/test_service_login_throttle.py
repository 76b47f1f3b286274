"""Login throttling: counted atomically across workers, per account and per client address.

Issue 14 item 4: 40 parallel wrong passwords were all checked and the account never locked
(the counter was read, the password checked, the counter written back); and anyone could lock
anyone's account, since the only throttle was per account.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from kejin.access.audit import utcnow
from kejin.access.tables import AuditEvent, User
from kejin.api import create_app
from kejin.db import transaction

from .conftest import live_server, service_settings
from .world import PASSWORD

WRONG = "not-the-password-of-rev"


def _client(app, n: int) -> TestClient:  # type: ignore[no-untyped-def]
    """A client at its own address (a distributed guess comes from many)."""
    return TestClient(app, raise_server_exceptions=False, client=(f"198.51.100.{n}", 40000))


def _login(c: TestClient, password: str) -> int:
    return c.post("/api/auth/login", json={"username": "rev", "password": password}).status_code


def test_parallel_wrong_passwords_are_counted_before_any_is_checked(
    engine: Engine, world, monkeypatch
) -> None:
    """40 guesses at once, each from its own address, against a real server: no more than the
    limit reach the password check, the account is locked, and the right password is refused."""
    with service_settings(trusted_proxies="127.0.0.1") as cfg:
        limit = cfg.login_max_failures
        checked: list[str] = []
        # Hold every check until `limit` of them are under way: the guesses overlap for certain
        # (a counter read before any of them is written would be read by all of them).
        together = threading.Barrier(limit)
        real = PasswordHasher.verify

        def verify(self: PasswordHasher, hash: str, password: str) -> bool:
            if password == WRONG:
                checked.append(password)
                with contextlib.suppress(threading.BrokenBarrierError):
                    together.wait(timeout=10)
            return real(self, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)
        app = create_app(engine, session_key="test-session-key")
        with live_server(app) as url, httpx.Client(timeout=60) as http:

            def guess(i: int) -> int:
                return http.post(
                    f"{url}/api/auth/login",
                    json={"username": "rev", "password": WRONG},
                    headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                ).status_code

            with ThreadPoolExecutor(40) as pool:
                codes = list(pool.map(guess, range(40)))
            right = http.post(
                f"{url}/api/auth/login",
                json={"username": "rev", "password": PASSWORD},
                headers={"X-Forwarded-For": "203.0.113.200"},
            )
    assert set(codes) <= {401, 429}, codes
    assert len(checked) <= limit
    with engine.connect() as c:
        locked = c.scalar(select(User.locked_until).where(User.username == "rev"))
    assert locked is not None and locked > utcnow()
    assert right.status_code == 429 and right.json()["error"] == "Throttled"


def test_one_client_hammering_is_refused_before_it_can_lock_the_account(
    app, engine: Engine
) -> None:
    with service_settings() as cfg:
        assert cfg.login_client_max_failures < cfg.login_max_failures
        attacker = _client(app, 1)
        for _ in range(cfg.login_client_max_failures):
            assert _login(attacker, WRONG) == 401
        r = attacker.post("/api/auth/login", json={"username": "rev", "password": WRONG})
        assert r.status_code == 429 and r.json()["problems"][0]["field"] == "client"
        assert _login(attacker, PASSWORD) == 429  # refused unchecked, whatever the password
        # The account itself is not locked: its owner, elsewhere, logs in.
        assert _login(_client(app, 2), PASSWORD) == 200
    with engine.connect() as c:
        assert c.scalar(select(User.locked_until).where(User.username == "rev")) is None


def test_many_addresses_lock_the_account_and_every_step_is_audited(app, engine: Engine) -> None:
    with service_settings() as cfg:
        limit = cfg.login_max_failures
        for i in range(limit):
            assert _login(_client(app, i), WRONG) == 401
        r = _client(app, 100).post(
            "/api/auth/login", json={"username": "rev", "password": PASSWORD}
        )
        assert r.status_code == 429 and r.json()["problems"][0]["field"] == "locked_until"
    with engine.connect() as conn:
        actions = [
            a
            for (a,) in conn.execute(select(AuditEvent.action).where(AuditEvent.entity_id == "rev"))
        ]
    assert actions.count("auth.login_failed") == limit - 1 and "auth.locked" in actions
    assert "auth.refused_locked" in actions
    with transaction(engine) as s:
        s.execute(
            update(User).where(User.username == "rev").values(locked_until=datetime(2000, 1, 1))
        )
    assert _login(_client(app, 101), PASSWORD) == 200


def test_a_correct_password_gives_its_attempt_back_to_the_client(app) -> None:
    """A shared office address is not blocked by its users' successful logins."""
    with service_settings() as cfg:
        office = _client(app, 7)
        for _ in range(cfg.login_client_max_failures + 3):
            assert _login(office, PASSWORD) == 200
        assert _login(office, WRONG) == 401
