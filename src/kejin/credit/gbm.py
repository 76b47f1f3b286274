"""The challenger: LightGBM with monotone constraints, calibrated, explained per prediction.

Why these choices:

* **Deterministic**: ``deterministic=True``, one thread, fixed seeds, no bagging, so the same data
  give the same model string; the model is stored as LightGBM's own text format *inside* the
  sealed JSON artefact (no pickle: a pickle executes code when loaded).
* **Monotone constraints** where business sense requires them (more revenue must never raise
  the PD): ``monotone = {"revenue": -1}`` in the config, in PD terms (+1 = higher value, higher PD).
* **Rounds and calibration by cross-validation**: stratified K-fold (seeded) picks the number of
  rounds by early stopping; the out-of-fold raw scores (each row scored by a model that did not
  see it) fit the calibration, and the final booster is trained on all rows. Platt scaling is
  the default because it keeps the ranking (isotonic's plateaus tie scores and cost AUC on small
  samples); isotonic is the alternative. Both are stored as numbers and are monotone, so
  constraints survive calibration.
* **Reason codes** are the features that pushed this row's log-odds up the most
  (``pred_contrib``), i.e. what a credit officer should look at first.
"""

from __future__ import annotations

from typing import Literal, Protocol

import lightgbm as lgb
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from kejin.credit import metrics
from kejin.credit.artefact import GBM_SCHEMA, library_versions, seal
from kejin.credit.dataset import TrainingData, is_numeric, numeric_values
from kejin.credit.scorecard import ScalingConfig, scale_factors
from kejin.errors import Problem, ValidationError


class GbmConfig(BaseModel):
    """Booster and calibration settings; stored whole in the artefact."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(8, ge=2)
    min_data_in_leaf: int = Field(20, ge=1)
    max_rounds: int = Field(500, ge=1)
    early_stopping: int = Field(50, ge=1)
    lambda_l2: float = Field(1.0, ge=0)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    monotone: dict[str, Literal[-1, 0, 1]] = {}
    categorical: tuple[str, ...] = ()
    calibration: Literal["isotonic", "platt"] = "platt"
    folds: int = Field(5, ge=2)
    seed: int = 0
    num_threads: int = Field(1, ge=1)
    scaling: ScalingConfig = ScalingConfig()


def _params(cfg: GbmConfig, names: list[str]) -> dict:
    return {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "lambda_l2": cfg.lambda_l2,
        "feature_fraction": cfg.feature_fraction,
        "feature_fraction_seed": cfg.seed,
        "monotone_constraints": [int(cfg.monotone.get(n, 0)) for n in names],
        "monotone_constraints_method": "advanced",
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": cfg.num_threads,
        "seed": cfg.seed,
        "verbosity": -1,
    }


def _encode(X: pl.DataFrame, features: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Float matrix for LightGBM (categories as codes) and an out-of-domain flag matrix."""
    cols, flags = [], []
    for f in features:
        s = X[f["name"]]
        if f["kind"] == "numeric":
            x = numeric_values(s)
            lo, hi = f["range"]
            with np.errstate(invalid="ignore"):
                flags.append(~np.isnan(x) & ((x < lo) | (x > hi)))
        else:
            strings = s.cast(pl.String)
            missing = strings.is_null().to_numpy()
            codes = (
                strings.replace_strict(
                    f["categories"],
                    list(range(len(f["categories"]))),
                    default=None,
                    return_dtype=pl.Float64,
                )
                .fill_null(np.nan)
                .to_numpy()
            )
            flags.append(np.isnan(codes) & ~missing)  # unseen category: scored as missing
            x = codes
        cols.append(x)
    return np.column_stack(cols), np.column_stack(flags)


