"""Claim payouts per second against one pool: 8 worker processes on PostgreSQL, one on SQLite.

Our design (row locks under READ COMMITTED: a guarded status flip on the claim, a guarded debit
of the pool's cash row; on PostgreSQL the whole payout is one statement) runs beside its peer, the same payouts under SERIALIZABLE isolation with
retry, on identical pre-approved claims in fresh scratch databases. After every run a full ledger
audit must pass: every entry balanced, postings sum to zero, maintained balances equal postings,
no claim paid twice, pool ≥ 0. Claims, enrolments and approvals are prepared before the timed
section; only ``service.pay`` is timed. One worker also records where its time goes, per
statement kind.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from kejin.db import make_engine, normalize_url
from kejin.fund import ledger
from kejin.fund import service as svc
from kejin.fund.ledger import Actor
from kejin.fund.scheme import load_scheme
from kejin.fund.tables import Claim, ClaimShare, Enrolment
from kejin.ids import org_code_check_char, uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.migrate import upgrade
from kejin.registry.tables import Enterprise

WORKERS = 8
D = Decimal
DAY = date(2026, 6, 1)


def _uscc(i: int) -> str:
    org8 = f"{20000000 + i:08d}"
    body = "91320700" + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


def prepare(engine: Engine, n: int) -> list[int]:
    """n enrolled, defaulted, approved claims on an Anhui pool with ample capital (untimed).

    The pool, capital and accounts go through the service; the n claims are written in bulk with
    the shares the service computes (``compute_claim``), so setup takes seconds, not minutes.
    """
    banks = [f"B{i}" for i in range(8)]
    firms = [_uscc(i) for i in range(n)]
    with engine.begin() as conn:
        conn.execute(
            insert(Institution),
            [
                {
                    "id": b,
                    "name": b,
                    "kind": "bank",
                    "region_code": "320700",
                    "partner_bank": True,
                    "tech_branch": False,
                }
                for b in banks
            ],
        )
        conn.execute(
            insert(Enterprise),
            [
                {
                    "uscc": u,
                    "name": f"F{i}",
                    "region_code": "320703",
                    "industry_code": "C3562",
                    "founded_on": date(2015, 1, 1),
                    "stage": "growth",
                    "listing_board": "none",
                    "dishonest": False,
                    "deregistered": False,
                    "abnormal_operation": False,
                }
                for i, u in enumerate(firms)
            ],
        )
        conn.execute(
            insert(Loan),
            [
                {
                    "contract_no": f"C{i:07d}",
                    "uscc": u,
                    "institution_id": banks[i % 8],
                    "amount": D("1000000.00"),
                    "credit_line": D("1000000.00"),
                    "rate": D("0.04"),
                    "disbursed_on": date(2026, 1, 5),
                    "maturity_on": date(2028, 1, 5),
                    "guarantee_type": "credit",
                    "first_time_borrower": False,
                }
                for i, u in enumerate(firms)
            ],
        )
        conn.execute(
            insert(LoanStatus),
            [
                {
                    "contract_no": f"C{i:07d}",
                    "month": date(2026, 5, 1),
                    "balance": D("800000.00"),
                    "days_past_due": 120,
                    "classification": "substandard",
                }
                for i in range(n)
            ],
        )
    boss = Actor("manager", date(2026, 1, 2), "bench")
    svc.create_pool(engine, "BENCH", "bench pool", "anhui", boss, "pool")
    svc.deposit(engine, "BENCH", "pool", D("10000000000.00"), boss, "capital")
    s = load_scheme("anhui")
    cat = next(c for c in s.categories if c.id == "direct")
    with engine.begin() as conn:
        ledger.ensure_accounts(
            conn,
            "BENCH",
            [
                (b, p, p.startswith("loss"))
                for b in banks
                for p in ("compensation", "recovery", "loss_share", "loss_contra")
            ],
        )
        eids = (
            conn.execute(
                insert(Enrolment.__table__).returning(
                    Enrolment.__table__.c.id, sort_by_parameter_order=True
                ),
                [
                    {
                        "pool_id": "BENCH",
                        "contract_no": f"C{i:07d}",
                        "uscc": u,
                        "institution_id": banks[i % 8],
                        "category": "direct",
                        "loan_amount": D("1000000.00"),
                        "covered_amount": D("1000000.00"),
                        "covered_balance": D("800000.00"),
                        "enrolled_on": date(2026, 1, 10),
                        "status": "claimed",
                    }
                    for i, u in enumerate(firms)
                ],
            )
            .scalars()
            .all()
        )
        facts = {
            "guarantee_type": "credit",
            "first_time_borrower": False,
            "qualifications": set(),
            "profits": [],
        }
        ids = ledger.account_ids(conn, "BENCH")
        claims, shares = [], []
        for i, eid in enumerate(eids):
            rates, amounts, _ = svc.compute_claim(s, cat, facts, D("800000.00"), banks[i % 8])
            claims.append(
                {
                    "pool_id": "BENCH",
                    "enrolment_id": eid,
                    "institution_id": banks[i % 8],
                    "status": "approved",
                    "trigger": "bench",
                    "loss_base": D("800000.00"),
                    "pool_rate": rates["pool"],
                    "pool_amount": amounts["pool"],
                    "cap_note": "",
                    "filed_by": "bank",
                    "filed_on": date(2026, 5, 4),
                    "review_due": date(2026, 5, 11),
                    "approval_due": date(2026, 6, 8),
                    "reviewed_by": "rev",
                    "reviewed_on": date(2026, 5, 5),
                    "approved_by": "app",
                    "approved_on": date(2026, 5, 6),
                    "recovered_total": D(0),
                    "recovered_to_pool": D(0),
                    "payout_lines": json.dumps(svc.payout_lines(ids, banks[i % 8], amounts)),
                }
            )
        cids = (
            conn.execute(
                insert(Claim.__table__).returning(
                    Claim.__table__.c.id, sort_by_parameter_order=True
                ),
                claims,
            )
            .scalars()
            .all()
        )
        for i, cid in enumerate(cids):
            rates, amounts, _ = svc.compute_claim(s, cat, facts, D("800000.00"), banks[i % 8])
            shares += [
                {
                    "claim_id": cid,
                    "party": p,
                    "rate": rates[p],
                    "amount": a,
                    "recovered": D(0),
                    "role": "bank" if p.startswith("B") else "government_pool",
                }
                for p, a in amounts.items()
            ]
        conn.execute(insert(ClaimShare.__table__), shares)
    return list(cids)


def _profile(engine: Engine) -> dict[str, list[float]]:
    """Time per statement kind on this worker's connections (INSERT fund_postings, UPDATE …)."""
    spent: dict[str, list[float]] = defaultdict(list)

    @event.listens_for(engine, "before_cursor_execute")
    def _b(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _a(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        words = statement.split()
        table = next((w for w in words[1:5] if w.startswith(("fund_", "loans"))), "")
        spent[f"{words[0]} {table}".strip()].append(time.perf_counter() - conn.info["t0"])

    @event.listens_for(engine, "commit")
    def _c(conn):  # type: ignore[no-untyped-def]
        conn.info["c0"] = time.perf_counter()

    return spent


def _worker(
    url: str, isolation: str, claim_ids: list[int], barrier: Any, out: Any, profile: bool
) -> None:
    logging.getLogger("psycopg").setLevel(logging.ERROR)  # aborted pipelines on retry
    kw = {"isolation_level": isolation} if isolation else {}
    engine = make_engine(url, pool_size=1, **kw)
    spent = _profile(engine) if profile else None
    if spent is not None:
        # The PostgreSQL payout runs on the raw psycopg cursor (pipeline mode): time it here.
        pipelined = svc._pipelined

        def timed(conn, params):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return pipelined(conn, params)
            finally:
                spent["WITH … (one-statement payout)"].append(time.perf_counter() - t)

        svc._pipelined = timed
    who = Actor("treasurer", DAY, "bench payout")
    with engine.connect() as c:
        c.execute(text("SELECT 1"))
    barrier.wait()
    t0 = time.perf_counter()
    lat, paid, gave_up, error = [], 0, 0, None
    try:
        for cid in claim_ids:
            t = time.perf_counter()
            try:
                r = svc.pay(engine, "BENCH", cid, who, f"pay-{cid}")
            except DBAPIError as e:
                if not isolation or "could not serialize" not in str(e):
                    raise
                gave_up += 1  # the peer: retries exhausted under SERIALIZABLE
                continue
            lat.append(time.perf_counter() - t)
            paid += Decimal(r["paid"]) > 0
    except Exception as e:  # reported by the parent; a silent worker would hang the bench
        error = repr(e)
    if spent is not None:
        statements = sum(sum(v) for v in spent.values())
        spent["commit, pool checkout, Python"].append(sum(lat) - statements)
    out.put(
        {
            "paid": paid,
            "gave_up": gave_up,
            "seconds": time.perf_counter() - t0,
            "lat": lat or [0.0],
            "error": error,
            "spent": {k: (len(v), sum(v)) for k, v in (spent or {}).items()},
        }
    )
    engine.dispose()


def run(url: str, n: int, workers: int, isolation: str = "") -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    cids = prepare(engine, n)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, isolation, cids[w::workers], barrier, out, w == 0))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    with engine.connect() as conn:
        rep = ledger.audit(conn, "BENCH")
        balance = svc.summary(engine, "BENCH", DAY)["balance"]
    engine.dispose()
    errors = [r["error"] for r in results if r["error"]]
    if errors:
        raise RuntimeError(f"bench workers failed: {errors}")
    lat = sorted(x for r in results for x in r["lat"])
    spent = next(r["spent"] for r in results if r["spent"])
    paid = sum(r["paid"] for r in results)
    return {
        "paid": paid,
        "gave_up": sum(r["gave_up"] for r in results),
        "wall": wall,
        "rate": paid / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[int(0.99 * len(lat))],
        "audit": rep,
        "balance": balance,
        "spent": spent,
    }


