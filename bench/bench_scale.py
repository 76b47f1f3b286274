"""The scale path: points, whitelist and policy on the local engine and on Spark ``local[2]``.

A region of N firms is written straight to a snapshot (``kejin synth --to-parquet``, timed), then
each task runs in a process of its own per engine, so that each has its own peak memory: the
peak resident set of the whole process tree (the Python driver, Spark's JVM and its Python
workers), sampled every 0.1 s with psutil, beside wall time, the CPU time of the tree and the
time of the computation alone (the job's own clock, without interpreter and JVM start-up).

* points — most-v1 on the year's frame: the local engine assembles the frame and scores it with
  Polars; Spark runs the same assembly per bucket of firms and the kernel per peer group.
* whitelist — the default rules (points totals from the local points run) → entries.
* policy — ``policy simulate`` of 吉安知识产权质押贷款贴息 (a per-firm cap shared out over loans),
  baseline and a reform, on every loan-year of the latest year.
* stats — the monthly statistics: every measure for every month with data and every breakdown
  (the whole and the seven of ``--by``), list population; the local engine reads the snapshot
  with Polars and runs ``measures_by``, Spark runs the kernel's partial stage per bucket of firms
  and the finish on the added sums (``kejin.scale.stats``). Reading the snapshot is timed on both.

Both engines' results are compared (row counts, entries hash, costs to the fen) in the table.
``KEJIN_BENCH_SCALE_FIRMS`` (comma-separated) sets the sizes; default 1,000,000, the largest size
whose six jobs finished within 10 minutes on this 2-core machine (about 6.5 minutes with the
snapshot, load ~9), so that a plain ``make bench`` never stalls (``--quick``: 50,000). 10M firms
need ~6 GB of disk for the snapshot and well over an hour for the six jobs
(``KEJIN_BENCH_SCALE_FIRMS=10000000``). ``KEJIN_BENCH_SCALE_TASKS`` (comma-separated) runs some
tasks only, ``KEJIN_BENCH_SCALE_REPEAT`` runs each job that many times (the table shows medians).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import psutil
from rich.console import Console
from rich.table import Table

TASKS = ("points", "whitelist", "policy", "stats")
ENGINES = ("local", "spark")
POLICY, REFORM = "jian_ip_pledge", {"firm_cap": Decimal("20000")}


def _loan_years(snap: Path) -> dict[str, pl.DataFrame]:
    """The policy engine's frames from a snapshot (as ``registry_frames`` builds them from the
    database; a region written straight to Parquet has had no subsidy paid yet)."""
    from kejin.policy import kernels
    from kejin.policy.entities import FIRM_COLUMNS
    from kejin.scale.snapshot import table

    def t(name: str, cols: list[str]) -> pl.DataFrame:
        return table(snap, name).select(cols).collect()

    loans = t("loans", ["contract_no", "uscc", "institution_id", "product_id", "amount",
                        "credit_line", "rate", "disbursed_on", "guarantee_type"])  # fmt: skip
    paid = pl.DataFrame(schema={"uscc": pl.String, "first_paid_year": pl.Int64})
    return {
        "firm": t("enterprises", list(FIRM_COLUMNS)),
        "loan_year": kernels.loan_years(
            loans, t("loan_statuses", ["contract_no", "month", "balance"]),
            t("institutions", ["id", "partner_bank"]), t("products", ["id", "name"]),
            t("qualifications", ["uscc", "kind", "valid_from", "valid_to"]), paid,
        ),
    }  # fmt: skip


def job(task: str, engine: str, snap: Path, work: Path) -> dict[str, Any]:
    """One task on one engine, in this process; returns its figures (run as a child process)."""
    from kejin.scale import snapshot

    year = snapshot.table(snap, "annual_indicators").select(pl.col("year").max()).collect().item()
    spark = engine == "spark"
    if spark:  # the session is started before the clock: start-up is in the wall time only
        from kejin.scale.spark import session

        session("local[2]", app=f"kejin bench {task}").sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    if task == "points":
        if spark:
            from kejin.points.scale import score_on_spark

            res = score_on_spark(snap, "most-v1", year, master="local[2]")
        else:
            res = _points_local(snap, year)
            res.select("uscc", "total", "list_id").write_parquet(work / "points.parquet")
        out = {"rows": res.height, "check": round(float(res["total"].sum()), 2)}
    elif task == "whitelist":
        from kejin.asof import data_date  # noqa: F401  (the local path's as-of rule)
        from kejin.synth.model import AS_OF
        from kejin.whitelist import service
        from kejin.whitelist.rules import load_rules

        rules, _ = load_rules("default")
        points = pl.read_parquet(work / "points.parquet")
        if spark:
            from kejin.whitelist.scale import entries_on_spark

            entries = entries_on_spark(snap, rules, AS_OF, points, "local[2]")
        else:
            entries = _whitelist_local(snap, rules, AS_OF, points)
        out = {"rows": entries.height, "check": service.entries_sha256(entries)[:12]}
    elif task == "stats":
        m = _stats_spark(snap) if spark else _stats_local(snap)
        whole = m[None]
        out = {"rows": sum(x.height for x in m.values()),
               "check": f"{whole['balance'].sum()}/{whole['first_time'].sum()}"}  # fmt: skip
    else:
        from kejin.policy import library
        from kejin.policy.simulate import latest_year, simulate

        frames = _loan_years(snap)
        policy = library.get(POLICY)
        y = latest_year(policy, frames["loan_year"])
        t0 = time.perf_counter()  # the loan-year frame is built the same way for both engines
        sim = simulate(policy, frames["loan_year"], frames["firm"], REFORM, year=y,
                       engine=engine, master="local[2]")  # fmt: skip
        out = {"rows": sim.totals["rows"],
               "check": f"{sim.totals['baseline_cost']}/{sim.totals['reform_cost']}"}  # fmt: skip
    out["compute_s"] = round(time.perf_counter() - t0, 2)
    return out


STATS_BYS: list[str | None] = [
    None, "bank", "product-kind", "chain", "region", "stage", "tier", "qualification"
]  # fmt: skip


def _stats_months(snap: Path) -> list[Any]:
    """Every month with status rows (what ``stats trend`` offers), as both engines see them."""
    from kejin.scale.snapshot import table

    return (
        table(snap, "loan_statuses")
        .select(pl.col("month").unique().sort())
        .collect()["month"]
        .to_list()
    )


def _stats_local(snap: Path) -> dict[str | None, pl.DataFrame]:
    """The local engine's statistics on a snapshot: the frames ``stats.service.gather`` reads,
    from Parquet, then ``measures_by`` for every month and breakdown."""
    from kejin.scale.snapshot import table
    from kejin.stats import kernels, service

    months = _stats_months(snap)
    every = {kernels.shift_months(m, d) for m in months for d in (0, -1, -12)}

    def t(name: str, cols: list[str]) -> pl.DataFrame:
        return table(snap, name).select(cols).collect()

    versions = t("whitelist_versions", ["id", "as_of"])
    entries = table(snap, "whitelist_entries").filter(pl.col("status") == "member")
    vid = service.tier_version(versions, kernels.month_end(months[-1]))
    f = kernels.Frames(
        loans=t("loans", service.LOAN_COLUMNS),
        statuses=table(snap, "loan_statuses")
        .filter(pl.col("month").is_in(sorted(every)))
        .select(service.STATUS_COLUMNS)
        .collect(),
        qualifications=t("qualifications", service.QUAL_COLUMNS),
        firms=t("enterprises", service.FIRM_COLUMNS),
        tiers=entries.filter(pl.col("version_id") == (vid or -1)).select("uscc", "tier").collect(),
        products=t("products", ["id", "kind"]),
        lpr=t("lpr_rates", ["month", "lpr_1y", "lpr_5y"]),
        members=service.member_spans(versions, entries.select("version_id", "uscc").collect()),
    )
    return kernels.measures_by(f, months, STATS_BYS)


def _stats_spark(snap: Path) -> dict[str | None, pl.DataFrame]:
    from kejin.scale.spark import session
    from kejin.scale.stats import measures_on_spark, month_facts

    ss = session("local[2]")
    with_data = month_facts(ss, snap)["month"].to_list()
    m, _ = measures_on_spark(ss, snap, with_data, STATS_BYS, "list", with_data, with_data[-1])
    return m


def _points_local(snap: Path, year: int) -> pl.DataFrame:
    """The local engine's ``points score`` on a snapshot: the same assembly and kernel."""
    from kejin.points.kernels import score_system
    from kejin.points.scale import _schemas
    from kejin.points.service import assemble, frame_inputs, results_frame
    from kejin.points.system import load_system
    from kejin.scale.snapshot import table

    system = load_system("most-v1").system
    sch = _schemas(system)
    _, lagged = frame_inputs(system)

    def read(name: str, key: str, where: pl.Expr | None = None) -> pl.DataFrame:
        lf = table(snap, name)
        lf = lf.filter(where) if where is not None else lf
        return lf.select([pl.col(c).cast(t) for c, t in sch[key].items()]).collect()

    frame = assemble(
        read("enterprises", "firms"),
        read("annual_indicators", "cur", pl.col("year") == year),
        read("annual_indicators", "prev", pl.col("year") == year - 1) if lagged else None,
        read("financing_events", "fin"),
        system,
        year,
    )
    return results_frame(score_system(frame.sort("uscc"), system), system)


