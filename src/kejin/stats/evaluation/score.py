"""Scoring the banks: pure functions from indicator values to scorecards, ranks and rank intervals.

Level: a positive indicator scores ``value ÷ best`` (best = the highest bank), a negative one
``best ÷ value`` (best = the lowest; a value of 0 is the best possible and scores 1). Change: the
bank's change since the previous year-end (``growth`` = value ÷ last − 1, ``difference`` =
value − last; sign flipped for a negative indicator) divided by the largest absolute change of any
bank, so the biggest improver scores 1 and a decline scores below 0 (to −1). A figure without data
scores 0 and says so. Every score is an exact fraction; a bank's total is rounded half-up to 0.01
point once, and banks are ranked on the displayed totals (equal totals share the best rank).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from kejin.points.kernels import PeerLayout
from kejin.points.sensitivity import draw_weights
from kejin.stats.evaluation.scheme import Scheme

Values = Mapping[str, Mapping[str, Any]]  # bank -> indicator id -> presented value (or None)


def _exact(v: Any) -> Fraction | None:
    return None if v is None else Fraction(str(v))


def _cents(x: Fraction) -> int:
    """``x`` points as integer cents, rounded half up (towards +∞, negatives too)."""
    q = x * 100
    return int(q.numerator * 2 + q.denominator) // (2 * q.denominator)


def level_scores(values: Mapping[str, Fraction | None], direction: str) -> dict[str, Fraction]:
    have = {b: v for b, v in values.items() if v is not None}
    out = {b: Fraction(0) for b in values}
    if not have:
        return out
    if direction == "positive":
        best = max(have.values())
        if best > 0:
            out.update({b: max(v, Fraction(0)) / best for b, v in have.items()})
    else:
        best = min(have.values())
        out.update({b: Fraction(1) if v <= best else best / v for b, v in have.items()})
    return out


def changes(
    now: Mapping[str, Fraction | None],
    last: Mapping[str, Fraction | None],
    kind: str,
    direction: str,
) -> dict[str, Fraction | None]:
    out: dict[str, Fraction | None] = {}
    for b, v in now.items():
        p = last.get(b)
        if v is None or p is None or (kind == "growth" and p <= 0):
            out[b] = None
            continue
        c = v / p - 1 if kind == "growth" else v - p
        out[b] = c if direction == "positive" else -c
    return out


def change_scores(ch: Mapping[str, Fraction | None]) -> dict[str, Fraction]:
    top = max((abs(c) for c in ch.values() if c is not None), default=Fraction(0))
    return {b: Fraction(0) if c is None or top == 0 else c / top for b, c in ch.items()}


def parts(scheme: Scheme, now: Values, last: Values) -> dict[str, dict[str, dict[str, Any]]]:
    """Per bank and indicator: the values, the best bank's, the two scores (exact)."""
    banks = sorted(now)
    out: dict[str, dict[str, dict[str, Any]]] = {b: {} for b in banks}
    for ind in scheme.indicators:
        v = {b: _exact(now[b].get(ind.id)) for b in banks}
        p = {b: _exact(last.get(b, {}).get(ind.id)) for b in banks}
        lv = level_scores(v, ind.direction)
        ch = changes(v, p, ind.change_kind, ind.direction)
        cs = change_scores(ch)
        have = [x for x in v.values() if x is not None]
        best = (max if ind.direction == "positive" else min)(have) if have else None
        for b in banks:
            out[b][ind.id] = {
                "value": now[b].get(ind.id),
                "last": last.get(b, {}).get(ind.id),
                "best": None if best is None else float(best),
                "change": None if ch[b] is None else float(ch[b]),
                "level_score": lv[b],
                "change_score": cs[b],
            }
    return out


def totals(
    scheme: Scheme,
    scored: Mapping[str, Mapping[str, Mapping[str, Any]]],
    weights: Mapping[str, float] | None = None,
) -> dict[str, Fraction]:
    """Exact quantitative points per bank under ``weights`` (``id:level`` / ``id:change``)."""
    w = weights or scheme.weights["all"]
    return {
        b: sum(
            (
                Fraction(str(w[f"{i.id}:level"])) * row[i.id]["level_score"]
                + Fraction(str(w[f"{i.id}:change"])) * row[i.id]["change_score"]
                for i in scheme.indicators
            ),
            Fraction(0),
        )
        for b, row in scored.items()
    }


