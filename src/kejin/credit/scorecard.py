"""The scorecard: WOE binning → IV and correlation filter → (stepwise | L1 | none) → logistic
with the sign guard → points.

Default (chosen on development splits that the bench does not report, see docs/credit.md):
every variable with IV ≥ 0.02 is kept unless it nearly duplicates a stronger one (|ρ| > 0.95
between WOE columns); the L2-penalised logistic regression, its C chosen by stratified 5-fold
CV, weighs them; the sign guard then removes, one at a time, only variables whose coefficient
runs against their own WOE. Stepwise AIC/BIC and L1 stay one config line away.

A numeric column of whole numbers with at most ``code_levels`` (10) distinct values may be a
category code (loan purpose 1..8) rather than a quantity: it is binned both ways and read as
categories when their IV beats the ordered bins by ``turn_gain`` (round 6; an unseen consumer
set lost its rare codes to their numeric neighbours). ``screening.codes_as_categories`` names
them.

Fitting is deterministic (CART pre-bins with a fixed seed, exact DP merging, Newton's method
on a fixed problem, floats rounded before they are stored), so the same data and config give
the same artefact byte for byte. Scoring needs only the artefact: bins, WOE, coefficients and integer points are all in it.

Points follow the usual scaling: ``score = offset + factor · ln(odds_good)`` with
``factor = pdo / ln 2`` and ``offset = base_points − factor · ln(base_odds)``. The intercept
becomes integer ``base`` points and each bin gets ``round(−factor · β_j · WOE_bin)``, so a firm's
points are a plain sum a credit officer can redo by hand from the points table.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from kejin.credit import metrics
from kejin.credit.artefact import SCORECARD_SCHEMA, library_versions, seal
from kejin.credit.binning import BinningConfig, bin_index, fit_categorical, fit_numeric, woe_table
from kejin.credit.dataset import TrainingData, is_numeric, numeric_values
from kejin.errors import Problem, ValidationError

if TYPE_CHECKING:  # scikit-learn is imported by the fitting functions only
    from sklearn.linear_model import LogisticRegression


class ScalingConfig(BaseModel):
    """Points scaling: ``base_points`` at odds ``base_odds`` (good:bad), +``pdo`` per doubling."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    base_points: float = 600.0
    base_odds: float = Field(50.0, gt=0)
    pdo: float = Field(20.0, gt=0)


