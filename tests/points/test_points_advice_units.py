"""Advice a firm can act on: the value to reach is stated in the indicator's unit, never as a
percentile-rank epsilon such as 0.000001 yuan of venture funding."""

from __future__ import annotations

import pytest

from kejin.points.profile import _beyond


@pytest.mark.parametrize(
    ("peer", "sign", "unit", "expected"),
    [
        (0.0, 1.0, "CNY", 10_000.0),  # beat a peer with none: the first 10,000 CNY
        (1_234_567.0, 1.0, "CNY", 1_240_000.0),
        (30_000.0, 1.0, "CNY", 40_000.0),  # strictly better, not equal
        (3.0, 1.0, "item", 4.0),
        (2.0, 1.0, "person", 3.0),
        (0.1234, 1.0, "ratio", 0.124),
        (0.5, -1.0, "ratio", 0.499),  # a lower-is-better ratio: just below
    ],
)
def test_advice_is_in_meaningful_units(
    peer: float, sign: float, unit: str, expected: float
) -> None:
    got = _beyond(peer, sign, unit)
    assert got == pytest.approx(expected)
    assert (got - peer) * sign > 0  # always strictly better than the peer to beat
