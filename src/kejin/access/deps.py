"""FastAPI dependencies: the request's database session, who is calling, and the permission gate.

Every protected route declares ``p: Principal = permit("<action>", target="<path param>")``. The
gate authenticates (session cookie for people, bearer token for bank systems), checks CSRF on
cookie-authenticated changes, and applies the rule table with the path parameter as tenant
target. The security tests read ``action`` and ``target`` back from the route's dependencies, so
a route without a gate, or with an action the rule table does not know, fails the suite.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.readlog import LOOP_WRITER
from kejin.access.rules import Principal, Unauthenticated, authorize
from kejin.access.service import token_principal
from kejin.access.sessions import SID, logout, session_principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


async def db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: commit if the handler returns, roll back if it raises.

    Every route declares it as :data:`TX` (``Depends(db, scope="function")``): the commit runs when the
    handler returns, before the response is sent, so a failed commit is answered with a 500
    and a success is only ever reported once it is durable. With FastAPI's default scope the
    commit ran after the response had gone out: a revoke answered 200 could still be rolled
    back, and the client's next request could be served before the commit (the revoked token
    still worked). A route with the default scope would also get a second session, apart from
    its gate's: ``tests/service/test_service_commit.py`` refuses both.

    Async so that opening the session (no I/O: the connection is taken at the first query)
    costs no worker-thread round trip; only the commit or rollback, which talk to the database,
    go to a thread. Every thread hop of a request is a GIL hand-over, and with dozens of
    requests in flight those hand-overs were a measurable share of the profile path's CPU.
    """
    s = Session(request.app.state.engine, expire_on_commit=False)
    audit.defer_to_commit(s)  # the chain lock is held by the commit step only
    try:
        s.begin()
        yield s
    except BaseException:
        await run_in_threadpool(_end, s, commit=False)
        raise
    await run_in_threadpool(_end, s, commit=True)


#: The request's transaction as a route parameter: ``s: Session = TX``. The one way to declare it,
#: so no route can fall back to FastAPI's default scope (commit after the answer).
TX: Any = Depends(db, scope="function")


def _end(s: Session, *, commit: bool) -> None:
    """Commit or roll back, then return the connection: one thread hop for both."""
    try:
        if commit:
            s.commit()
        else:
            s.rollback()
    finally:
        s.close()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use), for forms and the X-CSRF-Token header."""
    tok = request.session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(24)
        request.session["csrf"] = tok
    return tok


def check_csrf(request: Request, supplied: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not supplied or not hmac.compare_digest(expected, supplied):
        from kejin.access.rules import Forbidden

        raise Forbidden(
            "表单已过期或来源不明（CSRF 校验失败），请刷新后重试",
            "form expired or of unknown origin (CSRF check failed); reload and retry",
        )


def current_principal(request: Request, s: Session) -> Principal:
    """Bearer token first (bank systems), then the session cookie (people).

    Called by the gate rather than declared as its own dependency: one worker-thread hop less.
    """
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        p = token_principal(s, auth[7:].strip())
    else:
        sid = request.session.get(SID)
        if not isinstance(sid, str):
            raise Unauthenticated("请先登录", "log in first")
        try:
            # A unit's connection on the loop is read-only: it cannot refresh last_seen_at.
            p = session_principal(s, sid, touch=LOOP_WRITER not in s.info)
        except Unauthenticated:
            request.session.clear()  # the cookie of an ended session is dropped too
            raise
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_csrf(request, request.headers.get(CSRF_HEADER))
    request.state.principal = p
    return p


def signed_in(request: Request) -> Principal | None:
    """The person of the request's session, or None, for pages that run no gate (home, errors)."""
    sid = request.session.get(SID)
    if not isinstance(sid, str):
        return None
    with Session(request.app.state.engine) as s:
        try:
            return session_principal(s, sid, touch=False)
        except Unauthenticated:
            return None


def end_session(request: Request, supplied_csrf: str | None) -> None:
    """Log out: the session's row is revoked (the cookie alone would stay valid until it
    expires), then the cookie is cleared. Needs the CSRF token, or any site could log a person
    out; a request without a session has nothing to end."""
    sid = request.session.get(SID)
    if isinstance(sid, str):
        check_csrf(request, supplied_csrf)
        from kejin.db import transaction

        with transaction(request.app.state.engine) as s:
            logout(s, sid)
    request.session.clear()


