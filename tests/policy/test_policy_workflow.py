"""Budgets, maker-checker, idempotent payments and retroactive corrections, on both databases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from kejin.db import transaction
from kejin.errors import ConflictError, ValidationError
from kejin.policy import library, service
from kejin.policy.tables import Application, Payment, Programme

T0 = datetime(2026, 1, 5, 9, 0, 0)


def _investments(amounts: list[float], prefix: str = "I") -> pl.DataFrame:
    n = len(amounts)
    return pl.DataFrame(
        {
            "uscc": [f"F{i}" for i in range(n)],
            "investment_id": [f"{prefix}{i}" for i in range(n)],
            "kind": ["vc"] * n,
            "occurred_on": [date(2025, 6, 1)] * n,
            "investment_amount": amounts,
            "tech_firm": [True] * n,
        }
    )


def _published(
    s,
    budget: str,
    allocation: str = "fcfs",
    policy_id: str = "karamay_investment",
    year: int = 2025,
) -> str:
    prog = service.create_programme(
        s, policy_id=policy_id, year=year, budget=Decimal(budget), allocation=allocation, by="maker"
    )
    service.publish(s, prog.id, by="checker", as_of=date(2025, 12, 31))
    return prog.id


def _apply_review(s, pid: str, frame: pl.DataFrame) -> list[Application]:
    apps = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        apps += service.apply(
            s,
            pid,
            pl.DataFrame([row], schema=frame.schema),
            by="firm",
            now=T0 + timedelta(minutes=i),
        )
    for a in apps:
        service.review(s, a.id, by="reviewer")
    return apps


def test_publication_needs_a_second_officer(engine: Engine) -> None:
    with transaction(engine) as s:
        prog = service.create_programme(
            s,
            policy_id="karamay_investment",
            year=2025,
            budget=Decimal("100"),
            allocation="fcfs",
            by="alice",
        )
        with pytest.raises(ValidationError, match="maker-checker"):
            service.publish(s, prog.id, by="alice", as_of=date(2025, 1, 1))
        service.publish(s, prog.id, by="bob", as_of=date(2025, 1, 1))
        assert (prog.state, prog.approved_by) == ("published", "bob")


def test_full_cycle_fcfs_over_subscribed(engine: Engine) -> None:
    with transaction(engine) as s:
        pid = _published(s, "250000.00")
        apps = _apply_review(s, pid, _investments([10_000_000, 10_000_000, 10_000_000]))
        with pytest.raises(ValidationError, match="maker-checker"):
            service.approve(s, pid, by="reviewer")
        service.approve(s, pid, by="approver")
        assert [a.approved_amount for a in apps] == [
            Decimal("100000.00"),
            Decimal("100000.00"),
            Decimal("50000.00"),
        ]
        assert [a.state for a in apps] == ["approved"] * 3
        p1 = service.pay(s, apps[0].id, idempotency_key="k1", by="cashier")
        assert service.pay(s, apps[0].id, idempotency_key="k1", by="cashier").id == p1.id
        with pytest.raises(ConflictError, match="different payment"):
            service.pay(s, apps[1].id, idempotency_key="k1", by="cashier")
        with pytest.raises(ConflictError, match="only approved"):
            service.pay(s, apps[0].id, idempotency_key="k2", by="cashier")
        prog = s.get(Programme, pid)
        assert (prog.reserved, prog.paid) == (Decimal("250000.00"), Decimal("100000.00"))


def test_pro_rata_never_exceeds_the_budget(engine: Engine) -> None:
    with transaction(engine) as s:
        pid = _published(s, "100000.00", "pro_rata")
        apps = _apply_review(s, pid, _investments([10_000_000, 5_000_000, 3_000_000]))
        service.approve(s, pid, by="approver")
        grants = [a.approved_amount for a in apps]
        assert grants == [Decimal("55555.55"), Decimal("27777.77"), Decimal("16666.66")]
        assert sum(grants) <= Decimal("100000.00")


def test_ineligible_rows_cannot_apply(engine: Engine) -> None:
    with transaction(engine) as s:
        pid = _published(s, "100000.00")
        frame = _investments([1_000_000]).with_columns(pl.lit("pe").alias("kind"))
        with pytest.raises(ValidationError) as e:
            service.apply(s, pid, frame, by="firm")
        assert "angel or venture" in e.value.problems[0].reason_en
    with engine.connect() as c:
        assert c.execute(select(Application.id)).first() is None


def test_the_same_cost_item_is_not_paid_by_two_programmes(engine: Engine) -> None:
    loan = pl.DataFrame(
        {
            "uscc": ["F1"],
            "contract_no": ["L1"],
            "year": [2025],
            "average_balance": [5_000_000.0],
            "digital_transformation": [True],
        }
    )
    ip = pl.DataFrame(
        {
            "uscc": ["F1"],
            "contract_no": ["L1"],
            "year": [2025],
            "disbursed_on": [date(2025, 6, 1)],
            "average_balance": [5_000_000.0],
            "ip_pledge": [True],
        }
    )
    with transaction(engine) as s:
        a = _published(s, "1000000.00", policy_id="jian_ip_pledge")
        b = _published(s, "1000000.00", policy_id="jian_digital")
        _apply_review(s, a, ip)
        service.approve(s, a, by="approver")
        (second,) = _apply_review(s, b, loan)
        service.approve(s, b, by="approver")
        assert second.state == "rejected"
        assert "jian_ip_pledge-2025" in second.note


def test_retroactive_revision_gives_top_ups_and_claw_backs(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LPR share is revised to 30% (published late) and later to 15%: deltas against what was paid."""
    policy = library.get("jian_ip_pledge")
    share = policy.params["lpr_share"]
    from kejin.policy.params import Parameter, Value

    revised = Parameter(
        share.name,
        share.description,
        share.unit,
        share.document,
        share.article,
        (
            *share.values,
            Value(0.30, date(2025, 1, 1), date(9999, 12, 31), date(2026, 3, 1)),
            Value(0.15, date(2025, 1, 1), date(9999, 12, 31), date(2026, 6, 1)),
        ),
    )
    monkeypatch.setitem(policy.params, "lpr_share", revised)
    frame = pl.DataFrame(
        {
            "uscc": ["F1", "F2"],
            "contract_no": ["L1", "L2"],
            "year": [2025, 2025],
            "disbursed_on": [date(2025, 6, 1)] * 2,
            "average_balance": [5_000_000.0, 1_000_000.0],
            "ip_pledge": [True, True],
        }
    )
    with transaction(engine) as s:
        pid = _published(s, "200000.00", policy_id="jian_ip_pledge")
        apps = _apply_review(s, pid, frame)
        service.approve(s, pid, by="approver")
        for a in apps:
            service.pay(s, a.id, idempotency_key=f"pay-{a.id}", by="cashier")
        assert [a.paid_total for a in apps] == [Decimal("30000.00"), Decimal("6000.00")]
        deltas = service.corrections(s, pid, as_of=date(2026, 3, 1))
        assert [(d["kind"], d["delta"]) for d in deltas] == [
            ("top_up", Decimal("15000.00")),
            ("top_up", Decimal("3000.00")),
        ]
        assert service.corrections(s, pid, as_of=date(2026, 2, 28))[0]["delta"] == 0
        pays = service.apply_corrections(
            s, pid, as_of=date(2026, 3, 1), by="officer", key_prefix="rev1"
        )
        again = service.apply_corrections(
            s, pid, as_of=date(2026, 3, 1), by="officer", key_prefix="rev1"
        )
        assert [p.id for p in pays] == [p.id for p in again]
        back = service.apply_corrections(
            s, pid, as_of=date(2026, 6, 1), by="officer", key_prefix="rev2"
        )
        assert [(p.kind, p.amount) for p in back] == [
            ("claw_back", Decimal("-22500.00")),
            ("claw_back", Decimal("-4500.00")),
        ]
        assert [a.paid_total for a in apps] == [Decimal("22500.00"), Decimal("4500.00")]
        prog = s.get(Programme, pid)
        assert prog.paid == Decimal("27000.00")


