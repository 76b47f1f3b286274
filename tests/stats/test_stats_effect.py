"""Policy-effect evaluation: the planted effect of the synthetic programme is recovered within its
confidence interval, and the matched DiD computes what it says on a hand-made panel."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, select

from kejin.errors import NotFoundError
from kejin.stats.effect import OUTCOMES, did, effect_report, match
from kejin.synth.model import AS_OF
from kejin.synth.programme import programme_id
from kejin.synth.service import build_region
from kejin.synth.tables import SynthEffect


def test_the_planted_effect_is_recovered_within_its_interval(sqlite_engine: Engine) -> None:
    build_region(sqlite_engine, firms=4000, seed=20241)
    pid = programme_id(AS_OF)
    res = effect_report(sqlite_engine, pid)
    with sqlite_engine.connect() as c:  # the latent truth: read here, never by the estimator
        truth = dict(c.execute(select(SynthEffect.outcome, SynthEffect.factor)).all())
    assert set(truth) == set(OUTCOMES)
    assert res["beneficiaries"] > 300 and res["unmatched"] == 0
    for outcome, factor in truth.items():
        r = res["outcomes"][outcome]
        assert r["ci_low"] <= math.log(factor) <= r["ci_high"], (outcome, r)
    # the effects that exist are detected (the interval excludes 0); the null one is not
    assert res["outcomes"]["rd_expense"]["ci_low"] > 0
    assert res["outcomes"]["revenue"]["ci_low"] > 0
    with pytest.raises(NotFoundError):
        effect_report(sqlite_engine, "no-such-programme")


def _panel(n: int, effect: float) -> pl.DataFrame:
    """``n`` treated and ``n`` controls, each control a twin of one treated firm (same cell,
    size); every firm grows 10% from pre to post, the treated by ``effect`` more."""
    staff = np.arange(1, n + 1) * 10
    rows = []
    for treated in (True, False):
        for i, s in enumerate(staff):
            pre = 1000.0 + i
            post = pre * 1.1 * (math.exp(effect) if treated else 1.0)
            rows.append({"uscc": f"{'T' if treated else 'C'}{i:03d}", "stage": "growth",
                         "industry_chain": "equipment", "staff": int(s), "treated": treated,
                         "rd_expense_pre": pre, "rd_expense_post": post})  # fmt: skip
    return pl.DataFrame(rows)


def test_matched_did_by_hand() -> None:
    p = _panel(40, 0.2)
    t, c, dropped = match(p, use_points=False)
    assert dropped == 0
    assert [p["uscc"][int(i)][1:] for i in c] == [p["uscc"][int(i)][1:] for i in t]  # twins
    r = did(p, t, c, "rd_expense")
    assert r["estimate"] == pytest.approx(0.2, abs=1e-6)
    assert r["pairs"] == 40
    assert r["naive"] == pytest.approx(0.2, abs=1e-6)
    few = _panel(10, 0.2)
    t, c, _ = match(few, use_points=False)
    assert did(few, t, c, "rd_expense")["estimate"] is None  # too few pairs: no number
