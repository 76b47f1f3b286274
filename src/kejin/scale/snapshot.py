"""A snapshot of the registry as Parquet: what Spark (or any engine) reads instead of the database.

One directory per table, in parts of at most ``PART_ROWS`` rows, and ``manifest.json`` naming the
schema revision, the time it was taken, each table's row count, each part's SHA-256, and the data
pulls (provenance) its rows came from, so a result computed from the snapshot can say which data
it saw. The platform's tables stay the system of record; a snapshot is read, never written back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, Table

from kejin.access.audit import utcnow
from kejin.access.rules import Rule, add_rules
from kejin.errors import Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.migrate import current_heads, script_heads
from kejin.points.tables import ScoreRun  # noqa: F401  (types the versions' run reference)
from kejin.registry.tables import (
    AnnualIndicator,
    DataPull,
    Enterprise,
    FinancingEvent,
    Qualification,
)
from kejin.stats.tables import LprRate
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

#: The registry tables a batch engine needs (points, whitelist, policy, credit, statistics: the
#: monthly statistics also read the whitelist versions for tiers and the whitelist population,
#: and the published LPR for the rate spread).
TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (
        DataPull, Enterprise, Qualification, AnnualIndicator, FinancingEvent, Institution,
        Product, Loan, LoanStatus, WhitelistVersion, WhitelistEntry, LprRate,
    )
)  # fmt: skip
PART_ROWS = 1_000_000
MANIFEST = "manifest.json"

add_rules([Rule("registry.snapshot", "gov_admin", "region")])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_snapshot(engine: Engine, out: Path, on_table: Any = None) -> dict[str, Any]:
    """Write every table of :data:`TABLES` under ``out`` in one read transaction; return the
    manifest. ``out`` must be empty or absent: a snapshot is never mixed with an older one."""
    refuse_used(out)
    out.mkdir(parents=True, exist_ok=True)
    taken = utcnow()
    tables: dict[str, Any] = {}
    # One consistent view of every table: on PostgreSQL a REPEATABLE READ transaction sees the
    # same commit for all of them while writers go on; the embedded SQLite has no other writer.
    iso = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**iso) as conn, conn.begin():
        for table in TABLES:
            frame = read_frame(conn, table)
            (out / table.name).mkdir()
            parts = [
                write_part(out, table.name, i, part)
                for i, part in enumerate(frame.iter_slices(PART_ROWS) if frame.height else [frame])
            ]
            tables[table.name] = table_entry(frame.columns, parts)
            if on_table:
                on_table(table.name, frame.height)
    return write_manifest(out, taken, sorted(current_heads(engine)), tables)


def refuse_used(out: Path) -> None:
    """A snapshot is never mixed with an older one: ``out`` must be empty or absent."""
    if out.exists() and any(out.iterdir()):
        raise ValidationError(
            "快照目录非空", "the snapshot directory is not empty",
            [Problem("请指定新的或空的目录", "name a new or empty directory", file=str(out))],
        )  # fmt: skip


def write_part(out: Path, name: str, i: int, part: pl.DataFrame) -> dict[str, Any]:
    """Write part ``i`` of table ``name``; its manifest entry (file, rows, SHA-256, pull ids)."""
    p = out / name / f"part-{i:05d}.parquet"
    part.write_parquet(p, statistics=True)
    entry: dict[str, Any] = {"file": f"{name}/{p.name}", "rows": part.height, "sha256": _sha256(p)}
    if "pull_id" in part.columns:
        entry["pull_ids"] = sorted(int(x) for x in part["pull_id"].drop_nulls().unique())
    return entry


def table_entry(columns: list[str], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A table's manifest entry from its parts: rows, columns, parts, the data pulls it holds."""
    entry: dict[str, Any] = {"rows": sum(p["rows"] for p in parts), "columns": columns}
    pulls = {x for p in parts for x in p.pop("pull_ids", [])}
    entry["parts"] = parts
    if "pull_id" in columns:
        entry["pull_ids"] = sorted(pulls)
    return entry


def write_manifest(
    out: Path, taken: Any, heads: list[str], tables: dict[str, Any]
) -> dict[str, Any]:
    """Write ``manifest.json`` last: a directory without it is not a snapshot (a run that
    stopped half-way leaves nothing a reader would take for one)."""
    manifest = {"taken_at": taken.isoformat(), "schema_heads": heads, "tables": tables}
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest


def read_manifest(snapshot: Path) -> dict[str, Any]:
    """The manifest, after checking it is of this kejin's schema version, names every table a
    batch engine reads, and that each part is the file it names (a cut copy, bit rot)."""
    path = snapshot / MANIFEST
    if not path.exists():
        raise ValidationError(
            "不是 kejin 快照目录（缺少 manifest.json）", "not a kejin snapshot (no manifest.json)",
            [Problem("", "", file=str(path))],
        )  # fmt: skip
    manifest = json.loads(path.read_text())
    heads = sorted(script_heads())
    if manifest.get("schema_heads") != heads:
        # A snapshot of another schema version would feed the kernels columns they do not
        # expect (or lack ones they need): refused rather than half-understood.
        raise ValidationError(
            "快照的数据库结构版本与本程序不一致，请用当前版本重新导出快照",
            "the snapshot is of another schema version; export it again with this version",
            [Problem(f"快照为 {manifest.get('schema_heads')}，本程序为 {heads}",
                     f"snapshot at {manifest.get('schema_heads')}, this kejin at {heads}",
                     file=str(path), field="schema_heads")],
        )  # fmt: skip
    absent = [t.name for t in TABLES if t.name not in manifest.get("tables", {})]
    if absent:
        raise ValidationError(
            "快照缺少数据表", "the snapshot lacks tables",
            [Problem("缺少此表", "table missing", file=str(snapshot / n)) for n in absent],
        )  # fmt: skip
    bad = []
    for entry in manifest["tables"].values():
        for part in entry["parts"]:
            f = snapshot / part["file"]
            if not f.exists():
                bad.append(Problem("分片文件缺失", "part missing", file=str(f)))
            elif _sha256(f) != part["sha256"]:
                bad.append(Problem("文件校验和不符", "checksum mismatch", file=str(f)))
    if bad:
        raise ValidationError("快照文件缺失或被改动", "snapshot parts missing or changed", bad)
    return manifest


def table(snapshot: Path, name: str) -> pl.LazyFrame:
    """One table of a verified snapshot, lazily (all its parts)."""
    return pl.scan_parquet(snapshot / name / "*.parquet")
