"""The API documentation works without internet: every asset its pages load is served here."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_docs_pages_load_only_this_servers_assets(app) -> None:
    anon = TestClient(app, raise_server_exceptions=False)
    for path, needs in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = anon.get(path)
        assert page.status_code == 200, path
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert any(u.endswith(needs) for u in urls), (path, urls)
        for url in urls:
            assert url.startswith("/"), f"{path} loads {url} from elsewhere"
            asset = anon.get(url)
            assert asset.status_code == 200 and len(asset.content) > 0, url
        assert not re.search(r"<script>(?!</script>)", page.text), "inline script"
    assert anon.get("/openapi.json").status_code == 200


def test_the_docs_policy_names_no_other_host(app) -> None:
    anon = TestClient(app, raise_server_exceptions=False)
    for path in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"):
        csp = anon.get(path).headers["content-security-policy"]
        assert (
            "http" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        )
        assert "script-src 'self'" in csp, (path, csp)


def test_swagger_ui_and_redoc_render_with_the_internet_cut_off(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    """In Chromium, every request beyond this server refused: both pages still render the API
    (the operations of Swagger UI, ReDoc's menu), and the policy blocks no script or style."""
    from pathlib import Path

    import pytest

    playwright = pytest.importorskip("playwright.sync_api")
    from kejin.api import create_app

    from .conftest import live_server
    from .test_service_browser import ARTIFACTS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip("Chromium missing: apt-get install -y chromium (.ci/run does)")
    with (
        live_server(create_app(sqlite_engine, session_key="docs-test-key")) as base,
        playwright.sync_playwright() as pw,
    ):
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []
        blocked: list[str] = []

        def only_here(route) -> None:  # type: ignore[no-untyped-def]
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        page.on(
            "console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(base + "/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() > 50
        Path(ARTIFACTS).mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser_docs_offline.png"))
        page.goto(base + "/redoc")
        page.wait_for_selector("[role=menuitem], .menu-content", timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "browser_redoc_offline.png"))
        b.close()
    # ReDoc's footer logo is an image on its makers' site: refused, and nothing else is missing.
    assert outside == []
    assert [m for m in blocked if "image 'https://cdn.redoc.ly/" not in m] == []
