"""Tokens, consent effects, login throttling, CSRF, injection, the audit chain and the 500 path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text, update

from kejin.access import accounts, audit, service
from kejin.access.rules import Principal, Unauthenticated
from kejin.access.tables import ApiToken, AuditEvent
from kejin.db import transaction
from kejin.errors import ValidationError

from .conftest import bearer, login
from .world import F1, F2, F3, PASSWORD


def test_expired_and_revoked_tokens_are_refused(app, engine: Engine, world) -> None:
    t = bearer(app, world.secrets["t1"])
    assert t.get(f"/api/firms/{F1}").status_code == 200
    with transaction(engine) as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == world.tokens["t1"])
            .values(expires_at=datetime(2000, 1, 1))
        )
    r = t.get(f"/api/firms/{F1}")
    assert r.status_code == 401 and r.json()["error"] == "Unauthenticated"
    t3 = bearer(app, world.secrets["t3"])
    assert t3.get(f"/api/firms/{F1}").status_code == 200
    bank = login(app, "bank")
    assert bank.post(f"/api/tokens/{world.tokens['t3']}/revoke").status_code == 200
    assert t3.get(f"/api/firms/{F1}").status_code == 401
    assert bearer(app, "kj_not-a-token").get("/api/firms").status_code == 401


def test_tokens_are_stored_only_as_digests(engine: Engine, world) -> None:
    with engine.connect() as c:
        stored = [r[0] for r in c.execute(select(ApiToken.token_sha256))]
    assert all(len(h) == 64 for h in stored)
    assert not any(sec in stored or sec[3:] in stored for sec in world.secrets.values())


def test_issued_token_has_limited_scopes(app) -> None:
    bank = login(app, "bank")
    r = bank.post("/api/tokens", json={"name": "x", "scopes": ["consent.grant"], "days": 10})
    assert r.status_code == 422 and r.json()["problems"][0]["value"] == "consent.grant"
    r = bank.post("/api/tokens", json={"name": "core banking", "scopes": ["firm.read"], "days": 10})
    assert r.status_code == 201
    t = bearer(app, r.json()["secret"])
    assert t.get(f"/api/firms/{F1}").status_code == 200
    assert t.get("/api/firms").status_code == 403  # firm.search not in this token's scopes


def test_consent_grant_and_revoke_change_what_the_bank_sees(app, world) -> None:
    bank, ent3 = login(app, "bankb"), login(app, "ent3")
    assert bank.get(f"/api/firms/{F3}").json()["level"] == "profile"
    r = ent3.post(f"/api/consents/{world.consents['c2']}/revoke")
    assert r.status_code == 200 and r.json()["active"] is False
    assert bank.get(f"/api/firms/{F3}").status_code == 403
    exp = (datetime.now() + timedelta(days=30)).isoformat()
    r = ent3.post(
        f"/api/firms/{F3}/consents",
        json={
            "institution_id": "BKB",
            "purpose": "credit_assessment",
            "scope": "full",
            "expires_at": exp,
        },
    )
    assert r.status_code == 201
    assert bank.get(f"/api/firms/{F3}").json()["level"] == "full"


def test_expired_consent_no_longer_opens_data(app, engine: Engine, world) -> None:
    from kejin.access.tables import Consent

    bank = login(app, "bank")
    assert bank.get(f"/api/firms/{F1}").json()["level"] == "full"
    with transaction(engine) as s:
        c = s.get(Consent, world.consents["c1"])
        c.granted_at, c.expires_at = datetime(2020, 1, 1), datetime(2021, 1, 1)
    assert bank.get(f"/api/firms/{F1}").status_code == 403


def test_consent_validation_names_the_fields(app) -> None:
    ent = login(app, "ent")
    r = ent.post(
        f"/api/firms/{F1}/consents",
        json={
            "institution_id": "NOPE",
            "purpose": "gossip",
            "scope": "profile",
            "expires_at": "2001-01-01T00:00:00",
        },
    )
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert fields == {"institution_id", "purpose", "expires_at"}


def test_unknown_user_and_wrong_password_look_alike(app) -> None:
    c = TestClient(app)
    a = c.post("/api/auth/login", json={"username": "nobody", "password": "x" * 12}).json()
    b = c.post("/api/auth/login", json={"username": "gov", "password": "x" * 12}).json()
    assert a == b


def test_cookie_changes_need_the_csrf_header(app, world) -> None:
    ent = login(app, "ent")
    del ent.headers["X-CSRF-Token"]
    r = ent.post(f"/api/consents/{world.consents['c1']}/revoke")
    assert r.status_code == 403
    ent.headers["X-CSRF-Token"] = "forged"
    assert ent.post(f"/api/consents/{world.consents['c1']}/revoke").status_code == 403


INJECTIONS = [
    "' OR '1'='1",
    "%",
    "_",
    "'; DROP TABLE enterprises; --",
    "\\",
    "\x00",
    "F1' UNION SELECT password_hash FROM users --",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("q", INJECTIONS)
def test_search_parameters_are_data_not_code(app, engine: Engine, q: str) -> None:
    bank = login(app, "bank")
    r = bank.get("/api/firms", params={"q": q})
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        # Wildcards match literally: no firm name contains these characters, so nothing leaks.
        assert r.json()["items"] == []
    for field in ("chain", "stage", "qualification"):
        assert bank.get("/api/firms", params={field: q}).status_code == 422
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(text("enterprises"))) == 4
    page = bank.get("/firms", params={"q": q})
    assert "<script>alert(1)</script>" not in page.text


def test_wildcards_in_search_do_not_widen_a_bank_view(app) -> None:
    bank = login(app, "bank")
    assert {i["uscc"] for i in bank.get("/api/firms", params={"q": "9132"}).json()["items"]} == {
        F1,
        F2,
    }


def _tamper(engine: Engine, sql: str) -> None:
    """What a database owner could do behind the service's back: drop the guard, edit, restore."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as c:
        if pg:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        c.execute(text(sql))
        if pg:
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change"))


