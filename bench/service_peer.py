"""A plain FastAPI + SQLAlchemy firm-profile endpoint: the real peer of the service bench (issue 20
item 5).

What a team would write without a platform: one route, a pooled engine, the same four reads of
the same tables as kejin's ``/api/firms/{uscc}`` (the firm's profile fields, its qualifications,
its last three years of indicators, its financing events), answered as JSON. No token, no rule
table, no consent check, no audit append: the difference between this and kejin's profile is
what those cost. :func:`measure` serves it on the bench's database with the same two uvicorn
workers and hands the port to the caller's load generator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

PEER_URL_ENV = "KEJIN_PEER_DATABASE_URL"


def create_app():  # type: ignore[no-untyped-def]
    """The app (a uvicorn factory): reads the database URL from ``KEJIN_PEER_DATABASE_URL``."""
    from fastapi import FastAPI, HTTPException
    from sqlalchemy import bindparam, create_engine, select

    from kejin.registry.profiles import INDICATOR_FIELDS, PROFILE_FIELDS
    from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent, Qualification

    engine = create_engine(os.environ[PEER_URL_ENV], pool_size=10, max_overflow=10)
    uscc = bindparam("uscc")
    firm = select(*[getattr(Enterprise, f) for f in PROFILE_FIELDS]).where(Enterprise.uscc == uscc)
    quals = select(
        Qualification.kind,
        Qualification.certificate_no,
        Qualification.valid_from,
        Qualification.valid_to,
        Qualification.source,
    ).where(Qualification.uscc == uscc)
    inds = (
        select(AnnualIndicator.year, *[getattr(AnnualIndicator, f) for f in INDICATOR_FIELDS])
        .where(AnnualIndicator.uscc == uscc)
        .order_by(AnnualIndicator.year.desc())
        .limit(3)
    )
    fin = (
        select(
            FinancingEvent.kind,
            FinancingEvent.occurred_on,
            FinancingEvent.amount,
            FinancingEvent.investor,
        )
        .where(FinancingEvent.uscc == uscc)
        .order_by(FinancingEvent.occurred_on)
    )
    app = FastAPI()

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/firms/{code}")
    def profile(code: str) -> dict[str, Any]:
        with engine.connect() as c:
            row = c.execute(firm, {"uscc": code}).first()
            if row is None:
                raise HTTPException(404, "no such firm")
            out: dict[str, Any] = dict(row._mapping)
            for key, stmt in (("qualifications", quals), ("indicators", inds), ("financing", fin)):
                out[key] = [dict(r._mapping) for r in c.execute(stmt, {"uscc": code})]
        return out

    return app


def measure(url: str, port: int, load: Callable[[int], dict[str, float]]) -> dict[str, float]:
    """Serve the peer on ``url``'s database (``uvicorn --workers 2``, as kejin is served), run
    ``load(port)`` against it, stop it, and return what ``load`` measured."""
    env = {**os.environ, PEER_URL_ENV: url}
    args = ["bench.service_peer:create_app", "--factory", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    err = (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
                    raise RuntimeError(f"peer did not start: {err}") from None
                time.sleep(0.3)
        return load(port)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
