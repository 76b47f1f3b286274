"""Fixtures of the service tests: cheap argon2, a known world, and logged-in clients."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

os.environ["KEJIN_ARGON2_TIME_COST"] = "1"
os.environ["KEJIN_ARGON2_MEMORY_KIB"] = "8"

from kejin.access.rules import remove_visibility
from kejin.access.settings import ServiceSettings, get_service_settings
from kejin.api import create_app

from . import world as world_mod

get_service_settings.cache_clear()


@pytest.fixture
def world(engine: Engine) -> Iterator[world_mod.World]:
    w = world_mod.build(engine)
    yield w
    remove_visibility("test_push")


@pytest.fixture
def app(engine: Engine, world: world_mod.World):  # type: ignore[no-untyped-def]
    return create_app(engine, session_key="test-session-key")


_addresses = itertools.count(1)


def login(app, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A client logged in as ``username``, sending the CSRF header on every request.

    Each from an address of its own, as people are: the login throttle counts per address, and
    tests that send wrong logins through one client must not lock the next one out.
    """
    n = next(_addresses)
    c = TestClient(
        app,
        raise_server_exceptions=False,
        client=(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 50000),
    )
    r = c.post("/api/auth/login", json={"username": username, "password": world_mod.PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def bearer(app, secret: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, raise_server_exceptions=False)
    c.headers["Authorization"] = f"Bearer {secret}"
    return c


@contextmanager
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app under a real uvicorn on a free loopback port, in a thread of this process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # As ``kejin serve``: uvicorn believes no forwarded header; the app reads them from the
    # proxies configured in KEJIN_TRUSTED_PROXIES only.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    srv = uvicorn.Server(config)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)


@contextmanager
def service_settings(**env: str) -> Iterator[ServiceSettings]:
    """Service settings with ``KEJIN_<NAME>`` overrides, restored afterwards (they are cached)."""
    old = {k: os.environ.get(f"KEJIN_{k.upper()}") for k in env}
    os.environ.update({f"KEJIN_{k.upper()}": v for k, v in env.items()})
    get_service_settings.cache_clear()
    try:
        yield get_service_settings()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(f"KEJIN_{k.upper()}", None)
            else:
                os.environ[f"KEJIN_{k.upper()}"] = v
        get_service_settings.cache_clear()
