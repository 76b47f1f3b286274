"""Tech-firm model: outcomes from the loan book, time-based split, features without the future."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from tests.credit.firms import add_firm

from kejin.credit import features, metrics, points_link, tech_model
from kejin.credit.tables import CreditModel
from kejin.db import make_engine, transaction
from kejin.lending.tables import LoanStatus
from kejin.migrate import upgrade
from kejin.points.service import score_run
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
    """Without points runs the model uses registry features only, and says so."""
    build_region(sqlite_engine, firms=12_000, seed=5)
    art, res, split = tech_model.fit_and_test(
        sqlite_engine, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1)
    )
    assert res["points_features"] is False
    assert res["flags"] == [points_link.UNAVAILABLE]
    assert "points_total" not in split.train.columns
    assert res["test"]["bads"] == int(split.test["bad"].sum()) >= tech_model.MIN_DEFAULTS
    assert 0 < res["test"]["auc_se"] < 0.2
    # the challenger's monotone constraints name only features present (no points here)
    _, gres, _ = tech_model.fit_and_test(
        sqlite_engine, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1), "gbm"
    )
    assert gres["points_features"] is False and gres["test"]["auc"] > 0.6
    assert split.train.height > 500 and split.test.height > 500
    assert res["train"]["window"] == "2025-07-01..2026-01-01"
    assert res["test"]["window"] == "2026-01-01..2026-07-01"
    assert res["test"]["auc"] > 0.6
    assert "max_dpd_ever" in res["dropped_constant"]
    names = {v["name"] for v in art["variables"]}
    assert names <= set(features.MODEL_FEATURES)


def test_points_features_join_the_year_before_as_of() -> None:
    """No look-ahead: features as of 2026-01-01 use the 2025 run, never 2026's."""
    pts = pl.DataFrame(
        {
            "uscc": ["A", "A", "A"],
            "year": [2024, 2025, 2026],
            "total": [50.0, 60.0, 99.0],
            "base": [45.0, 55.0, 90.0],
            "bonus": [5.0, 5.0, 9.0],
            "system": ["most:1"] * 3,
        }
    )
    got = tech_model.points_features(pts, date(2026, 1, 1)).row(0, named=True)
    assert got == {"uscc": "A", "points_total": 60.0, "points_base": 55.0, "points_bonus": 5.0}
    assert tech_model.points_usable(pts, date(2025, 7, 1), date(2026, 1, 1))
    assert not tech_model.points_usable(pts, date(2024, 1, 1))
    assert not tech_model.points_usable(None, date(2026, 1, 1))


def test_points_features_enter_the_model(sqlite_engine: Engine) -> None:
    build_region(sqlite_engine, firms=12_000, seed=5)
    for year in (2024, 2025):
        score_run(sqlite_engine, "most-v1", year)
    art, res, split = tech_model.fit_and_test(
        sqlite_engine, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1)
    )
    assert res["points_features"] is True and res["flags"] == []
    assert set(tech_model.POINTS_FEATURES) <= set(split.test.columns)
    assert split.test["points_total"].null_count() < split.test.height
    with sqlite_engine.connect() as conn:
        pts = points_link.points_frame(conn)
    assert pts is not None
    # the test frame carries the 2025 run's totals (features as of 2026-01-01)
    want = pts.filter(pl.col("year") == 2025).select("uscc", "total")
    joined = split.test.select("uscc", "points_total").join(want, on="uscc")
    assert joined.height > 0 and (joined["points_total"] == joined["total"]).all()
    names = {v["name"] for v in art["variables"]}
    assert names <= set(features.MODEL_FEATURES) | set(tech_model.POINTS_FEATURES)


def test_too_few_defaults_are_refused(sqlite_engine: Engine) -> None:
    build_region(sqlite_engine, firms=5_000, seed=20241)
    with pytest.raises(tech_model.InsufficientDefaultsError) as e:
        tech_model.fit_and_test(sqlite_engine, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1))
    assert e.value.exit_code == 3
    assert "违约样本不足" in e.value.reason_zh and "too few defaults" in e.value.reason_en
    assert {p.field for p in e.value.problems} <= {"train_defaults", "test_defaults"}
    assert e.value.problems


def test_auc_standard_error_hand_computed() -> None:
    # Hanley & McNeil: A=0.8, n_bad=10, n_good=100 → Q1=0.8/1.2, Q2=1.28/1.8
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    want = ((0.16 + 9 * (q1 - 0.64) + 99 * (q2 - 0.64)) / 1000) ** 0.5
    assert tech_model.auc_se(0.8, 10, 100) == pytest.approx(want)
    assert tech_model.auc_se(0.8, 100, 1000) < tech_model.auc_se(0.8, 10, 1000)
    y = np.array([0, 1])
    assert metrics.auc(y, np.array([0.1, 0.9])) == 1.0


KEJIN = [sys.executable, "-c", "from kejin.cli import main; main()"]


def test_cli_refuses_to_register_on_a_small_region(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_region(engine, firms=5_000, seed=20241)
    env = {**os.environ, "KEJIN_DATABASE_URL": url, "COLUMNS": "2000"}
    out = tmp_path / "m.json"
    args = [*KEJIN, "credit", "tech-model", "--out", str(out), "--register", "tech_firm"]
    r = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 3, r.stderr
    assert "违约样本不足" in r.stderr and "too few defaults" in r.stderr
    assert "Warning" not in r.stderr
    r = subprocess.run(
        [*args, "--skip-if-insufficient"], capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 0, r.stderr
    assert "not trained" in r.stderr and r.stdout == ""
    assert not out.exists()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CreditModel)).scalar() == 0
    # with the threshold lowered explicitly, it trains and reports the standard error
    r = subprocess.run(
        [*args, "--min-defaults", "3"], capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["test"]["auc_se"] > 0.1
    engine.dispose()
