"""Temporary tables for set-based work, and reading only the stored rows a file touches.

A correction file of a thousand rows must not read a million-row table into memory, so when the
file is small beside the table its keys are staged into a temporary table and only matching rows
are read; when the file is about as large as the table, reading the whole table is cheaper.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.sql.sqltypes import Enum

from kejin.frames import read_frame, write_frame
from kejin.ingest.kinds import KindSpec

KEYS = "kejin_ingest_keys"
#: Stage the keys when the table holds more than this many rows per row of the file.
_SELECTIVE = 4


def stage_table(spec: KindSpec, columns: list[str], name: str) -> Table:
    """A temporary table with the target's column types (enums as plain text, ints for pulls)."""
    cols = []
    for col in columns:
        src = spec.table.columns.get(col)
        if src is None:
            typ = Integer()
        elif isinstance(src.type, Enum):
            typ = String(src.type.length)
        else:
            typ = src.type
        cols.append(Column(col, typ))
    return Table(name, MetaData(), *cols, prefixes=["TEMPORARY"])


def create_stage(conn: Connection, spec: KindSpec, frame: pl.DataFrame, name: str) -> Table:
    table = stage_table(spec, frame.columns, name)
    conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    table.create(conn)
    write_frame(conn, table, frame)
    return table


def existing(
    conn: Connection, spec: KindSpec, keys: pl.DataFrame, columns: list[str]
) -> pl.DataFrame:
    """Stored rows (``columns``, which include the key) whose key appears in ``keys``."""
    target = spec.table
    stored = conn.scalar(select(func.count()).select_from(target)) or 0
    if stored <= _SELECTIVE * max(keys.height, 1):
        return read_frame(conn, target, columns)
    create_stage(conn, spec, keys.select(spec.key).unique(), KEYS)
    match = " AND ".join(f'k."{k}" = "{target.name}"."{k}"' for k in spec.key)
    try:
        return read_frame(
            conn, target, columns, where=f'EXISTS (SELECT 1 FROM "{KEYS}" AS k WHERE {match})'
        )
    finally:
        conn.execute(text(f'DROP TABLE "{KEYS}"'))
