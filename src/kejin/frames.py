"""The analytic path: whole tables in and out of Polars frames, in bulk.

Batch work (scoring a region, generating one, importing a million rows) must not go row by row
through the ORM. Writes use PostgreSQL ``COPY`` and SQLite ``executemany``; reads use ``COPY TO``
and a plain cursor. Column types follow the SQLAlchemy table, so money is ``Decimal(18,2)`` in
every frame whichever database it came from (SQLite stores it as scaled integers, see
:class:`kejin.db.FixedDecimal`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex
from sqlalchemy.sql.sqltypes import JSON, Enum, String

from kejin.db import FixedDecimal
from kejin.errors import Problem, ValidationError

_CHUNK = 200_000


def polars_dtype(col_type: object) -> pl.DataType:
    """The frame dtype for a column type; FixedDecimal first since it wraps Numeric."""
    if isinstance(col_type, FixedDecimal):
        return pl.Decimal(col_type.precision, col_type.scale)
    if isinstance(col_type, Boolean):
        return pl.Boolean()
    if isinstance(col_type, Integer):
        return pl.Int64()
    if isinstance(col_type, Float):
        return pl.Float64()
    if isinstance(col_type, DateTime):
        return pl.Datetime("us")
    if isinstance(col_type, Date):
        return pl.Date()
    if isinstance(col_type, (String, Enum)):
        return pl.String()
    if isinstance(col_type, JSON):  # written as its JSON text (a bulk load of generated rows)
        return pl.String()
    raise TypeError(f"no frame dtype for column type {col_type!r}")


def table_schema(table: Table, columns: Sequence[str] | None = None) -> dict[str, pl.DataType]:
    names = columns or [c.name for c in table.columns]
    return {n: polars_dtype(table.columns[n].type) for n in names}


def conform(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Cast a frame to the table's dtypes, refusing columns the table does not have."""
    unknown = [c for c in df.columns if c not in table.columns]
    if unknown:
        raise KeyError(f"{table.name} has no column(s) {unknown}")
    schema = table_schema(table, df.columns)
    return df.select(pl.col(c).cast(t, strict=True) for c, t in schema.items())


def _sqlite_ready(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Encode as SQLAlchemy stores values on SQLite: scaled ints, ISO text dates, 0/1."""
    exprs = []
    for c in df.columns:
        t = table.columns[c].type
        if isinstance(t, FixedDecimal):
            exprs.append((pl.col(c) * (10**t.scale)).cast(pl.Int64))
        elif isinstance(t, DateTime):
            exprs.append(pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S.%6f"))
        elif isinstance(t, Date):
            exprs.append(pl.col(c).cast(pl.String))
        elif isinstance(t, Boolean):
            exprs.append(pl.col(c).cast(pl.Int64))
        else:
            exprs.append(pl.col(c))
    return df.select(exprs)


def write_frame(
    conn: Connection,
    table: Table,
    df: pl.DataFrame,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Append every row of ``df`` to ``table`` inside the caller's transaction; returns rows written.

    The caller owns the transaction, so an import or a generation run is all-or-nothing.
    ``on_chunk(rows)`` is called after each chunk of up to 200,000 rows, for progress bars.
    """
    if df.height == 0:
        return 0
    df = conform(df, table)
    cols = df.columns
    quoted = ", ".join(f'"{c}"' for c in cols)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT csv)'
        with dbapi.cursor() as cur, cur.copy(sql) as copy:
            for start in range(0, df.height, _CHUNK):
                buf = df.slice(start, _CHUNK).write_csv(
                    include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.6f"
                )
                copy.write(buf)
                if on_chunk:
                    on_chunk(min(_CHUNK, df.height - start))
        return df.height
    if conn.dialect.name == "sqlite":
        enc = _sqlite_ready(df, table)
        # An integer column holding one value in every row (a provenance pull id, a year) is
        # written as a literal in the statement rather than bound per row: on the indicator
        # table that halves the Python work, which is most of the cost of executemany.
        consts = {
            c: enc[c][0]
            for c in cols
            if enc[c].dtype == pl.Int64 and enc[c].null_count() == 0 and enc[c].n_unique() == 1
        }
        bound = [c for c in cols if c not in consts]
        marks = ", ".join(str(int(consts[c])) if c in consts else "?" for c in cols)
        sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'
        enc = enc.select(bound)
        cur = dbapi.cursor()
        try:
            for start in range(0, enc.height, _CHUNK):
                cur.executemany(sql, enc.slice(start, _CHUNK).iter_rows())
                if on_chunk:
                    on_chunk(min(_CHUNK, enc.height - start))
        finally:
            cur.close()
        return df.height
    raise NotImplementedError(f"bulk write for {conn.dialect.name}")


