"""Hypothesis drives random sequences of fund commands; after every step the ledger must audit.

Invariants checked after each step: the pool's balance is never negative; all postings sum to
zero and every maintained balance equals its postings; each claim is paid at most once; each payout
is within its share and caps; recoveries never exceed what was paid. The machine also keeps its
own model of the pool's cash and compares it with the books, and replays idempotency keys.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

from fundkit import actor, seed_loans
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

from kejin.db import Base, make_engine
from kejin.errors import KejinError
from kejin.fund import service as svc
from kejin.fund.ledger import audit

D = Decimal
N_LOANS = 6
#: Loans kept for :meth:`FundMachine.full_cycle` alone, so no other rule has touched them.
N_CYCLE = 4
money = st.decimals(min_value=D("1000.00"), max_value=D("900000.00"), places=2)


class FundMachine(RuleBasedStateMachine):
    engine_url: str | None = None  # PostgreSQL subclass sets it; otherwise in-memory SQLite

    def __init__(self) -> None:
        super().__init__()
        if self.engine_url is None:
            self.engine = make_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            Base.metadata.create_all(self.engine)
        else:
            self.engine = make_engine(self.engine_url)
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with self.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        self.day = date(2026, 1, 5)
        self.n = 0
        self.cash = D("0.00")
        self.claims: dict[int, str] = {}
        self.paid: dict[int, Decimal] = {}
        self.recovered: dict[int, Decimal] = {}
        self.last: tuple[str, tuple, dict] | None = None  # type: ignore[type-arg]
        self.cycle_next = N_LOANS

    def teardown(self) -> None:
        self.engine.dispose()

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _try(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except KejinError:
            return None

    @initialize(
        scheme=st.sampled_from(["anhui", "pingshan", "jiangsu_suke"]),
        capital=st.decimals(min_value=D("100000.00"), max_value=D("3000000.00"), places=2),
    )
    def setup(self, scheme: str, capital: Decimal) -> None:
        self.scheme = scheme
        self.contracts = seed_loans(
            self.engine, n=N_LOANS + N_CYCLE, amount=D("1000000.00"), guarantee="credit"
        )
        svc.create_pool(self.engine, "P", "假设", scheme, actor("m", self.day), "pool")
        self.funder = "province" if scheme == "jiangsu_suke" else "pool"
        self.deposit(capital)

    def _a(self, who: str) -> object:
        return actor(who, self.day)

    @rule(days=st.integers(0, 10))
    def advance(self, days: int) -> None:
        self.day += timedelta(days=days)

    @rule(amount=money)
    def deposit(self, amount: Decimal) -> None:
        key = self._key()
        svc.deposit(self.engine, "P", self.funder, amount, self._a("m"), key)
        self.cash += amount
        self.last = (key, (self.engine, "P", self.funder, amount, self._a("m"), key), {})

    @precondition(lambda self: self.last is not None)
    @rule(change=st.booleans())
    def replay_last_deposit(self, change: bool) -> None:
        key, args, _ = self.last  # type: ignore[misc]
        engine, pool, party, amount, who, _ = args
        if change:
            assert self._try(svc.deposit, engine, pool, party, amount + D("1.00"), who, key) is None
        else:
            assert svc.deposit(*args)["replayed"] is True

    @rule(i=st.integers(0, N_LOANS - 1))
    def enrol(self, i: int) -> None:
        self._try(svc.enrol, self.engine, "P", self.contracts[i], self._a("bank"), self._key())
        if self.scheme == "pingshan":
            out = self._try(
                svc.collect_fee,
                self.engine,
                "P",
                self.contracts[i],
                None,
                self._a("bank"),
                self._key(),
            )
            if out is not None:
                self.cash += D(out["fee"])

    @rule(i=st.integers(0, N_LOANS - 1), balance=money, dpd=st.integers(0, 200))
    def status(self, i: int, balance: Decimal, dpd: int) -> None:
        cls = "substandard" if dpd >= 90 else "normal"
        self._try(
            svc.record_status,
            self.engine,
            "P",
            self.contracts[i],
            self.day.replace(day=1),
            balance,
            dpd,
            cls,
            self._a("bank"),
            self._key(),
        )

    @rule(i=st.integers(0, N_LOANS - 1), balance=money)
    def loan_goes_bad(self, i: int, balance: Decimal) -> None:
        """The common path in one step, so payouts are reached often: enrol, 120 dpd, claim."""
        self.enrol(i)
        self._try(
            svc.record_status,
            self.engine,
            "P",
            self.contracts[i],
            self.day.replace(day=1),
            balance,
            120,
            "substandard",
            self._a("bank"),
            self._key(),
        )
        self.file(i)

    @rule(i=st.integers(0, N_LOANS - 1))
    def file(self, i: int) -> None:
        out = self._try(
            svc.file_claim, self.engine, "P", self.contracts[i], self._a("bank"), self._key()
        )
        if out is not None:
            self.claims[out["claim"]] = "filed"

    @rule(data=st.data(), ok=st.sampled_from([True, True, True, False]), and_pay=st.booleans())
    def review_and_approve(self, data: st.DataObject, ok: bool, and_pay: bool) -> None:
        if not self.claims:
            return
        cid = data.draw(st.sampled_from(sorted(self.claims)))
        self._try(svc.review, self.engine, cid, ok, self._a("rev"), self._key())
        # maker-checker: the reviewer can never approve
        assert self._try(svc.approve, self.engine, cid, True, self._a("rev"), self._key()) is None
        self._try(svc.approve, self.engine, cid, True, self._a("app"), self._key())
        if and_pay:
            self._pay(cid)

    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        if not self.claims:
            return
        self._pay(data.draw(st.sampled_from(sorted(self.claims))))

    def _pay(self, cid: int) -> None:
        out = self._try(svc.pay, self.engine, "P", cid, self._a("t"), self._key())
        if out is not None:
            assert cid not in self.paid, "paid twice"
            event("payout")
            self.paid[cid] = D(out["paid"])
            self.cash -= D(out["paid"])

    @precondition(lambda self: hasattr(self, "scheme") and self.cycle_next < N_LOANS + N_CYCLE)
    @rule(balance=st.decimals(min_value=D("10000.00"), max_value=D("900000.00"), places=2))
    def full_cycle(self, balance: Decimal) -> None:
        """A fresh loan goes the whole way with every step asserted, so the machine cannot pass
        by refusing everything: the only refusals allowed are the pool's own limits (leverage, or
        the bank suspended for its compensation rate, at enrolment; cash at payout), and when none
        binds, money moves to the bank."""
        c = self.contracts[self.cycle_next]
        self.cycle_next += 1
        try:
            svc.enrol(self.engine, "P", c, self._a("bank"), self._key())
        except KejinError as e:
            assert {p.field for p in e.problems} <= {"leverage", "institution_id"}, e.to_dict()
            return
        if self.scheme == "pingshan":
            fee = svc.collect_fee(self.engine, "P", c, None, self._a("bank"), self._key())
            self.cash += D(fee["fee"])
        month = self.day.replace(day=1)
        svc.record_status(
            self.engine, "P", c, month, balance, 120, "substandard", self._a("bank"), self._key()
        )
        cid = svc.file_claim(self.engine, "P", c, self._a("bank"), self._key())["claim"]
        self.claims[cid] = "filed"
        svc.review(self.engine, cid, True, self._a("rev"), self._key())
        svc.approve(self.engine, cid, True, self._a("app"), self._key())
        try:
            out = svc.pay(self.engine, "P", cid, self._a("t"), self._key())
        except KejinError as e:
            assert {p.reason_en for p in e.problems} == {"insufficient pool balance"}, e.to_dict()
            return
        paid = D(out["paid"])
        assert paid > 0 or out.get("caps"), out  # only a binding fee cap may leave it at zero
        event("full cycle paid")
        self.paid[cid] = paid
        self.cash -= paid

    @rule(data=st.data(), frac=st.decimals(min_value=D("0.01"), max_value=D("2"), places=2))
    def recover(self, data: st.DataObject, frac: Decimal) -> None:
        if not self.paid:
            return
        cid = data.draw(st.sampled_from(sorted(self.paid)))
        amount = max(D("1.00"), (self.paid[cid] * frac).quantize(D("0.01")))
        out = self._try(svc.record_recovery, self.engine, cid, amount, self._a("bank"), self._key())
        if out is not None:
            event("recovery")
            self.cash += D(out["to_pool"])
            self.recovered[cid] = self.recovered.get(cid, D(0)) + D(out["to_pool"])

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        if not self.paid:
            return
        cid = data.draw(st.sampled_from(sorted(self.paid)))
        out = self._try(svc.reverse_payout, self.engine, cid, self._a("m"), self._key())
        if out is not None:
            event("reversal")
            self.cash += self.paid.pop(cid)

    @rule(data=st.data())
    def write_off(self, data: st.DataObject) -> None:
        if not self.paid:
            return
        cid = data.draw(st.sampled_from(sorted(self.paid)))
        self._try(svc.write_off, self.engine, cid, self._a("m"), self._key())

    @invariant()
    def books_audit(self) -> None:
        if not hasattr(self, "scheme"):
            return
        with self.engine.connect() as conn:
            rep = audit(conn, "P")
        assert rep.ok, rep.to_dict()
        s = svc.summary(self.engine, "P", self.day)
        assert s["balance"] >= 0
        assert s["balance"] == self.cash
        for cid, got in self.recovered.items():
            assert got <= self.paid.get(cid, got)


FundMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("KEJIN_FUND_EXAMPLES", "40")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFundOnSqlite = FundMachine.TestCase


def test_fund_machine_on_postgresql(pg_url: str) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    class PgMachine(FundMachine):
        engine_url = pg_url

    run_state_machine_as_test(
        PgMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
