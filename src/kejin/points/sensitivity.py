"""Robustness of the ranking (JRC/OECD composite-indicator practice, as in COINr).

Monte Carlo over the two most arbitrary choices of a composite indicator: the weights (each peer
group's vector drawn from a Dirichlet centred on the nominal weights; ``concentration`` sets how
far draws stray — higher is tighter) and the normalisation (drawn uniformly from the listed
methods; banded indicators keep their bands). Every draw is seeded, so the report is reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Engine

from kejin.errors import Problem, ValidationError
from kejin.points.kernels import raw_values, score_system
from kejin.points.service import latest_year, load_frame
from kejin.points.system import System, load_system

NORMALISATIONS = ("percentile", "minmax", "log_minmax", "zscore")
STABLE_SHARE = 0.9


def draw_weights(
    system: System, rng: np.random.Generator, concentration: float
) -> dict[str, dict[str, float]]:
    """One Dirichlet draw per weight vector, scaled back to the declared total."""
    out = {}
    for key, vec in sorted(system.weights.items()):
        ids = sorted(vec)
        w = np.array([vec[i] for i in ids], dtype=float)
        pos = w > 0
        draw = np.zeros_like(w)
        draw[pos] = rng.dirichlet(concentration * w[pos] / w[pos].sum()) * system.weights_sum
        out[key] = dict(zip(ids, draw.tolist(), strict=True))
    return out


def sensitivity(
    engine: Engine,
    system_name: str,
    draws: int,
    seed: int,
    *,
    concentration: float = 100.0,
    normalisations: tuple[str, ...] = NORMALISATIONS,
    year: int | None = None,
) -> dict[str, Any]:
    """Rank intervals (5th–95th percentile of region rank) and list stability over ``draws``."""
    if draws < 1 or concentration <= 0:
        raise ValidationError(
            "抽样参数无效",
            "invalid sampling parameters",
            [
                Problem(
                    "抽样次数≥1且集中度>0",
                    "draws ≥ 1 and concentration > 0",
                    field="draws",
                    value=draws,
                )
            ],
        )
    bad = [n for n in normalisations if n not in NORMALISATIONS]
    if bad:
        raise ValidationError(
            "未知的归一化方法",
            "unknown normalisation",
            [
                Problem(
                    f"可选：{', '.join(NORMALISATIONS)}",
                    f"choose from {', '.join(NORMALISATIONS)}",
                    field="normalisation",
                    value=bad[0],
                )
            ],
        )
    system = load_system(system_name).system
    year = year or latest_year(engine)
    frame = load_frame(engine, system, year)
    raw = raw_values(frame, system)
    nominal = score_system(frame, system, raw=raw)
    rng = np.random.default_rng(seed)
    n = frame.height
    ranks = np.empty((draws, n), dtype=np.int32)
    nominal_list = nominal["list_id"].fill_null("").to_numpy()
    same_list = np.zeros(n, dtype=np.int32)
    used: dict[str, int] = {}
    for d in range(draws):
        weights = draw_weights(system, rng, concentration)
        norm = normalisations[int(rng.integers(len(normalisations)))]
        used[norm] = used.get(norm, 0) + 1
        out = score_system(frame, system, weights=weights, normalisation=norm, raw=raw)
        ranks[d] = out["rank_region"].to_numpy()
        same_list += out["list_id"].fill_null("").to_numpy() == nominal_list
    lo = np.quantile(ranks, 0.05, axis=0, method="inverted_cdf")
    hi = np.quantile(ranks, 0.95, axis=0, method="inverted_cdf")
    stay = same_list / draws
    lists = {}
    for li in system.lists:
        members = nominal_list == li.id
        count = int(members.sum())
        lists[li.id] = {
            "members": count,
            "stable_members": int((stay[members] >= STABLE_SHARE).sum()),
            "stable_share": float((stay[members] >= STABLE_SHARE).mean()) if count else None,
        }
    order = np.argsort(nominal["rank_region"].to_numpy(), kind="stable")
    firms = [
        {
            "uscc": nominal["uscc"][int(i)],
            "rank": int(nominal["rank_region"][int(i)]),
            "rank_p5": int(lo[i]),
            "rank_p95": int(hi[i]),
            "list_id": nominal["list_id"][int(i)],
            "list_share": float(stay[i]),
        }
        for i in order
    ]
    return {
        "system": system.id,
        "version": system.version,
        "year": year,
        "draws": draws,
        "seed": seed,
        "concentration": concentration,
        "normalisations_drawn": dict(sorted(used.items())),
        "stable_threshold": STABLE_SHARE,
        "lists": lists,
        "median_interval_width": float(np.median(hi - lo)),
        "firms": firms,
    }
