"""What the fault tests share: a desk of approved claims and consents, a real ``kejin serve``,
clients that keep a log of what they were told, and the checks of the books afterwards.

The clients act like people and bank systems would under an outage: each job (pay a claim,
revoke a consent) is tried; a failure leaves it pending; once the database is back the pending
jobs are retried with the *same* idempotency key, so a request whose fate the client never
learned cannot pay twice. Every success a client was told is kept, to be found in the database.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select

import kejin.fund.routes  # noqa: F401  (registers the fund rules, in back-office processes too)
from kejin.access.audit import verify
from kejin.access.rules import remove_visibility
from kejin.access.service import User, principal_of
from kejin.access.tables import AuditEvent, Consent
from kejin.db import make_engine, transaction
from kejin.fund import desk
from kejin.fund import service as svc
from kejin.fund.ledger import Actor, audit
from kejin.fund.tables import Claim, JournalEntry
from kejin.lending.tables import Loan, LoanStatus
from kejin.migrate import upgrade
from kejin.registry.tables import Enterprise

from . import world as world_mod
from .fundworld import POOL

AMOUNT, BALANCE = Decimal("200000.00"), Decimal("180000.00")
#: A claim of the Anhui scheme on a credit loan: pool 30% + 5 points of the 180,000 balance.
PAYOUT = Decimal("63000.00")
CAPITAL = Decimal("20000000.00")


@dataclass
class Desk:
    claims: list[int]
    consents: list[int]
    users: dict[str, int]
    bank_secret: str


def seed(url: str, n_claims: int, n_consents: int) -> Desk:
    """Migrate, build the service world, and approve ``n_claims`` claims of BKA (filed by
    ``bank``, reviewed by ``gov``, approved by ``rev``) ready for ``gov`` to pay; add
    ``n_consents`` consents of F1 to BKA for ``ent`` to revoke."""
    engine = make_engine(url)
    upgrade(engine)
    w = world_mod.build(engine)
    remove_visibility("test_push")  # the servers under test run in other processes
    today, now = date.today(), datetime.now().replace(microsecond=0)
    firms = [world_mod.uscc(1000 + i) for i in range(n_claims)]
    contracts = [f"FLT-{i:04d}" for i in range(n_claims)]
    with engine.begin() as conn:
        conn.execute(
            insert(Enterprise),
            [
                {"uscc": u, "name": f"故障测试企业{i}", "region_code": "320703",
                 "industry_code": "3985", "founded_on": date(2016, 1, 1), "stage": "growth",
                 "listing_board": "none", "dishonest": False, "deregistered": False,
                 "abnormal_operation": False}
                for i, u in enumerate(firms)
            ],
        )  # fmt: skip
        conn.execute(
            insert(Loan),
            [
                {"contract_no": c, "uscc": u, "institution_id": "BKA", "amount": AMOUNT,
                 "credit_line": AMOUNT, "rate": Decimal("0.04"),
                 "disbursed_on": today - timedelta(days=200),
                 "maturity_on": today + timedelta(days=500), "guarantee_type": "credit",
                 "first_time_borrower": False}
                for c, u in zip(contracts, firms, strict=True)
            ],
        )  # fmt: skip
        if n_consents:
            conn.execute(
                insert(Consent),
                [
                    {"uscc": world_mod.F1, "institution_id": "BKA", "purpose": "credit_assessment",
                     "scope": "profile", "granted_by": w.users["ent"], "granted_at": now,
                     "expires_at": now + timedelta(days=300)}
                    for _ in range(n_consents)
                ],
            )  # fmt: skip
    boss = Actor("gov", today, "设立")
    svc.create_pool(engine, POOL, "故障测试资金池", "anhui", boss, "flt:pool")
    svc.deposit(engine, POOL, "pool", CAPITAL, boss, "flt:capital")
    claims = []
    for c in contracts:
        svc.enrol(engine, POOL, c, Actor("bank", today, "备案"), f"flt:enrol:{c}")
        with engine.begin() as conn:
            conn.execute(
                insert(LoanStatus),
                {"contract_no": c, "month": today.replace(day=1), "balance": BALANCE,
                 "days_past_due": 120, "classification": "substandard"},
            )  # fmt: skip
        cid = svc.file_claim(engine, POOL, c, Actor("bank", today, "逾期"), f"flt:c:{c}")["claim"]
        svc.review(engine, cid, True, Actor("gov", today, "初审"), f"flt:r:{cid}")
        svc.approve(engine, cid, True, Actor("rev", today, "审批"), f"flt:a:{cid}")
        claims.append(cid)
    with engine.connect() as conn:
        consents = list(
            conn.scalars(
                select(Consent.id).where(Consent.scope == "profile", Consent.uscc == world_mod.F1)
            )
        )
    engine.dispose()
    return Desk(claims, consents, dict(w.users), w.secrets["t1"])


# ---------------------------------------------------------------- the service under test


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """Pids of uvicorn's worker processes (multiprocessing children of the supervisor)."""
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmd = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and b"spawn_main" in cmd:
                out.append(int(stat.parent.name))
        return sorted(out)