def feature_specs(
    X: pl.DataFrame, categorical: tuple[str, ...], monotone: dict[str, int]
) -> list[dict]:
    """Each column as numeric (with its training range) or categorical (with its categories),
    refusing a monotone constraint on an unknown or a categorical variable."""
    unknown = sorted(set(monotone) - set(X.columns))
    if unknown:
        raise ValidationError(
            "单调约束指向不存在的变量",
            "monotone constraint names an unknown variable",
            [Problem("", "", field=n) for n in unknown],
        )
    features = []
    for name in X.columns:
        s = X[name]
        if name in categorical or not is_numeric(s.dtype):
            if monotone.get(name):
                raise ValidationError(
                    "分类变量不能设单调约束",
                    "a categorical variable cannot be monotone-constrained",
                    [Problem("", "", field=name)],
                )
            cats = sorted(s.drop_nulls().cast(pl.String).unique().to_list())
            features.append({"name": name, "kind": "categorical", "categories": cats})
        else:
            v = s.cast(pl.Float64).drop_nulls().drop_nans()
            features.append({"name": name, "kind": "numeric", "range": [v.min(), v.max()]})
    return features


class Boosting(Protocol):
    """The settings ``cv_train`` reads (GbmConfig and the boosted scorecard's config)."""

    folds: int
    seed: int
    max_rounds: int
    early_stopping: int


def cv_train(
    params: dict,
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    cat_idx: list[int],
    cfg: Boosting,
) -> tuple[lgb.Booster, int, np.ndarray]:
    """Rounds by early stopping in stratified K-fold CV, the out-of-fold raw scores (each row
    scored by the fold model that did not see it: the calibration's data), and the final
    booster trained on every row for that many rounds. ``cfg`` supplies ``folds``, ``seed``,
    ``max_rounds`` and ``early_stopping``."""
    # As many folds as the smaller class allows (each fold needs a bad and a good), not more.
    n_splits = max(2, min(cfg.folds, int(y.sum()), int(len(y) - y.sum())))
    folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=cfg.seed).split(X, y))
    dall = lgb.Dataset(X, y, feature_name=names, categorical_feature=cat_idx, free_raw_data=False)
    cv = lgb.cv(
        params,
        dall,
        num_boost_round=cfg.max_rounds,
        folds=folds,
        callbacks=[lgb.early_stopping(cfg.early_stopping, verbose=False)],
        return_cvbooster=True,
    )
    rounds = len(next(iter(v for k, v in cv.items() if k.endswith("-mean"))))
    oof = np.empty(len(y))
    for (_, te), fold_model in zip(folds, cv["cvbooster"].boosters, strict=True):
        oof[te] = fold_model.predict(X[te], num_iteration=rounds, raw_score=True)
    return lgb.train(params, dall, num_boost_round=rounds), rounds, oof


def fit(data: TrainingData, config: GbmConfig | None = None) -> dict:
    """Train, early-stop and calibrate on a stratified holdout; return the sealed artefact."""
    cfg = config or GbmConfig()
    features = feature_specs(data.X, cfg.categorical, cfg.monotone)
    names = [f["name"] for f in features]
    X, _ = _encode(data.X, features)
    y = data.y.astype(float)
    cat_idx = [i for i, f in enumerate(features) if f["kind"] == "categorical"]
    params = _params(cfg, names)
    final, rounds, oof = cv_train(params, X, y, names, cat_idx, cfg)
    model_str = final.model_to_string()
    calib = _fit_calibration(oof, y, cfg.calibration)
    factor, offset = scale_factors(cfg.scaling)
    art = {
        "schema": GBM_SCHEMA,
        "method": "gbm",
        "target": data.target,
        "bad_value": data.bad_value,
        "training_sha256": data.sha256,
        "config": cfg.model_dump(mode="json"),
        "features": features,
        "rounds": int(rounds),
        "params": params,
        "model": model_str,
        "calibration": calib,
        "scaling": {"factor": round(factor, 10), "offset": round(offset, 10)},
        "libraries": library_versions("lightgbm", "scikit-learn", "polars"),
    }
    pd_all = score(art, data.X)["pd"].to_numpy()
    art["metrics"] = {
        "train": metrics.summary(data.y, pd_all),
        "cross_validated": metrics.summary(data.y, _calibrate(oof, calib)),
    }
    pts = score(art, data.X)["points"].to_numpy()
    edges = np.unique(np.quantile(pts, np.linspace(0, 1, 11)[1:-1], method="lower"))
    counts = np.bincount(np.searchsorted(edges, pts, side="right"), minlength=len(edges) + 1)
    art["reference"] = {
        "points_hist": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    }
    return seal(art)


