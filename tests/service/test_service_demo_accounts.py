"""``kejin demo-accounts``: one account per role on the current region, repeatable."""

from __future__ import annotations

import json

import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from kejin.access.commands import register
from kejin.access.tables import AuditEvent, Consent, User
from kejin.lending.tables import Institution
from kejin.registry.tables import Enterprise
from kejin.synth.service import build_region


def _run(engine: Engine, monkeypatch) -> dict[str, dict]:
    monkeypatch.setattr("kejin.access.commands.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    cli.command("noop")(lambda: None)  # a group, so the subcommand name is parsed
    res = CliRunner().invoke(cli, ["demo-accounts", "--json"])
    assert res.exit_code == 0, res.output
    return {r["role"]: r for r in json.loads(res.stdout)}


def test_demo_accounts_show_a_firm_in_good_standing_that_consented_to_the_bank(
    sqlite_engine: Engine, monkeypatch
) -> None:
    engine = sqlite_engine
    build_region(engine, firms=400, seed=3)
    first = _run(engine, monkeypatch)
    assert set(first) == {
        "gov_admin", "gov_reviewer", "bank_officer", "enterprise_user", "auditor", "investor",
    }  # fmt: skip
    with engine.connect() as c:  # the investor belongs to a venture fund of the region
        kind = c.scalar(
            select(Institution.kind).where(Institution.id == first["investor"]["tenant"])
        )
    assert kind == "vc_fund"
    firm, bank = first["enterprise_user"]["tenant"], first["bank_officer"]["tenant"]
    with engine.connect() as c:
        e = c.execute(select(Enterprise).where(Enterprise.uscc == firm)).one()
        assert not (e.dishonest or e.deregistered or e.abnormal_operation)
        consents = c.execute(
            select(Consent.institution_id, Consent.scope).where(Consent.uscc == firm)
        ).all()
        assert consents == [(bank, "full")]
    again = _run(engine, monkeypatch)
    assert again["enterprise_user"]["tenant"] == firm
    assert all(again[r]["password"] != first[r]["password"] for r in first)
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(Consent)) == 1  # kept, not duplicated
        assert c.scalar(select(func.count()).select_from(User)) == 6
        # The demo's audited exemption: no second person, and the printed passwords work as
        # they are (no first-login change), privileged roles included.
        users = c.execute(select(User.username, User.approved_by, User.must_change_password)).all()
        assert {(a, m) for _, a, m in users} == {("system", False)}
        details = c.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "user.create")
        ).all()
        assert len(details) == 6 and all(json.loads(d)["exemption"] == "demo" for d in details)


def test_the_demo_accounts_table_names_roles_and_tenants_in_words(
    sqlite_engine: Engine, monkeypatch
) -> None:
    """The terminal table reads like the pages: role labels and the bank's and firm's names,
    not ``bank_officer`` or the bank's id (issue 16)."""
    from kejin.access.tables import ROLES

    build_region(sqlite_engine, firms=200, seed=5)
    rows = _run(sqlite_engine, monkeypatch)
    monkeypatch.setattr("kejin.access.commands.get_engine", lambda: sqlite_engine)
    monkeypatch.setenv("COLUMNS", "200")
    cli = typer.Typer()
    register(cli)
    cli.command("noop")(lambda: None)
    res = CliRunner().invoke(cli, ["demo-accounts"])
    assert res.exit_code == 0, res.output
    bank, firm = rows["bank_officer"], rows["enterprise_user"]
    assert bank["tenant_name"] and firm["tenant_name"]
    assert bank["tenant_name"] in res.stdout and firm["tenant_name"] in res.stdout
    for role in rows:
        assert ROLES[role].zh in res.stdout
        # ``auditor`` is also its English label; the others' codes are nobody's words
        assert "_" not in role or role not in res.stdout
    assert bank["tenant"] not in res.stdout and firm["tenant"] not in res.stdout