def _clear(engine: Engine) -> None:
    with transaction(engine) as s:
        for t in (Payment, Application, Programme):
            s.execute(delete(t))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=80_000_000), min_size=1, max_size=8),
    budget=st.integers(min_value=0, max_value=2_000_000),
    allocation=st.sampled_from(["fcfs", "pro_rata"]),
    pays=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["a", "b", "c"])), max_size=12),
)
def test_never_over_budget_never_paid_twice(
    engine: Engine, amounts: list[int], budget: int, allocation: str, pays: list[tuple[int, str]]
) -> None:
    _clear(engine)
    with transaction(engine) as s:
        pid = _published(s, f"{budget}.00", allocation)
        apps = _apply_review(s, pid, _investments([float(a) for a in amounts]))
        service.approve(s, pid, by="approver")
        ids = [a.id for a in apps]
    for idx, key in pays:
        try:
            with transaction(engine) as s:
                service.pay(s, ids[idx % len(ids)], idempotency_key=key, by="cashier")
        except ConflictError:
            pass
    with transaction(engine) as s:
        prog = s.get(Programme, pid)
        approved = sum(
            (a.approved_amount or 0 for a in s.scalars(select(Application))), Decimal("0")
        )
        paid = [p for p in s.scalars(select(Payment))]
        assert approved <= prog.budget
        assert prog.reserved == approved <= prog.budget
        assert prog.paid == sum((p.amount for p in paid), Decimal("0")) <= prog.budget
        assert len({p.application_id for p in paid}) == len(paid)  # never paid twice
        assert len({p.idempotency_key for p in paid}) == len(paid)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(maker=st.sampled_from(["ann", "ben", "cai"]), checker=st.sampled_from(["ann", "ben", "cai"]))
