"""How Spark reads the registry and how its results reach the tables (issue #21, docs/scale.md).

A region of N firms (default 50,000; ``KEJIN_BENCH_IO_FIRMS``) is built in a scratch PostgreSQL
database and exported as a snapshot; then ``points score`` (most-v1) runs, each variant in a
process of its own, ``KEJIN_BENCH_IO_REPEAT`` times (default 3, medians shown):

* read — from the snapshot's Parquet, or straight from PostgreSQL over JDBC (``--source jdbc``);
* write — the results collected on the driver and stored there (``store_run``), or written by
  the executors as a results directory and stored by ``kejin import results`` (a second
  process, timed on its own and summed);
* the local engine (reads PostgreSQL, scores with Polars, stores) for reference.

Each figure: wall time, CPU of the whole process tree (driver, JVM, Python workers), peak RSS,
and the job's own clock without interpreter and JVM start-up ("compute"). Needs PostgreSQL
(``KEJIN_BENCH_DATABASE_URL``, else ``KEJIN_TEST_DATABASE_URL``), Spark and the JDBC driver.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.bench_scale import measured

#: variant → (read source, how the results are stored)
VARIANTS = {
    "local": ("database", "local engine, stored"),
    "snapshot-collect": ("snapshot", "collected on the driver, stored"),
    "snapshot-results": ("snapshot", "results dir + import"),
    "jdbc-collect": ("jdbc", "collected on the driver, stored"),
    "jdbc-results": ("jdbc", "results dir + import"),
}


def job(variant: str, url: str, snap: Path, out: Path) -> dict[str, Any]:
    """One variant in this process (run as a child): its compute time and results hash."""
    from kejin.db import make_engine, transaction

    engine = make_engine(url)
    if variant != "local" and variant != "import":
        from kejin.scale.spark import session

        session("local[2]", app=f"kejin bench {variant}").sparkContext.setLogLevel("ERROR")
    from kejin.scale.jdbc import JdbcSource, SnapshotSource

    src = JdbcSource(engine) if variant.startswith("jdbc") else SnapshotSource(snap)
    t0 = time.perf_counter()
    if variant == "local":
        from kejin.points.service import score_run

        res = score_run(engine, "most-v1")
    elif variant.endswith("collect"):
        from kejin.points.scale import score_run_on_spark

        with transaction(engine) as s:
            res = score_run_on_spark(engine, src, "most-v1", master="local[2]", session=s)
    elif variant.endswith("results"):
        from kejin.points.scale import write_results_on_spark

        res = write_results_on_spark(src, out, "most-v1", master="local[2]")
    else:  # import
        from kejin.access.service import SYSTEM
        from kejin.scale.results import import_results

        with transaction(engine) as s:
            res = import_results(s, engine, SYSTEM, out)
    return {"compute_s": round(time.perf_counter() - t0, 2), "firms": res.get("firms"),
            "check": (res.get("results_sha256") or "")[:12]}  # fmt: skip


def _region(url: str, firms: int, snap: Path, console: Console) -> str:
    """A scratch database holding the region (dropped by the caller) and its snapshot."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from kejin.db import make_engine
    from kejin.migrate import upgrade
    from kejin.scale.snapshot import write_snapshot
    from kejin.synth.service import build_region

    name = f"spark_io_bench_{uuid.uuid4().hex[:6]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db = make_url(url).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(db)
    upgrade(eng)
    t0 = time.perf_counter()
    build_region(eng, firms, seed=20241)
    t1 = time.perf_counter()
    write_snapshot(eng, snap)
    console.print(f"{firms:,} firms built in PostgreSQL in {t1 - t0:.1f} s, snapshot written in "
                  f"{time.perf_counter() - t1:.1f} s")  # fmt: skip
    eng.dispose()
    return db


def _drop(url: str, db: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from kejin.db import make_engine

    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(db).database}" WITH (FORCE)'))
    admin.dispose()


def main(quick: bool) -> None:
    console = Console(width=150)
    url = os.environ.get("KEJIN_BENCH_DATABASE_URL") or os.environ.get("KEJIN_TEST_DATABASE_URL")
    from kejin.scale.jdbc import jar
    from kejin.scale.spark import unavailable_reason

    why = unavailable_reason() or (None if url else "no PostgreSQL (KEJIN_BENCH_DATABASE_URL)")
    why = why or (None if jar() else "no PostgreSQL JDBC driver (libpostgresql-jdbc-java)")
    if why:
        console.print(f"scale I/O bench skipped: {why}")
        return
    assert url is not None
    firms = 5_000 if quick else int(os.environ.get("KEJIN_BENCH_IO_FIRMS", "50000"))
    repeat = 1 if quick else int(os.environ.get("KEJIN_BENCH_IO_REPEAT", "3"))
    work = Path(tempfile.mkdtemp(prefix="kejin-scale-io-"))
    db = _region(url, firms, work / "snap", console)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    loads: list[float] = []

    def child(variant: str, out: Path) -> dict[str, Any]:
        loads.append(os.getloadavg()[0])
        return measured([sys.executable, "-m", "bench.bench_scale_io", variant, db,
                         str(work / "snap"), str(out)])  # fmt: skip

    try:
        for i in range(repeat):
            for variant in VARIANTS:
                out = work / f"results-{variant}-{i}"
                r = child(variant, out)
                if variant.endswith("results"):
                    imp = child("import", out)
                    r = {**r, "import": imp, "check": imp["check"], "firms": imp["firms"]}
                    shutil.rmtree(out, ignore_errors=True)
                console.print(f"  {variant} #{i + 1}: {r}")
                runs[variant].append(r)
    finally:
        _drop(url, db)
        shutil.rmtree(work, ignore_errors=True)
    med = lambda rs, k: statistics.median(x[k] for x in rs)  # noqa: E731
    t = Table(title=f"points score, {firms:,} firms, medians of {repeat} (load "
                    f"{min(loads):.1f}–{max(loads):.1f})")  # fmt: skip
    for c in ("variant", "read", "results", "compute s", "wall s", "CPU s", "peak RSS MB",
              "import wall s", "import CPU s", "import RSS MB", "check"):  # fmt: skip
        t.add_column(c, justify="right")
    for variant, (read, how) in VARIANTS.items():
        rs = runs[variant]
        imp = [r["import"] for r in rs if "import" in r]
        extra = ([f"{med(imp, 'wall_s'):.1f}", f"{med(imp, 'cpu_s'):.1f}",
                  f"{med(imp, 'peak_mb'):,.0f}"] if imp else ["", "", ""])  # fmt: skip
        t.add_row(variant, read, how, f"{med(rs, 'compute_s'):.1f}", f"{med(rs, 'wall_s'):.1f}",
                  f"{med(rs, 'cpu_s'):.1f}", f"{med(rs, 'peak_mb'):,.0f}", *extra,
                  rs[0]["check"])  # fmt: skip
    console.print(t)
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    variant, db, snap, out = sys.argv[1:5]
    print(json.dumps(job(variant, db, Path(snap), Path(out)), default=str))
