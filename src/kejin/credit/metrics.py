"""Discrimination, calibration and stability measures, in plain numpy so reports and benches agree.

``y`` is 1 for bad; ``p`` is a probability of bad (higher = riskier). A scorecard's points run the
other way (higher = safer), so callers pass ``-points`` when ranking by points.
"""

from __future__ import annotations

import numpy as np


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties get their average rank).

    >>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y).astype(bool)
    order = np.argsort(p, kind="mergesort")
    ps = np.asarray(p)[order]
    ranks = np.empty(len(ps))
    # Average ranks over ties.
    _, first, counts = np.unique(ps, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bad and good cumulative distributions."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, float)
    thresholds = np.unique(p)
    cb = np.searchsorted(np.sort(p[y]), thresholds, side="right") / max(y.sum(), 1)
    cg = np.searchsorted(np.sort(p[~y]), thresholds, side="right") / max((~y).sum(), 1)
    return float(np.abs(cb - cg).max())


def gini(y: np.ndarray, p: np.ndarray) -> float:
    return 2 * auc(y, p) - 1


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index between two count (or share) vectors over the same bins.

    >>> round(psi(np.array([50, 50]), np.array([50, 50])), 6)
    0.0
    """
    e = np.asarray(expected, float)
    a = np.asarray(actual, float)
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(((a - e) * np.log(a / e)).sum())


def deciles(y: np.ndarray, p: np.ndarray, n: int = 10) -> list[dict]:
    """Rows sorted riskiest first, cut in ``n`` equal groups: bad rate, lift, cumulative capture."""
    y = np.asarray(y, float)
    order = np.argsort(-np.asarray(p, float), kind="mergesort")
    groups = np.array_split(order, n)
    total_bad = y.sum()
    base = total_bad / len(y)
    out, cum_bad, cum_n = [], 0.0, 0
    for i, g in enumerate(groups, 1):
        b = y[g].sum()
        cum_bad += b
        cum_n += len(g)
        out.append(
            {
                "decile": i,
                "n": len(g),
                "bad": int(b),
                "bad_rate": float(b / len(g)) if len(g) else 0.0,
                "min_pd": float(np.asarray(p)[g].min()) if len(g) else 0.0,
                "max_pd": float(np.asarray(p)[g].max()) if len(g) else 0.0,
                "lift": float(b / len(g) / base) if len(g) and base else 0.0,
                "cum_bad_capture": float(cum_bad / total_bad) if total_bad else 0.0,
                "cum_share": cum_n / len(y),
            }
        )
    return out


def reliability(y: np.ndarray, p: np.ndarray, n: int = 10) -> list[dict]:
    """Mean predicted vs observed bad rate in ``n`` groups of equal size by predicted PD."""
    order = np.argsort(np.asarray(p, float), kind="mergesort")
    out = []
    for g in np.array_split(order, n):
        if len(g):
            out.append(
                {
                    "n": len(g),
                    "mean_pd": float(np.asarray(p)[g].mean()),
                    "bad_rate": float(np.asarray(y)[g].mean()),
                }
            )
    return out


def summary(y: np.ndarray, p: np.ndarray) -> dict:
    """The headline figures stored in an artefact and printed by the bench."""
    return {
        "n": len(y),
        "bad_rate": round(float(np.mean(y)), 10),
        "auc": round(auc(y, p), 10),
        "ks": round(ks(y, p), 10),
        "gini": round(gini(y, p), 10),
        "brier": round(brier(y, p), 10),
    }
