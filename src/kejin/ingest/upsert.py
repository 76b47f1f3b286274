"""Write a validated file in one transaction: insert new rows, update changed values, skip the rest.

Rows are matched on the kind's natural key. A blank cell means "not supplied" and never erases a
stored value, so a department that reports only some figures cannot wipe another's. Changed rows
get the new pull as provenance (``pull_id``; for annual indicators ``<field>_pull`` only on the
fields whose value changed or was first set). When nothing would change, no pull is recorded at
all: importing the same file twice leaves the database byte-for-byte as it was.

Everything is set-based: inserts go through :func:`kejin.frames.write_frame` (COPY/executemany),
updates are staged into a temporary table and applied with one ``UPDATE … FROM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, text
from sqlalchemy.sql.sqltypes import Enum

from kejin.frames import read_frame, write_frame
from kejin.ingest.kinds import KindSpec
from kejin.ingest.read import ROW
from kejin.ingest.validate import Validated
from kejin.registry.tables import DataPull

STAGE = "kejin_ingest_stage"


@dataclass
class Outcome:
    """What an import did (or, for a dry run, would do)."""

    kind: str
    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    pull_id: int | None
    dry_run: bool

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _pull_col(spec: KindSpec, col: str) -> str:
    return f"{col}_pull" if spec.field_provenance else "pull_id"


def diff(conn: Connection, v: Validated) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split the file into rows to insert, per-field changes to apply, and an unchanged count.

    The update frame holds the key and, per value column, the new value where it changed and
    null elsewhere (so ``COALESCE`` leaves the other fields alone).
    """
    spec = v.spec
    key = list(spec.key)
    values = [c for c in v.present if c not in key]
    new = v.frame.drop(ROW)
    old = read_frame(conn, spec.table, key + values)
    old = old.rename({c: f"{c}__old" for c in values}).with_columns(pl.lit(True).alias("__exists"))
    joined = new.join(old, on=key, how="left", maintain_order="left")
    inserts = joined.filter(pl.col("__exists").is_null()).select(key + values)
    matched = joined.filter(pl.col("__exists").is_not_null())
    changed = {
        c: pl.col(c).is_not_null()
        & (pl.col(f"{c}__old").is_null() | (pl.col(c) != pl.col(f"{c}__old")))
        for c in values
    }
    any_changed = pl.any_horizontal(list(changed.values())) if values else pl.lit(False)
    updates = matched.filter(any_changed).select(
        *key, *[pl.when(changed[c]).then(pl.col(c)).alias(c) for c in values]
    )
    return inserts, updates, matched.height - updates.height


def _with_defaults(spec: KindSpec, df: pl.DataFrame) -> pl.DataFrame:
    """Fill omitted or blank cells with the table's defaults (COPY bypasses Python defaults)."""
    extra = []
    for c in spec.columns:
        if c.default is None or not c.default.is_scalar:
            continue
        fill = pl.lit(c.default.arg)
        extra.append(
            (pl.col(c.name).fill_null(fill) if c.name in df.columns else fill).alias(c.name)
        )
    return df.with_columns(extra) if extra else df


def _provenance(spec: KindSpec, df: pl.DataFrame, values: list[str], pull_id: int) -> pl.DataFrame:
    if spec.field_provenance:
        return df.with_columns(
            pl.when(pl.col(c).is_not_null()).then(pl.lit(pull_id)).alias(f"{c}_pull")
            for c in values
        )
    return df.with_columns(pl.lit(pull_id).alias("pull_id"))


def _stage_table(spec: KindSpec, columns: list[str]) -> Table:
    cols = []
    for name in columns:
        src = spec.table.columns.get(name)
        if src is None:
            typ = Integer()
        elif isinstance(src.type, Enum):
            typ = String(src.type.length)
        else:
            typ = src.type
        cols.append(Column(name, typ))
    return Table(STAGE, MetaData(), *cols, prefixes=["TEMPORARY"])


def _apply_updates(conn: Connection, spec: KindSpec, updates: pl.DataFrame) -> None:
    stage = _stage_table(spec, updates.columns)
    conn.execute(text(f'DROP TABLE IF EXISTS "{STAGE}"'))
    stage.create(conn)
    write_frame(conn, stage, updates)
    target = spec.table.name
    key = set(spec.key)
    sets = ", ".join(
        f'"{c}" = COALESCE(s."{c}", "{target}"."{c}")' for c in updates.columns if c not in key
    )
    match = " AND ".join(f'"{target}"."{k}" = s."{k}"' for k in spec.key)
    conn.execute(text(f'UPDATE "{target}" SET {sets} FROM "{STAGE}" AS s WHERE {match}'))
    conn.execute(text(f'DROP TABLE "{STAGE}"'))


def upsert(
    conn: Connection,
    v: Validated,
    department: str,
    pulled_at: datetime | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Apply a validated file inside the caller's transaction and say what changed."""
    spec = v.spec
    inserts, updates, unchanged = diff(conn, v)
    outcome = Outcome(
        spec.name,
        v.file.name,
        v.frame.height,
        inserts.height,
        updates.height,
        unchanged,
        None,
        dry_run,
    )
    if dry_run or (inserts.height == 0 and updates.height == 0):
        return outcome
    now = datetime.now(UTC).replace(tzinfo=None)
    result = conn.execute(
        insert(DataPull.__table__).values(
            kind=spec.name,
            department=department,
            pulled_at=pulled_at or now,
            file_name=v.file.name,
            file_sha256=v.file.sha256,
            loaded_at=now,
            rows_inserted=inserts.height,
            rows_updated=updates.height,
            rows_unchanged=unchanged,
        )
    )
    pull_id = int(result.inserted_primary_key[0])
    outcome.pull_id = pull_id
    values = [c for c in v.present if c not in spec.key]
    if inserts.height:
        write_frame(
            conn, spec.table, _provenance(spec, _with_defaults(spec, inserts), values, pull_id)
        )
    if updates.height:
        _apply_updates(conn, spec, _provenance(spec, updates, values, pull_id))
    return outcome
