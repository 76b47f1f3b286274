"""Faults with real processes and a real PostgreSQL: the postmaster and an API worker killed -9.

Money must come out of a crash whole or not at all: a payout is its claim flipped to paid, its
journal entry with balanced lines, and its ``fund.pay`` audit event, or none of them; every
success a client was told must be in the database afterwards; and the service must serve again
once the database is back, without being restarted itself. Payouts run from back-office
processes and through ``kejin serve --workers 2`` at once, with consent revocations and profile
reads beside them. Retried jobs reuse their idempotency key, as a client that never got its
answer must.

The tests run on a PostgreSQL cluster of their own (``pgcluster``): killing the shared server's
postmaster would break every other test. They are bounded (a few dozen jobs, deadlines on every
wait) and use only loopback.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .faultkit import (
    Log,
    Outcome,
    api_attempt,
    blocked_ports,
    check_books,
    claims_locked,
    db_ports,
    process_worker,
    run_jobs,
    seed,
    serve,
    session_client,
    wait_until,
)
from .pgcluster import Cluster, server_bin
from .world import F1

DEADLINE = 150.0  # seconds any one client keeps retrying before the test fails


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = server_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(Debian package postgresql): the fault tests run a cluster of their own"
        )
    c = Cluster(bindir)
    c.start()
    try:
        yield c
    finally:
        c.stop()


class ApiClients:
    """Threads paying and revoking through the API, and one bank system reading a profile."""

    def __init__(self, base: str, jobs: list[tuple[str, int]], secret: str, threads: int = 3):
        self.base, self.over, self.stop = base, threading.Event(), threading.Event()
        self.pause, self.paused = threading.Event(), threading.Event()
        self.log, self.reads = Log(), Log()
        self.lock = threading.Lock()
        self.progress = 0
        clients = [
            (session_client(base, "gov"), session_client(base, "ent")) for _ in range(threads)
        ]
        self.threads = [
            threading.Thread(target=self._work, args=(gov, ent, jobs[i::threads]), daemon=True)
            for i, (gov, ent) in enumerate(clients)
        ]
        self.threads.append(threading.Thread(target=self._read, args=(secret,), daemon=True))
        for t in self.threads:
            t.start()

    def _work(self, gov: httpx.Client, ent: httpx.Client, jobs: list[tuple[str, int]]) -> None:
        def attempt(job: tuple[str, int]) -> tuple[bool, str]:
            ok, detail = api_attempt(gov, ent, job)
            with self.lock:
                self.progress += ok
            return ok, detail

        out = run_jobs(attempt, jobs, self.over.wait, time.monotonic() + DEADLINE)
        with self.lock:
            self.log.outcomes += out

    def _read(self, secret: str) -> None:
        """A bank system reading a consented profile all along (the asynchronous read path)."""
        c = httpx.Client(
            base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {secret}"}
        )
        while not self.stop.is_set():
            if self.pause.is_set() and not self.over.is_set():
                # Quiet through the outage, as a bank system between batches: its pooled
                # connections go stale unused, and the first read afterwards must still work.
                self.paused.set()
                self.over.wait(DEADLINE)
            after = self.over.is_set()
            try:
                r = c.get(f"/api/firms/{F1}")
                ok, detail = r.status_code == 200, f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as e:
                ok, detail = False, repr(e)
            self.reads.outcomes.append(Outcome(("read", 0), ok, after, detail))

    def finish(self) -> None:
        for t in self.threads[:-1]:
            t.join(DEADLINE + 30)
        # a few more reads once everything else is done: the service still serves
        n = len(self.reads.outcomes)
        wait_until(lambda: len(self.reads.outcomes) >= n + 5, "reads after the run")
        self.stop.set()
        self.threads[-1].join(60)


def _jobs(claims: list[int], consents: list[int], seed_: int) -> list[tuple[str, int]]:
    jobs = [("pay", c) for c in claims] + [("revoke", c) for c in consents]
    random.Random(seed_).shuffle(jobs)
    return jobs


def test_postmaster_killed_mid_run_every_payout_whole_and_the_service_recovers(
    cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = cluster.create_database("fault_postmaster")
    desk = seed(url, n_claims=36, n_consents=12)
    api_jobs = _jobs(desk.claims[0::2], desk.consents[0::2], 1)
    proc_jobs = _jobs(desk.claims[1::2], desk.consents[1::2], 2)
    total = len(api_jobs) + len(proc_jobs)
    with serve(url, tmp_path / "serve.log") as srv:
        workers = srv.workers()
        ctx = multiprocessing.get_context("spawn")
        over, q = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=process_worker, args=(url, desk.users, proc_jobs[i::2], over, DEADLINE, q)
            )
            for i in range(2)
        ]
        for p in procs:
            p.start()
        request.addfinalizer(lambda: [p.kill() for p in procs if p.is_alive()])
        api = ApiClients(srv.base, api_jobs, desk.bank_secret)
        done: list[list[tuple]] = []  # type: ignore[type-arg]
        proc_ok = 0
        proc_failed: list[str] = []

        def drain(timeout: float) -> None:
            nonlocal proc_ok
            try:
                kind, v = q.get(timeout=timeout)
            except queue.Empty:
                return
            if kind == "progress":
                proc_ok += v[0]
                if not v[0]:
                    proc_failed.append(v[1])
            else:
                done.append(v)

        # Mid-run: a quarter of the jobs done, and payouts waiting in the database.
        wait_until(lambda: drain(0.1) or proc_ok + api.progress >= total // 4, "a quarter done")
        api.pause.set()
        wait_until(api.paused.is_set, "the reader's pause")
        with claims_locked(url):
            wait_until(lambda: len(blocked_ports(url)) >= 2, "payouts in flight")
            cluster.kill_postmaster()
        cluster.start()
        over.set()
        api.over.set()
        api.finish()
        try:
            wait_until(lambda: drain(0.2) or len(done) == len(procs), "back-office processes")
        except AssertionError:
            raise AssertionError(f"processes: {proc_ok} ok, failures {proc_failed}") from None
        for p in procs:
            p.join(30)
        assert srv.proc.poll() is None and srv.workers() == workers, "the service was restarted"
    told = Log(api.log.outcomes + [Outcome(tuple(j), ok, a, d) for r in done for j, ok, a, d in r])  # type: ignore[arg-type]

    assert told.failed(after_fault=False), "the fault struck no job: it was not mid-run"
    # Recovered without a restart: once the database was back, no attempt failed, the first
    # request on each pooled connection included.
    assert told.failed(after_fault=True) == [], told.failed(after_fault=True)[:5]
    assert api.reads.failed(after_fault=True) == [], api.reads.failed(after_fault=True)[:5]
    assert told.ok("pay") == set(desk.claims) and told.ok("revoke") == set(desk.consents)
    books = check_books(url, desk, told)
    assert books["violations"] == []
    assert books["paid"] == len(desk.claims) and books["revoked"] == len(desk.consents)


def test_kill_9_of_an_api_worker_mid_request_leaves_no_half_done_payout(
    cluster: Cluster, tmp_path: Path
) -> None:
    url = cluster.create_database("fault_worker")
    desk = seed(url, n_claims=24, n_consents=0)
    jobs = _jobs(desk.claims, [], 3)
    with serve(url, tmp_path / "serve.log") as srv:
        before = srv.workers()
        assert len(before) == 2
        api = ApiClients(srv.base, jobs, desk.bank_secret, threads=4)
        wait_until(lambda: api.progress >= len(jobs) // 4, "a quarter paid")
        with claims_locked(url):
            # the victim: a worker with a payout of its own waiting in the database
            victim = wait_until(
                lambda: next(
                    (w for w in before if db_ports(w, cluster.port) & blocked_ports(url)), None
                ),
                "a worker with a payout in flight",
            )
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: victim not in srv.workers(), "the worker's death")
        api.over.set()
        # uvicorn's supervisor notices the dead worker and starts another in its place
        respawned = wait_until(lambda: set(srv.workers()) - set(before), "a new worker", 30)
        api.finish()
        survivor = next(w for w in before if w != victim)
        assert survivor in srv.workers() and len(srv.workers()) == 2 and respawned
    assert api.log.failed(after_fault=False), "no request died with the worker"
    assert api.log.failed(after_fault=True) == [], api.log.failed(after_fault=True)[:5]
    assert api.reads.failed(after_fault=True) == [], api.reads.failed(after_fault=True)[:5]
    assert api.log.ok("pay") == set(desk.claims)
    books = check_books(url, desk, api.log)
    assert books["violations"] == [] and books["paid"] == len(desk.claims)
