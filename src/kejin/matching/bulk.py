"""The whole market at once: every need × product pair's failed conditions as one byte of bits.

:func:`kernels.match` answers a page — one need, or a bank's queue — with a frame of every pair
and its columns. A region's 100,000 needs against 2,000 products are 200 million pairs: a frame
of them does not fit in memory, and most of what it would hold is repeated. Here the same
conditions are evaluated where they vary:

* a firm-level rule depends on the firm and the product only. Needs whose firms fail the same
  rules share a *pattern* (the ``fail_w`` words of :func:`kernels.firm_failures`); the rules a
  pair fails are ``patterns[pattern[need]] & masks[product]``, computed per pattern × product;
* the pair checks (amount, term, acceptable rate, credit enhancement) are NumPy comparisons of a
  block of needs against every product, by chunks of needs, written as bits of one ``uint8`` per
  pair (:data:`CHECK_BITS`), with :data:`RULE_BIT` set when any rule failed.

So every failed condition of every pair is known (the code byte and the pattern words name each
one), eligible pairs are ranked by :func:`kernels.score_and_rank` (the one formula), and
:meth:`Codes.reasons` words the failures of any needs through :func:`kernels.reasons` (the one
set of sentences). ``tests/matching/test_bulk.py`` checks both against the per-pair reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from kejin.matching.approval import FACTORS, INPUTS, NEED_TERMS, STRENGTH, kind_used
from kejin.matching.approval import Model as ApprovalModel
from kejin.matching.kernels import (
    GUARANTEE_BITS,
    Pricing,
    Rules,
    compile_products,
    firm_failures,
    guarantee_mask,
    reasons,
    score_columns,
)

#: Bits of a pair's code byte: a failed pair check each, and "some rule failed".
CHECK_BITS = {"amount": 1, "term": 2, "rate": 4, "guarantee": 8}
RULE_BIT = 16
KIND = pl.Enum(STRENGTH)
#: Pairs per chunk of the pair checks: large enough for NumPy, small enough for the cache.
CHUNK_PAIRS = 1 << 21


@dataclass(frozen=True)
class Codes:
    """Every need × product pair of a run, by position: needs are rows, products columns."""

    needs: pl.DataFrame  # the needs as given (row i of ``code``)
    products: pl.DataFrame  # the products as given (column j)
    rules: Rules
    pattern: np.ndarray  # (needs,) index into ``patterns``
    patterns: np.ndarray  # (patterns, words) uint64: the rules a firm of that pattern fails
    masks: np.ndarray  # (products, words) uint64: each product's rules
    code: np.ndarray  # (needs, products) uint8: CHECK_BITS | RULE_BIT
    #: per pair check: each need's class and the (classes, products) table of failures
    checks: dict[str, tuple[np.ndarray, np.ndarray]]
    ranked: pl.DataFrame  # eligible pairs: need_id, product_id, rank, score, expected_rate, …
    lpr: float  # the LPR of the run (the product's lowest rate in the rate reason)

    @property
    def eligible(self) -> np.ndarray:
        return self.code == 0

    def failed_rules(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The failed-rule words of pairs (i, j): shape (pairs, words)."""
        return self.patterns[self.pattern[i]] & self.masks[j]

    def failed_conditions(self) -> int:
        """How many conditions fail over all pairs (each rule and each pair check counted)."""
        checks = sum(
            int(np.bincount(cls, minlength=len(tab)) @ tab.sum(axis=1, dtype=np.int64))
            for cls, tab in self.checks.values()
        )  # a class's needs fail a product's check alike: no pass over the pairs
        per_pattern = np.bincount(self.pattern, minlength=len(self.patterns))
        bits = np.concatenate(
            [
                _popcount(part[:, None, :] & self.masks[None, :, :]).sum(
                    axis=(1, 2), dtype=np.int64
                )
                for part in _pattern_chunks(self.patterns, len(self.masks))
            ]
        )
        return checks + int((per_pattern * bits).sum())

    def reasons(self, rows: np.ndarray) -> pl.DataFrame:
        """Every failed condition of the pairs of need rows ``rows``, in words (zh, en).

        Rebuilds the columns :func:`kernels.reasons` reads for these needs only.
        """
        m = len(self.products)
        i = np.repeat(rows, m)
        j = np.tile(np.arange(m), len(rows))
        words = self.failed_rules(i, j)
        code = self.code[i, j]
        nd = self.needs[i]
        pr = self.products[j]
        pairs = pl.DataFrame(
            {
                "need_id": nd["need_id"],
                "product_id": pr["product_id"],
                "eligible": code == 0,
                **{f"{k}_ok": (code & b) == 0 for k, b in CHECK_BITS.items()},
                **{f"failed_{w}": words[:, w] for w in range(words.shape[1])},
                "amount": nd["amount"].cast(pl.Float64),
                "term_months": nd["term_months"],
                "max_rate": nd["max_rate"].cast(pl.Float64),
                "min_amount": pr["min_amount"].cast(pl.Float64),
                "max_amount": pr["max_amount"].cast(pl.Float64),
                "min_term_months": pr["min_term_months"],
                "max_term_months": pr["max_term_months"],
                "rate_low": _rate_low(pr, self.lpr),
            }
        )
        return reasons(pairs, self.rules)