class ScorecardConfig(BaseModel):
    """Everything that shapes a scorecard; stored whole in the artefact."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_prebins: int = Field(20, ge=2, le=100)
    prebinning: Literal["cart", "quantile"] = "cart"
    min_bin_size: float = Field(0.05, gt=0, lt=0.5)
    trend: Literal["auto", "ascending", "descending", "peak", "valley", "none"] = "auto"
    trends: dict[str, Literal["auto", "ascending", "descending", "peak", "valley", "none"]] = {}
    turn_gain: float = Field(0.1, ge=0)
    merge_chi2: float = Field(0.0, ge=0)
    alpha: float = Field(0.5, gt=0)
    special_codes: tuple[float, ...] = ()
    categorical: tuple[str, ...] = ()
    code_levels: int = Field(10, ge=0)
    min_iv: float = Field(0.02, ge=0)
    max_corr: float = Field(0.95, gt=0, le=1)
    selection: Literal["stepwise", "l1", "none"] = "none"
    criterion: Literal["aic", "bic"] = "aic"
    sign_guard: bool = True
    C: float | Literal["cv"] = "cv"
    C_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    cv_folds: int = Field(5, ge=2)
    cv_refit_woe: bool = True
    l1_C: float = Field(0.1, gt=0)
    scaling: ScalingConfig = ScalingConfig()
    clip_out_of_range: bool = True


def scale_factors(s: ScalingConfig) -> tuple[float, float]:
    """(factor, offset) of the points scale.

    >>> f, o = scale_factors(ScalingConfig(base_points=600, base_odds=50, pdo=20))
    >>> round(f, 4), round(o, 4)
    (28.8539, 487.1229)
    """
    factor = s.pdo / math.log(2)
    return factor, s.base_points - factor * math.log(s.base_odds)


def column_values(X: pl.DataFrame, name: str, categorical: bool) -> np.ndarray | pl.Series:
    """Numeric columns as float arrays (NaN = missing); categorical ones stay Polars strings."""
    s = X[name]
    if categorical:
        return _as_text(s)
    return numeric_values(s)


def _as_text(s: pl.Series) -> pl.Series:
    """Category labels; a whole number in a float column reads as the integer (2.0 → "2"), so a
    code column keeps its labels whether a file stored it as integers or as floats."""
    if not s.dtype.is_float():
        return s.cast(pl.String)
    whole = s.is_not_nan() & (s == s.round()) & (s.abs() < 2**53)
    return (
        pl.select(
            pl.when(s.is_nan())
            .then(None)  # NaN is missing, as in a numeric column
            .when(whole)
            .then(s.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(s.cast(pl.String))
        )
        .to_series()
        .rename(s.name)
    )


def is_code(s: pl.Series, levels: int) -> bool:
    """A numeric column of whole numbers with at most ``levels`` distinct values: possibly a
    category code (purpose 1..8, housing 0..5) rather than a quantity."""
    if levels == 0 or not is_numeric(s.dtype):
        return False
    v = s.drop_nulls()
    if v.dtype.is_float():
        v = v.drop_nans()
        if len(v) == 0 or not bool((v == v.round()).all()):
            return False
    return 2 < v.n_unique() <= levels


def _logit_newton(
    X: np.ndarray,
    y: np.ndarray,
    C: float | None = None,
    iters: int = 30,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Logistic MLE by Newton's method, optionally with scikit-learn's L2 penalty ``1/(2C)·|w|²``.

    Used inside the stepwise and cross-validation loops, where hundreds of tiny fits through
    scikit-learn's validation layers would cost more than the fits themselves. Returns
    (intercept + coefficients, unpenalised log-likelihood). ``start`` warm-starts the search
    (the neighbouring C's solution along a grid), which changes the path, not the optimum.
    """
    A = np.column_stack([np.ones(len(X)), X])
    ridge = np.full(A.shape[1], 0.0 if C is None else 1.0 / C)
    ridge[0] = 0.0  # the intercept is never penalised
    beta = np.zeros(A.shape[1]) if start is None else start.copy()
    for _ in range(iters):
        z = A @ beta
        p = 1 / (1 + np.exp(-z))
        w = p * (1 - p)
        H = A.T @ (A * w[:, None]) + np.diag(ridge) + 1e-9 * np.eye(A.shape[1])
        step = np.linalg.solve(H, A.T @ (y - p) - ridge * beta)
        beta = beta + step
        # Newton converges quadratically: a step this small means the optimum is reached.
        if np.max(np.abs(step)) < 1e-9:
            break
    z = A @ beta
    return beta, float(np.sum(y * z - np.logaddexp(0, z)))


def _stepwise(W: np.ndarray, y: np.ndarray, names: list[str], criterion: str) -> list[int]:
    """Forward selection by AIC or BIC, refusing any step that gives a coefficient the wrong sign.

    WOE is ln(good/bad), so every coefficient must be negative: a positive one means the
    variable's effect is reversed by collinearity and its points would mislead an officer.
    """
    chosen: list[int] = []
    _, ll0 = _logit_newton(np.empty((len(y), 0)), y)
    pen = math.log(len(y)) if criterion == "bic" else 2.0
    best_aic = -2 * ll0 + pen
    while True:
        best = None
        for j in range(len(names)):
            if j in chosen:
                continue
            cols = [*chosen, j]
            beta, ll = _logit_newton(W[:, cols], y)
            if np.any(beta[1:] >= 0):
                continue
            aic = -2 * ll + pen * (len(cols) + 1)
            if aic < best_aic - 1e-9 and (best is None or aic < best[0]):
                best = (aic, j)
        if best is None:
            return chosen
        best_aic = best[0]
        chosen.append(best[1])


def _l1(W: np.ndarray, y: np.ndarray, C: float) -> list[int]:
    from sklearn.linear_model import LogisticRegression  # fitting only: scoring needs no sklearn

    m = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C, random_state=0, penalty="l1")
    m.fit(W, y)
    return [j for j, b in enumerate(m.coef_[0]) if b < 0]