def _whitelist_local(snap: Path, rules: Any, as_of: Any, points: pl.DataFrame) -> pl.DataFrame:
    from kejin.scale.snapshot import table
    from kejin.whitelist import service as w

    def read(name: str, cols: list[str]) -> pl.LazyFrame:
        return table(snap, name).select(cols)

    year = table(snap, "annual_indicators").filter(pl.col("year") <= as_of.year)
    year = year.select(pl.col("year").max()).collect().item()
    data = w.derive(
        as_of,
        read("enterprises", w.FIRM_COLUMNS).collect(),
        read("qualifications", w.QUAL_COLUMNS).collect(),
        table(snap, "annual_indicators").filter(pl.col("year") == year)
        .select(w.INDICATOR_COLUMNS).collect(),
        read("loans", w.LOAN_COLUMNS).collect(),
        read("loan_statuses", w.STATUS_COLUMNS).filter(pl.col("month") <= as_of).collect(),
        points,
    )  # fmt: skip
    return w.entries_of(rules, as_of, data)


def _median(xs: list[Any]) -> Any:
    return sorted(xs)[len(xs) // 2]


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def measured(args: list[str]) -> dict[str, Any]:
    """Run a child process; its wall time, peak RSS of its process tree, and the tree's CPU."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # stderr to a file: Spark's log would fill a pipe nobody reads until the end, and block.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed with the child, below)
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    proc = psutil.Process(child.pid)
    peak, cpu = 0, {}
    while child.poll() is None:
        rss = 0
        for p in _tree(proc):
            try:
                rss += p.memory_info().rss
                c = p.cpu_times()
                cpu[p.pid] = c.user + c.system + c.children_user + c.children_system
            except psutil.Error:
                pass
        peak = max(peak, rss)
        time.sleep(0.1)
    out, _ = child.communicate()
    wall = time.perf_counter() - t0
    log.seek(0)
    err = log.read()
    log.close()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args[-4:])} failed:\n{err[:2500]}\n…\n{err[-1500:]}")
    figures = json.loads(out.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # The tree's CPU: what the kernel reports for the waited-for child (and the processes it
    # waited for), or the last samples of every process seen, whichever saw more.
    cpu_s = max(waited, sum(cpu.values()))
    return {**figures, "wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1),
            "peak_mb": round(peak / 2**20)}  # fmt: skip


def main(quick: bool) -> None:
    console = Console(width=150)
    sizes = [int(x) for x in os.environ.get("KEJIN_BENCH_SCALE_FIRMS", "1000000").split(",")]
    tasks = [x for x in os.environ.get("KEJIN_BENCH_SCALE_TASKS", ",".join(TASKS)).split(",") if x]
    if "whitelist" in tasks and "points" not in tasks:
        tasks.insert(0, "points")  # the whitelist reads the points run's totals
    repeat = int(os.environ.get("KEJIN_BENCH_SCALE_REPEAT", "1"))
    if quick:
        sizes = [50_000]
    from kejin.scale.spark import unavailable_reason

    why = unavailable_reason()
    if why:
        console.print(f"scale bench skipped: {why}")
        return
    from kejin.synth.parquet import write_region

    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix="kejin-scale-"))
        try:
            snap = work / "snap"
            t0 = time.perf_counter()
            peak0 = psutil.Process().memory_info().rss
            m = write_region(snap, n, seed=20241)
            gen = time.perf_counter() - t0
            disk = sum(f.stat().st_size for f in snap.rglob("*.parquet"))
            rows = sum(v["rows"] for v in m["tables"].values())
            console.print(
                f"{n:,} firms → snapshot of {rows:,} rows, {disk / 2**20:,.0f} MB in {gen:.1f} s "
                f"(synth --to-parquet; this process's RSS {peak0 / 2**20:,.0f} MB before)"
            )
            t = Table(
                title=f"{n:,} firms — local engine vs Spark local[2] (load {os.getloadavg()[0]:.1f})"
            )
            for c in ("task", "engine", "rows", "compute s", "wall s", "CPU s", "peak RSS MB",
                      "result check"):  # fmt: skip
                t.add_column(c, justify="right")
            for task in tasks:
                for engine in ENGINES:
                    try:
                        args = [sys.executable, "-m", "bench.bench_scale", task, engine]
                        runs = [measured([*args, str(snap), str(work)]) for _ in range(repeat)]
                    except RuntimeError as e:  # one failed job is reported, the rest still run
                        console.print(f"  {task} {engine} FAILED: {e}")
                        t.add_row(task, engine, "failed", "", "", "", "", "")
                        continue
                    r = {**runs[0], **{k: _median([x[k] for x in runs])
                                       for k in ("compute_s", "wall_s", "cpu_s", "peak_mb")}}  # fmt: skip
                    t.add_row(task, engine, f"{r['rows']:,}", f"{r['compute_s']:.1f}",
                              f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}", f"{r['peak_mb']:,}",
                              str(r["check"]))  # fmt: skip
                    console.print(f"  {task} {engine}: {runs}")
            console.print(t)
            console.print(f"load average after: {os.getloadavg()}")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    task, engine, snap, work = sys.argv[1:5]
    print(json.dumps(job(task, engine, Path(snap), Path(work)), default=str))
