"""Exact money for the fund: shares of a loss in Decimal, rounded by a stated rule, adding up.

A share is ``loss × rate`` computed exactly (``Decimal`` with enough precision that no product of
a money amount and a rate is ever rounded by the context) and rounded once, to the fen, by the
scheme's rounding rule. Every party but one gets its rounded line; the remainder party gets what
is left, so the lines add up to the loss to the fen whatever the rates. That rule is what a
policy officer checks by hand: 四舍五入 per payment line, the residue to the named party.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
#: How a payment line is rounded to the fen: 四舍五入 (the default) or toward zero.
RoundingMode = Literal["half_up", "down"]
_MODES = {"half_up": ROUND_HALF_UP, "down": ROUND_DOWN}


def line(amount: Decimal, rate: Decimal, mode: RoundingMode = "half_up") -> Decimal:
    """``amount × rate`` to the fen by ``mode``; the product itself is exact.

    >>> line(Decimal("2456315.65"), Decimal("0.10"))
    Decimal('245631.57')
    >>> line(Decimal("2456315.65"), Decimal("0.10"), "down")
    Decimal('245631.56')
    """
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(amount) * Decimal(rate)).quantize(FEN, rounding=_MODES[mode])


def cap(amount: Decimal, rate: Decimal) -> Decimal:
    """A ceiling ``amount × rate`` to the fen, rounded down: a cap is never exceeded by rounding."""
    return line(amount, rate, "down")


def split(
    total: Decimal,
    rates: Mapping[str, Decimal],
    remainder_to: str,
    mode: RoundingMode = "half_up",
) -> dict[str, Decimal]:
    """``total`` shared by ``rates``: each party's line rounded by ``mode``, the remainder party
    takes ``total`` minus the others, so the result adds up to ``total`` exactly.

    >>> split(Decimal("100.01"), {"pool": Decimal("0.5"), "bank": Decimal("0.5")}, "bank")
    {'pool': Decimal('50.01'), 'bank': Decimal('50.00')}
    """
    out = {p: line(total, r, mode) for p, r in rates.items() if p != remainder_to}
    out[remainder_to] = Decimal(total) - sum(out.values(), ZERO)
    return out


def prorata(
    total: Decimal,
    weights: Mapping[str, Decimal],
    remainder_to: str,
    mode: RoundingMode = "half_up",
) -> dict[str, Decimal]:
    """``total`` shared in proportion to ``weights`` (any positive numbers), adding up exactly:
    each line ``total × w / Σw`` rounded by ``mode``, the residue to ``remainder_to``."""
    whole = sum(weights.values(), Decimal(0))
    with localcontext() as ctx:
        ctx.prec = 60
        out = {
            p: (Decimal(total) * w / whole).quantize(FEN, rounding=_MODES[mode])
            for p, w in weights.items()
            if p != remainder_to
        }
    out[remainder_to] = Decimal(total) - sum(out.values(), ZERO)
    return out


def part(total: Decimal, num: Decimal, den: Decimal, mode: RoundingMode = "half_up") -> Decimal:
    """``total × num / den`` to the fen by ``mode`` (a pro-rata part, e.g. of a recovery)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(total) * Decimal(num) / Decimal(den)).quantize(FEN, rounding=_MODES[mode])
