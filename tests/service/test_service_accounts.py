"""Privileged accounts need a second person; passwords chosen by others are changed first.

Issue 14 item 6: one government administrator satisfied maker-checker alone by creating a
second government account with a password of their choosing.
"""

from __future__ import annotations

import json

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from kejin.access.tables import AuditEvent, User

from .conftest import login
from .world import PASSWORD

NEW_PASSWORD = "amber-tides-over-lianyungang"


def _login(app, username: str, password: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


@pytest.mark.parametrize("role", ["gov_admin", "gov_reviewer", "auditor"])
def test_a_privileged_account_is_pending_until_a_second_person_approves(app, role: str) -> None:
    gov = login(app, "gov")
    # The creator may not choose its password: the one thing that made the account theirs.
    r = gov.post("/api/users", json={"username": "gov2", "role": role, "password": NEW_PASSWORD})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "password"
    r = gov.post("/api/users", json={"username": "gov2", "role": role})
    assert r.status_code == 201 and r.json()["approved_at"] is None
    uid = r.json()["id"]
    # Pending: nothing logs it in; its creator cannot approve it.
    r = gov.post(f"/api/users/{uid}/approve")
    assert r.status_code == 403 and "creator" in r.json()["reason_en"]
    r = login(app, "rev").post(f"/api/users/{uid}/approve")
    assert r.status_code == 200 and r.json()["user"]["approved_by"] == "rev"
    first = r.json()["password"]
    again = login(app, "rev").post(f"/api/users/{uid}/approve")
    assert again.status_code == 409
    # The first password only opens the password change.
    new = _login(app, "gov2", first)
    me = new.get("/api/auth/me").json()
    assert me["must_change_password"] is True
    r = new.get("/api/users")
    assert r.status_code == 403 and r.json()["reason_en"] == "change your initial password first"
    r = new.post(
        "/api/auth/password", json={"current_password": first, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 204, r.text
    assert new.get("/api/auth/me").json()["must_change_password"] is False
    assert new.get("/api/firms").status_code == 200


def test_an_account_made_by_someone_else_can_do_nothing_before_its_password_change(app) -> None:
    gov = login(app, "gov")
    r = gov.post(
        "/api/users",
        json={
            "username": "officer_li",
            "role": "bank_officer",
            "institution_id": "BKA",
            "password": NEW_PASSWORD,
        },
    )
    assert r.status_code == 201 and r.json()["must_change_password"] is True
    li = _login(app, "officer_li", NEW_PASSWORD)
    assert li.get("/api/firms").status_code == 403
    assert li.post("/api/tokens", json={"name": "core"}).status_code == 403
    # The pages send it to the password form, and only that form.
    assert li.get("/bank", follow_redirects=False).headers["location"] == "/password"
    assert li.get("/", follow_redirects=False).headers["location"] == "/password"
    page = li.get("/password")
    assert page.status_code == 200 and 'id="password-must"' in page.text


def test_the_cli_creates_privileged_accounts_pending_and_approves_by_a_named_person(
    engine: Engine, world, monkeypatch
) -> None:
    from kejin.access.commands import register

    monkeypatch.setattr("kejin.access.commands.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    run = CliRunner().invoke
    r = run(cli, ["users", "create", "aud2", "--role", "auditor"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {
        "username": "aud2",
        "role": "auditor",
        "password": None,
        "pending": True,
    }
    r = run(cli, ["users", "approve", "aud2", "--who", "aud"])
    assert r.exit_code != 0  # an auditor is not an approver
    r = run(cli, ["users", "approve", "aud2", "--who", "rev"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["password"]
    r = run(cli, ["users", "create", "root2", "--role", "gov_admin", "--bootstrap"])
    assert r.exit_code == 0 and json.loads(r.stdout)["pending"] is False
    with engine.connect() as c:
        detail = c.scalar(
            select(AuditEvent.detail).where(
                AuditEvent.action == "user.create", AuditEvent.entity_id == "root2"
            )
        )
        assert json.loads(detail)["exemption"] == "bootstrap"
        u = c.execute(select(User).where(User.username == "root2")).one()
        assert u.must_change_password and u.approved_by == "system"


def test_password_policy_refuses_guessable_passwords(app) -> None:
    gov = login(app, "gov")
    for bad in (
        "password1234",
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "1234567890123",
        "qwertyuiopasdf",
        "officer_wang2024",  # the username itself
        "short-1",
    ):
        r = gov.post(
            "/api/users",
            json={
                "username": "officer_wang",
                "role": "bank_officer",
                "institution_id": "BKA",
                "password": bad,
            },
        )
        assert r.status_code == 422, bad
        assert [p["field"] for p in r.json()["problems"]] == ["password"], bad


def test_self_service_change_needs_the_current_password_and_a_good_new_one(app) -> None:
    bank = login(app, "bank")
    r = bank.post(
        "/api/auth/password", json={"current_password": "wrong", "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["problems"]] == ["current_password"]
    r = bank.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "password123!"}
    )
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["problems"]] == ["new_password"]
    r = bank.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 204
    assert _login(app, "bank", NEW_PASSWORD).get("/api/auth/me").status_code == 200
    # Through the page too (bilingual form, errors beside their fields).
    page = bank.get("/password?lang=en")
    assert page.status_code == 200 and "Current password" in page.text
    csrf = bank.headers["X-CSRF-Token"]
    r = bank.post(
        "/password",
        data={
            "csrf_token": csrf,
            "current_password": NEW_PASSWORD,
            "new_password": PASSWORD + "-x",
            "new_password_again": "different-entirely-here",
        },
    )
    assert r.status_code == 200 and "does not match" in r.text  # on the GET after the redirect


@pytest.mark.parametrize("door", ["api", "page"])
def test_guessing_the_current_password_through_a_session_locks_the_account_and_ends_it(
    app, engine, door: str
) -> None:
    """A session holder (a screen left open, a stolen cookie) gets the login's number of tries
    at the current password, counted although each refusal rolls its request back; then the
    account locks and every session of it ends."""
    from kejin.access.settings import get_service_settings

    limit = get_service_settings().login_max_failures
    owner_elsewhere = login(app, "bank")
    thief = login(app, "bank")
    for i in range(limit):
        if door == "api":
            r = thief.post(
                "/api/auth/password",
                json={"current_password": f"guess-{i}", "new_password": NEW_PASSWORD},
            )
            assert r.status_code == 422
        else:
            r = thief.post(
                "/password",
                data={
                    "csrf_token": thief.headers["X-CSRF-Token"],
                    "current_password": f"guess-{i}",
                    "new_password": NEW_PASSWORD,
                    "new_password_again": NEW_PASSWORD,
                },
                follow_redirects=False,
            )
            assert r.status_code == 303
        if i < limit - 1:
            assert thief.get("/api/auth/me").status_code == 200
    assert thief.get("/api/auth/me").status_code == 401
    assert owner_elsewhere.get("/api/auth/me").status_code == 401
    r = TestClient(app).post("/api/auth/login", json={"username": "bank", "password": PASSWORD})
    assert r.status_code == 429  # locked for login_lock_seconds, even with the right password
    with engine.connect() as c:
        actions = c.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == "bank")).all()
    assert actions.count("user.password_change_refused") == limit and "auth.locked" in actions
