"""The FastAPI application: one router per area, one error shape, no stack traces.

An area plugs in by adding ``src/kejin/<area>/routes.py`` with a ``router`` (and its rules via
``kejin.access.rules.add_rules``) and one line in :data:`AREA_ROUTERS`. Errors leave the API as
JSON with the fields of the CLI's problems (file, row, field, value, reason in Chinese and
English); anything unexpected is logged with its traceback on the server and answered with a
generic 500 and an incident id.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from kejin.access.deps import reject_control_chars
from kejin.access.rules import Forbidden, Throttled, Unauthenticated
from kejin.access.settings import get_service_settings
from kejin.errors import ConflictError, KejinError, NotFoundError, Problem, ValidationError

log = logging.getLogger("kejin.api")

#: Modules whose ``router`` is mounted, in this order. Each area adds its line here.
AREA_ROUTERS = [
    "kejin.access.routes",
    "kejin.registry.routes",
    "kejin.lending.routes",
    "kejin.whitelist.routes",
    "kejin.whitelist.pages",
    "kejin.points.routes",
    "kejin.points.pages",
    "kejin.policy.routes",
    "kejin.policy.pages",
    "kejin.fund.routes",
    "kejin.fund.pages",
    "kejin.relend.pages",
    "kejin.stats.annual_pages",
    "kejin.credit.routes",
    "kejin.matching.routes",
    "kejin.matching.pages",
    "kejin.matching.pages_bank",
    "kejin.matching.pages_gov",
    "kejin.matching.pages_events",
    "kejin.credit.pages",
    "kejin.credit.warning_pages",
    "kejin.ingest.routes",
    "kejin.ingest.pages",
    "kejin.stats.routes",
    "kejin.stats.pages",
    "kejin.web.audit_pages",
    "kejin.access.registration_pages",
    "kejin.web.pages",
]

STATUS: list[tuple[type[KejinError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (Throttled, 429),
]

ERROR_EXAMPLE = {
    "error": "ValidationError",
    "reason_zh": "查询参数有误",
    "reason_en": "invalid query parameters",
    "problems": [
        {
            "reason_zh": "取值不在词表中",
            "reason_en": "value not in the vocabulary",
            "file": None,
            "row": None,
            "field": "stage",
            "value": "teen",
            "document": None,
            "article": None,
        }
    ],
}


def status_of(e: KejinError) -> int:
    for cls, code in STATUS:
        if isinstance(e, cls):
            return code
    return 400


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


async def _respond(request: Request, code: int, e: KejinError) -> Response:
    """The error as JSON for the API, as a page otherwise.

    A page may look up who is signed in (a database query): that runs in a worker thread, like
    every other database call of an exception handler, never on the event loop.
    """
    if not _is_api(request):
        from kejin.web.pages import error_page

        return await run_in_threadpool(error_page, request, code, e)
    return JSONResponse(e.to_dict(), status_code=code)


def _audit_refusal(request: Request, e: KejinError) -> None:
    """A refused access is evidence too: record it in its own transaction (the request's rolled back).

    Blocking (a pooled connection, then the audit chain's lock): run in a worker thread. On the
    event loop it hung the whole process: the lock's holder is another request's transaction,
    whose commit is dispatched by that same loop.
    """
    p = getattr(request.state, "principal", None)
    if p is None:
        return
    from kejin.access.service import log as audit_log
    from kejin.db import transaction

    with transaction(request.app.state.engine) as s:
        audit_log(
            s,
            p,
            "access.denied",
            "route",
            request.url.path[:80],
            detail={"method": request.method, "reason": e.reason_en},
        )


async def kejin_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, KejinError)
    code = status_of(e)
    if code == 403:
        await run_in_threadpool(_audit_refusal, request, e)
    return await _respond(request, code, e)


async def validation_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, RequestValidationError)
    problems = []
    for err in e.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        value = err.get("input")
        if not isinstance(value, (str, int, float, bool)) or (
            isinstance(value, str) and len(value) > 200
        ):
            value = None
        problems.append(
            Problem(
                f"参数无效：{err.get('msg', '')}",
                str(err.get("msg", "invalid")),
                file=loc[0] if loc else None,
                field=where,
                value=value,
            )
        )
    return await _respond(
        request, 422, ValidationError("请求参数有误", "invalid request", problems)
    )


async def http_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, StarletteHTTPException)
    zh = {404: "页面或资源不存在", 405: "不支持该请求方法"}.get(e.status_code, "请求无法处理")
    err = KejinError(zh, str(e.detail))
    return await _respond(request, e.status_code, err)


async def internal_error(request: Request, e: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.exception("incident %s on %s %s", incident, request.method, request.url.path)
    err = KejinError(
        f"服务器内部错误（事件编号 {incident}）", f"internal server error (incident {incident})"
    )
    return await _respond(request, 500, err)


class ConcurrencyLimit:
    """At most ``limit`` requests inside the application at once; the rest wait in the event loop.

    Sync routes hop between worker threads (dependency set-up, handler, tear-down) while holding
    a database connection. With more requests in flight than pooled connections, every thread
    can end up waiting for a connection held by a request that needs a thread to finish: a
    deadlock until the pool times out. Admitting no more requests than the pool has connections
    rules that out, and queueing in the loop is cheaper than queueing on the pool.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.sem = asyncio.Semaphore(limit)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.sem:
            await self.app(scope, receive, send)


def admission_limit(engine: Engine, wanted: int) -> int:
    """Requests admitted at once: never more than the engine's pool can serve (see ConcurrencyLimit)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    if not callable(size):
        return wanted
    return max(1, min(wanted, size() + max(getattr(pool, "_max_overflow", 0), 0)))


def lifespan(pool_size: int) -> Any:
    """Start-up and shutdown of a served application.

    On PostgreSQL: a read-only asyncio engine for request units (:class:`kejin.access.deps.Unit`) and
    the event loop's read-audit writer (:class:`kejin.access.readlog.LoopWriter`) on a
    connection of its own. Both are created here, inside the serving loop, because an asyncio connection
    belongs to the loop that opened it; without a lifespan (a test client used without
    ``with``) units run in one worker-thread hop on the synchronous engine instead.

    Then ``gc.freeze()``: everything built at start-up (routes, models, SQLAlchemy metadata,
    pydantic validators) lives as long as the process, yet every full collection walked it
    again: about 110 ms per worker, a pause for every request in flight, several times a
    minute under load. Frozen, a full collection takes about 10 ms.
    """

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        engine: Engine = app.state.engine
        writer = None
        if engine.dialect.name == "postgresql":
            from sqlalchemy.ext.asyncio import create_async_engine

            from kejin.access.readlog import LoopWriter

            url = engine.url.set(drivername="postgresql+asyncpg").render_as_string(
                hide_password=False
            )
            # Read units need no transaction of their own (see Unit): no BEGIN and COMMIT round
            # trips, and PostgreSQL itself refuses any write on these connections. Sized like
            # the synchronous pool (kept + overflow = requests admitted), so that both pools'
            # kept connections of every worker stay within PostgreSQL's max_connections.
            app.state.async_engine = create_async_engine(
                url,
                isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"default_transaction_read_only": "on"}},
                pool_size=pool_size,
                max_overflow=max(0, admission_limit(engine, pool_size) - pool_size),
                # Like the synchronous engine's (kejin.db.make_engine): a connection whose
                # backend was terminated is replaced before a request gets it.
                pool_pre_ping=True,
            )
            writer = app.state.readlog_writer = LoopWriter(
                engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if writer is not None:
                await writer.close()
                await app.state.async_engine.dispose()
                app.state.async_engine = app.state.readlog_writer = None

    return run


def create_app(engine: Engine | None = None, session_key: str | None = None) -> FastAPI:
    """Build the application. The session key comes from ``KEJIN_SESSION_KEY`` unless given."""
    settings = get_service_settings()
    key = session_key or (settings.session_key.get_secret_value() if settings.session_key else None)
    if not key:
        raise RuntimeError("KEJIN_SESSION_KEY is not set (kejin serve generates one for demos)")
    from kejin.web.i18n import texts

    texts()  # catalogs not compiled (`make locale`) are refused at start-up, not on a first page
    if engine is None:
        from kejin.console import get_engine
        from kejin.db import make_engine

        url = get_engine().url
        engine = (
            make_engine(
                url.render_as_string(hide_password=False),
                pool_size=settings.db_pool_size,
                max_overflow=10,
            )
            if url.get_backend_name() == "postgresql"
            else get_engine()
        )
    app = FastAPI(
        lifespan=lifespan(settings.db_pool_size),
        docs_url=None,  # kejin.web.docs serves /docs and /redoc from installed assets
        redoc_url=None,
        dependencies=[Depends(reject_control_chars)],
        title="科金 kejin — 科技金融服务平台 API",
        version="0.1.0",
        description=(
            "Registry, lending, access (users, tokens, consents, audit). Log in with "
            "`POST /api/auth/login` (session cookie + CSRF token) or send a bank API token as "
            "`Authorization: Bearer …`. Errors carry file/row/field/value and reasons in Chinese and English."
        ),
        responses={
            401: {
                "description": "未登录 / not authenticated",
                "content": {
                    "application/json": {
                        "example": {**ERROR_EXAMPLE, "error": "Unauthenticated", "problems": []}
                    }
                },
            },
            403: {
                "description": "无权限 / forbidden",
                "content": {
                    "application/json": {
                        "example": {**ERROR_EXAMPLE, "error": "Forbidden", "problems": []}
                    }
                },
            },
            422: {
                "description": "参数有误 / invalid input",
                "content": {"application/json": {"example": ERROR_EXAMPLE}},
            },
        },
    )
    app.state.engine = engine
    app.state.async_engine = app.state.readlog_writer = None  # set by the lifespan on PostgreSQL
    # The cookie holds the session's id (its row in user_sessions is what logout revokes) and
    # the CSRF token. ``Secure`` is added per request by Hardening when served over HTTPS.
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="kejin_session",
        max_age=settings.session_hours * 3600,
        same_site="lax",
    )
    app.add_middleware(ConcurrencyLimit, limit=admission_limit(engine, settings.db_pool_size))
    _wrap_outside(app, settings.trusted_proxies, settings.secure_cookies)
    app.add_exception_handler(KejinError, kejin_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)

    @app.get("/api/health", tags=["service"], summary="健康检查 / health")
    async def health() -> dict[str, Any]:
        """No I/O: answered on the event loop, without waiting for a worker thread."""
        return {"ok": True}

    for mod in AREA_ROUTERS:
        app.include_router(importlib.import_module(mod).router)
    from kejin.web import docs

    docs.mount(app)
    return app


def _wrap_outside(app: FastAPI, trusted_proxies: str, always_secure: bool) -> None:
    """Put the security headers and the proxy-header reading outside the whole stack.

    Starlette's error middleware, which sends the 500 answer, is always the outermost of
    ``add_middleware``; wrapping the built stack is the only way every response gets the
    headers. Forwarded headers are read only from the configured proxies (``kejin serve`` turns
    uvicorn's own reading off), so the client address — the login throttle's key — and the
    scheme — whether cookies are ``Secure`` — cannot be claimed by a client.
    """
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from kejin.web.headers import Hardening

    build = app.build_middleware_stack

    def outside() -> Any:
        inner = Hardening(build(), always_secure=always_secure)
        if not trusted_proxies.strip():
            return inner
        return ProxyHeadersMiddleware(inner, trusted_hosts=trusted_proxies)

    app.build_middleware_stack = outside  # type: ignore[method-assign]


def route_table(app: FastAPI) -> list[tuple[str, str, Any]]:
    """Every (method, path, route) of the app, including routes of included routers.

    The security tests generate the permission matrix from this table.
    """
    out: list[tuple[str, str, Any]] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(inner.routes)
                continue
            for m in sorted(getattr(r, "methods", None) or ()):
                if m != "HEAD":
                    out.append((m, r.path, r))

    walk(app.routes)
    return out
