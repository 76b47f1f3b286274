"""Backups that prove themselves: ``kejin db backup`` and ``kejin db restore``.

A backup nobody has restored is a hope. Beside each dump we keep a manifest of every table's
checksum (row count and a SHA-256 of its rows in primary-key order) taken from exactly the
state the dump holds, and a restore is only called good once the restored database gives the
same checksums and its audit chain verifies.

PostgreSQL: ``pg_dump -Fc`` from the server binaries of the matching major version; the
checksums are computed in a transaction whose snapshot pg_dump imports (``--snapshot``), so
both see the same rows while writers go on. SQLite: the backup API copies a consistent snapshot
in one step and the checksums are taken from that copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from glob import glob
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlalchemy.engine import URL
from sqlalchemy.types import String

from kejin.db import make_engine, normalize_url
from kejin.errors import KejinError, Problem, ValidationError

FORMAT = "kejin-backup-1"
#: Called once per table checksummed, with its name and the number of tables (a progress bar).
Tick = Callable[[str, int], None]


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".manifest.json")


def _refuse(zh: str, en: str, field: str, value: Any = None, file: str | None = None) -> KejinError:
    return ValidationError(zh, en, [Problem(zh, en, file=file, field=field, value=value)])


# ----------------------------------------------------------------------------- checksums


def _plain(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)  # Decimal (exact text), UUID, anything else the driver gives


def _row_bytes(row: Any) -> bytes:
    return (
        json.dumps(list(row), default=_plain, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    )


def table_names(conn: Connection) -> list[str]:
    return sorted(inspect(conn).get_table_names())


def table_checksums(conn: Connection, tick: Tick | None = None) -> dict[str, dict[str, Any]]:
    """Row count and SHA-256 of the rows in primary-key order, for every table of ``conn``.

    Raw driver values are hashed (no type processing), so the same database on the same kind of
    server always gives the same digest. Text keys are ordered by bytes (``COLLATE "C"`` on
    PostgreSQL): a restored database created with another locale orders alike.
    """
    q = conn.dialect.identifier_preparer.quote
    pg = conn.dialect.name == "postgresql"
    insp = inspect(conn)
    out: dict[str, dict[str, Any]] = {}
    names = table_names(conn)
    for name in names:
        cols = insp.get_columns(name)
        pk = insp.get_pk_constraint(name).get("constrained_columns") or [c["name"] for c in cols]
        types = {c["name"]: c["type"] for c in cols}
        order = ", ".join(
            q(c) + (' COLLATE "C"' if pg and isinstance(types[c], String) else "") for c in pk
        )
        sql = f"SELECT {', '.join(q(c['name']) for c in cols)} FROM {q(name)} ORDER BY {order}"
        h, n = hashlib.sha256(), 0
        for row in conn.exec_driver_sql(sql).yield_per(5000):
            h.update(_row_bytes(row))
            n += 1
        out[name] = {"rows": n, "sha256": h.hexdigest()}
        if tick is not None:
            tick(name, len(names))
    return out


def compare(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[Problem]:
    """Every table whose checksum differs, is missing or was not there at backup time."""
    out = []
    for name in sorted(expected.keys() | got.keys()):
        e, g = expected.get(name), got.get(name)
        if e == g:
            continue
        if g is None:
            zh, en, v = "恢复后缺少此表", "table missing after restore", None
        elif e is None:
            zh, en, v = "恢复后多出此表", "table not in the backup", g["rows"]
        elif e["rows"] != g["rows"]:
            zh, en = f"行数不符（备份时{e['rows']}行）", f"row count differs (backup: {e['rows']})"
            v = g["rows"]
        else:
            zh, en, v = "内容校验和不符", "content checksum differs", g["sha256"]
        out.append(Problem(zh, en, file=name, field="checksum", value=v))
    return out


def _audit_head(conn: Connection) -> dict[str, Any] | None:
    if "audit_events" not in table_names(conn):
        return None
    row = conn.exec_driver_sql(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).first()
    return {"seq": row[0], "hash": row[1]} if row else {"seq": 0, "hash": None}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- PostgreSQL tools


def _major(version_text: str) -> int | None:
    m = re.search(r"(\d+)(?:\.\d+)?", version_text)
    return int(m.group(1)) if m else None


def pg_tool(name: str, server_major: int) -> Path:
    """``pg_dump`` or ``pg_restore`` able to handle a server of ``server_major``.

    The Debian layout keeps each version's binaries in /usr/lib/postgresql/<major>/bin: the same
    major as the server is taken, else the oldest newer one (a newer pg_dump reads older servers,
    an older one refuses newer ones), else the one on PATH if its version fits.
    """
    found: dict[int, Path] = {}
    for p in glob(f"/usr/lib/postgresql/*/bin/{name}"):
        m = _major(Path(p).parent.parent.name)
        if m is not None:
            found[m] = Path(p)
    on_path = shutil.which(name)
    if on_path:
        out = subprocess.run([on_path, "--version"], capture_output=True, text=True).stdout
        m = _major(out.rpartition(")")[2] or out)
        if m is not None:
            found.setdefault(m, Path(on_path))
    fits = sorted(m for m in found if m >= server_major)
    if not fits:
        raise _refuse(
            f"找不到适用于 PostgreSQL {server_major} 的 {name}（请安装 postgresql-client-{server_major}）",
            f"no {name} for PostgreSQL {server_major} (install postgresql-client-{server_major})",
            name,
            sorted(found),
        )
    return found[fits[0]]


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI for the tools and their environment: the password goes through PGPASSWORD,
    never the command line (which any user of the machine can read in ``ps``)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # ``URL.set`` ignores None: the password is dropped with the named tuple's ``_replace``.
    bare = url._replace(drivername="postgresql", password=None)
    return bare.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: tuple[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise _refuse(
            f"{what[0]}失败", f"{what[1]} failed", Path(cmd[0]).name, proc.stderr.strip()[-2000:]
        )


def _server_major(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


# ----------------------------------------------------------------------------- backup


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise _refuse("内存数据库无法备份", "an in-memory database cannot be backed up", "url")
    return Path(url.database)


def _backup_pg(engine: Engine, tmp: Path, tick: Tick | None) -> dict[str, Any]:
    dsn, env = _libpq(engine.url)
    rr = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with rr as conn, conn.begin():
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        tool = pg_tool("pg_dump", _server_major(conn))
        cmd = [str(tool), "-Fc", f"--snapshot={snapshot}", "-f", str(tmp), "-d", dsn]
        # pg_dump runs while this transaction (the snapshot's owner) stays open.
        dump = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            sums = table_checksums(conn, tick)
            head = _audit_head(conn)
            version = conn.exec_driver_sql("SHOW server_version").scalar_one()
        finally:
            _, err = dump.communicate()
    if dump.returncode != 0:
        raise _refuse("pg_dump 失败", "pg_dump failed", "pg_dump", err.strip()[-2000:])
    return {"tables": sums, "audit_head": head, "server_version": version, "tool": str(tool)}


def _backup_sqlite(engine: Engine, tmp: Path, tick: Tick | None) -> dict[str, Any]:
    src = sqlite3.connect(_sqlite_path(engine.url))
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)  # every page in one step: one consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
    finally:
        dst.close()
        src.close()
    copy = create_engine(f"sqlite:///{tmp}")  # no pragmas: reading must not change the file
    try:
        with copy.connect() as conn:
            sums = table_checksums(conn, tick)
            head = _audit_head(conn)
    finally:
        copy.dispose()
    return {"tables": sums, "audit_head": head, "server_version": sqlite3.sqlite_version}


def backup(engine: Engine, out: Path, tick: Tick | None = None) -> dict[str, Any]:
    """Write the dump to ``out`` and its manifest beside it; return the manifest.

    Written to a temporary name and renamed only once complete, so a failed backup never leaves
    a file that looks like a good one. An existing ``out`` is never overwritten.
    """
    if out.exists() or manifest_path(out).exists():
        raise _refuse(
            "备份文件已存在，不会覆盖", "backup file exists: not overwritten", "out", str(out)
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    dialect = engine.dialect.name
    try:
        body = (_backup_pg if dialect == "postgresql" else _backup_sqlite)(engine, tmp, tick)
        manifest = {
            "format": FORMAT,
            "dialect": dialect,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": engine.url.render_as_string(hide_password=True),
            "dump": out.name,
            "dump_sha256": _sha256_file(tmp),
            **body,
        }
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    with open(manifest_path(out), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return manifest


# ----------------------------------------------------------------------------- restore


@dataclass
class RestoreReport:
    """What ``kejin db restore`` proves: the tables match the backup, and the chain verifies."""

    tables: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    audit: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and (self.audit is None or self.audit["ok"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tables": self.tables,
            "rows": self.rows,
            "problems": [p.to_dict() for p in self.problems],
            "audit": self.audit,
        }


def read_manifest(dump: Path) -> dict[str, Any]:
    path = manifest_path(dump)
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise _refuse(
            "找不到或无法读取备份清单",
            "backup manifest missing or unreadable",
            "manifest",
            file=str(path),
        ) from None
    if m.get("format") != FORMAT:
        raise _refuse(
            "备份清单格式不符", "not a kejin backup manifest", "format", m.get("format"), str(path)
        )
    return m


def _restore_pg(dump: Path, engine: Engine) -> None:
    with engine.connect() as conn:
        tool = pg_tool("pg_restore", _server_major(conn))
    dsn, env = _libpq(engine.url)
    cmd = [str(tool), "--exit-on-error", "--single-transaction", "--no-owner", "-d", dsn, str(dump)]
    _run(cmd, env, ("pg_restore 恢复", "pg_restore"))


def _restore_sqlite(dump: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def restore(
    dump: Path, into: str, tick: Tick | None = None, step: Callable[[str], None] | None = None
) -> RestoreReport:
    """Restore ``dump`` into the empty database at ``into``, then prove it against the manifest.

    ``step`` is told each stage's name (zh / en) for a progress display.
    """
    say = step or (lambda _: None)
    m = read_manifest(dump)
    say("校验备份文件 / checking the dump")
    if _sha256_file(dump) != m["dump_sha256"]:
        raise _refuse(
            "备份文件已损坏或被改动",
            "dump damaged or altered: its SHA-256 differs",
            "dump_sha256",
            file=str(dump),
        )
    engine = make_engine(normalize_url(into))
    try:
        if engine.dialect.name != m["dialect"]:
            raise _refuse(
                f"备份来自 {m['dialect']}，不能恢复到 {engine.dialect.name}",
                f"the backup is of {m['dialect']}: it cannot be restored into {engine.dialect.name}",
                "into",
                engine.url.render_as_string(hide_password=True),
            )
        with engine.connect() as conn:
            existing = table_names(conn)
        if existing:
            raise _refuse(
                "目标数据库不为空，只能恢复到新建的空库",
                "the target database is not empty: restore only into a fresh database",
                "into",
                ", ".join(existing[:5]),
            )
        say("恢复数据 / restoring")
        if m["dialect"] == "postgresql":
            _restore_pg(dump, engine)
        else:
            engine.dispose()
            _restore_sqlite(dump, _sqlite_path(engine.url))
        say("比对校验和 / comparing checksums")
        with engine.connect() as conn:
            got = table_checksums(conn, tick)
        rep = RestoreReport(tables=len(got), rows=sum(t["rows"] for t in got.values()))
        rep.problems = compare(m["tables"], got)
        if m.get("audit_head") is not None:
            say("校验审计链 / verifying the audit chain")
            rep.audit = _verify_audit(engine, m["audit_head"])
        return rep
    finally:
        engine.dispose()


def _verify_audit(engine: Engine, head: dict[str, Any]) -> dict[str, Any]:
    """The restored chain must verify and end at the head it had at backup time."""
    from kejin.access.audit import verify

    return verify(engine, expect_head=head["hash"] if head["seq"] else None).to_dict()
