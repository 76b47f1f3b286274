"""GBM challenger: deterministic, monotone where told, calibrated, explained."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from kejin.credit import artefact, dataset, gbm
from kejin.errors import ValidationError


def data(n: int = 1500, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(0, 1, n)
    leverage = rng.uniform(0, 1, n)
    sector = rng.choice(["ai", "bio", "chip"], n)
    # A deliberately non-monotone bump in revenue that the constraint must flatten.
    logit = -1 - 0.8 * np.log(revenue) + 1.5 * leverage + 0.6 * (np.abs(np.log(revenue) - 1) < 0.3)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame({"revenue": revenue, "leverage": leverage, "sector": sector, "bad": y})


CFG = gbm.GbmConfig(monotone={"revenue": -1, "leverage": 1}, max_rounds=150)


def test_fit_twice_identical_and_reloadable() -> None:
    d = dataset.prepare(data(), "bad")
    a = artefact.dumps(gbm.fit(d, CFG))
    b = artefact.dumps(gbm.fit(dataset.prepare(data(), "bad"), CFG))
    assert a == b
    art = artefact.loads(a)
    assert "pickle" not in a and art["model"].startswith("tree")
    assert art["metrics"]["cross_validated"]["auc"] > 0.6


@pytest.mark.parametrize("calibration", ["platt", "isotonic"])
def test_monotone_constraints_hold_after_calibration(calibration: str) -> None:
    cfg = CFG.model_copy(update={"calibration": calibration})
    art = gbm.fit(dataset.prepare(data(), "bad"), cfg)
    grid = np.linspace(0.05, 20, 200)
    for lev in (0.1, 0.5, 0.9):
        for sector in ("ai", "chip"):
            X = pl.DataFrame({"revenue": grid, "leverage": [lev] * 200, "sector": [sector] * 200})
            p = gbm.score(art, X)["pd"].to_numpy()
            assert (np.diff(p) <= 1e-12).all()  # more revenue never raises the PD
    lev_grid = np.linspace(0, 1, 100)
    X = pl.DataFrame({"revenue": [1.0] * 100, "leverage": lev_grid, "sector": ["bio"] * 100})
    assert (np.diff(gbm.score(art, X)["pd"].to_numpy()) >= -1e-12).all()


def test_reasons_are_the_largest_positive_contributions_and_unseen_flagged() -> None:
    art = gbm.fit(dataset.prepare(data(), "bad"), CFG)
    X = pl.DataFrame({"revenue": [0.1, 5.0], "leverage": [0.95, 0.05], "sector": ["ai", "quantum"]})
    out = gbm.score(art, X)
    contrib = gbm.contributions(art, X)
    top = max(("revenue", "leverage", "sector"), key=lambda c: contrib[c][0])
    assert out["reasons"][0].split(";")[0] == top
    assert out["flags"].to_list() == ["", "out_of_domain:sector"]
    assert out["pd"][0] > out["pd"][1] and out["points"][0] < out["points"][1]


def test_constraint_on_unknown_or_categorical_variable_refused() -> None:
    d = dataset.prepare(data(300), "bad")
    with pytest.raises(ValidationError, match="unknown variable"):
        gbm.fit(d, gbm.GbmConfig(monotone={"profit": 1}))
    with pytest.raises(ValidationError, match="categorical"):
        gbm.fit(d, gbm.GbmConfig(monotone={"sector": 1}))
