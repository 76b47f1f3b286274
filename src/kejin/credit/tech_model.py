"""The tech-firm credit model: registry features → observed defaults, with an out-of-time test.

Seed 000 (九) asks for a 授信风控模型 for tech firms; Beijing's plan (002 (七)) names its inputs:
R&D input, science programmes, platforms, and the bank's own risk indicators. The features are
those of :mod:`kejin.credit.features` (latest annual indicators, growth, ratios, qualifications,
financing, loan history); the outcome is what a bank observes: a loan of the firm reaching 90+
days past due.

Time-based split, so the test says how the model does on a period it has not seen:

* **train**: features as of ``train_from``; outcome = 90+ DPD in ``[train_from, split)``, among
  firms with a performing loan at ``train_from``;
* **test**: features as of ``split`` (a year's more data); outcome = 90+ DPD in
  ``[split, end)``, among firms with a performing loan at ``split``.

Nothing here reads the synthetic truth table; the bench compares against it separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Engine

from kejin.credit import features, metrics, models
from kejin.credit.dataset import prepare
from kejin.errors import Problem, ValidationError

DEFAULT_DPD = 90
#: Below this many defaults in training, the result carries a note that the model is unstable.
MIN_BADS = 50

#: Business sense for the challenger: more leverage never lowers the PD, and so on.
GBM_MONOTONE = {
    "leverage": 1,
    "margin": -1,
    "max_dpd_ever": 1,
    "log_revenue": -1,
}


def outcomes(r: features.RegistryFrames, start: date, end: date) -> pl.DataFrame:
    """Firms performing at ``start`` (a status that month, all < 90 DPD) and whether they
    reached 90+ DPD on any loan in ``[start, end)``."""
    st = r.statuses.join(r.loans.select("contract_no", "uscc"), on="contract_no")
    at_start = (
        st.filter(pl.col("month") == start)
        .group_by("uscc")
        .agg(pl.col("days_past_due").max().alias("dpd0"))
        .filter(pl.col("dpd0") < DEFAULT_DPD)
    )
    window = (
        st.filter((pl.col("month") >= start) & (pl.col("month") < end))
        .group_by("uscc")
        .agg((pl.col("days_past_due").max() >= DEFAULT_DPD).alias("bad"))
    )
    return (
        at_start.join(window, on="uscc", how="left")
        .select("uscc", pl.col("bad").fill_null(False).cast(pl.Int8))
        .sort("uscc")
    )


@dataclass
class TechSplit:
    train: pl.DataFrame  # uscc, MODEL_FEATURES…, bad
    test: pl.DataFrame


def split(r: features.RegistryFrames, train_from: date, at: date, end: date) -> TechSplit:
    def frame(as_of: date, stop: date) -> pl.DataFrame:
        y = outcomes(r, as_of, stop)
        x = features.firm_features(r, as_of).select("uscc", *features.MODEL_FEATURES)
        return x.join(y, on="uscc").sort("uscc")

    return TechSplit(frame(train_from, at), frame(at, end))


def fit_and_test(
    engine: Engine, train_from: date, at: date, end: date, method: str = "scorecard"
) -> tuple[dict, dict, TechSplit]:
    """(artefact, metrics on train and out-of-time test, the split)."""
    with engine.connect() as conn:
        r = features.load(conn)
    s = split(r, train_from, at, end)
    if s.train.height == 0 or s.train["bad"].sum() == 0:
        raise ValidationError(
            "训练期内没有可用的贷款或违约记录",
            "no loans or no defaults observed in the training window",
            [Problem("", "", field="window", value=f"{train_from}..{at}")],
        )
    # A feature with no variation in the training window (e.g. loan history when the status
    # window starts there) is dropped and reported, not silently kept or silently lost.
    train = s.train.drop("uscc")
    constant = [c for c in train.columns if c != "bad" and train[c].drop_nulls().n_unique() <= 1]
    data = prepare(train, "bad", exclude=tuple(constant), source="registry")
    config = None
    if method == "gbm":
        config = {"monotone": {k: v for k, v in GBM_MONOTONE.items() if k not in constant}}
    art = models.fit(data, method, config)
    test_pd = models.score(art, s.test)["pd"].to_numpy()
    result = {
        "dropped_constant": constant,
        "train": {"window": f"{train_from}..{at}", **art["metrics"]["train"]},
        "test": {
            "window": f"{at}..{end}",
            **metrics.summary(s.test["bad"].to_numpy(), test_pd),
        },
    }
    bads = int(s.train["bad"].sum())
    if bads < MIN_BADS:
        result["note"] = (
            f"训练期仅 {bads} 个违约，模型不稳定 / only {bads} defaults in training: unstable model"
        )
    return art, result, s