def _pg_server() -> str | None:
    url = os.environ.get("KEJIN_BENCH_PG_URL") or os.environ.get("KEJIN_TEST_DATABASE_URL")
    return normalize_url(url) if url else None


def _scratch_pg(server: str) -> tuple[str, Any]:
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    name = f"kejin_bench_fund_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def _line(label: str, r: dict[str, Any]) -> str:
    a = r["audit"]
    return (
        f"{label:<34} {r['rate']:8.0f} payouts/s  ({r['paid']} in {r['wall']:.2f} s, "
        f"{r['gave_up']} given up; "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms)  audit "
        f"{'OK' if a.ok else 'FAILED'} ({len(a.checks)} checks, "
        f"{sum(not c.ok for c in a.checks)} violations), pool balance {r['balance']}"
    )


def _spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):.0f} (range {min(rates):.0f}–{max(rates):.0f})"


def _where(spent: dict[str, tuple[int, float]], n: int) -> str:
    total = sum(s for _, s in spent.values())
    rows = sorted(spent.items(), key=lambda kv: -kv[1][1])
    return "\n".join(
        f"    {k:<32} {s / n * 1000:6.2f} ms/payout ({100 * s / total:4.1f}%)"
        for k, (c, s) in rows[:10]
    )


def main(quick: bool) -> None:
    n = 400 if quick else 2000
    runs = 1 if quick else 3
    server = _pg_server()
    if server is None:
        print("PostgreSQL: skipped (set KEJIN_BENCH_PG_URL or KEJIN_TEST_DATABASE_URL)")
    else:
        for label, iso in (
            ("ours: row locks, READ COMMITTED", ""),
            ("peer: SERIALIZABLE + retry", "SERIALIZABLE"),
        ):
            rates = []
            for _ in range(runs):
                url, drop = _scratch_pg(server)
                try:
                    r = run(url, n, WORKERS, iso)
                finally:
                    drop()
                rates.append(r["rate"])
                print(_line(f"PostgreSQL {WORKERS} procs, {label}", r))
                if not r["audit"].ok:
                    print(r["audit"].to_dict())
            print(f"  median {_spread(rates)} payouts/s over {runs} runs ({label})")
            if not iso:
                print("  where one worker's time goes (client-side, per payout):")
                print(_where(r["spent"], n // WORKERS))
    with tempfile.TemporaryDirectory() as tmp:
        rates = []
        for i in range(runs):
            url = f"sqlite:///{Path(tmp) / f'bench{i}.db'}"
            r = run(url, n, 1)
            rates.append(r["rate"])
            print(_line("SQLite, single writer", r))
        print(f"  median {_spread(rates)} payouts/s over {runs} runs (SQLite)")


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
