"""The marketplace's parameters (``params.yaml``) and its working-day arithmetic.

Nothing here is a literal in a formula: the LPR, the legal ceiling on the rate, the exclusive
period of a taken need and the government's service level are dated, referenced values that a
region changes in the file (:mod:`kejin.policy.params` reads and validates it).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np

from kejin.matching.kernels import Pricing
from kejin.policy.params import Parameter, load_parameters

UNITS = {
    "lpr_1y": "1/year",
    "rate_cap_lpr_multiple": "times",
    "exclusive_working_days": "working_day",
    "sla_working_days": "working_day",
    "need_validity_days": "day",
}
PATH = Path(__file__).with_name("params.yaml")


@lru_cache(maxsize=1)
def parameters() -> dict[str, Parameter]:
    return load_parameters(PATH, UNITS)


def value(name: str, day: date) -> float:
    """The value of ``name`` in force on ``day`` (an error naming the parameter outside it).

    Parameter files are read as exact decimals; the marketplace's rate bands work in float.
    """
    return float(parameters()[name].at(day, None).value)


def pricing(day: date) -> Pricing:
    """LPR and the legal rate ceiling (``rate_cap_lpr_multiple`` × LPR) in force on ``day``."""
    lpr = value("lpr_1y", day)
    return Pricing(lpr=lpr, rate_cap=lpr * value("rate_cap_lpr_multiple", day), as_of=day)


def rate_cap(day: date) -> Decimal:
    return Decimal(f"{pricing(day).rate_cap:.6f}")


def add_working_days(day: date, n: int) -> date:
    """``day`` plus ``n`` working days (Monday–Friday; public holidays are not yet modelled).

    >>> add_working_days(date(2025, 6, 6), 1)  # a Friday
    datetime.date(2025, 6, 9)
    """
    return np.busday_offset(np.datetime64(day), n, roll="forward").astype(date)


def working_days(start: date, end: date) -> int:
    """Working days from ``start`` (exclusive) to ``end`` (inclusive).

    >>> working_days(date(2025, 6, 6), date(2025, 6, 9))
    1
    """
    one = np.timedelta64(1, "D")
    return int(np.busday_count(np.datetime64(start) + one, np.datetime64(end) + one))
