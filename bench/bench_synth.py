"""``kejin synth`` at 1,000,000 firms (three years of indicators) into SQLite and PostgreSQL.

Ours: :func:`kejin.synth.service.build_region` — generation in numpy/Polars, then one
all-or-nothing bulk load (:func:`kejin.frames.bulk_transaction`). Printed: generation time,
write time per table, index/constraint time, total, rows/s, and this process's CPU time (the
machine is shared, so wall time depends on what else runs; the load average is printed too).

Peer: pandas ``DataFrame.to_sql`` (SQLAlchemy ``executemany``) of the same generator's frames,
in one transaction, measured on a 50,000-firm region and **extrapolated linearly by row count**
to the full size (a million-firm ``to_sql`` would take tens of minutes on this machine).

PostgreSQL runs against a scratch database created on the server of ``KEJIN_BENCH_PG_URL`` or
``KEJIN_TEST_DATABASE_URL`` and dropped afterwards; without either, it is skipped. Each figure
is a single run (a million-firm build is too long to repeat here); ``--quick`` uses 20,000 firms
(peer: 5,000).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from kejin.db import Base, make_engine, normalize_url
from kejin.frames import _sqlite_ready, conform
from kejin.migrate import upgrade
from kejin.synth.model import generate
from kejin.synth.service import BuildReport, build_region

SEED = 20241
console = Console()


@contextmanager
def sqlite_database() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="kejin-bench-") as d:
        engine = make_engine(f"sqlite:///{d}/bench.db")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def pg_database(server_url: str) -> Iterator[Engine]:
    server = make_url(normalize_url(server_url))
    name = f"kejin_bench_synth_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # One pooled connection, so the backend whose CPU is measured is the one that loads.
    engine = make_engine(
        server.set(database=name).render_as_string(hide_password=False),
        pool_size=1,
        max_overflow=0,
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _backend_cpu(engine: Engine) -> float:
    """CPU seconds used so far by the PostgreSQL backend serving the engine's one connection.

    The server is local, so its work is visible in /proc; 0 on SQLite (in-process) or when
    /proc is not readable.
    """
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ours(engine: Engine, firms: int) -> tuple[BuildReport, float, float]:
    """Build the region; returns the report, wall seconds and CPU seconds (ours + server's)."""
    server0 = _backend_cpu(engine)
    cpu, wall = time.process_time(), time.perf_counter()
    report = build_region(engine, firms=firms, seed=SEED)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return report, wall, cpu + _backend_cpu(engine) - server0


def peer(engine: Engine, firms: int) -> tuple[float, int]:
    """pandas ``to_sql`` of every table of a ``firms`` region in one transaction: (seconds, rows)."""
    region = generate(firms, SEED)
    frames = []
    for name, df in region.tables.items():
        table = Base.metadata.tables[name]
        df = conform(df, table)
        if engine.dialect.name == "sqlite":  # what SQLite stores: scaled ints, ISO dates
            df = _sqlite_ready(df, table)
        # On PostgreSQL, give pandas the table's column types so Decimals bind as NUMERIC.
        dtypes = (
            None if engine.dialect.name == "sqlite" else {c.name: c.type for c in table.columns}
        )
        frames.append((name, df.to_pandas(), dtypes))
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for name, pdf, dtypes in frames:
            pdf.to_sql(name, conn, if_exists="append", index=False, chunksize=10_000, dtype=dtypes)
    return time.perf_counter() - t0, region.rows()


def report_table(title: str, rep: BuildReport, wall: float, cpu: float) -> Table:
    t = Table(title=title)
    t.add_column("step")
    t.add_column("rows", justify="right")
    t.add_column("seconds", justify="right")
    t.add_column("rows/s", justify="right")
    t.add_row("generate (numpy/Polars)", f"{rep.total_rows:,}", f"{rep.generate_seconds:.1f}", "")
    write = 0.0
    for name, secs in rep.write_seconds.items():
        rows = rep.rows.get(name, 0)
        write += secs
        rate = f"{rows / secs:,.0f}" if rows and secs else ""
        step = f"  write {name}" if name in rep.rows else f"  {name} (check/rebuild)"
        t.add_row(step, f"{rows:,}" if rows else "", f"{secs:.1f}", rate)
    t.add_row(
        "write, all tables", f"{rep.total_rows:,}", f"{write:.1f}", f"{rep.total_rows / write:,.0f}"
    )
    t.add_row(
        "[bold]total (wall)",
        f"{rep.total_rows:,}",
        f"[bold]{wall:.1f}",
        f"{rep.total_rows / wall:,.0f}",
    )
    t.add_row("CPU (this process + its PostgreSQL backend)", "", f"{cpu:.1f}", "")
    return t


def run_backend(label: str, factory: Callable[[], object], firms: int, peer_firms: int) -> None:
    console.print(f"load average before {label}: {os.getloadavg()}")
    with factory() as engine:  # type: ignore[attr-defined]
        rep, wall, cpu = ours(engine, firms)
        if engine.dialect.name == "postgresql":  # what the database holds afterwards
            with engine.connect() as conn:
                size = conn.execute(text("SELECT pg_database_size(current_database())"))
                console.print(f"database size: {size.scalar_one() / 2**20:,.0f} MiB")
    console.print(report_table(f"kejin synth --firms {firms:,} → {label}", rep, wall, cpu))
    with factory() as engine:  # type: ignore[attr-defined]
        secs, rows = peer(engine, peer_firms)
    projected = secs * rep.total_rows / rows
    console.print(
        f"peer pandas to_sql ({label}): {rows:,} rows of a {peer_firms:,}-firm region in "
        f"{secs:.1f} s = {rows / secs:,.0f} rows/s → extrapolated to {rep.total_rows:,} rows: "
        f"{projected:,.0f} s"
    )
    console.print(
        f"[bold]{label}: ours {wall:.1f} s wall, {cpu:.1f} s CPU (target ≤ 60 s) vs peer ≈ "
        f"{projected:,.0f} s wall (extrapolated) → {projected / wall:.1f}× faster; load "
        f"average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def main(quick: bool) -> None:
    firms = 20_000 if quick else 1_000_000
    peer_firms = 5_000 if quick else 50_000
    run_backend("SQLite", sqlite_database, firms, peer_firms)
    server = os.environ.get("KEJIN_BENCH_PG_URL") or os.environ.get("KEJIN_TEST_DATABASE_URL")
    if not server:
        console.print("PostgreSQL skipped: set KEJIN_BENCH_PG_URL or KEJIN_TEST_DATABASE_URL")
        return
    run_backend("PostgreSQL", lambda: pg_database(server), firms, peer_firms)