def ranks(cents: list[int]) -> list[int]:
    """Ranks from the best with the points engine's tie rule (equal totals share the best)."""
    if not cents:
        return []
    r, _, _ = PeerLayout(np.zeros(len(cents), dtype=np.int32), 1).rank_desc(np.array(cents))
    return [int(x) for x in r]


def rank_intervals(
    scheme: Scheme,
    scored: Mapping[str, Mapping[str, Mapping[str, Any]]],
    qualitative: Mapping[str, Fraction],
    draws: int,
    seed: int,
    concentration: float = 100.0,
) -> dict[str, tuple[int, int]]:
    """5th–95th percentile of each bank's rank over Dirichlet draws of the weights."""
    banks = sorted(scored)
    rng = np.random.default_rng(seed)
    got = np.empty((draws, len(banks)), dtype=np.int64)
    for d in range(draws):
        w = draw_weights(scheme, rng, concentration)["all"]  # type: ignore[arg-type]
        q = totals(scheme, scored, {k: round(v, 6) for k, v in w.items()})
        got[d] = ranks([_cents(q[b] + qualitative.get(b, Fraction(0))) for b in banks])
    lo = np.quantile(got, 0.05, axis=0, method="inverted_cdf")
    hi = np.quantile(got, 0.95, axis=0, method="inverted_cdf")
    return {b: (int(lo[i]), int(hi[i])) for i, b in enumerate(banks)}


def scorecards(
    scheme: Scheme,
    now: Values,
    last: Values,
    qualitative: Mapping[str, Mapping[str, Fraction]],
    draws: int = 200,
    seed: int = 18,
) -> list[dict[str, Any]]:
    """Every bank's scorecard, best first: parts with points and points lost, totals, rank."""
    scored = parts(scheme, now, last)
    quant = totals(scheme, scored)
    qual = {b: sum(qualitative.get(b, {}).values(), Fraction(0)) for b in scored}
    banks = sorted(scored)
    cents = [_cents(quant[b] + qual[b]) for b in banks]
    rk = dict(zip(banks, ranks(cents), strict=True))
    iv = rank_intervals(scheme, scored, qual, draws, seed) if draws else {}
    out = []
    for b, c in zip(banks, cents, strict=True):
        rows = []
        for i in scheme.indicators:
            x = scored[b][i.id]
            lp = Fraction(str(i.level)) * x["level_score"]
            cp = Fraction(str(i.change)) * x["change_score"]
            rows.append(
                {
                    "indicator": i.id,
                    "direction": i.direction,
                    "value": x["value"],
                    "last_year_end": x["last"],
                    "best": x["best"],
                    "change": x["change"],
                    "change_kind": i.change_kind,
                    "level_max": i.level,
                    "level_points": _cents(lp) / 100,
                    "change_max": i.change,
                    "change_points": _cents(cp) / 100,
                    "lost": _cents(Fraction(str(i.level + i.change)) - lp - cp) / 100,
                    "no_data": x["value"] is None,
                    "no_last": i.change > 0 and x["change"] is None,
                }
            )
        marks = qualitative.get(b, {})
        out.append(
            {
                "bank": b,
                "quantitative": _cents(quant[b]) / 100,
                "qualitative": _cents(qual[b]) / 100,
                "qualitative_items": [
                    {
                        "item": it.id,
                        "max": it.max,
                        "points": None if it.id not in marks else _cents(marks[it.id]) / 100,
                    }
                    for it in scheme.qualitative
                ],
                "total": c / 100,
                "rank": rk[b],
                "rank_p5": iv.get(b, (rk[b], rk[b]))[0],
                "rank_p95": iv.get(b, (rk[b], rk[b]))[1],
                "indicators": rows,
            }
        )
    return sorted(out, key=lambda r: (r["rank"], r["bank"]))