@contextmanager
def serve(url: str, log: Path, workers: int = 2) -> Iterator[Server]:
    """``kejin serve --workers N`` against ``url`` on a free loopback port, stopped afterwards."""
    from .pgcluster import free_port

    port = free_port()
    env = {**os.environ, "KEJIN_DATABASE_URL": url, "KEJIN_SESSION_KEY": secrets.token_urlsafe(32)}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kejin",
                "serve",
                "--workers",
                str(workers),
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    srv = Server(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(srv.base):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        while len(srv.workers()) < workers:  # both workers up, not just the first to answer
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.2)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def session_client(base: str, username: str) -> httpx.Client:
    """A person logged in (cookie session) who sends the CSRF header on every change."""
    c = httpx.Client(base_url=base, timeout=30)
    r = c.post("/api/auth/login", json={"username": username, "password": world_mod.PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


# ---------------------------------------------------------------- jobs and their log


Job = tuple[str, int]  # ("pay", claim id) or ("revoke", consent id)
#: Attempts of one job once the fault is over: one should do; a few show a pattern in the log.
RETRIES = 3


@dataclass
class Outcome:
    job: Job
    ok: bool
    after_fault: bool  # the attempt began after the database (or worker) was back
    detail: str = ""


@dataclass
class Log:
    outcomes: list[Outcome] = field(default_factory=list)

    def ok(self, kind: str) -> set[int]:
        return {o.job[1] for o in self.outcomes if o.ok and o.job[0] == kind}

    def failed(self, *, after_fault: bool) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and o.after_fault == after_fault]


def api_attempt(gov: httpx.Client, ent: httpx.Client, job: Job) -> tuple[bool, str]:
    """One HTTP attempt; success only on the answer a client would act on."""
    kind, ident = job
    try:
        if kind == "pay":
            r = gov.post(
                f"/api/fund/claim/{ident}/payment", json={"reason": "拨付", "key": f"api-{ident}"}
            )
            return r.status_code == 200 and Decimal(
                r.json()["paid"]
            ) == PAYOUT, f"{r.status_code} {r.text[:200]}"
        r = ent.post(f"/api/consents/{ident}/revoke")
        return r.status_code == 200 and r.json()[
            "revoked_at"
        ] is not None, f"{r.status_code} {r.text[:200]}"
    except httpx.HTTPError as e:
        return False, f"{type(e).__name__}: {e}"


def desk_attempt(engine: Engine, users: dict[str, int], job: Job) -> tuple[bool, str]:
    """One attempt from a back-office process: the same audited services the API calls."""
    from kejin.access.service import revoke_consent

    kind, ident = job
    try:
        with transaction(engine) as s:
            if kind == "pay":
                p = principal_of(s.get(User, users["gov"]))
                out = desk.pay(s, engine, p, ident, "拨付", f"proc-{ident}")
                return Decimal(out["paid"]) == PAYOUT, str(out)
            c = revoke_consent(s, principal_of(s.get(User, users["ent"])), ident)
            return c.revoked_at is not None, ""
    except Exception as e:  # an outage shows as any database error
        return False, f"{type(e).__name__}: {str(e)[:200]}"


def run_jobs(
    attempt: Callable[[Job], tuple[bool, str]],
    jobs: list[Job],
    fault_over: Callable[[float], bool],
    deadline: float,
) -> list[Outcome]:
    """Try every job once, then — once the fault is over — retry the failed ones until done.

    ``fault_over(timeout)`` waits up to ``timeout`` for the fault to be over and says whether
    it is; an attempt counts as *after the fault* when it began once it was over.
    """
    out: list[Outcome] = []
    pending = list(jobs)
    while pending and time.monotonic() < deadline:
        job = pending.pop(0)
        after = fault_over(0)
        ok, detail = attempt(job)
        out.append(Outcome(job, ok, after, detail))
        if not ok and sum(o.job == job and o.after_fault for o in out) < RETRIES:
            pending.append(job)
            if not after:
                fault_over(max(0.0, deadline - time.monotonic()))
    return out


def process_worker(
    url: str, users: dict[str, int], jobs: list[Job], over: Any, deadline_in: float, q: Any
) -> None:
    """A back-office process (multiprocessing target): its own engine, its own log."""
    engine = make_engine(url, pool_size=2)
    deadline = time.monotonic() + deadline_in

    def attempt(job: Job) -> tuple[bool, str]:
        ok, detail = desk_attempt(engine, users, job)
        q.put(("progress", (ok, detail[:160])))
        return ok, detail

    outcomes = run_jobs(attempt, jobs, lambda t: bool(over.wait(t)), deadline)
    q.put(("done", [(o.job, o.ok, o.after_fault, o.detail) for o in outcomes]))
    engine.dispose()


# ---------------------------------------------------------------- the books afterwards


def check_books(url: str, desk_: Desk, told: Log) -> dict[str, Any]:
    """Every payout whole or absent, every reported success present, both chains intact.

    Returns the figures the tests assert on, with a list of every violation found.
    """
    engine = make_engine(url)
    bad: list[str] = []
    with engine.connect() as conn:
        status = dict(conn.execute(select(Claim.id, Claim.status)).all())
        entries = dict(
            conn.execute(
                select(JournalEntry.claim_id, func.count())
                .where(JournalEntry.kind == "payout")
                .group_by(JournalEntry.claim_id)
            ).all()
        )
        audited = _audited(conn, "fund.pay")
        revoked = set(conn.scalars(select(Consent.id).where(Consent.revoked_at.is_not(None))))
        revoke_audited = _audited(conn, "consent.revoke")
        books = audit(conn, POOL)
    for cid in desk_.claims:
        paid = status[cid] == "paid"
        if paid != (entries.get(cid, 0) == 1) or paid != (cid in audited):
            bad.append(
                f"claim {cid}: status {status[cid]}, {entries.get(cid, 0)} payout entries, audited {cid in audited}"
            )
    for cid in sorted(told.ok("pay")):
        if status[cid] != "paid":
            bad.append(f"claim {cid}: reported paid, status {status[cid]}")
    for cid in desk_.consents:
        if (cid in revoked) != (cid in revoke_audited):
            bad.append(f"consent {cid}: revoked {cid in revoked}, audited {cid in revoke_audited}")
    for cid in sorted(told.ok("revoke") - revoked):
        bad.append(f"consent {cid}: reported revoked, still active")
    if not books.ok:
        bad.append(f"fund books: {books.to_dict()}")
    chain = verify(engine)
    if not chain.ok:
        bad.append(f"audit chain broken after {chain.events} events")
    engine.dispose()
    return {
        "violations": bad,
        "paid": sum(s == "paid" for s in status.values()),
        "revoked": len(revoked),
    }


def _audited(conn: Any, action: str) -> set[int]:
    ids = conn.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == action))
    return {int(i) for i in ids}