def read_frame(
    conn: Connection,
    table: Table,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    *,
    few: bool = False,
) -> pl.DataFrame:
    """Read a table (optionally some columns, optionally filtered by a SQL condition) as a frame.

    ``where`` is trusted SQL written by kejin code, never user text. ``few`` says the condition
    selects a handful of rows (one firm's): on PostgreSQL those are fetched as typed rows, since
    COPY's CSV round trip costs about a millisecond a table whatever its size — a third of a
    credit decision's time when it was used for one firm.
    """
    names = list(columns or [c.name for c in table.columns])
    schema = table_schema(table, names)
    quoted = ", ".join(f'"{c}"' for c in names)
    sql = f'SELECT {quoted} FROM "{table.name}"' + (f" WHERE {where}" if where else "")
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and few:
        with dbapi.cursor() as cur:
            cur.execute(sql)
            return pl.DataFrame(cur.fetchall(), schema=schema, orient="row")
    if conn.dialect.name == "postgresql":
        buf = io.BytesIO()
        with (
            dbapi.cursor() as cur,
            cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)") as copy,
        ):
            for block in copy:
                buf.write(block)
        if buf.tell() == 0:
            return pl.DataFrame(schema=schema)
        buf.seek(0)
        raw = pl.read_csv(
            buf,
            schema_overrides={
                c: (pl.String if isinstance(t, (pl.Boolean, pl.Datetime)) else t)
                for c, t in schema.items()
            },
        )
        return raw.select(
            (pl.col(c) == "t").alias(c)
            if isinstance(t, pl.Boolean)
            else pl.col(c).str.to_datetime(time_unit="us").alias(c)
            if isinstance(t, pl.Datetime)
            else pl.col(c)
            for c, t in schema.items()
        )
    if conn.dialect.name == "sqlite":
        raw_schema = {}
        for c, t in schema.items():
            col_t = table.columns[c].type
            if isinstance(col_t, FixedDecimal) or isinstance(t, pl.Boolean):
                raw_schema[c] = pl.Int64()
            elif isinstance(t, (pl.Date, pl.Datetime)):
                raw_schema[c] = pl.String()
            else:
                raw_schema[c] = t
        cur = dbapi.cursor()
        try:
            cur.execute(sql)
            parts = []
            while rows := cur.fetchmany(_CHUNK):
                parts.append(pl.DataFrame(rows, schema=raw_schema, orient="row"))
        finally:
            cur.close()
        raw = pl.concat(parts) if parts else pl.DataFrame(schema=raw_schema)
        out = []
        for c, t in schema.items():
            col_t = table.columns[c].type
            if isinstance(col_t, FixedDecimal):
                out.append(
                    (
                        pl.col(c).cast(pl.Decimal(38, 0)).cast(pl.Decimal(38, col_t.scale))
                        / pl.lit(10**col_t.scale).cast(pl.Decimal(38, 0))
                    )
                    .cast(t)
                    .alias(c)
                )
            elif isinstance(t, pl.Boolean):
                out.append(pl.col(c).cast(pl.Boolean))
            elif isinstance(t, pl.Datetime):
                out.append(pl.col(c).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us"))
            elif isinstance(t, pl.Date):
                out.append(pl.col(c).str.to_date("%Y-%m-%d"))
            else:
                out.append(pl.col(c))
        return raw.select(out)
    raise NotImplementedError(f"bulk read for {conn.dialect.name}")


def _reset_sequences(conn: Connection, table: Table) -> None:
    """After explicit ids were copied in, move PostgreSQL's serial past them."""
    col = table.autoincrement_column  # None for text keys and composite keys
    if col is None:
        return
    conn.exec_driver_sql(
        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{col.name}'), "
        f'COALESCE((SELECT MAX("{col.name}") FROM "{table.name}"), 0) + 1, false)'
    )


class BulkLoader:
    """One all-or-nothing bulk load: SQL statements and whole frames in a single transaction.

    Obtain it from :func:`bulk_transaction`. Frames go through :func:`write_frame` (PostgreSQL
    ``COPY``; SQLite ``executemany``) on the transaction's connection.

    SQLite is written through the same ``sqlite3`` connection as everything else on purpose:
    a second SQLite library in the process (ADBC's bundled one was tried, and binds Arrow
    columns about twice as fast) corrupts a WAL database, because POSIX locks are per process
    and closing one library's file handle drops the other's locks.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.written: list[Table] = []

    def execute(self, sql: str) -> None:
        """Run one trusted SQL statement written by kejin code (never user text)."""
        self.conn.exec_driver_sql(sql)

    def first(self, sql: str) -> tuple[Any, ...] | None:
        row = self.conn.exec_driver_sql(sql).first()
        return tuple(row) if row is not None else None

    def write(
        self, table: Table, df: pl.DataFrame, on_chunk: Callable[[int], None] | None = None
    ) -> int:
        """Append the frame's rows to the table."""
        if table not in self.written:
            self.written.append(table)
        return write_frame(self.conn, table, df, on_chunk)

    def verify(self) -> None:
        """Check, in one pass per table, the constraints SQLite was told to skip row by row.

        Raises :class:`kejin.errors.ValidationError` naming every violated CHECK constraint and
        foreign key, so the transaction rolls back exactly as if SQLite had refused the row.
        """
        tables, self.written = self.written, []
        if self.dialect != "sqlite":
            return
        problems = []
        dialect = sqlite.dialect()
        for table in tables:
            # One scan per table counts the violations of every CHECK at once (a row violates
            # a CHECK when it is false, not when it is null; NOT(...) is null then and sums
            # as nothing).
            checks = [ck for ck in table.constraints if isinstance(ck, CheckConstraint)]
            if checks:
                sums = ", ".join(
                    "SUM(NOT ({}))".format(
                        ck.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
                    )
                    for ck in checks
                )
                counts = self.first(f'SELECT {sums} FROM "{table.name}"') or ()
                for ck, bad in zip(checks, counts, strict=True):
                    if bad:
                        problems.append(
                            Problem(
                                f"{bad}行违反约束 {ck.name}",
                                f"{bad} row(s) violate {ck.name}",
                                file=table.name,
                            )
                        )
            orphans = self.conn.exec_driver_sql(f'PRAGMA foreign_key_check("{table.name}")').all()
            if orphans:
                problems.append(
                    Problem(
                        f"{len(orphans)}行的外键引用不存在（如 {orphans[0][2]}）",
                        f"{len(orphans)} row(s) reference missing rows (e.g. in {orphans[0][2]})",
                        file=table.name,
                    )
                )
        if problems:
            raise ValidationError(
                "批量写入违反数据库约束", "bulk load violates constraints", problems
            )

    def load(
        self,
        items: Sequence[tuple[Table, pl.DataFrame]],
        on_table: Callable[[str, int, float], None] | None = None,
        on_rows: Callable[[str, int], None] | None = None,
    ) -> dict[str, int]:
        """Append several frames, parents first; ``on_table(name, rows, seconds)`` after each.

        On PostgreSQL the secondary indexes and foreign keys of the loaded tables are dropped
        first and rebuilt at the end, inside the same transaction: building an index from
        sorted data, and checking a foreign key with one join, is cheaper than maintaining them
        row by row, and a violated key still aborts the whole load. (On SQLite, measured, it
        gained nothing once rows arrive in key order, so indexes stay.)
        """
        dialect = postgresql.dialect() if self.dialect == "postgresql" else sqlite.dialect()
        tables = [t for t, _ in items]
        indexes = [i for t in tables for i in t.indexes if self.dialect == "postgresql"]
        fks = [
            fk for t in tables for fk in t.foreign_key_constraints if self.dialect == "postgresql"
        ]
        if self.dialect == "postgresql":  # room to sort in memory when indexes are rebuilt
            self.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for fk in fks:
            self.execute(str(DropConstraint(fk).compile(dialect=dialect)))
        for ix in indexes:
            self.execute(str(DropIndex(ix).compile(dialect=dialect)))
        written = {}
        for table, df in items:
            t0 = time.perf_counter()
            chunk = (lambda rows, name=table.name: on_rows(name, rows)) if on_rows else None
            written[table.name] = self.write(table, df, chunk)
            if on_table:
                on_table(table.name, written[table.name], time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.verify()
        for ix in indexes:
            self.execute(str(CreateIndex(ix).compile(dialect=dialect)))
        for fk in fks:
            self.execute(str(AddConstraint(fk).compile(dialect=dialect)))
        if self.dialect == "postgresql":
            for table in tables:
                _reset_sequences(self.conn, table)
        if on_table:
            on_table("constraints and indexes", 0, time.perf_counter() - t0)
        return written


@contextmanager
def bulk_transaction(engine: Engine) -> Iterator[BulkLoader]:
    """A :class:`BulkLoader` whose work is committed on success and rolled back on any error.

    On SQLite, per-row CHECK and foreign-key enforcement is switched off for the load (it was
    about 40% of the load's CPU time on a million firms) and replaced by one verification
    query per table before the commit (:meth:`BulkLoader.verify`); the connection also gets a
    1 GB page cache. Every setting is restored before the connection goes back to the pool.
    """
    with engine.connect() as conn:
        sqlite_db = conn.dialect.name == "sqlite"
        if sqlite_db:  # these pragmas only take effect outside a transaction
            for pragma in _SQLITE_LOAD:
                conn.exec_driver_sql(pragma)
            conn.commit()
        try:
            with conn.begin():
                loader = BulkLoader(conn)
                yield loader
                loader.verify()
        finally:
            if sqlite_db:
                for pragma in _SQLITE_RESTORE:
                    conn.exec_driver_sql(pragma)
                conn.commit()


_SQLITE_LOAD = (
    "PRAGMA foreign_keys=OFF",
    "PRAGMA ignore_check_constraints=ON",
    "PRAGMA cache_size=-1000000",
)
_SQLITE_RESTORE = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA ignore_check_constraints=OFF",
    "PRAGMA cache_size=-2000",
)
