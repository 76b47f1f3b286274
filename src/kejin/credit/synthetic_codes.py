"""Generated consumer-credit data of known structure: small-integer category codes and money.

Why it exists: an unseen real set (about 6,000 rows, 22% bad; two small-integer category codes
and two money amounts) showed the scorecard binning codes as numbers, so that rare codes were
merged with their numeric neighbours although they behave nothing like them. This generator
has that shape and a known truth, so tests and the development protocol (docs/credit.md,
round 6) can reproduce the class of failure without the real data.

The codes' effects are deliberately not ordered by the code (code 6 is the riskiest, code 7 the
safest), the rare codes carry the largest effects, and the money columns are log-normal.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# (share, log-odds effect) per code; codes are 1..8 and 0..5.
CODE_A = ((0.30, 0.0), (0.22, 0.25), (0.18, -0.2), (0.12, 0.4), (0.08, 0.1), (0.04, 1.4),
          (0.035, -1.2), (0.025, 1.1))  # fmt: skip
CODE_B = ((0.40, 0.0), (0.25, 0.3), (0.17, -0.15), (0.10, 0.35), (0.05, -1.0), (0.03, 1.2))


def generate(n: int = 6000, seed: int = 1, bad_rate: float = 0.22) -> pl.DataFrame:
    """``n`` rows: ``purpose_code`` (1..8), ``housing_code`` (0..5), ``income``,
    ``loan_amount`` (log-normal) and ``bad`` (0/1, about ``bad_rate``)."""
    rng = np.random.default_rng(seed)
    a = rng.choice(len(CODE_A), n, p=[s for s, _ in CODE_A])
    b = rng.choice(len(CODE_B), n, p=[s for s, _ in CODE_B])
    income = rng.lognormal(8.5, 0.7, n)
    loan = rng.lognormal(9.0, 0.9, n) * (1 + 0.3 * (income / income.mean()))
    z = (
        np.array([e for _, e in CODE_A])[a]
        + np.array([e for _, e in CODE_B])[b]
        - 0.45 * np.log(income / np.median(income))
        + 0.35 * np.log(loan / np.median(loan))
    )
    # Intercept by bisection so the expected bad rate is ``bad_rate``.
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(z + mid)))) < bad_rate:
            lo = mid
        else:
            hi = mid
    pd_ = 1 / (1 + np.exp(-(z + lo)))
    y = (rng.uniform(size=n) < pd_).astype(np.int64)
    return pl.DataFrame(
        {
            "purpose_code": a + 1,
            "housing_code": b,
            "income": np.round(income, 2),
            "loan_amount": np.round(loan, 2),
            "bad": y,
        }
    )