def _require_valid_uscc(code: str) -> None:
    """Every entry point refuses an invalid USCC with the reason (GB 32100), not a bare 404.

    Checked before authorization: the check reveals nothing about which firms exist.
    """
    from kejin.errors import Problem, ValidationError
    from kejin.ids import check_uscc

    r = check_uscc(code)
    if not r.valid:
        raise ValidationError(
            "统一社会信用代码无效",
            "invalid USCC",
            [Problem(r.reason_zh or "", r.reason_en or "", field="uscc", value=code)],
        )


def _authorized(request: Request, s: Session, action: str, target: str | None) -> Principal:
    """Who is calling, and may they do ``action`` on the ``target`` path parameter: the check
    both :func:`permit` and a :class:`Unit` run."""
    p = current_principal(request, s)
    value = request.path_params.get(target) if target else None
    if target == "uscc" and value is not None:
        _require_valid_uscc(value)
    authorize(s, p, action, value)
    return p


def permit(action: str, target: str | None = None) -> Any:
    """Gate a route on ``action``; ``target`` names the path parameter that is the tenant target."""

    def gate(request: Request, s: Session = TX) -> Principal:
        return _authorized(request, s, action, target)

    gate.action = action  # type: ignore[attr-defined]
    gate.target = target  # type: ignore[attr-defined]
    return Depends(gate)


T = TypeVar("T")


class Unit:
    """A read request's whole database work — who is calling, the rule, the handler — in one go.

    The gate of :func:`permit` runs in a worker thread and the handler in another, with the
    session's commit in a third. On the hottest reads (a bank system pulling firm profiles) those
    thread hops, and the worker threads queueing for the GIL after every database round trip,
    cost more than the work itself: with dozens of requests in flight each round trip waited for
    a GIL switch interval. A unit runs authentication, the rule table and the handler together:
    on PostgreSQL on the event loop itself through SQLAlchemy's asyncio engine with asyncpg (the
    same synchronous domain code, run in a greenlet, so each database wait yields the loop
    instead of a thread), elsewhere in one worker-thread hop in a transaction.

    Units are for reads. On the loop their connection is read-only (PostgreSQL refuses any
    write) and autocommit: each statement sees the latest committed data, exactly as it would in
    a READ COMMITTED transaction, without the BEGIN and COMMIT round trips. The read's audit event
    is written by the loop's writer (:class:`kejin.access.readlog.LoopWriter`), and the data is
    handed out only once that event is committed.
    """

    def __init__(self, request: Request, action: str, target: str | None) -> None:
        self.request, self.action, self.target = request, action, target

    async def __call__(self, fn: Callable[[Session, Principal], T]) -> T:
        def work(s: Session) -> T:
            return fn(s, _authorized(self.request, s, self.action, self.target))

        state = self.request.app.state
        aengine: AsyncEngine | None = state.async_engine
        if aengine is not None:
            async with AsyncSession(aengine, expire_on_commit=False) as s, s.begin():
                s.sync_session.info[LOOP_WRITER] = state.readlog_writer
                return await s.run_sync(work)
        return await run_in_threadpool(_in_transaction, state.engine, work)


def _in_transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as s, s.begin():
        return work(s)


def permit_unit(action: str, target: str | None = None) -> Any:
    """Like :func:`permit`, but the read route receives a :class:`Unit` to run its work in."""

    async def gate(request: Request) -> Unit:
        return Unit(request, action, target)

    gate.action = action  # type: ignore[attr-defined]
    gate.target = target  # type: ignore[attr-defined]
    return Depends(gate)


def gate_of(dependant: Any) -> Callable[..., Any] | None:
    """The permission gate among a route's dependencies (used by the security matrix)."""
    for d in dependant.dependencies:
        if hasattr(d.call, "action"):
            return d.call
        inner = gate_of(d)
        if inner is not None:
            return inner
    return None


async def reject_control_chars(request: Request) -> None:
    """Refuse NUL bytes anywhere in the request: PostgreSQL text cannot hold them, and SQLite
    would silently cut the string there (turning ``'%\\x00…'`` into a match-all pattern)."""
    from kejin.errors import Problem, ValidationError

    raw = (request.url.path + "?" + request.url.query).lower()
    body = b""
    if request.method not in SAFE_METHODS:
        if "form" in request.headers.get("content-type", ""):
            # FastAPI parsed the form already (the stream is gone); the parsed form is cached.
            form = await request.form()
            body = "".join(str(v) for v in form.values()).encode()
        else:
            body = await request.body()
    if "%00" in raw or "\x00" in raw or b"\x00" in body or b"\\u0000" in body:
        raise ValidationError(
            "请求含有不允许的控制字符 NUL",
            "the request contains a NUL character, which is not allowed",
            [Problem("不允许 NUL 字符", "NUL is not allowed", field="request", value="\\x00")],
        )
