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


def decide_route(
    out: pl.DataFrame,
    gates: list[tuple[str, pl.Expr]],
    direct: list[tuple[str, pl.Expr]],
    by_score: pl.Expr,
) -> pl.DataFrame:
    """The outcome both official evaluations share: the first failing gate refuses; otherwise
    the first direct condition that holds passes; otherwise the score decides. Adds
    ``failed_gates`` (every failing gate, for the reason text), ``route`` and ``passed``."""
    gate_fail: pl.Expr = pl.lit(None, dtype=pl.String)
    for gid, failing in reversed(gates):
        gate_fail = pl.when(failing).then(pl.lit(f"gate:{gid}")).otherwise(gate_fail)
    route_direct: pl.Expr = pl.lit(None, dtype=pl.String)
    for did, holds in reversed(direct):
        route_direct = pl.when(holds).then(pl.lit(f"direct:{did}")).otherwise(route_direct)
    failed = pl.concat_list(
        pl.when(failing).then(pl.lit(gid)).otherwise(pl.lit(None, dtype=pl.String))
        for gid, failing in gates
    ).list.drop_nulls()
    return out.with_columns(
        failed_gates=failed, route=pl.coalesce(gate_fail, route_direct, pl.lit("score"))
    ).with_columns(
        passed=pl.when(pl.col("route").str.starts_with("gate:"))
        .then(False)
        .when(pl.col("route").str.starts_with("direct:"))
        .then(True)
        .otherwise(by_score)
    )


def ratio_text(num: int, den: int) -> str:
    """A share for the reason text; a dash when the denominator is missing or zero."""
    return "—" if den <= 0 else f"{num * 100 / den:.2f}%"