def _fold_woe(codes: np.ndarray, y: np.ndarray, tr: np.ndarray, alpha: float) -> np.ndarray:
    """WOE columns re-estimated from the rows ``tr`` only, on the same bins.

    ``codes`` holds each row's bin (one column per variable). The smoothing is the card's own
    (``alpha`` in every cell, over the bins that hold training rows), so a fold's WOE differs from
    the card's only in which labels it has seen.
    """
    cols = []
    for j in range(codes.shape[1]):
        c = codes[:, j]
        k = int(c.max()) + 1
        present = np.bincount(c, minlength=k) > 0
        bad = np.bincount(c[tr], weights=y[tr], minlength=k)
        good = np.bincount(c[tr], minlength=k) - bad
        n_bins = int(present.sum())
        pg = (good + alpha) / (good[present].sum() + alpha * n_bins)
        pb = (bad + alpha) / (bad[present].sum() + alpha * n_bins)
        cols.append(np.log(pg / pb)[c])
    return np.column_stack(cols)


def _choose_C(
    W: np.ndarray, y: np.ndarray, cfg: ScorecardConfig, codes: np.ndarray | None = None
) -> float:
    """Regularisation by stratified K-fold AUC over a fixed grid (folds unshuffled: deterministic).

    Ties go to the stronger regularisation (smaller C): the simpler card when the data cannot
    tell them apart. With fewer bads (or goods) than ``cv_folds``, the folds are as many as the
    smaller class, so every fold holds one of each class rather than some holding none.

    With ``codes`` (each row's bin per variable, ``cv_refit_woe``), each fold's WOE is
    re-estimated from its training rows alone. The card's WOE was computed from every row,
    held-out fold included, so scoring a fold with it lets the fold's own labels into its
    features: on pure-noise bins the CV then finds "signal" and asks for little shrinkage.
    Re-estimating the WOE per fold removes that leak (the bins stay: re-binning per fold would
    cost the fit-time budget). Measured effect on real data is within noise either way
    (docs/credit.md, round 4).
    """
    from sklearn.model_selection import StratifiedKFold

    n_splits = min(cfg.cv_folds, int(y.sum()), int(len(y) - y.sum()))
    folds = [
        (tr, te)
        for tr, te in (
            StratifiedKFold(n_splits=n_splits, shuffle=False).split(W, y) if n_splits >= 2 else ()
        )
        if 0 < y[te].sum() < len(te)  # a fold without both classes has no AUC
    ]
    if not folds:
        raise ValidationError(
            "坏样本太少，无法交叉验证选择正则化参数",
            "too few bads to choose the regularisation by cross-validation",
            [
                Problem(
                    "请在配置中固定 C（如 C = 1.0）",
                    "set C in the config (e.g. C = 1.0)",
                    field="C",
                )
            ],
        )
    best_c, best_auc = cfg.C_grid[0], -1.0
    starts: list[np.ndarray | None] = [None] * len(folds)
    fold_W = [W if codes is None else _fold_woe(codes, y, tr, cfg.alpha) for tr, _ in folds]
    for c in sorted(cfg.C_grid):
        aucs = []
        for f, (tr, te) in enumerate(folds):
            Wf = fold_W[f]
            beta, _ = _logit_newton(Wf[tr], y[tr], C=c, start=starts[f])
            starts[f] = beta
            aucs.append(metrics.auc(y[te], beta[0] + Wf[te] @ beta[1:]))
        mean = float(np.mean(aucs))
        if mean > best_auc + 1e-9:
            best_c, best_auc = c, mean
    return best_c


def _fit_signed(
    selected: list[str],
    woes: dict[str, np.ndarray],
    ivs: dict[str, float],
    y: np.ndarray,
    cfg: ScorecardConfig,
    codes: dict[str, np.ndarray] | None = None,
) -> tuple[list[str], float, LogisticRegression, dict[str, float]]:
    """Final logistic fit; with ``sign_guard``, drop wrong-signed variables one at a time.

    WOE is ln(good/bad), so a coefficient must be negative. A non-negative one means the
    variable's points run against its own bad rates (collinearity turning it round), which an
    officer cannot explain. The weakest such variable (lowest IV, ties by name) leaves and the
    model is refitted, C included, until every coefficient has the right sign. Unlike stepwise
    selection, nothing else is removed: a variable stays if it has the right sign.
    """
    from sklearn.linear_model import LogisticRegression

    selected = list(selected)
    dropped: dict[str, float] = {}
    while True:
        Wsel = np.column_stack([woes[k] for k in selected])
        csel = None
        if codes is not None and cfg.cv_refit_woe:
            csel = np.column_stack([codes[k] for k in selected])
        C = _choose_C(Wsel, y, cfg, csel) if cfg.C == "cv" else float(cfg.C)
        model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=100)
        model.fit(Wsel, y)
        wrong = [
            (ivs[k], k, float(b)) for k, b in zip(selected, model.coef_[0], strict=True) if b >= 0
        ]
        if not cfg.sign_guard or not wrong or len(selected) == 1:
            return selected, C, model, dict(sorted(dropped.items()))
        _, name, beta = min(wrong)
        dropped[name] = round(beta, 10)
        selected.remove(name)