def test_maker_is_never_the_checker(engine: Engine, maker: str, checker: str) -> None:
    _clear(engine)
    with transaction(engine) as s:
        prog = service.create_programme(
            s,
            policy_id="karamay_investment",
            year=2025,
            budget=Decimal("1000000"),
            allocation="fcfs",
            by=maker,
        )
        if maker == checker:
            with pytest.raises(ValidationError):
                service.publish(s, prog.id, by=checker, as_of=date(2025, 12, 31))
            return
        service.publish(s, prog.id, by=checker, as_of=date(2025, 12, 31))
        (app,) = service.apply(s, prog.id, _investments([1_000_000]), by="firm")
        service.review(s, app.id, by=maker)
        if maker == checker:
            return
        with pytest.raises(ValidationError):
            service.approve(s, prog.id, by=maker)
        service.approve(s, prog.id, by=checker)
        assert app.approved_by != app.reviewed_by


def test_a_top_up_beyond_the_budget_is_refused_and_nothing_is_written(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kejin.policy.params import Parameter, Value

    policy = library.get("jian_ip_pledge")
    share = policy.params["lpr_share"]
    revised = Parameter(
        share.name,
        share.description,
        share.unit,
        share.document,
        share.article,
        (*share.values, Value(0.30, date(2025, 1, 1), date(9999, 12, 31), date(2026, 3, 1))),
    )
    monkeypatch.setitem(policy.params, "lpr_share", revised)
    frame = pl.DataFrame(
        {
            "uscc": ["F1"],
            "contract_no": ["L1"],
            "year": [2025],
            "disbursed_on": [date(2025, 6, 1)],
            "average_balance": [5_000_000.0],
            "ip_pledge": [True],
        }
    )
    with transaction(engine) as s:
        pid = _published(s, "30000.00", policy_id="jian_ip_pledge")
        (app,) = _apply_review(s, pid, frame)
        service.approve(s, pid, by="approver")
        service.pay(s, app.id, idempotency_key="p1", by="cashier")
    with pytest.raises(ConflictError, match="exceed the budget"), transaction(engine) as s:
        service.apply_corrections(s, pid, as_of=date(2026, 3, 1), by="officer", key_prefix="rev")
    with transaction(engine) as s:
        assert s.get(Programme, pid).paid == Decimal("30000.00")
        assert len(list(s.scalars(select(Payment)))) == 1