# ---------------------------------------------------------------- requests held in the database


@contextmanager
def claims_locked(url: str) -> Iterator[Engine]:
    """Hold every claim row locked, so payouts in flight wait inside the database: a fault
    struck while they wait strikes them mid-request, whatever the scheduling."""
    engine = make_engine(url, pool_size=1)
    conn = engine.connect()
    try:
        conn.exec_driver_sql("SELECT id FROM fund_claims FOR UPDATE")
        yield engine
    finally:
        try:
            conn.rollback()
            conn.close()
        except Exception:  # after a postmaster kill the connection is gone
            conn.invalidate()
        engine.dispose()


def blocked_ports(url: str) -> set[int]:
    """Client ports of the backends waiting on a lock (a payout held by ``claims_locked``)."""
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        ports = set(
            conn.exec_driver_sql(
                "SELECT client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).scalars()
        )
    engine.dispose()
    return ports


def db_ports(pid: int, pg_port: int) -> set[int]:
    """Local ports of the process's TCP connections to the database server."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, inode = cols[1], cols[2], cols[9]
        if inode in inodes and int(remote.split(":")[1], 16) == pg_port:
            ports.add(int(local.split(":")[1], 16))
    return ports


def wait_until(cond: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """Poll ``cond`` until it is truthy; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (v := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return v
