"""Concurrent claims and payouts against one pool on the real PostgreSQL (8+ workers).

Row locks, not luck: every payout flips its claim from approved to paid with a guarded UPDATE and
debits the pool's cash with a guarded UPDATE, so whatever the interleaving the pool never goes
below zero and no claim is paid twice. The tests hammer exactly those two guards.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from fundkit import actor, bad_status, seed_loans
from sqlalchemy import Engine, event, func, select

from kejin.db import make_engine
from kejin.errors import ConflictError, KejinError, ValidationError
from kejin.fund import service as svc
from kejin.fund.ledger import audit
from kejin.fund.tables import Claim, Enrolment, FundCommand, JournalEntry, Posting

D = Decimal
WORKERS = 8


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL; SQLite has a single writer")
    return make_engine(engine.url.render_as_string(hide_password=False), pool_size=WORKERS + 4)


def _approved_claims(engine: Engine, n: int, capital: str) -> list[int]:
    contracts = seed_loans(engine, n=n)
    svc.create_pool(engine, "P1", "并发", "anhui", actor("m", date(2026, 1, 2)), "pool")
    svc.deposit(engine, "P1", "pool", D(capital), actor("m", date(2026, 1, 2)), "cap")
    ids = []
    for i, c in enumerate(contracts):
        svc.enrol(engine, "P1", c, actor("bank", date(2026, 1, 10)), f"e{i}")
        bad_status(engine, c, date(2026, 5, 1), D("800000.00"))
        cid = svc.file_claim(engine, "P1", c, actor("bank", date(2026, 5, 4)), f"c{i}")["claim"]
        svc.review(engine, cid, True, actor("r", date(2026, 5, 5)), f"r{i}")
        svc.approve(engine, cid, True, actor("a", date(2026, 5, 6)), f"a{i}")
        ids.append(cid)
    return ids


def _run(pg: Engine, jobs: list, workers: int = WORKERS) -> list:  # type: ignore[type-arg]
    def one(job):  # type: ignore[no-untyped-def]
        fn, args = job
        try:
            return ("ok", fn(*args))
        except KejinError as e:
            return (type(e).__name__, e.reason_en)

    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, jobs))


def test_racing_payouts_never_overdraw_and_never_pay_twice(pg: Engine) -> None:
    claims = _approved_claims(pg, 24, capital="5000000.00")  # 280,000 each: 17 fit
    rng = random.Random(7)
    jobs = []
    for w in range(WORKERS):
        order = claims[:]
        rng.shuffle(order)
        # distinct keys per worker: each is a genuinely different attempt to pay
        jobs += [
            (svc.pay, (pg, "P1", c, actor("t", date(2026, 5, 21)), f"w{w}-{c}")) for c in order
        ]
    rng.shuffle(jobs)
    results = _run(pg, jobs)
    ok = [r for r in results if r[0] == "ok"]
    assert len(ok) == 17
    assert {r[0] for r in results} <= {"ok", "ConflictError", "ValidationError"}
    with pg.connect() as conn:
        rep = audit(conn, "P1")
        paid = conn.execute(
            select(func.count()).select_from(Claim).where(Claim.status == "paid")
        ).scalar_one()
        payouts = conn.execute(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "payout")
        ).scalar_one()
    assert rep.ok, rep.to_dict()
    assert paid == payouts == 17
    assert svc.summary(pg, "P1", date(2026, 5, 21))["balance"] == D("5000000.00") - 17 * D(
        "280000.00"
    )


def test_same_key_from_many_workers_pays_once_and_replays(pg: Engine) -> None:
    claims = _approved_claims(pg, 3, capital="5000000.00")
    jobs = [
        (svc.pay, (pg, "P1", c, actor("t", date(2026, 5, 21)), f"pay-{c}"))
        for c in claims
        for _ in range(WORKERS)
    ]
    results = _run(pg, jobs)
    assert all(r[0] == "ok" for r in results), results
    replays = [r[1]["replayed"] for r in results]
    assert replays.count(False) == 3 and replays.count(True) == 3 * WORKERS - 3
    with pg.connect() as conn:
        assert audit(conn, "P1").ok


def test_racing_claims_on_one_loan_file_once(pg: Engine) -> None:
    contracts = seed_loans(pg, n=2)
    svc.create_pool(pg, "P1", "并发", "anhui", actor("m", date(2026, 1, 2)), "pool")
    svc.deposit(pg, "P1", "pool", D("5000000.00"), actor("m", date(2026, 1, 2)), "cap")
    jobs = [
        (svc.enrol, (pg, "P1", c, actor("bank", date(2026, 1, 10)), f"e-{c}-{w}"))
        for c in contracts
        for w in range(WORKERS)
    ]
    results = _run(pg, jobs)
    assert sum(r[0] == "ok" for r in results) == 2
    for c in contracts:
        bad_status(pg, c, date(2026, 5, 1), D("800000.00"))
    jobs = [
        (svc.file_claim, (pg, "P1", c, actor("bank", date(2026, 5, 4)), f"c-{c}-{w}"))
        for c in contracts
        for w in range(WORKERS)
    ]
    results = _run(pg, jobs)
    assert sum(r[0] == "ok" for r in results) == 2
    assert {r[0] for r in results} <= {"ok", ConflictError.__name__, ValidationError.__name__}
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Claim)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(Enrolment)).scalar_one() == 2


def test_payouts_racing_recoveries_and_deposits_keep_the_books(pg: Engine) -> None:
    claims = _approved_claims(pg, 16, capital="2000000.00")  # 7 fit before any top-up
    jobs = [(svc.pay, (pg, "P1", c, actor("t", date(2026, 5, 21)), f"p-{c}")) for c in claims]
    jobs += [
        (svc.deposit, (pg, "P1", "pool", D("280000.00"), actor("m", date(2026, 5, 21)), f"d{i}"))
        for i in range(4)
    ]
    random.Random(3).shuffle(jobs)
    _run(pg, jobs)
    paid = [c for c in claims if _status(pg, c) == "paid"]
    jobs = [
        (svc.record_recovery, (pg, c, D("10000.00"), actor("bank", date(2026, 6, 1)), f"r{c}-{k}"))
        for c in paid
        for k in range(3)
    ]
    jobs += [(svc.pay, (pg, "P1", c, actor("t", date(2026, 6, 1)), f"p2-{c}")) for c in claims]
    random.Random(5).shuffle(jobs)
    _run(pg, jobs)
    with pg.connect() as conn:
        rep = audit(conn, "P1")
    assert rep.ok, rep.to_dict()
    s = svc.summary(pg, "P1", date(2026, 6, 1))
    assert s["balance"] >= 0
    assert s["balance"] == D("3120000.00") - s["paid"] + s["recovered"]


def _status(engine: Engine, claim_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Claim.status).where(Claim.id == claim_id)).scalar_one()


def test_payout_is_one_statement_and_falls_back_when_its_shard_is_short(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL payout writes everything in one statement; a short shard takes the general
    path (all cash shards locked) and the books are the same either way."""
    claims = _approved_claims(pg, 2, capital="600000.00")  # 37,500 a shard; 280,000 a claim
    seen: list[str] = []

    @event.listens_for(pg, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        seen.append(statement.split()[0])

    pipelined = svc._pipelined

    def _one(conn, params):  # type: ignore[no-untyped-def]
        seen.append("WITH")
        return pipelined(conn, params)

    monkeypatch.setattr(svc, "_pipelined", _one)

    slow = svc.pay(pg, "P1", claims[0], actor("t", date(2026, 5, 21)), "slow")
    assert seen[0] == "WITH" and len(seen) > 1 and slow["paid"] == "280000.00"
    svc.deposit(pg, "P1", "pool", D("9000000.00"), actor("m", date(2026, 5, 21)), "more")
    seen.clear()
    fast = svc.pay(pg, "P1", claims[1], actor("t", date(2026, 5, 21)), "fast")
    # claim flip, cash debit, entries, postings, balances and command row: one statement
    assert seen == ["WITH"], seen
    assert fast["paid"] == "280000.00" and fast["replayed"] is False
    again = svc.pay(pg, "P1", claims[1], actor("t", date(2026, 5, 21)), "fast")
    assert again == {**fast, "replayed": True}
    with pg.connect() as conn:
        rep = audit(conn, "P1")
        lines = {
            c: sorted(
                conn.execute(
                    select(Posting.amount, JournalEntry.kind)
                    .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                    .where(JournalEntry.claim_id == c)
                ).all()
            )
            for c in claims
        }
        stored = dict(
            conn.execute(
                select(FundCommand.key, FundCommand.kind).where(
                    FundCommand.key.in_(["slow", "fast"])
                )
            ).all()
        )
    assert rep.ok, rep.to_dict()
    assert stored == {"slow": "pay", "fast": "pay"}
    # Same bank, same scheme: both paths post the same lines to the same entry kinds.
    assert lines[claims[0]] == lines[claims[1]] and len(lines[claims[0]]) > 2
    assert svc.summary(pg, "P1", date(2026, 5, 21))["balance"] == D("9600000.00") - 2 * D(
        "280000.00"
    )