def _pattern_chunks(patterns: np.ndarray, products: int) -> list[np.ndarray]:
    """Patterns in blocks whose pattern × product intermediate stays within a chunk."""
    step = max(1, CHUNK_PAIRS // max(products, 1))
    return [patterns[a : a + step] for a in range(0, max(len(patterns), 1), step)]


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (NumPy ≥ 2 has ``bitwise_count``)."""
    return np.bitwise_count(x)


def _rate_low(products: pl.DataFrame, lpr: float) -> pl.Series:
    return (lpr + products["spread_min_bp"].cast(pl.Float64) / 10_000).alias("rate_low")


def _words(frame: pl.DataFrame, prefix: str, words: int) -> np.ndarray:
    cols = [frame[f"{prefix}_{w}"].fill_null(0).cast(pl.UInt64).to_numpy() for w in range(words)]
    return np.ascontiguousarray(np.stack(cols, axis=1).astype(np.uint64))


def _classes(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's class among the thresholds, and one representative value per class.

    Classes alternate "strictly between two thresholds" and "equal to a threshold", so two values
    of one class compare alike (<, =, >) with every threshold: a check of a value against the
    thresholds is the check of its class's representative.
    """
    t = np.unique(thresholds.astype(np.float64))
    if not len(t):
        return np.zeros(len(values), dtype=np.int64), np.zeros(1)
    idx = np.searchsorted(t, values, side="left")
    eq = (idx < len(t)) & (t[np.minimum(idx, len(t) - 1)] == values)
    reps = np.empty(2 * len(t) + 1)
    reps[1::2] = t
    below = np.concatenate([[t[0] - 1], t])
    above = np.concatenate([t, [t[-1] + 1]])
    reps[0::2] = below + (above - below) / 2
    return 2 * idx + eq, reps


def match_all(
    needs: pl.DataFrame,
    firms: pl.DataFrame,
    products: pl.DataFrame,
    pricing: Pricing,
    approvals: pl.DataFrame | None = None,
    rules: Rules | None = None,
    rank: bool = True,
    model: ApprovalModel | None = None,
    keep_inputs: bool = False,
) -> Codes:
    """Every pair of ``needs`` × ``products``: the code byte, the rule words, eligible pairs ranked.

    ``rank=False`` leaves ``ranked`` empty: for a caller that wants eligibility and reasons only
    (why nobody fits a need), the ranking of the eligible pairs is most of the work. ``model``:
    each pair's own approval probability, as :func:`kernels.match` (the kind of enhancement a
    pair would use is one more table per set of kinds offered × product); ``ranked`` then has
    ``kind_used`` and the factors ``why_*``, and with ``keep_inputs`` every column the model
    reads (:data:`approval.INPUTS`, what :func:`approval.fit` needs).

    Same inputs and same answers as :func:`kernels.match` (eligibility, failed conditions,
    rank), without a frame of every pair. Each check is evaluated where it varies: a rule per
    firm-failure pattern × product, the amount and the term per class of value (see
    :func:`_classes`) × product, the rate per class of acceptable rate × product, the credit
    enhancement per set of kinds offered × product; a pair's code byte is then the OR of one row
    of each table (row copies, by chunks of needs).
    """
    rules = rules or compile_products(products)
    words = rules.words
    fails = firm_failures(firms, rules)
    nd = needs.join(fails, on="uscc", how="left", maintain_order="left")
    need_words = _words(nd, "fail", words)
    patterns, pattern = np.unique(need_words, axis=0, return_inverse=True)
    pattern = pattern.reshape(-1)
    prod = products.sort("product_id").join(
        rules.masks, on="product_id", how="left", maintain_order="left"
    )
    masks = _words(prod, "mask", words)
    n, m = len(nd), len(prod)

    def table(rows: list[np.ndarray], bit: int) -> np.ndarray:
        return np.concatenate(rows).view(np.uint8) * np.uint8(bit)

    by_rule = table(
        [
            np.bitwise_or.reduce(part[:, None, :] & masks[None, :, :], axis=2) != 0
            for part in _pattern_chunks(patterns, m)
        ],
        RULE_BIT,
    )
    amount = nd["amount"].cast(pl.Float64).to_numpy()
    lo_a, hi_a = (prod[c].cast(pl.Float64).to_numpy() for c in ("min_amount", "max_amount"))
    a_cls, a_rep = _classes(amount, np.concatenate([lo_a, hi_a]))
    by_amount = table([(a_rep[:, None] < lo_a) | (a_rep[:, None] > hi_a)], CHECK_BITS["amount"])
    term = nd["term_months"].cast(pl.Float64).to_numpy()
    lo_t, hi_t = (
        prod[c].cast(pl.Float64).to_numpy() for c in ("min_term_months", "max_term_months")
    )
    t_cls, t_rep = _classes(term, np.concatenate([lo_t, hi_t]))
    by_term = table([(t_rep[:, None] < lo_t) | (t_rep[:, None] > hi_t)], CHECK_BITS["term"])
    rate_low = _rate_low(prod, pricing.lpr).to_numpy()
    max_rate = nd["max_rate"].cast(pl.Float64).fill_null(np.inf).to_numpy() + 1e-12
    r_cls, r_rep = _classes(max_rate, rate_low)
    by_rate = table([rate_low[None, :] > r_rep[:, None]], CHECK_BITS["rate"])
    offers = nd.select(guarantee_mask(pl.col("guarantee_offered")))[:, 0].to_numpy()
    o_val, o_cls = np.unique(offers, return_inverse=True)
    accepts = prod.select(guarantee_mask(pl.col("guarantee_kinds")))[:, 0].to_numpy()
    takes_credit = (accepts & GUARANTEE_BITS["credit"]) != 0
    by_offer = table(
        [~(takes_credit[None, :] | ((accepts[None, :] & o_val[:, None]) != 0))],
        CHECK_BITS["guarantee"],
    )

    code = np.empty((n, m), dtype=np.uint8)
    step = max(1, CHUNK_PAIRS // max(m, 1))
    tmp = np.empty((min(step, n), m), dtype=np.uint8)
    hits_i, hits_j = [], []
    for a in range(0, n, step):
        b = min(n, a + step)
        out, buf = code[a:b], tmp[: b - a]
        np.take(by_rule, pattern[a:b], axis=0, out=out)
        for tab, cls in ((by_amount, a_cls), (by_term, t_cls), (by_rate, r_cls), (by_offer, o_cls)):
            np.take(tab, cls[a:b], axis=0, out=buf)
            out |= buf
        flat = np.flatnonzero(out == 0)
        hits_i.append(a + flat // m)
        hits_j.append(flat % m)
    i = np.concatenate(hits_i) if hits_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(hits_j) if hits_j else np.zeros(0, dtype=np.int64)
    kinds = None
    if model is not None and rank:
        cross = pl.DataFrame(
            {"offers": np.repeat(o_val, m), "accepts": np.tile(accepts, len(o_val))}
        )
        used = cross.select(kind_used(pl.col("accepts"), pl.col("offers")).cast(KIND))[:, 0]
        # an eligible pair always has a kind (credit accepted, or one offered): -1 never gathered
        codes = used.to_physical().fill_null(-1).cast(pl.Int64).to_numpy()
        kinds = (codes.reshape(len(o_val), m), o_cls)
        nd = nd.join(
            firms.select("uscc", "revenue", "invention_patents"),
            on="uscc",
            how="left",
            maintain_order="left",
        )
    ranked = (
        _rank(nd, prod, i, j, pricing, approvals, model, kinds, keep_inputs)
        if rank
        else pl.DataFrame()
    )
    checks = {
        "amount": (a_cls, by_amount != 0),
        "term": (t_cls, by_term != 0),
        "rate": (r_cls, by_rate != 0),
        "guarantee": (o_cls, by_offer != 0),
    }
    return Codes(nd, prod, rules, pattern, patterns, masks, code, checks, ranked, pricing.lpr)


def _rank(
    nd: pl.DataFrame,
    prod: pl.DataFrame,
    i: np.ndarray,
    j: np.ndarray,
    pricing: Pricing,
    approvals: pl.DataFrame | None,
    model: ApprovalModel | None = None,
    kinds: tuple[np.ndarray, np.ndarray] | None = None,
    keep_inputs: bool = False,
) -> pl.DataFrame:
    """Score the eligible pairs (i, j) by :func:`kernels.score_columns` and rank them per need.

    The pairs come in need order then product-id order, so the ordinal rank within a need
    breaks ties by product id, as :func:`kernels.score_and_rank` does.
    """

    def ids(frame: pl.DataFrame, name: str, at: np.ndarray) -> pl.Series:
        """Identifiers gathered as an Enum (integers underneath, the same values shown)."""
        values = frame[name].cast(pl.String)
        return values.cast(pl.Enum(values.unique(maintain_order=True).drop_nulls())).gather(at)

    def num(frame: pl.DataFrame, name: str, at: np.ndarray) -> pl.Series:
        return pl.Series(name, frame[name].cast(pl.Float64).to_numpy()[at])

    pairs = pl.DataFrame(
        [
            pl.Series("need_id", nd["need_id"].to_numpy()[i]),
            ids(prod, "product_id", j),
            ids(prod, "institution_id", j),
            *(num(nd, c, i) for c in ("amount", "term_months")),
            *(num(prod, c, j) for c in ("min_amount", "max_amount", "min_term_months",
                                        "max_term_months", "spread_min_bp", "spread_max_bp")),
        ]
    ).with_columns(
        pl.lit(True).alias("eligible"),
        (pricing.lpr + pl.col("spread_min_bp") / 10_000).alias("rate_low"),
    )  # fmt: skip
    if approvals is not None and approvals.height:
        keys = pl.DataFrame([nd["uscc"].gather(i), prod["credit_model"].gather(j)])
        pairs = pl.concat([pairs, keys], how="horizontal").join(
            approvals, on=["uscc", "credit_model"], how="left", maintain_order="left"
        )
    else:
        pairs = pairs.with_columns(
            pl.lit(None, pl.Float64).alias("approval_prob"),
            pl.lit(None, pl.String).alias("model_id"),
        )
    extra: list[str] = []
    if model is not None and kinds is not None:
        tab, o_cls = kinds
        per_need = nd.select(model.need_terms())
        pairs = pairs.with_columns(
            pl.Series(STRENGTH, dtype=KIND).gather(tab[o_cls[i], j]).alias("kind_used"),
            # gathered by Polars: a missing ceiling stays null (NumPy would make NaN)
            nd["max_rate"].cast(pl.Float64).gather(i),
            # the factors of the need alone, once per need, gathered per pair
            *(num(per_need, f"_{k}", i) for k in NEED_TERMS),
            *(
                (nd[c].cast(pl.Float64).gather(i) for c in ("revenue", "invention_patents"))
                if keep_inputs
                else ()
            ),
            (1 - pl.col("approval_prob")).alias("pd"),
            (pricing.lpr + pl.col("spread_max_bp") / 10_000).alias("rate_high"),
        )
        shown = INPUTS if keep_inputs else ("kind_used",)
        extra = [*shown, *(f"why_{f}" for f in FACTORS)]
    # One lazy query: the formula, then the rank within each need as a window (pairs arrive in
    # need order then product-id order, so an ordinal rank breaks ties by product id, as
    # :func:`kernels.score_and_rank`). Polars ranks the 10 M pairs of the bench in well under a
    # second; the NumPy two-pass sort it replaces took about four (docs/matching.md, Benches).
    return (
        score_columns(
            pairs.with_columns(pl.Series("_need", i))
            .lazy()
            .pipe(lambda q: model.apply(q, pre=True) if extra and model is not None else q),
            pricing,
        )
        .with_columns(
            pl.col("score")
            .rank("ordinal", descending=True)
            .over("_need")
            .cast(pl.Int64)
            .alias("rank")
        )
        .select(
            "need_id",
            "product_id",
            "institution_id",
            "rank",
            "score",
            "fit",
            "expected_rate",
            "approval_prob",
            "model_id",
            *extra,
        )
        .collect()
    )