def test_audit_chain_verifies_and_detects_an_edited_row(app, engine: Engine, world) -> None:
    login(app, "bank").get(f"/api/firms/{F1}")
    rep = audit.verify(engine)
    assert rep.ok and rep.events > 10
    with engine.connect() as c:
        seq = c.scalar(select(AuditEvent.seq).where(AuditEvent.action == "firm.read"))
    _tamper(engine, f"UPDATE audit_events SET actor = 'someone_else' WHERE seq = {seq}")
    rep = audit.verify(engine)
    assert not rep.ok
    assert [(p.row, p.field) for p in rep.problems] == [(seq, "hash")]


def test_audit_chain_detects_a_deleted_row_and_a_cut_tail(engine: Engine, world) -> None:
    head = audit.verify(engine).head
    _tamper(engine, "DELETE FROM audit_events WHERE seq = 3")
    rep = audit.verify(engine)
    assert {p.field for p in rep.problems} >= {"seq", "prev_hash"}
    assert not audit.verify(engine, expect_head="0" * 64).ok
    assert audit.verify(engine, expect_head=head).head == head


def test_audit_log_refuses_update_and_delete(engine: Engine, world) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 1"))
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(text("DELETE FROM audit_events"))


def test_reads_of_enterprise_data_are_audited(app, engine: Engine) -> None:
    bank = login(app, "bank")
    bank.get(f"/api/firms/{F1}")
    bank.get(f"/api/firms/{F2}")
    bank.get("/api/firms", params={"q": "硅谷"})
    bank.get(f"/api/firms/{F3}")  # refused, still recorded
    with engine.connect() as c:
        rows = c.execute(
            select(AuditEvent.action, AuditEvent.entity_id, AuditEvent.detail)
            .where(AuditEvent.actor == "bank")
            .order_by(AuditEvent.seq)
        ).all()
    acts = [(a, e) for a, e, _ in rows]
    assert ("firm.read", F1) in acts and ("firm.read", F2) in acts
    assert ("firm.search", "search") in acts
    assert ("access.denied", f"/api/firms/{F3}") in acts
    levels = [json.loads(d).get("level") for a, _, d in rows if a == "firm.read"]
    assert levels == ["full", "whitelist"]
    assert audit.verify(engine).ok


def test_audit_cli_verify_exit_codes(engine: Engine, world, monkeypatch, capsys) -> None:
    import typer
    from typer.testing import CliRunner

    from kejin.access.commands import register

    monkeypatch.setattr("kejin.access.commands.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "verify", "--json"]).exit_code == 0
    _tamper(engine, "UPDATE audit_events SET entity_kind = 'forged' WHERE seq = 2")
    res = runner.invoke(cli, ["audit", "verify", "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["problems"][0]["row"] == 2


def test_server_errors_are_generic_json_without_traceback(app, monkeypatch) -> None:
    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("kejin.registry.profiles.region_overview", boom)
    r = login(app, "gov").get("/api/stats/region")
    assert r.status_code == 500
    assert (
        "incident" in r.json()["reason_en"]
        and "hunter2" not in r.text
        and "Traceback" not in r.text
    )


def test_user_creation_requires_the_tenant_of_the_role(engine: Engine, world) -> None:
    with transaction(engine) as s:
        with pytest.raises(ValidationError) as e:
            accounts.create_user(
                s, service.SYSTEM, username="b2", role="bank_officer", password=PASSWORD
            )
        assert e.value.problems[0].field == "institution_id"
        with pytest.raises(ValidationError):
            accounts.create_user(
                s,
                service.SYSTEM,
                username="e2",
                role="enterprise_user",
                password=PASSWORD,
                uscc="NOPE",
            )


@settings(max_examples=30, deadline=None)
@given(
    actions=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=8),
    target=st.integers(0, 7),
)
def test_any_single_edit_breaks_the_chain(actions: list[str], target: int) -> None:
    """Invariant: for any chain, changing any one stored field of any one event is detected."""
    from sqlalchemy.pool import StaticPool

    from kejin.access.tables import AuditEvent as AE
    from kejin.db import make_engine

    eng = make_engine("sqlite://", poolclass=StaticPool)
    AE.__table__.create(eng)
    with eng.begin() as c:
        for stmt in audit.APPEND_ONLY_SQLITE:
            c.execute(text(stmt))
    with transaction(eng) as s:
        for a in actions:
            audit.record(
                s, actor="u", actor_role="auditor", action=a, entity_kind="k", entity_id="1"
            )
    assert audit.verify(eng).ok
    seq = 1 + target % len(actions)
    _tamper(eng, f"UPDATE audit_events SET entity_id = entity_id || 'x' WHERE seq = {seq}")
    rep = audit.verify(eng)
    assert [p.row for p in rep.problems] == [seq]


def test_principal_scopes_are_enforced_in_the_service(engine: Engine, world) -> None:
    from kejin.access.rules import Forbidden
    from kejin.registry.profiles import firm_profile

    p = Principal(
        user_id=world.users["bank"],
        username="bank",
        role="bank_officer",
        institution_id="BKA",
        via="token",
        scopes=frozenset({"loan.list"}),
    )
    with transaction(engine) as s, pytest.raises(Forbidden):
        firm_profile(s, p, F1)
    with transaction(engine) as s, pytest.raises(Unauthenticated):
        service.token_principal(s, "kj_unknown")
