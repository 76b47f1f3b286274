"""The audit chain anchored outside the database: MACs under a key, and signed checkpoints.

The attacker here is a database owner: they can disable the append-only triggers, edit an event
and recompute every later hash, which the bare hash chain cannot notice. What must hold:
with the key, verification fails at the first rewritten event; without it, verification says
plainly that it proves nothing against an owner; a checkpoint kept outside the database catches
a tail that was cut or rewritten even by someone holding the key; every writer signs alike.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kejin.access import audit, auditkey, checkpoints
from kejin.access.settings import get_service_settings
from kejin.access.tables import AuditEvent
from kejin.db import transaction
from kejin.errors import ValidationError

KEY = "k3y-" + "0123456789abcdef" * 3
OTHER = "0th3r-" + "fedcba9876543210" * 3


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[auditkey.Keyring]:
    """This process signs with ``KEY`` (from the environment, as in production)."""
    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.setenv("KEJIN_AUDIT_KEY", KEY)
    get_service_settings.cache_clear()
    yield auditkey.current()
    get_service_settings.cache_clear()


@pytest.fixture
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("KEJIN_AUDIT_KEY", raising=False)
    get_service_settings.cache_clear()
    yield
    get_service_settings.cache_clear()


def _events(engine: Engine, n: int, durable: bool = True) -> None:
    for i in range(n):
        with transaction(engine) as s:
            audit.record(
                s,
                actor=f"u{i}",
                actor_role="gov_admin",
                action="policy.publish",
                entity_kind="programme",
                entity_id=str(i),
                after={"i": i},
                durable=durable,
            )


def _owner_rewrites(
    engine: Engine, seq: int, keys: auditkey.Keyring | None = None, null_macs: bool = False
) -> None:
    """Edit event ``seq`` and recompute every later hash, as a database owner can: triggers off,
    rows changed, triggers back on. ``keys`` plays an insider who also holds the audit key."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as c:
        if pg:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        c.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(actor="someone_else"))
        with Session(bind=c) as s:
            rows = s.scalars(
                select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)
            )
            prev = s.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
            for ev in list(rows):
                ev.prev_hash = prev or audit.GENESIS
                ev.hash = prev = audit.event_hash(ev)
                if keys is not None:
                    ev.mac = keys.mac(ev.hash)
                elif null_macs:
                    ev.mac = None
            s.flush()
        if pg:
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change"))
        else:
            for stmt in audit.APPEND_ONLY_SQLITE:
                c.execute(text(stmt))


