"""Headers every response carries, and ``Secure`` on every cookie sent over HTTPS.

Applied outside the whole application (see :func:`kejin.api.create_app`), so that error pages
and the 500 answer carry them as well.

The pages run no script at all, so the policy allows none; they do carry ``<style>`` blocks and
``style`` attributes, hence ``'unsafe-inline'`` for styles only (styles cannot run code). The
interactive API documentation (Swagger UI, ReDoc: :mod:`kejin.web.docs`) runs scripts served by
this server only — no CDN, no inline script — and ReDoc's search worker from a ``blob:``.
"""

from __future__ import annotations

from typing import Any

COMMON = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"
#: The pages' policy: no script, own styles and images (charts are inline SVG or data URLs).
PAGES_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    f"img-src 'self' data:; connect-src 'self'; {COMMON}"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    f"img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; {COMMON}"
)
#: The docs pages and their assets (kejin.web.docs); every other path gets the pages' policy.
DOCS_PREFIXES = ("/docs", "/redoc")
STATIC: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
#: Sent over HTTPS only (a browser ignores it over HTTP anyway).
HSTS = (b"strict-transport-security", b"max-age=31536000")


class Hardening:
    """ASGI middleware: the security headers, and ``Secure`` cookies whenever the request is
    HTTPS (``scope["scheme"]``, which a configured trusted proxy may have set) or ``always_secure``.
    """

    def __init__(self, app: Any, always_secure: bool = False) -> None:
        self.app, self.always_secure = app, always_secure

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        secure = https or self.always_secure
        path = scope.get("path", "")
        docs = any(path == d or path.startswith(d + "/") for d in DOCS_PREFIXES)
        csp = (DOCS_CSP if docs else PAGES_CSP).encode()

        async def send_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                ours = {k for k, _ in STATIC} | {b"content-security-policy", HSTS[0]}
                headers = [
                    (k, _secure(v) if secure and k.lower() == b"set-cookie" else v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in ours
                ]
                headers += [*STATIC, (b"content-security-policy", csp)]
                if https:
                    headers.append(HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_headers)


def _secure(cookie: bytes) -> bytes:
    """Add the ``Secure`` attribute to a Set-Cookie value that lacks it.

    >>> _secure(b"a=1; path=/; httponly")
    b'a=1; path=/; httponly; secure'
    >>> _secure(b"a=1; Secure")
    b'a=1; Secure'
    """
    attrs = [a.strip().lower() for a in cookie.split(b";")[1:]]
    return cookie if b"secure" in attrs else cookie + b"; secure"