def fit(data: TrainingData, config: ScorecardConfig | None = None) -> dict:
    """Fit a scorecard; return the sealed artefact (a plain dict ready for JSON)."""
    cfg = config or ScorecardConfig()
    X, y = data.X, data.y.astype(float)
    specs: list[dict] = []
    codes_as_categories: list[str] = []
    for name in X.columns:
        cat = name in cfg.categorical or not is_numeric(X[name].dtype)
        bcfg = BinningConfig(
            max_prebins=cfg.max_prebins,
            prebinning=cfg.prebinning,
            min_bin_size=cfg.min_bin_size,
            trend=cfg.trends.get(name, cfg.trend),
            turn_gain=cfg.turn_gain,
            merge_chi2=cfg.merge_chi2,
            alpha=cfg.alpha,
            special_codes=cfg.special_codes,
        )
        values = column_values(X, name, cat)
        if cat:
            specs.append(fit_categorical(name, values.to_numpy().astype(object), data.y, bcfg))
            continue
        spec = fit_numeric(name, values, data.y, bcfg)
        if is_code(X[name], cfg.code_levels):
            labels = _as_text(X[name]).to_numpy().astype(object)
            as_cat = fit_categorical(name, labels, data.y, bcfg)
            # Categories are taken only when they pay, by the same margin as a turn in the
            # trend: an ordered count (dependants 0..5) keeps its ordered bins.
            if as_cat["iv"] > spec["iv"] * (1 + cfg.turn_gain):
                spec = as_cat
                codes_as_categories.append(name)
        specs.append(spec)
    ivs = {s["name"]: s["iv"] for s in specs}
    by_iv = sorted(specs, key=lambda s: (-s["iv"], s["name"]))
    candidates = [s for s in by_iv if s["iv"] >= cfg.min_iv]
    if not candidates:
        raise ValidationError(
            "没有变量的IV达到阈值",
            "no variable reaches the IV threshold",
            [Problem(f"IV={s['iv']:.4f} < {cfg.min_iv}", "", field=s["name"]) for s in by_iv[:10]],
        )
    codes = {
        s["name"]: bin_index(s, column_values(X, s["name"], s["kind"] != "numeric"))[0]
        for s in candidates
    }
    woes = {s["name"]: woe_table(s)[codes[s["name"]]] for s in candidates}
    # Correlation filter: strongest IV first; drop a variable too correlated with a kept one.
    kept: list[str] = []
    dropped_corr: dict[str, str] = {}
    for s in candidates:
        w = woes[s["name"]]
        clash = None
        for k in kept:
            if np.std(w) == 0 or np.std(woes[k]) == 0:
                continue
            if abs(np.corrcoef(w, woes[k])[0, 1]) > cfg.max_corr:
                clash = k
                break
        if clash is None:
            kept.append(s["name"])
        else:
            dropped_corr[s["name"]] = clash
    W = np.column_stack([woes[k] for k in kept])
    if cfg.selection == "stepwise":
        idx = _stepwise(W, y, kept, cfg.criterion)
    elif cfg.selection == "l1":
        idx = _l1(W, y, cfg.l1_C)
    else:
        idx = list(range(len(kept)))
    if not idx:
        raise ValidationError(
            "变量筛选后没有剩余变量",
            "no variable survives selection",
            [Problem("请降低IV阈值或改用 selection=none", "lower min_iv or use selection=none")],
        )
    selected = [kept[j] for j in sorted(idx)]
    selected, C, model, dropped_sign = _fit_signed(selected, woes, ivs, y, cfg, codes)
    coefs = [round(float(c), 10) for c in model.coef_[0]]
    intercept = round(float(model.intercept_[0]), 10)
    factor, offset = scale_factors(cfg.scaling)
    base = round(offset - factor * intercept)
    variables = []
    spec_by_name = {s["name"]: s for s in specs}
    for name, beta in zip(selected, coefs, strict=True):
        s = dict(spec_by_name[name])
        table = woe_table(s)
        pts = [round(-factor * beta * w) for w in table]
        s["coefficient"] = beta
        s["points"] = [int(p) for p in pts[:-2]]
        s["special"] = {**s["special"], "points": int(pts[-2])}
        s["missing"] = {**s["missing"], "points": int(pts[-1])}
        variables.append(s)
    art = {
        "schema": SCORECARD_SCHEMA,
        "method": "scorecard",
        "target": data.target,
        "bad_value": data.bad_value,
        "training_sha256": data.sha256,
        "config": cfg.model_dump(mode="json"),
        "regularisation": {"C": C, "chosen_by": "cv" if cfg.C == "cv" else "config"},
        "intercept": intercept,
        "base_points": int(base),
        "scaling": {"factor": round(factor, 10), "offset": round(offset, 10)},
        "variables": variables,
        "screening": {
            "iv": {k: ivs[k] for k in sorted(ivs)},
            "codes_as_categories": codes_as_categories,
            "below_min_iv": sorted(s["name"] for s in specs if s["iv"] < cfg.min_iv),
            "dropped_for_correlation": dict(sorted(dropped_corr.items())),
            "dropped_by_selection": sorted(set(kept) - set(selected) - set(dropped_sign)),
            "dropped_for_sign": dropped_sign,
        },
        "libraries": library_versions("scikit-learn", "polars"),
    }
    return finish(art, data)


