"""The interactive API documentation (Swagger UI at /docs, ReDoc at /redoc), served offline.

FastAPI's own pages load their scripts and styles from a CDN: a platform run on a government
network without internet showed a blank /docs. The assets come from the installed
``fastapi-offline`` package instead (Swagger UI and ReDoc bundles, MIT, refreshed with their
upstream releases); the pages below name only this server's addresses, and Swagger UI is
started by a file of ours rather than an inline script, so the docs' policy allows scripts from
``'self'`` and nothing else (:data:`kejin.web.headers.DOCS_CSP`).
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the bundled assets are served (the docs' policy covers this prefix, see headers.py).
ASSETS = "/docs/assets"
OURS = "/docs/static"
VENDOR_DIR = Path(str(files("fastapi_offline") / "static"))
OUR_DIR = Path(__file__).parent / "static"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><link rel="icon" href="{ASSETS}/favicon.png">{head}</head>
<body>{body}</body></html>"""
    )


def mount(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (the app is built with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=VENDOR_DIR), name="docs-assets")
    app.mount(OURS, StaticFiles(directory=OUR_DIR), name="docs-static")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return _page(
            f"{title} — Swagger UI",
            f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">',
            f'<div id="swagger-ui"></div><script src="{ASSETS}/swagger-ui-bundle.js"></script>'
            f'<script src="{OURS}/swagger-init.js"></script>',
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(
            f"{title} — ReDoc",
            "<style>body{margin:0;padding:0}</style>",
            f'<redoc spec-url="/openapi.json"></redoc>'
            f'<script src="{ASSETS}/redoc.standalone.js"></script>',
        )
