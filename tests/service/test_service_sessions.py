"""Server-side sessions: logout, a password change and deactivation end them at once.

Issue 14 item 9: the old cookie still opened ``/api/auth/me`` for 8 hours after logout and after
a password reset, and ``/api/auth/logout`` accepted a POST without the CSRF token.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from .conftest import bearer, login
from .world import F1, PASSWORD


def _copy(app, c: TestClient) -> TestClient:  # type: ignore[no-untyped-def]
    """Another client replaying ``c``'s cookie, as someone who kept a copy of it would."""
    twin = TestClient(app, raise_server_exceptions=False)
    twin.cookies.set("kejin_session", c.cookies["kejin_session"])
    twin.headers["X-CSRF-Token"] = c.headers["X-CSRF-Token"]
    return twin


def test_logout_ends_the_session_for_every_copy_of_the_cookie(app) -> None:
    bank = login(app, "bank")
    kept = _copy(app, bank)
    assert kept.get("/api/auth/me").status_code == 200
    assert bank.post("/api/auth/logout").status_code == 204
    assert kept.get("/api/auth/me").status_code == 401
    assert kept.get("/bank", follow_redirects=False).headers["location"] == "/login"


def test_logout_needs_the_csrf_token(app) -> None:
    bank = login(app, "bank")
    r = bank.post("/api/auth/logout", headers={"X-CSRF-Token": ""})
    assert r.status_code == 403
    assert bank.get("/api/auth/me").status_code == 200  # still logged in
    form = bank.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert form.status_code == 403
    assert bank.get("/api/auth/me").status_code == 200


def test_a_password_change_ends_every_other_session(app) -> None:
    here, elsewhere = login(app, "ent"), login(app, "ent")
    r = here.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "amber-tides-over-lianyungang"},
    )
    assert r.status_code == 204
    assert elsewhere.get("/api/auth/me").status_code == 401
    assert here.get("/api/auth/me").status_code == 200


def test_deactivation_ends_sessions_and_tokens(app, world) -> None:
    bank, token = login(app, "bank"), bearer(app, world.secrets["t1"])
    assert token.get(f"/api/firms/{F1}").status_code == 200
    r = login(app, "gov").post(f"/api/users/{world.users['bank']}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False
    assert bank.get("/api/auth/me").status_code == 401
    assert token.get(f"/api/firms/{F1}").status_code == 401
    c = TestClient(app, raise_server_exceptions=False)
    assert (
        c.post("/api/auth/login", json={"username": "bank", "password": PASSWORD}).status_code
        == 401
    )


def test_the_table_keeps_only_digests_of_session_ids(app, engine: Engine) -> None:
    from kejin.access.sessions import SID
    from kejin.access.tables import UserSession

    bank = login(app, "bank")
    raw = bank.get("/api/auth/me")
    assert raw.status_code == 200
    import base64
    import json

    cookie = bank.cookies["kejin_session"]
    sid = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))[SID]
    with engine.connect() as c:
        stored = list(c.scalars(select(UserSession.id_sha256)))
    assert stored and sid not in stored and all(len(h) == 64 for h in stored)
