"""WOE binning: numeric and categorical variables, special and missing bins, monotonic trend.

Why our own binning rather than optbinning: the default path must install cleanly and give the
same bins for the same data on every machine, byte for byte. The method is the classic one, made
exact where it is cheap to be exact:

1. **Pre-binning** (``max_prebins``, default 20) on the non-missing, non-special values: by
   default supervised, the thresholds of a one-feature decision tree whose leaves hold at least
   ``min_bin_size`` of the rows (cut points where the event rate actually changes); or by
   quantiles snapped to observed values (``prebinning="quantile"``).
2. **Optimal merging** of adjacent pre-bins by dynamic programming: among all partitions whose
   bins each hold at least ``min_bin_size`` of the rows and whose event rate follows the trend,
   take the one with the highest information value. IV is additive over bins, so the DP is exact
   (no heuristic chi-merge order to depend on); it is O(n³) in the number of pre-bins (≤ 20).
3. **Trend**: ``ascending`` / ``descending`` event rate with the value, ``peak`` / ``valley``
   (one turn), ``none``, or ``auto``: the better IV of the two monotone fits, a one-turn fit
   only when its IV is ``turn_gain`` (10%) higher — a scorecard must be explainable.
4. **Significance merge** (optional, ``merge_chi2``; the scorecard's default leaves it off):
   adjacent bins whose bad rates do not differ at that chi-square level are merged.
5. **Categorical** variables: categories are ordered by smoothed event rate (ties by name) and
   then merged by the same DP, so groups are contiguous in risk.

WOE is ``ln(%good / %bad)`` (higher = safer, as in optbinning). Every cell gets an explicit
additive smoothing ``alpha`` (default 0.5), so an empty cell has a finite WOE that the artefact
records rather than an infinity; a special or missing bin that is empty in training has WOE 0
(the population average) and says so with ``empty: true``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Trend = Literal["auto", "ascending", "descending", "peak", "valley", "none"]


@dataclass(frozen=True)
class BinningConfig:
    """Knobs for one variable's binning (all recorded in the artefact)."""

    max_prebins: int = 20
    prebinning: Literal["cart", "quantile"] = "cart"
    min_bin_size: float = 0.05
    trend: Trend = "auto"
    turn_gain: float = 0.1
    merge_chi2: float = 2.706
    alpha: float = 0.5
    special_codes: tuple[float, ...] = ()


