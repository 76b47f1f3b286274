"""One entry point over both model kinds, chosen by the artefact's method (never by guessing)."""

from __future__ import annotations

import polars as pl

from kejin.credit import gbm, scorecard
from kejin.credit.dataset import TrainingData


def fit(data: TrainingData, method: str, config: dict | None = None) -> dict:
    """Fit a scorecard or a GBM from a validated config dict (unknown keys are refused)."""
    if method == "scorecard":
        return scorecard.fit(data, scorecard.ScorecardConfig(**(config or {})))
    return gbm.fit(data, gbm.GbmConfig(**(config or {})))


def score(art: dict, X: pl.DataFrame) -> pl.DataFrame:
    """``pd``, ``points``, ``reasons``, ``flags`` for each row of ``X``."""
    if art["method"] == "scorecard":
        return scorecard.score(art, X)
    return gbm.score(art, X)


def feature_names(art: dict) -> list[str]:
    if art["method"] == "scorecard":
        return [v["name"] for v in art["variables"]]
    return [f["name"] for f in art["features"]]
