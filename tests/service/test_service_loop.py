"""The served platform never hangs on a mix of permitted and refused requests, and stops on SIGTERM.

``kejin serve --workers 2`` on PostgreSQL, one bank token: threads reading the bank's own credit
decisions (permitted; each read appends to the audit chain inside its request's transaction)
beside threads of refused requests (another bank's decisions, the audit log; each refusal is
audited too). The refusal's audit used to wait for the chain lock on the event loop, while the
lock's holder waited for that same loop to dispatch its commit: every request of the worker,
``/api/health`` included, hung for good, and SIGTERM could not stop it.

Everything here is bounded: a fixed number of requests, each with a timeout, and the server is
killed in the end whatever happened, so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

import kejin.credit.routes  # noqa: F401  (registers the credit rules before the world issues tokens)
from kejin.access.tables import AuditEvent
from kejin.db import transaction

#: Requests per client thread, and how long any one request may take.
PER_THREAD = 25
TIMEOUT = 10.0
#: The graceful shutdown given to ``kejin serve``, and the margin for the process to exit.
GRACE = 3
EXIT_MARGIN = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(engine: Engine, world) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "postgresql":
        pytest.skip("the hang needs the PostgreSQL chain lock and the loop's audit writer")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "KEJIN_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "KEJIN_SESSION_KEY": "loop-test-session-key",
        "KEJIN_DB_POOL_SIZE": "4",
    }
    args = ["--port", str(port), "--workers", "2", "--graceful-timeout", str(GRACE)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kejin", "serve", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _hammer(base: str, secret: str, paths: list[str]) -> list[int | str]:
    """``PER_THREAD`` requests cycling through ``paths``: each status, or the error's name
    (the first error ends the thread: one timeout is failure enough)."""
    out: list[int | str] = []
    with httpx.Client(
        base_url=base, timeout=TIMEOUT, headers={"Authorization": f"Bearer {secret}"}
    ) as c:
        for i in range(PER_THREAD):
            try:
                out.append(c.get(paths[i % len(paths)]).status_code)
            except httpx.HTTPError as e:
                out.append(type(e).__name__)
                break
    return out


def test_permitted_and_refused_requests_together_all_answer_and_sigterm_stops_the_server(
    engine: Engine, world, served
) -> None:
    base, proc = served
    secret = world.secrets["t1"]  # a BKA system
    permitted = ["/api/institutions/BKA/credit-decisions"]
    refused = ["/api/audit", "/api/institutions/BKB/credit-decisions"]
    with ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(_hammer, base, secret, permitted) for _ in range(8)]
        futs += [ex.submit(_hammer, base, secret, refused) for _ in range(8)]
        # While the mix runs, and after it: the service answers.
        during: list[int | str] = []
        while not all(f.done() for f in futs) and len(during) < 20:
            try:
                during.append(httpx.get(base + "/api/health", timeout=TIMEOUT).status_code)
            except httpx.HTTPError as e:
                during.append(type(e).__name__)
                break
        ok = [f.result() for f in futs[:8]]
        no = [f.result() for f in futs[8:]]
    assert during and all(x == 200 for x in during), during
    assert httpx.get(base + "/api/health", timeout=TIMEOUT).status_code == 200
    assert all(x == 200 for r in ok for x in r), ok
    assert all(x == 403 for r in no for x in r), no
    # Every read and every refusal was audited.
    with transaction(engine) as s:
        counted = dict(
            s.execute(
                select(AuditEvent.action, func.count())
                .where(AuditEvent.action.in_(("credit.history", "access.denied")))
                .group_by(AuditEvent.action)
            ).all()
        )
    assert counted == {"credit.history": 8 * PER_THREAD, "access.denied": 8 * PER_THREAD}

    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(GRACE + EXIT_MARGIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"SIGTERM did not stop the server within {GRACE + EXIT_MARGIN} s")
    assert time.monotonic() - t0 < GRACE + EXIT_MARGIN