def _cut_tail(engine: Engine, after: int) -> None:
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as c:
        if pg:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        c.execute(text(f"DELETE FROM audit_events WHERE seq > {after}"))
        if pg:
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change"))


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    from kejin.access.commands import register

    monkeypatch.setattr("kejin.access.commands.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    return CliRunner().invoke(cli, list(args))


def test_an_owner_rewrite_fails_keyed_verify_at_the_first_rewritten_event(
    engine: Engine, keyed: auditkey.Keyring
) -> None:
    _events(engine, 6)
    assert audit.verify(engine).ok
    _owner_rewrites(engine, 3)
    unkeyed = audit.verify(engine, keys=auditkey.Keyring())
    assert unkeyed.ok and not unkeyed.keyed  # the bare chain is fooled …
    assert audit.UNKEYED_NOTE in unkeyed.notes  # … and says so
    rep = audit.verify(engine)
    assert not rep.ok and rep.keyed
    assert [(p.row, p.field, p.value) for p in rep.problems] == [(3, "mac", "3..6")]


def test_an_owner_who_drops_the_macs_is_caught_too(engine: Engine, keyed) -> None:  # type: ignore[no-untyped-def]
    _events(engine, 5)
    _owner_rewrites(engine, 2, null_macs=True)
    rep = audit.verify(engine)
    assert not rep.ok and not rep.problems
    assert [(p.row, p.value) for p in rep.unsealed] == [(2, "2..5")]


def test_without_a_key_verify_passes_but_says_it_is_unkeyed(
    engine: Engine, unkeyed, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _events(engine, 3)
    with engine.connect() as c:
        assert set(c.scalars(select(AuditEvent.mac))) == {None}
    res = _cli(engine, monkeypatch, "audit", "verify", "--json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["ok"] and out["keyed"] is False
    assert out["notes"][0]["en"].startswith("the audit chain is unkeyed")
    res = _cli(engine, monkeypatch, "audit", "verify")
    assert res.exit_code == 0
    assert "未设密钥" in res.stderr and "UNKEYED" in res.stderr
    assert "only detects edits by someone who cannot rewrite the table" in " ".join(
        res.stderr.split()
    )


def test_a_checkpoint_catches_a_cut_tail(engine: Engine, keyed, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _events(engine, 5)
    res = _cli(engine, monkeypatch, "audit", "checkpoint", "--out", str(tmp_path / "cps"))
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["seq"] == 5
    _events(engine, 2)
    assert (
        _cli(
            engine, monkeypatch, "audit", "verify", "--checkpoints", str(tmp_path / "cps")
        ).exit_code
        == 0
    )
    _cut_tail(engine, 3)
    assert audit.verify(engine).ok  # MACs alone cannot see a missing tail
    res = _cli(
        engine, monkeypatch, "audit", "verify", "--json", "--checkpoints", str(tmp_path / "cps")
    )
    assert res.exit_code == 1
    [p] = json.loads(res.stdout)["problems"]
    assert (p["row"], p["field"]) == (5, "seq") and p["file"].endswith(
        "checkpoint-000000000005.json"
    )


def test_a_checkpoint_catches_a_tail_rewritten_by_a_key_holder(
    engine: Engine, keyed: auditkey.Keyring, tmp_path: Path
) -> None:
    _events(engine, 6)
    head = audit.verify(engine)
    checkpoints.write(tmp_path / "cps", head.head_seq, head.head, audit.utcnow(), keyed)
    _owner_rewrites(engine, 4, keys=keyed)  # valid MACs: only the checkpoint can tell
    assert audit.verify(engine).ok
    cps, bad = checkpoints.read(tmp_path / "cps")
    assert not bad
    rep = audit.verify(engine, checkpoints=cps)
    assert [(p.row, p.field) for p in rep.problems] == [(6, "hash")]
    # Nor can the checkpoint be edited to match the rewritten chain without the key.
    [path] = (tmp_path / "cps").glob("checkpoint-*.json")
    body = json.loads(path.read_text())
    body["hash"] = audit.verify(engine).head
    path.write_text(json.dumps(body))
    rep = audit.verify(engine, checkpoints=checkpoints.read(tmp_path / "cps")[0])
    assert [(p.row, p.field) for p in rep.problems] == [(6, "mac")]
    assert rep.problems[0].reason_en.startswith("checkpoint altered")


def test_checkpoints_vouch_for_events_written_before_the_key(
    engine: Engine, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("KEJIN_AUDIT_KEY", raising=False)
    get_service_settings.cache_clear()
    _events(engine, 3)  # a deployment from before keys
    monkeypatch.setenv("KEJIN_AUDIT_KEY", KEY)
    get_service_settings.cache_clear()
    try:
        _events(engine, 2)
        rep = audit.verify(engine)
        assert [(p.row, p.value) for p in rep.unsealed] == [(1, "1..3")] and not rep.problems
        res = _cli(engine, monkeypatch, "audit", "checkpoint", "--out", str(tmp_path / "cps"))
        assert isinstance(res.exception, ValidationError) and res.exception.exit_code == 1
        assert "--seal-unkeyed" in res.exception.reason_en
        assert not (tmp_path / "cps").exists()
        args = ("audit", "checkpoint", "--out", str(tmp_path / "cps"), "--seal-unkeyed")
        assert _cli(engine, monkeypatch, *args).exit_code == 0
        _events(engine, 1)
        res = _cli(
            engine, monkeypatch, "audit", "verify", "--json", "--checkpoints", str(tmp_path / "cps")
        )
        assert res.exit_code == 0, res.stdout
        # An owner rewrite of the sealed, unkeyed part is caught by the checkpoint.
        _owner_rewrites(engine, 2)
        rep = audit.verify(engine, checkpoints=checkpoints.read(tmp_path / "cps")[0])
        assert (rep.problems[0].row, rep.problems[0].field) == (5, "hash")
    finally:
        get_service_settings.cache_clear()


def test_no_checkpoint_is_written_for_a_broken_chain(
    engine: Engine, keyed, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    _events(engine, 4)
    _owner_rewrites(engine, 2)
    res = _cli(
        engine, monkeypatch, "audit", "checkpoint", "--out", str(tmp_path / "cps"), "--seal-unkeyed"
    )
    assert isinstance(res.exception, ValidationError)
    assert "no checkpoint written" in res.exception.reason_en
    assert "--seal-unkeyed" not in res.exception.reason_en  # a real break cannot be sealed
    assert not list((tmp_path / "cps").glob("checkpoint-*"))


def test_every_writer_signs_its_events(engine: Engine, keyed: auditkey.Keyring) -> None:
    """Changes inline; reads inline on SQLite and through the writer thread on PostgreSQL."""
    _events(engine, 3, durable=True)
    _events(engine, 3, durable=False)
    with engine.connect() as c:
        macs = list(c.scalars(select(AuditEvent.mac).order_by(AuditEvent.seq)))
    assert len(macs) == 6 and all(m and m.startswith(keyed.signing + ":") for m in macs)
    assert audit.verify(engine).ok
    assert not audit.verify(engine, keys=auditkey.keyring_of([OTHER])).ok


@pytest.mark.postgres
def test_the_event_loop_writer_signs_its_events(pg_engine: Engine, keyed: auditkey.Keyring) -> None:
    import asyncio

    from sqlalchemy.util import greenlet_spawn

    from kejin.access.readlog import LoopWriter

    async def run() -> list[AuditEvent]:
        w = LoopWriter(pg_engine.url.set(drivername="postgresql").render_as_string(False))
        try:
            fields = [
                audit.event_fields(
                    actor="bank",
                    actor_role="bank_officer",
                    action="firm.read",
                    entity_kind="firm",
                    entity_id=f"F{i}",
                )
                for i in range(8)
            ]
            return list(await asyncio.gather(*(greenlet_spawn(w.append, f) for f in fields)))
        finally:
            await w.close()

    _events(pg_engine, 2)
    events = asyncio.run(run())
    assert sorted(e.seq for e in events) == list(range(3, 11))
    with pg_engine.connect() as c:
        stored = dict(c.execute(select(AuditEvent.seq, AuditEvent.mac)).all())
    assert all(stored[e.seq] == e.mac and keyed.check(e.hash, e.mac) for e in events)
    rep = audit.verify(pg_engine)
    assert rep.ok and rep.keyed and rep.events == 10


def test_rotated_keys_verify_old_and_new_events(engine: Engine, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keyfile = tmp_path / "cfg" / "audit.key"
    monkeypatch.delenv("KEJIN_AUDIT_KEY", raising=False)
    monkeypatch.setenv("KEJIN_AUDIT_KEY_FILE", str(keyfile))
    get_service_settings.cache_clear()
    try:
        old, written = auditkey.generate(keyfile)
        assert written and stat.S_IMODE(os.stat(keyfile).st_mode) == 0o600
        assert auditkey.generate(keyfile) == (old, False)  # kept, not replaced
        _events(engine, 2)
        new, _ = auditkey.generate(keyfile, rotate=True)
        _events(engine, 2)
        with engine.connect() as c:
            kids = [
                m.split(":")[0] for m in c.scalars(select(AuditEvent.mac).order_by(AuditEvent.seq))
            ]
        assert kids == [old, old, new, new]
        assert audit.verify(engine).ok
        only_new = auditkey.keyring_of([auditkey.read_key_file(keyfile)[0]])
        rep = audit.verify(engine, keys=only_new)
        assert [(p.row, p.value) for p in rep.problems] == [(1, "1..2")]
        assert rep.problems[0].reason_en.startswith("MAC made with an unknown key")
    finally:
        get_service_settings.cache_clear()


def test_bad_key_settings_are_refused_not_ignored(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KEJIN_AUDIT_KEY", "short")
    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    get_service_settings.cache_clear()
    try:
        with pytest.raises(ValidationError) as e:
            auditkey.current()
        assert e.value.problems[0].field == "audit_key"
        monkeypatch.setenv("KEJIN_AUDIT_KEY", KEY)
        monkeypatch.setenv("KEJIN_AUDIT_KEY_FILE", str(tmp_path / "k"))
        get_service_settings.cache_clear()
        with pytest.raises(ValidationError, match="one place only"):
            auditkey.current()
        monkeypatch.delenv("KEJIN_AUDIT_KEY")
        get_service_settings.cache_clear()
        with pytest.raises(ValidationError, match="cannot read the audit key file"):
            auditkey.current()
    finally:
        get_service_settings.cache_clear()


@pytest.mark.parametrize("with_key", [False, True])
def test_the_audit_page_says_when_its_proof_is_unkeyed(
    with_key: bool, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    from kejin.access.rules import remove_visibility
    from kejin.api import create_app

    from . import world as world_mod
    from .conftest import login

    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("KEJIN_AUDIT_KEY", raising=False)
    if with_key:
        monkeypatch.setenv("KEJIN_AUDIT_KEY", KEY)
    get_service_settings.cache_clear()
    try:
        world_mod.build(engine)
        page = login(create_app(engine, session_key="k"), "gov").get("/audit?check=1").text
        assert 'id="chain-state"' in page and "审计链完好" in page
        assert ('id="chain-unkeyed"' in page) is not with_key
    finally:
        remove_visibility("test_push")
        get_service_settings.cache_clear()
