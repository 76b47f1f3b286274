"""Band tables of the official evaluations, compared in exact integer arithmetic.

Every published band is "lower bound inclusive" (含): a ratio ``num/den`` reaches the band with
threshold ``p/q`` when ``num*q >= den*p``. Amounts are integer fen, so no float ever decides a
boundary (a float 0.06 is not 6%, and a clerk at exactly 6.00% must get the 6% band).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import polars as pl


@dataclass(frozen=True, slots=True)
class Band:
    """Reach ``threshold`` (inclusive) to earn ``points``; bands are listed from the top down."""

    threshold: Fraction
    points: int


def pct(n: int | str) -> Fraction:
    """A percentage as an exact fraction: ``pct(6) == Fraction(6, 100)``.

    >>> pct("2.5")
    Fraction(1, 40)
    """
    return Fraction(str(n)) / 100


def ratio_points(num: pl.Expr, den: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    """Points of the highest band whose threshold ``num/den`` reaches; 0 below all, null if den ≤ 0."""
    expr: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for b in reversed(bands):
        reach = num * b.threshold.denominator >= den * b.threshold.numerator
        expr = pl.when(reach).then(pl.lit(b.points, dtype=pl.Int64)).otherwise(expr)
    return pl.when(den > 0).then(expr).otherwise(pl.lit(None, dtype=pl.Int64))


def amount_points(value: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    """Points for an absolute amount or count (thresholds in the value's own unit)."""
    return ratio_points(value, pl.lit(1, dtype=pl.Int64), bands)


def band_text(bands: tuple[Band, ...], unit: str = "%") -> str:
    """Human-readable band table, used in docs and reasons."""
    parts = []
    for b in bands:
        v = b.threshold * 100 if unit == "%" else b.threshold
        parts.append(f"≥{float(v):g}{unit}→{b.points}")
    return ", ".join(parts)