def _fit_calibration(raw: np.ndarray, y: np.ndarray, kind: str) -> dict:
    if kind == "platt":
        m = LogisticRegression(C=1e6, solver="lbfgs").fit(raw.reshape(-1, 1), y)
        return {
            "kind": "platt",
            "a": round(float(m.coef_[0][0]), 10),
            "b": round(float(m.intercept_[0]), 10),
        }
    iso = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, increasing=True, out_of_bounds="clip")
    iso.fit(raw, y)
    return {
        "kind": "isotonic",
        "x": [round(float(v), 10) for v in iso.X_thresholds_],
        "y": [round(float(v), 10) for v in iso.y_thresholds_],
    }


def _calibrate(raw: np.ndarray, calib: dict) -> np.ndarray:
    if calib["kind"] == "platt":
        return 1 / (1 + np.exp(-(calib["a"] * raw + calib["b"])))
    return np.interp(raw, np.asarray(calib["x"]), np.asarray(calib["y"]))


def booster(art: dict) -> lgb.Booster:
    """The booster from its text form; its parameters (one thread …) come from the string."""
    return lgb.Booster(model_str=art["model"])


def score(art: dict, X: pl.DataFrame, n_reasons: int = 3) -> pl.DataFrame:
    """Calibrated PD, points on the scorecard's scale, reason codes and out-of-domain flags."""
    names = [f["name"] for f in art["features"]]
    missing_cols = [n for n in names if n not in X.columns]
    if missing_cols:
        raise ValidationError(
            "评分数据缺少模型所需的列",
            "scoring data lacks columns the model needs",
            [Problem("缺少该列", "column missing", field=c) for c in missing_cols],
        )
    M, flags = _encode(X, art["features"])
    b = booster(art)
    raw = b.predict(M, raw_score=True)
    pd_ = _calibrate(raw, art["calibration"])
    contrib = b.predict(M, pred_contrib=True)[:, : len(names)]
    factor, offset = art["scaling"]["factor"], art["scaling"]["offset"]
    pts = np.round(offset + factor * np.log((1 - pd_) / pd_)).astype(np.int64)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :n_reasons]
    rows = np.arange(len(order))
    lookup = pl.Series(names, dtype=pl.String)
    frame = pl.DataFrame(
        {
            **{f"r{c}": lookup.gather(order[:, c]) for c in range(order.shape[1])},
            **{f"h{c}": contrib[rows, order[:, c]] > 0 for c in range(order.shape[1])},
            **{f"f{j}": flags[:, j] for j in range(len(names))},
        }
    )
    reasons = [pl.when(pl.col(f"h{c}")).then(pl.col(f"r{c}")) for c in range(order.shape[1])]
    flag_parts = [
        pl.when(pl.col(f"f{j}")).then(pl.lit(f"out_of_domain:{n}")) for j, n in enumerate(names)
    ]
    text = frame.select(
        pl.concat_str(reasons, separator=";", ignore_nulls=True).alias("reasons"),
        pl.concat_str(flag_parts, separator=";", ignore_nulls=True).alias("flags"),
    )
    return pl.DataFrame({"pd": pd_, "points": pts}).hstack(text)


def contributions(art: dict, X: pl.DataFrame) -> pl.DataFrame:
    """Per-feature log-odds contributions (and the bias) for each row, for reports."""
    M, _ = _encode(X, art["features"])
    c = booster(art).predict(M, pred_contrib=True)
    names = [f["name"] for f in art["features"]]
    return pl.DataFrame(c, schema=[*names, "bias"], orient="row")
