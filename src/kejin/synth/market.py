"""The synthetic region's marketplace truth: needs drawn from the firms, and whether a bank would
truly approve each need under each product.

The region's firms carry a true probability of default (``synth_truth.pd_annual``, from the
latent credit quality; :func:`kejin.synth.model.true_pd`). A bank that studies a need learns
more than the platform sees; the synthetic bank approves a need under a product with the *true
approval probability*

    logit p = a_kind − (logit PD − logit 2%) − 1.5 · max(0, ln(amount / capacity_kind))

where ``a_kind`` is how readily a guarantee kind is granted (collateral makes a bank bolder) and
``capacity_kind`` what the firm can carry under it (a share of last year's revenue, plus, for an
IP pledge, a value per invention patent); :data:`APPETITE` holds both. Each (need, product) pair
then gets its outcome, drawn once: *truly approved* or not. ``kejin match quality`` measures
how well the marketplace's ranking puts the truly approved products first (docs/matching.md).

Pure numpy/Polars, seeded: the same inputs and seed give the same draws. Nothing that scores or
ranks may read this module (as for ``synth_truth``); only the measurement does.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sqlalchemy import Connection, select

from kejin.synth.tables import SynthTruth

#: Per guarantee kind: (a_kind, capacity share of revenue, capacity per invention patent in CNY).
APPETITE: dict[str, tuple[float, float, float]] = {
    "credit": (0.3, 0.25, 0.0),
    "ip_pledge": (0.8, 0.30, 1_500_000.0),
    "guarantee": (1.0, 0.40, 0.0),
    "mortgage": (1.3, 0.80, 0.0),
}
#: A kind the table does not name is treated as a guarantee company's backing.
DEFAULT_KIND = "guarantee"
#: The smallest capacity: a firm with no revenue can still carry a small loan.
MIN_CAPACITY = 200_000.0
TERMS = (6, 12, 12, 24, 36)


def _logit(p: pl.Expr) -> pl.Expr:
    q = p.clip(1e-6, 1 - 1e-6)
    return (q / (1 - q)).log()


def truth_frame(conn: Connection) -> pl.DataFrame:
    """``uscc`` and ``pd_annual`` of every synthetic firm (empty without a synthetic region)."""
    rows = conn.execute(select(SynthTruth.uscc, SynthTruth.pd_annual)).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"uscc": pl.String, "pd_annual": pl.Float64},
        orient="row",
    )


def draw_needs(firms: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``n`` needs of distinct firms in good standing, shaped by each firm's size and assets.

    ``firms``: the marketplace's firm frame (``uscc``, ``revenue``, ``invention_patents``,
    ``stage``, ``dishonest``, ``abnormal_operation``). The amount is lognormal around a quarter
    of last year's revenue (1M CNY without revenue), rounded to 10,000; every firm offers a
    credit loan, a firm with invention patents usually an IP pledge too, a growth or mature
    firm sometimes a mortgage, some a guarantee company; half accept any rate, half name a
    ceiling between 4% and 8%.
    """
    rng = np.random.default_rng(seed)
    pool = firms.filter(
        ~pl.col("dishonest").fill_null(False) & ~pl.col("abnormal_operation").fill_null(False)
    ).sort("uscc")
    take = rng.choice(pool.height, min(n, pool.height), replace=False)
    f = pool[np.sort(take)]
    k = f.height
    revenue = f["revenue"].cast(pl.Float64).fill_null(0).to_numpy()
    base = np.where(revenue > 0, 0.25 * revenue, 1_000_000.0)
    amount = np.maximum(np.round(base * rng.lognormal(0.0, 0.6, k), -4), 100_000.0)
    patents = f["invention_patents"].cast(pl.Float64).fill_null(0).to_numpy() > 0
    solid = f["stage"].is_in(["growth", "mature"]).to_numpy()
    ip = patents & (rng.random(k) < 0.7)
    mortgage = solid & (rng.random(k) < 0.4)
    guarantee = rng.random(k) < 0.3
    offered = [
        ["credit"] + ["ip_pledge"] * a + ["mortgage"] * b + ["guarantee"] * c
        for a, b, c in zip(ip.tolist(), mortgage.tolist(), guarantee.tolist(), strict=True)
    ]
    max_rate = np.where(rng.random(k) < 0.5, np.nan, np.round(rng.uniform(0.04, 0.08, k), 4))
    return pl.DataFrame(
        {
            "need_id": np.arange(1, k + 1, dtype=np.int64),
            "uscc": f["uscc"],
            "amount": amount,
            "term_months": rng.choice(TERMS, k).astype(np.int64),
            "max_rate": max_rate,
            "guarantee_offered": offered,
        },
        schema_overrides={"guarantee_offered": pl.List(pl.String)},
        nan_to_null=True,
    )


def true_approval(pairs: pl.DataFrame, seed: int) -> pl.DataFrame:
    """``p_true`` and the drawn outcome ``approved`` of each (need, product) pair.

    ``pairs``: need_id, product_id, amount, guarantee_kind (the product's first), revenue,
    invention_patents, pd_annual.
    """
    kinds = pl.col("guarantee_kind").fill_null(DEFAULT_KIND)
    known = pl.when(kinds.is_in(list(APPETITE))).then(kinds).otherwise(pl.lit(DEFAULT_KIND))

    def part(i: int) -> pl.Expr:
        return known.replace_strict({k: v[i] for k, v in APPETITE.items()}, return_dtype=pl.Float64)

    capacity = pl.max_horizontal(
        part(1) * pl.col("revenue").cast(pl.Float64).fill_null(0)
        + part(2) * pl.col("invention_patents").cast(pl.Float64).fill_null(0),
        pl.lit(MIN_CAPACITY),
    )
    over = (pl.col("amount").cast(pl.Float64) / capacity).log().clip(lower_bound=0.0)
    logit = part(0) - (_logit(pl.col("pd_annual")) - np.log(0.02 / 0.98)) - 1.5 * over
    out = pairs.with_columns((1 / (1 + (-logit).exp())).alias("p_true"))
    draw = np.random.default_rng(seed).random(out.height)
    return out.with_columns(pl.Series("approved", draw < out["p_true"].to_numpy()))
