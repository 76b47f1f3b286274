"""Import throughput: ``kejin import indicators`` on a 1M-row file vs a naive row-by-row ORM insert.

Both run in this process on the same generated data, on SQLite and (when ``KEJIN_BENCH_PG_URL``
or ``KEJIN_TEST_DATABASE_URL`` is set) on a scratch PostgreSQL database created and dropped here.
The naive peer (``session.add`` per row, one commit at the end) runs on a prefix of the file,
because at its speed the full file would take many minutes; both figures are rows per second.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import kejin.models  # noqa: F401  (every table on the metadata)
from kejin.db import make_engine, normalize_url, session_factory
from kejin.frames import write_frame
from kejin.ids import uscc_check_char
from kejin.ingest.service import import_file
from kejin.migrate import upgrade
from kejin.registry.tables import INDICATOR_FIELDS, AnnualIndicator, Enterprise

YEARS = (2021, 2022, 2023)
MONEY = [c for c in INDICATOR_FIELDS if "Decimal" in repr(AnnualIndicator.__table__.c[c].type)]


def firms(n: int) -> pl.DataFrame:
    codes = []
    for i in range(n):
        body = f"91320700MA{i:07d}"
        codes.append(body + uscc_check_char(body))
    return pl.DataFrame(
        {
            "uscc": codes,
            "name": [f"企业{i}" for i in range(n)],
            "region_code": ["320700"] * n,
            "industry_code": ["C3985"] * n,
            "founded_on": [date(2015, 1, 1)] * n,
            "stage": ["growth"] * n,
            "listing_board": ["none"] * n,
            "dishonest": [False] * n,
            "deregistered": [False] * n,
            "abnormal_operation": [False] * n,
        }
    )


def indicator_file(codes: pl.Series, rows: int, path: Path) -> pl.DataFrame:
    """Every indicator filled, as a department's wide annual file would be; seeded, so repeatable."""
    rng = np.random.default_rng(20241)
    n_firms = -(-rows // len(YEARS))
    keys = pl.DataFrame({"uscc": codes[:n_firms]}).join(
        pl.DataFrame({"year": list(YEARS)}), how="cross"
    )[:rows]
    cols: dict[str, pl.Series] = {}
    for c in INDICATOR_FIELDS:
        if c == "tax_credit_grade":
            cols[c] = pl.Series(c, rng.choice(["A", "B", "M", "C"], rows))
        elif c in MONEY:
            cents = rng.integers(-(10**9) if c == "profit" else 0, 10**11, rows)
            cols[c] = (pl.Series(c, cents).cast(pl.Decimal(18, 0)) / 100).cast(pl.Decimal(18, 2))
        else:
            cols[c] = pl.Series(c, rng.integers(0, 500, rows))
    frame = keys.with_columns(**cols)
    frame.write_parquet(path)
    return frame


@contextmanager
def scratch_pg() -> Iterator[str | None]:
    url = os.environ.get("KEJIN_BENCH_PG_URL") or os.environ.get("KEJIN_TEST_DATABASE_URL")
    if not url:
        yield None
        return
    server = make_url(normalize_url(url))
    name = f"kejin_bench_import_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM annual_indicators"))


def naive_orm(engine: Engine, path: Path, limit: int) -> float:
    """The way one would write it without a bulk path: read the file, one ORM object per row."""
    t0 = time.perf_counter()
    frame = pl.read_parquet(path, n_rows=limit)
    with session_factory(engine)() as session:
        for row in frame.iter_rows(named=True):
            session.add(AnnualIndicator(**row))
        session.commit()
    return time.perf_counter() - t0


def run(
    label: str, engine: Engine, firm_frame: pl.DataFrame, path: Path, rows: int, peer: int
) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        write_frame(conn, Enterprise.__table__, firm_frame)
    t0 = time.perf_counter()
    out = import_file(engine, "indicators", path)
    ours = time.perf_counter() - t0
    assert out.inserted == rows, out
    t0 = time.perf_counter()
    again = import_file(engine, "indicators", path)
    noop = time.perf_counter() - t0
    assert (again.inserted, again.updated) == (0, 0), again
    _clear(engine)
    theirs = naive_orm(engine, path, peer)
    print(
        f"{label:<10} kejin import  {rows:>9,} rows  {ours:8.2f} s  {rows / ours:>10,.0f} rows/s"
        f"   (validate + write, one transaction, field provenance)"
    )
    print(
        f"{label:<10} re-import     {rows:>9,} rows  {noop:8.2f} s  {rows / noop:>10,.0f} rows/s"
        f"   (all unchanged: validate + diff, nothing written)"
    )
    print(
        f"{label:<10} naive ORM     {peer:>9,} rows  {theirs:8.2f} s  {peer / theirs:>10,.0f} rows/s"
        f"   (session.add per row, one commit; first {peer:,} rows of the same file, no validation)"
    )
    print(f"{label:<10} ratio kejin / naive ORM (rows/s) = {(rows / ours) / (peer / theirs):.1f}×")


def main(quick: bool) -> None:
    rows = 20_000 if quick else 1_000_000
    peer = 5_000 if quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        firm_frame = firms(-(-rows // len(YEARS)))
        path = tmpdir / "indicators.parquet"
        indicator_file(firm_frame["uscc"], rows, path)
        print(
            f"file: {rows:,} rows × {2 + len(INDICATOR_FIELDS)} columns (Parquet, "
            f"{path.stat().st_size / 1e6:.1f} MB), {firm_frame.height:,} firms pre-loaded in bulk"
        )
        sqlite = make_engine(f"sqlite:///{tmpdir / 'bench.db'}")
        try:
            run("SQLite", sqlite, firm_frame, path, rows, peer)
        finally:
            sqlite.dispose()
        with scratch_pg() as url:
            if url is None:
                print("PostgreSQL skipped: set KEJIN_BENCH_PG_URL or KEJIN_TEST_DATABASE_URL")
                return
            pg = make_engine(url)
            try:
                run("PostgreSQL", pg, firm_frame, path, rows, peer)
            finally:
                pg.dispose()
