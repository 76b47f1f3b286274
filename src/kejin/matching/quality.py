"""How good is the ranking? Measured against the synthetic region's truth (``kejin match quality``).

Needs are drawn from the region's firms and every eligible (need, product) pair gets the true
approval probability and a drawn outcome (:mod:`kejin.synth.market`). Rankings are then compared
on the same eligible pairs:

* ``kejin`` — the marketplace's rank as the products are configured (fit and price; a product
  that names a credit model adds its approval probability);
* ``kejin_model`` — the same formula with every product using the registered credit model
  (``--model``, default ``tech_firm``): what naming a model would change;
* ``kejin_approval`` / ``kejin_approval_model`` — the same two with each pair's own approval
  probability (:mod:`kejin.matching.approval`), fitted on the outcomes of needs drawn from the
  *other* half of the firms (:func:`split_firms`, :func:`fit_approval`);
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

from kejin.matching import approval, bulk
from kejin.matching.kernels import Pricing
from kejin.synth import market

RANKERS = ("kejin", "kejin_model", "kejin_approval", "kejin_approval_model", "random", "oracle")


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


def _judge(
    pairs: pl.DataFrame,
    nd: pl.DataFrame,
    firms: pl.DataFrame,
    products: pl.DataFrame,
    truth: pl.DataFrame,
    seed: int,
) -> pl.DataFrame:
    """``p_true`` and the drawn outcome ``approved`` of each eligible pair (the truth's side)."""
    facts = pairs.join(nd.select("need_id", "uscc", "amount"), on="need_id").join(
        products.select(
            "product_id", pl.col("guarantee_kinds").list.first().alias("guarantee_kind")
        ),
        on="product_id",
    )
    facts = facts.join(
        firms.select("uscc", "revenue", "invention_patents"), on="uscc", how="left"
    ).join(truth, on="uscc", how="left")
    return market.true_approval(facts.sort("need_id", "product_id"), seed)


def split_firms(truth: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The synthetic firms in two halves, seeded: the approval model is fitted on needs of the
    first and measured on needs of the second (no firm in both)."""
    usccs = truth.sort("uscc")["uscc"]
    order = np.random.default_rng(seed).permutation(usccs.len())
    half = usccs.len() // 2
    return (
        truth.filter(pl.col("uscc").is_in(usccs.gather(order[:half]).implode())),
        truth.filter(pl.col("uscc").is_in(usccs.gather(order[half:]).implode())),
    )


def fit_approval(
    firms: pl.DataFrame,
    products: pl.DataFrame,
    truth: pl.DataFrame,
    pricing: Pricing,
    approvals: pl.DataFrame | None,
    model: str,
    needs: int,
    seed: int,
) -> approval.Model:
    """Fit the per-pair approval model on the *outcomes* of needs drawn from ``truth``'s firms.

    Every product is given the credit model ``model`` (its PD a factor where ``approvals`` has
    one). The truth draws each eligible pair's outcome (approved or not); only the outcomes
    enter :func:`approval.fit`, never the true probability.
    """
    nd = market.draw_needs(firms.join(truth, on="uscc", how="semi"), needs, seed)
    prods = products.with_columns(pl.lit(model).alias("credit_model"))
    run = bulk.match_all(
        nd, firms, prods, pricing, approvals, model=approval.Model.blank(), keep_inputs=True
    )
    pairs = run.ranked.with_columns(pl.col("product_id", "kind_used").cast(pl.String))
    judged = pairs.join(
        _judge(pairs.select("need_id", "product_id"), nd, firms, products, truth, seed + 1).select(
            "need_id", "product_id", "approved"
        ),
        on=["need_id", "product_id"],
    )
    return approval.fit(
        judged,
        judged["approved"].to_numpy(),
        {"needs": nd.height, "pairs": judged.height, "seed": seed, "credit_model": model,
         "region_as_of": pricing.as_of.isoformat(), "firms": truth.height,
         "approved_share": round(float(judged["approved"].mean()), 4) if judged.height else None},
    )  # fmt: skip


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
    """Fit the approval model on half the firms, draw ``needs`` needs from the other half, match
    them, and score every ranking against the truth on the same eligible pairs."""
    train, test = split_firms(truth, seed + 3)
    fitted = fit_approval(firms, products, train, pricing, approvals, model, needs, seed + 10)
    nd = market.draw_needs(firms.join(test, on="uscc", how="semi"), needs, seed)
    with_model = products.with_columns(pl.lit(model).alias("credit_model"))
    has_pd = approvals is not None and approvals.height > 0
    runs = {
        "kejin": (products, None),
        "kejin_model": (with_model, None),
        "kejin_approval": (products, fitted),
        "kejin_approval_model": (with_model, fitted),
    }
    pairs: pl.DataFrame | None = None
    scored: dict[str, pl.DataFrame] = {}
    for name, (prods, m) in runs.items():
        if prods is with_model and not has_pd:
            continue
        ranked = bulk.match_all(nd, firms, prods, pricing, approvals, model=m).ranked
        scored[name] = ranked
        got = ranked.select(
            "need_id", pl.col("product_id").cast(pl.String), pl.col("score").alias(name)
        )
        pairs = got if pairs is None else pairs.join(got, on=["need_id", "product_id"], how="left")
    assert pairs is not None
    judged = _judge(pairs, nd, firms, products, test, seed + 1).with_columns(
        pl.Series("random", np.random.default_rng(seed + 2).random(pairs.height)),
        pl.col("p_true").alias("oracle"),
    )
    used = [r for r in RANKERS if r in judged.columns]
    eligible_needs = judged["need_id"].n_unique()
    best = "kejin_approval_model" if has_pd else "kejin_approval"
    calib = judged.join(
        scored[best].select(
            "need_id", pl.col("product_id").cast(pl.String), pl.col("approval_prob").alias("p_hat")
        ),
        on=["need_id", "product_id"],
    )
    return {
        "needs": nd.height,
        "products": products.height,
        "eligible_pairs": judged.height,
        "needs_with_an_eligible_product": eligible_needs,
        "truly_approved_share": round(float(judged["approved"].mean()), 4)
        if judged.height
        else None,
        "model": model if "kejin_model" in used else None,
        "approval_model": {
            "trained_on": fitted.trained_on,
            "coef": fitted.coef,
            "pd_mean": fitted.pd_mean,
            # on the measured pairs (firms the fit never saw): mean predicted vs observed, Brier
            "mean_predicted": round(float(calib["p_hat"].mean()), 4) if calib.height else None,
            "brier": round(
                float(((calib["p_hat"] - calib["approved"].cast(pl.Float64)) ** 2).mean()), 4
            )
            if calib.height
            else None,
            "auc_all_pairs": _auc(calib["p_hat"].to_numpy(), calib["approved"].to_numpy()),
        },
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


def _auc(score: np.ndarray, outcome: np.ndarray) -> float | None:
    """One AUC over all pairs (how well the probability separates outcomes at all)."""
    frame = pl.DataFrame({"g": np.zeros(len(score)), "s": score, "approved": outcome})
    return group_auc(frame, "g", "s")[0]


def as_of_of_region(conn: Any) -> date | None:
    """The synthetic region's ``as of`` day (its data are complete up to it)."""
    from sqlalchemy import select

    from kejin.synth.tables import SynthRun

    raw = conn.execute(select(SynthRun.as_of).order_by(SynthRun.id.desc()).limit(1)).scalar()
    return None if raw is None else date.fromisoformat(raw)
