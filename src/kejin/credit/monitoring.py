"""Stability monitoring: PSI of the score distribution and of each characteristic's bins.

The artefact stores the training distribution (points bands, bin counts), so stability can be
measured from the artefact and new data alone, month after month.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from sqlalchemy import Engine

from kejin.credit import features, metrics, models, points_link, registry, tech_model
from kejin.credit.binning import bin_index
from kejin.credit.scorecard import column_values


def psi_points(art: dict, points: np.ndarray) -> tuple[float, list[dict]]:
    """PSI of the points distribution against the training bands stored in the artefact."""
    ref = art["reference"]["points_hist"]
    edges = np.asarray(ref["edges"])
    actual = np.bincount(np.searchsorted(edges, points, side="right"), minlength=len(edges) + 1)
    expected = np.asarray(ref["counts"])
    labels = ["-inf", *[f"{e:g}" for e in edges], "inf"]
    rows = [
        {
            "band": f"[{a}, {b})",
            "train_share": float(e / expected.sum()),
            "data_share": float(c / max(actual.sum(), 1)),
        }
        for a, b, e, c in zip(labels[:-1], labels[1:], expected, actual, strict=True)
    ]
    return metrics.psi(expected, actual), rows


def characteristic_stability(art: dict, X: pl.DataFrame) -> list[dict]:
    """Per-variable PSI of bin shares against training (scorecards only: they have bins)."""
    if art["method"] != "scorecard":
        return []
    out = []
    for v in art["variables"]:
        idx, flag = bin_index(v, column_values(X, v["name"], v["kind"] != "numeric"))
        actual = np.bincount(idx, minlength=len(v["woe"]) + 2)
        expected = np.asarray(art["reference"]["bin_counts"][v["name"]])
        out.append(
            {
                "variable": v["name"],
                "psi": metrics.psi(expected, actual),
                "out_of_domain": int(flag.sum()),
            }
        )
    return out


def monthly_stability(engine: Engine, model: str, month: date) -> dict:
    """PSI of a registered model's points, and of each characteristic, on the month's borrowers.

    The population is every firm with a loan status reported in ``month``, with features as of
    that month; the reference is the training distribution stored in the artefact.
    """
    model_id, art = registry.fetch(engine, model)
    with engine.connect() as conn:
        r = features.load(conn)
        pts = points_link.points_frame(conn)
    borrowers = (
        r.statuses.filter(pl.col("month") == month)
        .join(r.loans.select("contract_no", "uscc"), on="contract_no")
        .select("uscc")
        .unique()
    )
    feats = tech_model.model_frame(r, month, pts).join(borrowers, on="uscc")
    if feats.height == 0:
        return {
            "model": model_id,
            "month": str(month),
            "rows": 0,
            "psi": None,
            "characteristics": [],
        }
    scored = models.score(art, feats)
    psi, bands = psi_points(art, scored["points"].to_numpy())
    return {
        "model": model_id,
        "month": str(month),
        "rows": feats.height,
        "psi": round(psi, 6),
        "psi_level": "stable" if psi < 0.1 else "shift" if psi < 0.25 else "major shift",
        "bands": bands,
        "characteristics": characteristic_stability(art, feats),
    }
