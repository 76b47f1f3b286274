"""Security headers on every response, ``Secure`` cookies over HTTPS, read-audit durability.

Issue 14 item 13 (the weaker controls; the password policy and the self-service change are in
test_service_accounts).
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kejin.api import create_app

from .conftest import login, service_settings
from .world import PASSWORD


def _headers_ok(r) -> bool:  # type: ignore[no-untyped-def]
    csp = r.headers.get("content-security-policy", "")
    return (
        r.headers.get("x-frame-options") == "DENY"
        and r.headers.get("x-content-type-options") == "nosniff"
        and r.headers.get("referrer-policy") == "same-origin"
        and "frame-ancestors 'none'" in csp
    )


def test_every_response_carries_the_security_headers(app, monkeypatch) -> None:
    gov = login(app, "gov")
    anon = TestClient(app, raise_server_exceptions=False)
    responses = {
        "page": gov.get("/dashboard"),
        "login page": anon.get("/login"),
        "api": gov.get("/api/firms"),
        "health": anon.get("/api/health"),
        "401": anon.get("/api/auth/me"),
        "404": gov.get("/no-such-page"),
        "422": gov.get("/api/firms?limit=-1"),
        "docs": anon.get("/docs"),
    }

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr("kejin.registry.profiles.region_overview", boom)
    responses["500"] = gov.get("/api/stats/region")
    assert responses["500"].status_code == 500
    assert [k for k, r in responses.items() if not _headers_ok(r)] == []
    assert "script-src 'none'" in responses["page"].headers["content-security-policy"]


def test_the_pages_satisfy_their_policy(app) -> None:
    """No script at all (the policy allows none): no <script>, no on…= handlers, no javascript:."""
    pages = {
        "gov": ["/dashboard", "/firms", "/whitelist", "/policies", "/fund", "/audit", "/ingest"],
        "bank": ["/bank", "/bank/whitelist", "/bank/claims", "/bank/credit", "/password"],
        "ent": ["/enterprise", "/enterprise/policies"],
    }
    bad = re.compile(r"<script|\son[a-z]+\s*=|javascript:", re.I)
    for who, paths in pages.items():
        c = login(app, who)
        for path in paths:
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code)
            assert not bad.search(r.text), path
    assert not bad.search(TestClient(app).get("/login").text)


def _session_cookie(c: TestClient, **kw) -> str:  # type: ignore[no-untyped-def]
    r = c.post("/api/auth/login", json={"username": "bank", "password": PASSWORD}, **kw)
    assert r.status_code == 200
    return next(v for v in r.headers.get_list("set-cookie") if v.startswith("kejin_session="))


def test_cookies_are_secure_whenever_served_over_https(engine, world) -> None:
    app = create_app(engine, session_key="k")
    plain = _session_cookie(TestClient(app))
    tls = TestClient(app, base_url="https://testserver")
    secure = _session_cookie(tls)
    assert "secure" not in plain.lower() and "; secure" in secure.lower()
    assert "strict-transport-security" in tls.get("/login").headers
    # A forwarded scheme is believed from a configured proxy only.
    proxy = ("10.9.8.7", 5000)
    forged = _session_cookie(TestClient(app, client=proxy), headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in forged.lower()
    with service_settings(trusted_proxies="10.9.8.7"):
        behind = create_app(engine, session_key="k")
    via_proxy = _session_cookie(
        TestClient(behind, client=proxy), headers={"X-Forwarded-Proto": "https"}
    )
    assert "; secure" in via_proxy.lower()


def test_read_audit_durability_is_a_setting_durable_by_default() -> None:
    from kejin.access.readlog import _statements

    with service_settings() as cfg:
        assert cfg.read_audit_durable is True
        assert "synchronous_commit" not in _statements()[0]
    with service_settings(read_audit_durable="false"):
        assert "synchronous_commit TO off" in _statements()[0]


def test_read_events_wait_for_the_durable_commit_on_postgresql(pg_engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from kejin.access import audit

    for durable, expect in (("true", "on"), ("false", "off")):
        with service_settings(read_audit_durable=durable), Session(pg_engine) as s, s.begin():
            audit._lock_and_tail(s, durable=False)  # what a read's append takes
            assert s.scalar(text("SHOW synchronous_commit")) == expect
