"""Tech-firm model: outcomes from the loan book, time-based split, features without the future."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from tests.credit.firms import add_firm

from kejin.credit import features, tech_model
from kejin.db import transaction
from kejin.lending.tables import LoanStatus
from kejin.synth.service import build_region


def test_outcomes_from_days_past_due(engine: Engine) -> None:
    ok = add_firm(engine, 1, dpd=0)
    bad = add_firm(engine, 2, dpd=0)
    already = add_firm(engine, 3, dpd=120)
    with transaction(engine) as s:
        s.add(
            LoanStatus(
                contract_no="L2",
                month=date(2026, 6, 1),
                balance=Decimal(1),
                days_past_due=95,
                classification="substandard",
            )
        )
        s.add(
            LoanStatus(
                contract_no="L1",
                month=date(2026, 7, 1),
                balance=Decimal(1),
                days_past_due=120,
                classification="substandard",
            )
        )
    with engine.connect() as conn:
        r = features.load(conn)
    out = tech_model.outcomes(r, date(2026, 5, 1), date(2026, 7, 1))
    got = dict(zip(out["uscc"], out["bad"], strict=True))
    # firm 1 defaults only after the window; firm 3 was already in default at its start
    assert got == {ok: 0, bad: 1}
    assert already not in got


def test_features_do_not_see_the_future(engine: Engine) -> None:
    code = add_firm(engine, 5, revenue=("10000000", "40000000"), year=2026)
    with engine.connect() as conn:
        r = features.load(conn, code)
    early = features.firm_features(r, date(2025, 3, 1)).row(0, named=True)
    late = features.firm_features(r, date(2026, 3, 1)).row(0, named=True)
    assert early["revenue"] == Decimal("10000000.00") and early["revenue_growth"] is None
    assert late["revenue_growth"] == pytest.approx(3.0)
    assert early["qualifications"] == 1  # valid from 2024-01-01


def test_out_of_time_model_on_a_synthetic_region(sqlite_engine: Engine) -> None:
    build_region(sqlite_engine, firms=12_000, seed=5)
    art, res, split = tech_model.fit_and_test(
        sqlite_engine, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1)
    )
    assert split.train.height > 500 and split.test.height > 500
    assert res["train"]["window"] == "2025-07-01..2026-01-01"
    assert res["test"]["window"] == "2026-01-01..2026-07-01"
    assert res["test"]["auc"] > 0.6
    assert "max_dpd_ever" in res["dropped_constant"]
    names = {v["name"] for v in art["variables"]}
    assert names <= set(features.MODEL_FEATURES)