def finish(art: dict, data: TrainingData) -> dict:
    """Training metrics and the stability reference (points and bin shares), then the seal:
    what every points-table artefact carries, however its bins and points were found."""
    scored = score(art, data.X)
    art["metrics"] = {"train": metrics.summary(data.y, scored["pd"].to_numpy())}
    art["reference"] = {
        "points_hist": _points_hist(scored["points"].to_numpy()),
        "bin_counts": {v["name"]: _bin_counts(v, data.X) for v in art["variables"]},
    }
    return seal(art)


def _bin_counts(spec: dict, X: pl.DataFrame) -> list[int]:
    idx, _ = bin_index(spec, column_values(X, spec["name"], spec["kind"] != "numeric"))
    return [int(c) for c in np.bincount(idx, minlength=len(spec["woe"]) + 2)]


def _points_hist(points: np.ndarray) -> dict:
    """Training distribution of points in ten quantile bands: the PSI reference."""
    edges = np.unique(np.quantile(points, np.linspace(0, 1, 11)[1:-1], method="lower"))
    counts = np.bincount(np.searchsorted(edges, points, side="right"), minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


SCORE_CHUNK_ROWS = 250_000


def score(art: dict, X: pl.DataFrame, n_reasons: int = 3) -> pl.DataFrame:
    """PD, integer points, reason codes and out-of-domain flags for every row of ``X``.

    Reasons are the variables where the row lost most points against the best bin of that
    variable (the usual adverse-action reading of a scorecard), largest shortfall first.

    Rows are scored in blocks of ``SCORE_CHUNK_ROWS``, on one thread per core: each block's
    matrices stay cache-sized, and NumPy and Polars release the GIL in the heavy steps, so a
    portfolio-wide run uses the whole machine. A block's result depends on its rows only, so
    the output is the same as one pass, row for row. One decision is a single block: no pool.
    """
    missing_cols = [v["name"] for v in art["variables"] if v["name"] not in X.columns]
    if missing_cols:
        raise ValidationError(
            "评分数据缺少模型所需的列",
            "scoring data lacks columns the model needs",
            [Problem("缺少该列", "column missing", field=c) for c in missing_cols],
        )
    # Whole columns are read (and text in a numeric column refused, by its row in X) before
    # splitting, so an error names the same row whatever block it falls in.
    columns = [column_values(X, v["name"], v["kind"] != "numeric") for v in art["variables"]]
    n = X.height
    if n <= SCORE_CHUNK_ROWS:
        return _score_block(art, columns, n, n_reasons)
    starts = range(0, n, SCORE_CHUNK_ROWS)

    def block(i: int) -> pl.DataFrame:
        part = [c[i : i + SCORE_CHUNK_ROWS] for c in columns]
        return _score_block(art, part, min(SCORE_CHUNK_ROWS, n - i), n_reasons)

    with ThreadPoolExecutor(min(len(starts), os.cpu_count() or 1)) as pool:
        return pl.concat(list(pool.map(block, starts)))


def _score_block(
    art: dict, columns: list[np.ndarray | pl.Series], n: int, n_reasons: int
) -> pl.DataFrame:
    logit = np.full(n, art["intercept"])
    total = np.full(n, art["base_points"], dtype=np.int64)
    names = [v["name"] for v in art["variables"]]
    shortfall = np.empty((n, len(names)), np.int64)
    flags = np.zeros((n, len(names)), bool)
    clip = art["config"].get("clip_out_of_range", False)
    for j, (v, values) in enumerate(zip(art["variables"], columns, strict=True)):
        idx, flag = bin_index(v, values, clip=clip)
        pts = np.asarray([*v["points"], v["special"]["points"], v["missing"]["points"]])
        logit += v["coefficient"] * woe_table(v)[idx]
        p = pts[idx]
        total += p
        shortfall[:, j] = pts.max() - p
        flags[:, j] = flag
    pd_ = 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "pd": pd_,
            "points": total,
            "reasons": _reason_strings(shortfall, names, n_reasons),
            "flags": _flag_strings(flags, names),
        }
    )


