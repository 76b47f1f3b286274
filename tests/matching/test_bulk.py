"""The bulk path (every pair as a code byte) against the per-pair reference and the page kernel.

Same random markets as ``test_kernels``: the code byte and the rule words must name exactly the
conditions the plain-Python reference finds, the words must be the page kernel's, and the
ranking of eligible pairs must be :func:`kernels.match`'s.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.matching import approval, bulk, kernels

from .test_kernels import PRICING, firm_st, frames, need_st, product_st, reference


@settings(max_examples=60, deadline=None)
@given(
    st.lists(firm_st, min_size=1, max_size=3),
    st.lists(product_st, min_size=1, max_size=4),
    st.lists(need_st, min_size=1, max_size=5),
)
def test_codes_name_every_failed_condition_as_the_reference_does(firms, products, needs) -> None:  # type: ignore[no-untyped-def]
    f, p, n = frames(firms, products, needs)
    rules = kernels.compile_products(p)
    codes = bulk.match_all(n, f, p, PRICING, rules=rules)
    ref = reference(firms, products, needs)
    why = codes.reasons(np.arange(len(needs)))
    got: dict[tuple[int, str], set[str]] = {}
    for r in why.iter_rows(named=True):
        got.setdefault((r["need_id"], r["product_id"]), set()).add(r["code"])
    for (k, pid), want in ref.items():
        assert got.get((k, pid), set()) == want, (k, pid)
        assert bool(codes.eligible[k, int(pid[1:])]) == (not want)
    assert codes.failed_conditions() == sum(len(v) for v in ref.values())
    # the same sentences and the same ranks as the page kernel
    pairs = kernels.match(n, f, p, PRICING, rules=rules)
    assert why.sort("need_id", "product_id", "code").equals(
        kernels.reasons(pairs, rules).sort("need_id", "product_id", "code")
    )
    want_rank = pairs.filter(pl.col("eligible")).select("need_id", "product_id", "rank")
    got_rank = codes.ranked.select("need_id", pl.col("product_id").cast(pl.String), "rank")
    assert got_rank.sort("need_id", "product_id").equals(want_rank.sort("need_id", "product_id"))


def test_chunks_cover_every_need() -> None:
    """More needs than one chunk holds: the rows past the first chunk are checked too."""
    firms = [
        {"revenue_2y": 50.0, "points": 10.0, "hnte": True, "dishonest": False, "stage": "seed"}
    ]
    products = [{"rules": [], "min_amount": 10, "span": 10, "min_term": 1, "term_span": 10,
                 "spread_min_bp": 0, "band": 0, "kinds": ["credit"]}]  # fmt: skip
    needs = [{"firm": 0, "amount": 5 + (k % 20), "term": 5, "max_rate": None, "offers": []}
             for k in range(3000)]  # fmt: skip
    f, p, n = frames(firms, products, needs)
    old = bulk.CHUNK_PAIRS
    bulk.CHUNK_PAIRS = 64
    try:
        codes = bulk.match_all(n, f, p, PRICING)
    finally:
        bulk.CHUNK_PAIRS = old
    amounts = np.array([x["amount"] for x in needs])
    assert (codes.eligible[:, 0] == ((amounts >= 10) & (amounts <= 20))).all()
    assert (codes.code[:, 0] == np.where(codes.eligible[:, 0], 0, bulk.CHECK_BITS["amount"])).all()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(firm_st, min_size=1, max_size=3),
    st.lists(product_st, min_size=1, max_size=4),
    st.lists(need_st, min_size=1, max_size=5),
    st.lists(st.floats(-2, 2), min_size=len(approval.NAMES), max_size=len(approval.NAMES)),
    st.floats(0.001, 0.3),
)
def test_per_pair_approval_ranks_as_the_page_kernel(firms, products, needs, coefs, pd_) -> None:  # type: ignore[no-untyped-def]
    """With a credit model on some products and the per-pair approval model: the same
    probabilities, kinds, factors and ranks from the bulk path as from :func:`kernels.match`."""
    f, p, n = frames(firms, products, needs)
    f = f.with_columns(
        pl.Series("revenue", [1e4 * (k + 1) for k in range(f.height)]),
        pl.Series("invention_patents", [float(k % 3) for k in range(f.height)]),
    )
    p = p.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("m")).alias("credit_model")
    )
    appr = f.select(
        "uscc",
        pl.lit("m").alias("credit_model"),
        (1 - pd_ * (1 + pl.int_range(pl.len()))).clip(0.01, 0.99).alias("approval_prob"),
        pl.lit("m-0001").alias("model_id"),
    )
    model = approval.Model(dict(zip(approval.NAMES, coefs, strict=True)), -3.0)
    pairs = kernels.match(n, f, p, PRICING, appr, model=model)
    codes = bulk.match_all(n, f, p, PRICING, appr, model=model)
    cols = ["need_id", "product_id", "rank", "approval_prob", "kind_used", "model_id",
            *[c for c in pairs.columns if c.startswith("why_")]]  # fmt: skip
    want = pairs.filter(pl.col("eligible")).select(cols).sort("need_id", "product_id")
    got = (
        codes.ranked.with_columns(pl.col("product_id", "kind_used").cast(pl.String))
        .select(cols)
        .sort("need_id", "product_id")
    )
    assert got.select("need_id", "product_id", "rank", "kind_used", "model_id").equals(
        want.select("need_id", "product_id", "rank", "kind_used", "model_id")
    )
    for c in cols[3:]:
        if c not in ("kind_used", "model_id"):
            assert np.allclose(got[c].to_numpy(), want[c].to_numpy(), atol=1e-12), c
    # a pair's probability depends on what it would use: never above 1, never below 0
    assert got["approval_prob"].is_between(0, 1).all()
