"""How good is the ranking? Measured against the synthetic region's truth (``kejin match quality``).

Needs are drawn from the region's firms and every eligible (need, product) pair gets the true
approval probability and a drawn outcome (:mod:`kejin.synth.market`). Rankings are then compared
on the same eligible pairs:

* ``kejin`` — the marketplace's rank as the products are configured (fit and price; a product
  that names a credit model adds its approval probability);
* ``kejin_model`` — the same formula with every product using the registered credit model
  (``--model``, default ``tech_firm``): what naming a model would change;
* ``random`` — eligible products in a random order (what a list without ranking gives);
* ``oracle`` — by the true probability itself (the best any ranking could do).

Two directions, as the marketplace answers both. **Firm**: for each need with at least two
eligible products, is the first product truly approved (precision@1), the mean true
probability of the first, and the AUC of the order against the outcomes within the need.
**Bank**: for each product, the AUC of its eligible needs' order against the outcomes (does
the queue put the needs it would approve first?). AUCs are Mann–Whitney with average ranks
for ties, averaged over the groups that have both outcomes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import polars as pl

from kejin.matching import bulk
from kejin.matching.kernels import Pricing
from kejin.synth import market

RANKERS = ("kejin", "kejin_model", "random", "oracle")


def group_auc(pairs: pl.DataFrame, group: str, score: str) -> tuple[float | None, int]:
    """Mean AUC of ``score`` against ``approved`` within each ``group``, and how many groups
    had both outcomes (the others say nothing about order)."""
    g = (
        pairs.with_columns(pl.col(score).rank("average").over(group).alias("_r"))
        .group_by(group)
        .agg(
            pl.col("approved").sum().alias("pos"),
            (~pl.col("approved")).sum().alias("neg"),
            pl.col("_r").filter(pl.col("approved")).sum().alias("rsum"),
        )
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .with_columns(
            (
                (pl.col("rsum") - pl.col("pos") * (pl.col("pos") + 1) / 2)
                / (pl.col("pos") * pl.col("neg"))
            ).alias("auc")
        )
    )
    return (None if g.height == 0 else round(float(g["auc"].mean()), 4)), g.height


def _firm_side(pairs: pl.DataFrame, score: str) -> dict[str, Any]:
    ranked = pairs.filter(pl.len().over("need_id") >= 2).sort("need_id", "product_id")
    top = ranked.filter(pl.col(score).rank("ordinal", descending=True).over("need_id") == 1)
    auc, groups = group_auc(ranked, "need_id", score)
    return {
        "precision_at_1": round(float(top["approved"].mean()), 4) if top.height else None,
        "p_true_of_first": round(float(top["p_true"].mean()), 4) if top.height else None,
        "auc_within_need": auc,
        "needs_with_both_outcomes": groups,
    }


def measure(
    firms: pl.DataFrame,
    products: pl.DataFrame,
    truth: pl.DataFrame,
    pricing: Pricing,
    approvals: pl.DataFrame | None,
    model: str,
    needs: int,
    seed: int,
) -> dict[str, Any]:
    """Draw ``needs`` needs, match them, and score the four rankings against the truth."""
    nd = market.draw_needs(firms.join(truth, on="uscc", how="semi"), needs, seed)
    as_configured = bulk.match_all(nd, firms, products, pricing, approvals)
    pairs = as_configured.ranked.select(
        "need_id", pl.col("product_id").cast(pl.String), pl.col("score").alias("kejin")
    )
    if approvals is not None and approvals.height:
        with_model = bulk.match_all(
            nd,
            firms,
            products.with_columns(pl.lit(model).alias("credit_model")),
            pricing,
            approvals,
        )
        pairs = pairs.join(
            with_model.ranked.select(
                "need_id",
                pl.col("product_id").cast(pl.String),
                pl.col("score").alias("kejin_model"),
            ),
            on=["need_id", "product_id"],
            how="left",
        )
    facts = pairs.join(nd.select("need_id", "uscc", "amount"), on="need_id").join(
        products.select(
            "product_id", pl.col("guarantee_kinds").list.first().alias("guarantee_kind")
        ),
        on="product_id",
    )
    facts = facts.join(
        firms.select("uscc", "revenue", "invention_patents"), on="uscc", how="left"
    ).join(truth, on="uscc", how="left")
    judged = market.true_approval(facts, seed + 1).with_columns(
        pl.Series("random", np.random.default_rng(seed + 2).random(facts.height)),
        pl.col("p_true").alias("oracle"),
    )
    used = [r for r in RANKERS if r in judged.columns]
    eligible_needs = judged["need_id"].n_unique()
    return {
        "needs": nd.height,
        "products": products.height,
        "eligible_pairs": judged.height,
        "needs_with_an_eligible_product": eligible_needs,
        "truly_approved_share": round(float(judged["approved"].mean()), 4)
        if judged.height
        else None,
        "model": model if "kejin_model" in used else None,
        "firm": {r: _firm_side(judged, r) for r in used},
        "bank": {
            r: dict(
                zip(
                    ("auc_within_product", "products_with_both_outcomes"),
                    group_auc(judged, "product_id", r),
                    strict=True,
                )
            )
            for r in used
        },
        "seed": seed,
        "as_of": pricing.as_of.isoformat(),
    }


def as_of_of_region(conn: Any) -> date | None:
    """The synthetic region's ``as of`` day (its data are complete up to it)."""
    from sqlalchemy import select

    from kejin.synth.tables import SynthRun

    raw = conn.execute(select(SynthRun.as_of).order_by(SynthRun.id.desc()).limit(1)).scalar()
    return None if raw is None else date.fromisoformat(raw)