def _reason_strings(shortfall: np.ndarray, names: list[str], k: int) -> pl.Series:
    """The top ``k`` point shortfalls per row as ``a;b;c`` (ties keep variable order)."""
    p = len(names)
    if p == 0:
        return pl.Series("reasons", [""] * len(shortfall), dtype=pl.String)
    k = min(k, p)
    rows = np.arange(len(shortfall))
    work = shortfall.astype(np.int64)  # a copy we may overwrite
    # Top-k by repeated argmax (first maximum = earliest variable on ties): k passes of O(n·p)
    # instead of a full sort. Each row's list is encoded as one integer (p = "no reason").
    code = np.zeros(len(work), np.int64)
    for _ in range(k):
        j = np.argmax(work, axis=1)
        pick = np.where(work[rows, j] > 0, j, p)
        work[rows, j] = -1
        code = code * (p + 1) + pick
    return _decode(code, p, k, names, "reasons")


def _decode(code: np.ndarray, p: int, k: int, names: list[str], label: str) -> pl.Series:
    """Integer-coded reason lists → strings, building each distinct string once (no sort)."""
    present = np.zeros((p + 1) ** k, bool)
    present[code] = True
    uniq = np.flatnonzero(present)
    slot = np.cumsum(present) - 1
    texts = []
    for u in uniq:
        parts, u = [], int(u)
        for _ in range(k):
            parts.append(u % (p + 1))
            u //= p + 1
        texts.append(";".join(names[i] for i in reversed(parts) if i < p))
    return pl.Series(label, texts, dtype=pl.String).gather(slot[code])


def _flag_strings(flags: np.ndarray, names: list[str]) -> pl.Series:
    """``out_of_domain:var`` for each variable whose value was unseen or out of range."""
    if not flags.any():
        return pl.Series("flags", [""] * len(flags), dtype=pl.String)
    uniq, inv = np.unique(flags, axis=0, return_inverse=True)
    texts = [
        ";".join(f"out_of_domain:{n}" for n, f in zip(names, u, strict=True) if f) for u in uniq
    ]
    return pl.Series("flags", texts, dtype=pl.String).gather(inv.ravel())


def points_table(art: dict) -> pl.DataFrame:
    """One row per variable and bin: the table a credit officer reads."""
    rows = []
    for v in art["variables"]:
        labels = bin_labels(v)
        pts = [*v["points"], v["special"]["points"], v["missing"]["points"]]
        ns = [*v["n"], v["special"]["n"], v["missing"]["n"]]
        bads = [*v["bad"], v["special"]["bad"], v["missing"]["bad"]]
        for label, w, p, n, b in zip(labels, woe_table(v), pts, ns, bads, strict=True):
            rows.append(
                {
                    "variable": v["name"],
                    "bin": label,
                    "n": n,
                    "bad": b,
                    "bad_rate": b / n if n else None,
                    "woe": float(w),
                    "points": p,
                }
            )
    return pl.DataFrame(rows)


def bin_labels(v: dict) -> list[str]:
    if v["kind"] == "numeric":
        edges = ["-inf", *[f"{s:g}" for s in v["splits"]], "inf"]
        regular = [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
    else:
        regular = [",".join(g) for g in v["groups"]]
    return [*regular, "特殊值/special", "缺失/missing"]
