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

Innovation points (the points area's published runs, :mod:`kejin.credit.points_link`) join as
features ``points_total``, ``points_base``, ``points_bonus`` for the data year before each as-of
date, the same no-look-ahead rule as the indicators. When the points area has no run for both
feature years, the model is fitted without them and the result carries ``points_unavailable``.

**Too few defaults.** Below :data:`MIN_DEFAULTS` defaults in either window, a model cannot be
fitted with cross-validated regularisation nor judged out of time (with 3 test defaults the
test AUC's standard error is about 0.15), so :func:`fit_and_test` refuses with
:class:`InsufficientDefaultsError` (exit code 3) instead of registering a model nobody should
use. The test AUC is reported with its Hanley–McNeil standard error.

Nothing here reads the synthetic truth table; the bench compares against it separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Engine

from kejin.credit import features, metrics, models, points_link
from kejin.credit.dataset import prepare
from kejin.errors import KejinError, Problem, ValidationError

DEFAULT_DPD = 90
#: Fewest defaults in each window (train and out-of-time test) for a model to be fitted.
MIN_DEFAULTS = 10
#: Below this many defaults in training, the result carries a note that the model is unstable.
MIN_BADS = 50
POINTS_FEATURES = ("points_total", "points_base", "points_bonus")
_ZH = {"train": "训练", "test": "测试"}


@dataclass
class InsufficientDefaultsError(KejinError):
    """Too few observed defaults to fit or to test a model: a finding about the data."""

    exit_code: int = 3


#: Business sense for the challenger: more leverage never lowers the PD, and so on.
GBM_MONOTONE = {
    "leverage": 1,
    "margin": -1,
    "max_dpd_ever": 1,
    "log_revenue": -1,
    "points_total": -1,
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


def points_features(pts: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Points of the last data year before ``as_of``'s year, as model features."""
    return pts.filter(pl.col("year") == as_of.year - 1).select(
        "uscc",
        pl.col("total").alias("points_total"),
        pl.col("base").alias("points_base"),
        pl.col("bonus").alias("points_bonus"),
    )


def points_usable(pts: pl.DataFrame | None, *as_of: date) -> bool:
    """True when the points area has scored the feature year of every as-of date."""
    if pts is None:
        return False
    years = set(pts["year"].unique().to_list())
    return all(d.year - 1 in years for d in as_of)


def model_frame(r: features.RegistryFrames, as_of: date, pts: pl.DataFrame | None) -> pl.DataFrame:
    """``uscc`` and what the tech-firm model reads as of ``as_of``: the registry features and,
    with ``pts``, the points of the year before (null = not scored).

    Training, decisions and monthly monitoring all build their rows here: a model trained with
    the points columns cannot score rows built without them.
    """
    x = features.firm_features(r, as_of).select("uscc", *features.MODEL_FEATURES)
    if pts is not None:
        x = x.join(points_features(pts, as_of), on="uscc", how="left")
    return x


def split(
    r: features.RegistryFrames,
    train_from: date,
    at: date,
    end: date,
    pts: pl.DataFrame | None = None,
) -> TechSplit:
    """Train and test frames; with ``pts``, the points features are joined (null = not scored)."""

    def frame(as_of: date, stop: date) -> pl.DataFrame:
        y = outcomes(r, as_of, stop)
        return model_frame(r, as_of, pts).join(y, on="uscc").sort("uscc")

    return TechSplit(frame(train_from, at), frame(at, end))


def auc_se(auc: float, n_bad: int, n_good: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC: how far a test figure can be trusted."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_bad - 1) * (q1 - auc * auc) + (n_good - 1) * (q2 - auc * auc)) / (
        n_bad * n_good
    )
    return float(max(var, 0.0) ** 0.5)


def fit_and_test(
    engine: Engine,
    train_from: date,
    at: date,
    end: date,
    method: str = "scorecard",
    use_points: bool = True,
    min_defaults: int = MIN_DEFAULTS,
) -> tuple[dict, dict, TechSplit]:
    """(artefact, metrics on train and out-of-time test, the split).

    Raises :class:`InsufficientDefaultsError` when either window has fewer than
    ``min_defaults`` defaults."""
    with engine.connect() as conn:
        r = features.load(conn)
        pts = points_link.points_frame(conn) if use_points else None
    with_points = points_usable(pts, train_from, at)
    s = split(r, train_from, at, end, pts if with_points else None)
    if s.train.height == 0 or s.train["bad"].sum() == 0:
        raise ValidationError(
            "训练期内没有可用的贷款或违约记录",
            "no loans or no defaults observed in the training window",
            [Problem("", "", field="window", value=f"{train_from}..{at}")],
        )
    counts = {
        "train": (int(s.train["bad"].sum()), s.train.height, f"{train_from}..{at}"),
        "test": (int(s.test["bad"].sum()), s.test.height, f"{at}..{end}"),
    }
    short = {k: v for k, v in counts.items() if v[0] < min_defaults}
    if short:
        raise InsufficientDefaultsError(
            "违约样本不足，不训练、不登记模型："
            + "；".join(
                f"{_ZH[k]}窗口 {w} 仅 {b} 个违约（{n} 户）" for k, (b, n, w) in short.items()
            )
            + f"，每个窗口至少需要 {min_defaults} 个",
            "too few defaults to fit or test a model, nothing trained or registered: "
            + "; ".join(
                f"{k} window {w}: {b} defaults among {n} firms" for k, (b, n, w) in short.items()
            )
            + f"; each window needs at least {min_defaults}",
            [
                Problem("违约数不足", "too few defaults", field=f"{k}_defaults", value=str(b))
                for k, (b, _, _) in short.items()
            ],
        )
    # A feature with no variation in the training window (e.g. loan history when the status
    # window starts there) is dropped and reported, not silently kept or silently lost.
    train = s.train.drop("uscc")
    constant = [c for c in train.columns if c != "bad" and train[c].drop_nulls().n_unique() <= 1]
    data = prepare(train, "bad", exclude=tuple(constant), source="registry")
    config = None
    if method in ("gbm", "boosted"):
        config = {
            "monotone": {
                k: v for k, v in GBM_MONOTONE.items() if k in train.columns and k not in constant
            }
        }
    art = models.fit(data, method, config)
    test_pd = models.score(art, s.test)["pd"].to_numpy()
    test_m = metrics.summary(s.test["bad"].to_numpy(), test_pd)
    n_bad = counts["test"][0]
    result = {
        "dropped_constant": constant,
        "points_features": with_points,
        "flags": [] if with_points else [points_link.UNAVAILABLE],
        "train": {"window": f"{train_from}..{at}", **art["metrics"]["train"]},
        "test": {
            "window": f"{at}..{end}",
            **test_m,
            "bads": n_bad,
            "auc_se": round(auc_se(test_m["auc"], n_bad, s.test.height - n_bad), 4),
        },
    }
    bads = int(s.train["bad"].sum())
    if bads < MIN_BADS:
        result["note"] = (
            f"训练期仅 {bads} 个违约，模型不稳定 / only {bads} defaults in training: unstable model"
        )
    return art, result, s
