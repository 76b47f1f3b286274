"""``kejin db backup`` / ``kejin db restore``: a populated database restored into a fresh one
gives the same table checksums and an audit chain that verifies, under its key and to its head.

SQLite always; PostgreSQL (pg_dump / pg_restore of the server's version) when configured.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from kejin import backup
from kejin.access import audit
from kejin.access.settings import get_service_settings
from kejin.access.tables import AuditEvent
from kejin.db import make_engine
from kejin.errors import ValidationError
from kejin.fund import service as fund
from kejin.fund.ledger import Actor

from .fundworld import POOL, build_fund

KEY = "backup-test-key-" + "0123456789abcdef" * 2


@pytest.fixture
def fresh(engine: Engine, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes URLs of new, empty databases of the same kind as ``engine``; drops them after."""
    made: list[str] = []
    server = engine.url

    def make() -> str:
        name = f"kejin_restore_{uuid.uuid4().hex[:8]}"
        if engine.dialect.name == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        with make_engine(
            server.render_as_string(False), isolation_level="AUTOCOMMIT"
        ).connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return server.set(database=name).render_as_string(False)

    yield make
    if made:
        admin = make_engine(server.render_as_string(False), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            for name in made:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("KEJIN_AUDIT_KEY_FILE", raising=False)
    monkeypatch.setenv("KEJIN_AUDIT_KEY", KEY)
    get_service_settings.cache_clear()
    yield
    get_service_settings.cache_clear()


def _populate(engine: Engine) -> None:
    """Users, consents and tokens (the world), then a fund claim filed, reviewed, approved, paid."""
    claim = build_fund(engine, claims=True)["claim_BKA_own"]
    today = date.today()
    fund.review(engine, claim, True, Actor("reviewer", today, "材料齐全"), "b:review")
    fund.approve(engine, claim, True, Actor("approver", today, "同意"), "b:approve")
    fund.pay(engine, POOL, claim, Actor("payer", today, "拨付"), "b:pay")


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    from kejin import cli

    monkeypatch.setattr(cli, "get_engine", lambda: engine)
    return CliRunner().invoke(cli.app, list(args))


def test_backup_restores_into_a_fresh_database_and_proves_it(
    keyed, engine: Engine, world, fresh, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _populate(engine)
    with engine.connect() as c:
        events = c.scalar(select(func.count()).select_from(AuditEvent))
        source = backup.table_checksums(c)
    assert events and source["fund_claims"]["rows"] == 2 and source["users"]["rows"] > 3
    assert source["consents"]["rows"] and source["fund_postings"]["rows"]
    dump = tmp_path / "backups" / "kejin.dump"
    res = _cli(engine, monkeypatch, "db", "backup", "--out", str(dump), "--quiet")
    assert res.exit_code == 0, res.output
    manifest = json.loads(backup.manifest_path(dump).read_text())
    assert manifest["tables"] == source  # the manifest is the source as it was backed up
    assert manifest["audit_head"]["seq"] == events

    target = fresh()
    res = _cli(
        engine, monkeypatch, "db", "restore", str(dump), "--into", target, "--json", "--quiet"
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["ok"] and rep["problems"] == [] and rep["tables"] == len(source)
    assert rep["audit"]["ok"] and rep["audit"]["keyed"] and rep["audit"]["events"] == events
    restored = make_engine(target)
    try:
        with restored.connect() as c:
            assert backup.table_checksums(c) == source
        assert audit.verify(restored).ok
        with pytest.raises(DBAPIError), restored.begin() as c:  # still append-only
            c.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 1"))
    finally:
        restored.dispose()


def test_restore_refuses_a_damaged_dump_and_a_used_target_and_reports_differences(
    engine: Engine, world, fresh, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dump = tmp_path / "kejin.dump"
    backup.backup(engine, dump)
    with pytest.raises(ValidationError, match="backup file exists"):
        backup.backup(engine, dump)
    with pytest.raises(ValidationError, match="not empty"):
        backup.restore(dump, engine.url.render_as_string(False))
    # The manifest says one more user than the dump holds: the restore must notice.
    path = backup.manifest_path(dump)
    m = json.loads(path.read_text())
    m["tables"]["users"]["rows"] += 1
    path.write_text(json.dumps(m))
    rep = backup.restore(dump, fresh())
    assert not rep.ok
    assert [(p.file, p.field) for p in rep.problems] == [("users", "checksum")]
    # A dump changed after the backup is refused before anything is restored.
    with open(dump, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValidationError, match="damaged or altered"):
        backup.restore(dump, fresh())


def test_pg_tool_takes_the_servers_major_version() -> None:
    from glob import glob

    majors = sorted(
        int(Path(p).parent.parent.name) for p in glob("/usr/lib/postgresql/*/bin/pg_dump")
    )
    if not majors:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    assert backup.pg_tool("pg_dump", majors[0]).parent.parent.name == str(majors[0])
    with pytest.raises(ValidationError, match="postgresql-client-99"):
        backup.pg_tool("pg_dump", 99)


def test_the_password_never_reaches_the_command_line() -> None:
    dsn, env = backup._libpq(make_url("postgresql+psycopg://u:s3cret@db:5433/x?sslmode=require"))
    assert "s3cret" not in dsn and env["PGPASSWORD"] == "s3cret"
    assert dsn == "postgresql://u@db:5433/x?sslmode=require"