def woe_iv(good: np.ndarray, bad: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """WOE and per-bin IV with additive smoothing ``alpha`` in every cell.

    >>> w, iv = woe_iv(np.array([3, 1]), np.array([1, 3]), 0.0)
    >>> [round(float(v), 4) for v in w], round(float(iv.sum()), 4)
    ([1.0986, -1.0986], 1.0986)
    """
    k = len(good)
    g = (good + alpha) / (good.sum() + alpha * k)
    b = (bad + alpha) / (bad.sum() + alpha * k)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.log(g / b)
    return w, (g - b) * w


def _cart_cuts(x: np.ndarray, y: np.ndarray, max_prebins: int, min_leaf: int) -> np.ndarray:
    """Supervised pre-bins: a one-feature decision tree's thresholds (as optbinning does).

    Deterministic: with one feature there is no feature sampling, and ``random_state`` is fixed.
    """
    from sklearn.tree import DecisionTreeClassifier  # fitting only: scoring needs no sklearn

    tree = DecisionTreeClassifier(
        max_leaf_nodes=max_prebins, min_samples_leaf=max(min_leaf, 1), random_state=0
    )
    tree.fit(x.reshape(-1, 1), y)
    t = tree.tree_
    return np.unique(t.threshold[t.feature >= 0])


def _prebin_cuts(x: np.ndarray, max_prebins: int) -> np.ndarray:
    """Quantile cut points snapped to observed values; bins are ``[c_{i-1}, c_i)``."""
    qs = np.quantile(x, np.linspace(0, 1, max_prebins + 1)[1:-1], method="lower")
    cuts = np.unique(qs)
    # A cut at the minimum would make an empty first bin: ``x < min`` holds for no row.
    return cuts[cuts > x.min()]


_PHASES = {
    "ascending": ("ascending",),
    "descending": ("descending",),
    "none": ("none",),
    "peak": ("ascending", "descending"),
    "valley": ("descending", "ascending"),
}


def _optimal_partition(
    good: np.ndarray, bad: np.ndarray, min_count: float, trend: str, alpha: float
) -> tuple[list[int], float]:
    """Best partition of ordered pre-bins into contiguous groups (start indices), and its IV.

    ``trend`` is ``ascending`` / ``descending`` (event rate with the order), ``peak`` / ``valley``
    (one turn) or ``none``. Exact dynamic programme: state = (last bin [i, j), phase).
    """
    n = len(good)
    cg = np.concatenate([[0.0], np.cumsum(good)])
    cb = np.concatenate([[0.0], np.cumsum(bad)])
    G, B = cg[-1], cb[-1]
    gi = cg[None, :] - cg[:, None]
    bi = cb[None, :] - cb[:, None]
    cnt = gi + bi
    # Smoothing uses the pre-bin count so the DP objective is additive and order-independent.
    pg = (gi + alpha) / (G + alpha * n)
    pb = (bi + alpha) / (B + alpha * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        iv = (pg - pb) * np.log(pg / pb)
        rate = (bi + alpha) / (cnt + 2 * alpha)
    ok = (cnt >= min_count) & np.triu(np.ones((n + 1, n + 1), bool), 1)
    phases = _PHASES[trend]
    neg = -np.inf
    P = len(phases)
    # dp[p, i, j]: best IV of a partition of [0, j) whose last bin is [i, j), in phase p.
    dp = np.full((P, n + 1, n + 1), neg)
    back_i = np.zeros((P, n + 1, n + 1), np.int64)
    back_p = np.zeros((P, n + 1, n + 1), np.int64)
    dp[0, 0, 1:] = np.where(ok[0, 1:], iv[0, 1:], neg)
    for j in range(1, n):
        ks = np.arange(j + 1, n + 1)
        r_new = rate[j, ks][None, :]  # (1, K)
        prev_rate = rate[:j, j][:, None]  # (j, 1)
        gain = np.where(ok[j, ks], iv[j, ks], neg)
        for p, direction in enumerate(phases):
            if direction == "ascending":
                allowed = prev_rate <= r_new
            elif direction == "descending":
                allowed = prev_rate >= r_new
            else:
                allowed = np.ones((j, len(ks)), bool)
            # Enter phase p from phase p (stay) or from phase p-1 (turn).
            best = np.full(len(ks), neg)
            bi_ = np.zeros(len(ks), np.int64)
            bp_ = np.zeros(len(ks), np.int64)
            for q in sorted({p, max(p - 1, 0)}):
                cand = np.where(allowed, dp[q, :j, j][:, None], neg)
                arg = np.argmax(cand, axis=0)
                val = cand[arg, np.arange(len(ks))]
                better = val > best
                best = np.where(better, val, best)
                bi_ = np.where(better, arg, bi_)
                bp_ = np.where(better, q, bp_)
            dp[p, j, ks] = best + gain
            back_i[p, j, ks] = bi_
            back_p[p, j, ks] = bp_
    last = dp[:, :, n]
    if not np.isfinite(last).any():
        return [0], float(iv[0, n])
    # First maximum in (phase, start) order: ties resolve the same way every time.
    p, j = np.unravel_index(int(np.argmax(last)), last.shape)
    total = float(last[p, j])
    starts, k = [], n
    while True:
        starts.append(int(j))
        if j == 0:
            break
        i, q = back_i[p, j, k], back_p[p, j, k]
        j, k, p = int(i), int(j), int(q)
    return sorted(starts), total


def _choose_trend(
    good: np.ndarray, bad: np.ndarray, min_count: float, cfg: BinningConfig
) -> tuple[str, list[int]]:
    """The requested trend, or for ``auto`` the best monotone fit, turned only when it pays.

    A one-turn shape (peak or valley: mid-sized loans safest, say) is taken only when its IV
    beats the best monotone fit by ``turn_gain`` (relative), so a wiggle of noise does not
    become a bump that an officer would have to explain.
    """
    if cfg.trend != "auto":
        return cfg.trend, _optimal_partition(good, bad, min_count, cfg.trend, cfg.alpha)[0]
    fits = {
        t: _optimal_partition(good, bad, min_count, t, cfg.alpha) for t in _PHASES if t != "none"
    }
    mono = max(("ascending", "descending"), key=lambda t: (fits[t][1], t == "ascending"))
    turn = max(("peak", "valley"), key=lambda t: (fits[t][1], t == "peak"))
    if fits[turn][1] > fits[mono][1] * (1 + cfg.turn_gain) + 1e-12:
        return turn, fits[turn][0]
    return mono, fits[mono][0]


def _chi2_merge(
    starts: list[int], good: np.ndarray, bad: np.ndarray, threshold: float
) -> list[int]:
    """Merge adjacent bins whose bad rates do not differ significantly (chi-square, 1 df).

    The DP maximises training IV, and IV always grows with more bins, so on pure noise it
    still finds "structure"; merging the least significant adjacent pair until every pair is
    significant at ``threshold`` (2.706 = 10%, the usual ChiMerge level) removes those splits. Merging neighbours keeps
    a monotone (or one-turn) shape.
    """
    bounds = [*starts, len(good)]
    g = [float(good[a:b].sum()) for a, b in itertools.pairwise(bounds)]
    b = [float(bad[a:b].sum()) for a, b in itertools.pairwise(bounds)]
    st = list(starts)
    while len(st) > 1:
        stats = []
        for i in range(len(st) - 1):
            table = np.array([[g[i], b[i]], [g[i + 1], b[i + 1]]])
            n = table.sum()
            expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
            with np.errstate(divide="ignore", invalid="ignore"):
                chi = np.nansum((table - expected) ** 2 / expected)
            stats.append(chi)
        i = int(np.argmin(stats))
        if stats[i] >= threshold:
            break
        g[i : i + 2] = [g[i] + g[i + 1]]
        b[i : i + 2] = [b[i] + b[i + 1]]
        del st[i + 1]
    return st


def _side_bin(good: int, bad: int, g_all: float, b_all: float, k: int, alpha: float) -> dict:
    """A special or missing bin; WOE 0 when empty in training (the population average)."""
    if good + bad == 0:
        return {"n": 0, "bad": 0, "woe": 0.0, "empty": True}
    g = (good + alpha) / (g_all + alpha * k)
    b = (bad + alpha) / (b_all + alpha * k)
    return {"n": good + bad, "bad": bad, "woe": _r(math.log(g / b)), "empty": False}


def _r(v: float) -> float:
    """Round stored floats so the artefact does not depend on the last ulp of a BLAS call."""
    return float(round(float(v), 10))


def fit_numeric(name: str, x: np.ndarray, y: np.ndarray, cfg: BinningConfig) -> dict:
    """Bin one numeric variable (``x`` float with NaN for missing, ``y`` 1 = bad)."""
    missing = np.isnan(x)
    special = np.isin(x, np.asarray(cfg.special_codes, float)) & ~missing
    clean = ~missing & ~special
    xc, yc = x[clean], y[clean]
    n_total = len(x)
    if len(xc):
        if cfg.prebinning == "cart":
            cuts = _cart_cuts(xc, yc, cfg.max_prebins, int(np.ceil(cfg.min_bin_size * n_total)))
        else:
            cuts = _prebin_cuts(xc, cfg.max_prebins)
        idx = np.searchsorted(cuts, xc, side="right")
        bad = np.bincount(idx, weights=yc, minlength=len(cuts) + 1)
        cnt = np.bincount(idx, minlength=len(cuts) + 1).astype(float)
        good = cnt - bad
    else:
        cuts, good, bad = np.array([]), np.array([0.0]), np.array([0.0])
    min_count = cfg.min_bin_size * n_total
    trend, starts = _choose_trend(good, bad, min_count, cfg)
    if cfg.merge_chi2 > 0:
        starts = _chi2_merge(starts, good, bad, cfg.merge_chi2)
    splits = [float(cuts[s - 1]) for s in starts[1:]]
    bounds = [*starts, len(good)]
    g = np.array([good[a:b].sum() for a, b in itertools.pairwise(bounds)])
    b = np.array([bad[a:b].sum() for a, b in itertools.pairwise(bounds)])
    return _finish(
        {
            "name": name,
            "kind": "numeric",
            "splits": splits,
            "special_codes": [float(c) for c in cfg.special_codes],
            "range": [float(xc.min()), float(xc.max())] if len(xc) else None,
            "trend": trend,
        },
        g,
        b,
        int((y[special] == 0).sum()),
        int(y[special].sum()),
        int((y[missing] == 0).sum()),
        int(y[missing].sum()),
        y,
        cfg.alpha,
    )


def fit_categorical(name: str, x: np.ndarray, y: np.ndarray, cfg: BinningConfig) -> dict:
    """Bin one categorical variable (``x`` object array of str, None for missing)."""
    missing = np.array([v is None for v in x], bool)
    xs = x[~missing].astype(str)
    ys = y[~missing]
    cats, inv = np.unique(xs, return_inverse=True)
    bad = np.bincount(inv, weights=ys, minlength=len(cats))
    cnt = np.bincount(inv, minlength=len(cats)).astype(float)
    good = cnt - bad
    rate = (bad + cfg.alpha) / (cnt + 2 * cfg.alpha)
    order = np.lexsort((cats, rate))  # by rate, ties by name: deterministic
    starts, _ = _optimal_partition(
        good[order], bad[order], cfg.min_bin_size * len(x), "ascending", cfg.alpha
    )
    if cfg.merge_chi2 > 0:
        starts = _chi2_merge(starts, good[order], bad[order], cfg.merge_chi2)
    bounds = [*starts, len(cats)]
    groups = [sorted(str(c) for c in cats[order[a:b]]) for a, b in itertools.pairwise(bounds)]
    g = np.array([good[order[a:b]].sum() for a, b in itertools.pairwise(bounds)])
    b = np.array([bad[order[a:b]].sum() for a, b in itertools.pairwise(bounds)])
    return _finish(
        {"name": name, "kind": "categorical", "groups": groups, "trend": "ascending"},
        g,
        b,
        0,
        0,
        int((y[missing] == 0).sum()),
        int(y[missing].sum()),
        y,
        cfg.alpha,
    )


def _finish(
    spec: dict,
    g: np.ndarray,
    b: np.ndarray,
    sg: int,
    sb: int,
    mg: int,
    mb: int,
    y: np.ndarray,
    alpha: float,
) -> dict:
    """WOE and IV over the regular, special and missing bins together."""
    G, B = float((y == 0).sum()), float(y.sum())
    k = len(g) + (sg + sb > 0) + (mg + mb > 0)
    pg = (g + alpha) / (G + alpha * k)
    pb = (b + alpha) / (B + alpha * k)
    w = np.log(pg / pb)
    iv = float(((pg - pb) * w).sum())
    special = _side_bin(sg, sb, G, B, k, alpha)
    missing = _side_bin(mg, mb, G, B, k, alpha)
    for side in (special, missing):
        if not side["empty"]:
            pg_s = (side["n"] - side["bad"] + alpha) / (G + alpha * k)
            pb_s = (side["bad"] + alpha) / (B + alpha * k)
            iv += (pg_s - pb_s) * side["woe"]
    spec.update(
        n=[int(v) for v in g + b],
        bad=[int(v) for v in b],
        woe=[_r(v) for v in w],
        special=special,
        missing=missing,
        iv=_r(iv),
    )
    return spec


def bin_index(
    spec: dict, values: np.ndarray | pl.Series, clip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Bin of each value (regular 0..K-1, special K, missing K+1) and an out-of-domain flag.

    Numeric values outside the training range and categories never seen in training are
    flagged, as the issue asks: never silently scored as if seen. They go to the special bin,
    or with ``clip`` (numeric only) to the nearest edge bin.
    """
    if spec["kind"] == "numeric":
        k = len(spec["splits"]) + 1
        x = values.astype(float)
        idx = np.searchsorted(np.asarray(spec["splits"], float), x, side="right")
        missing = np.isnan(x)
        special = np.isin(x, np.asarray(spec["special_codes"], float)) & ~missing
        flag = np.zeros(len(x), bool)
        if spec["range"] is not None:
            lo, hi = spec["range"]
            with np.errstate(invalid="ignore"):
                flag = ~missing & ~special & ((x < lo) | (x > hi))
        idx = np.where(special | (flag & (not clip)), k, idx)
        idx = np.where(missing, k + 1, idx)
        return idx, flag
    k = len(spec["groups"])
    cats = [c for grp in spec["groups"] for c in grp]
    codes = [i for i, grp in enumerate(spec["groups"]) for _ in grp]
    series = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    series = series.cast(pl.String)
    missing = series.is_null().to_numpy()
    mapped = series.replace_strict(cats, codes, default=-1, return_dtype=pl.Int64)
    mapped = mapped.fill_null(-1).to_numpy()
    flag = (mapped < 0) & ~missing
    idx = np.where(flag, k, mapped)
    idx = np.where(missing, k + 1, idx)
    return idx, flag


def woe_table(spec: dict) -> np.ndarray:
    """WOE per bin index (regular bins, then special, then missing)."""
    return np.asarray([*spec["woe"], spec["special"]["woe"], spec["missing"]["woe"]], float)
