"""Matching as pure Polars functions: firms, needs and products in, pairs with reasons out.

No database here. The work is split by what a condition depends on, so nothing is computed once
per pair that could be computed once per firm:

1. Every distinct eligibility rule of every product is compiled once
   (:mod:`kejin.policy.predicates`: the policy engine's condition steps) and evaluated once per
   firm; a firm's failures become bits of ``UInt64`` words (``fail_0``, ``fail_1`` …).
2. Each product's rules become the same kind of bit mask (an explode and a group-by sum).
3. A pair fails a rule iff ``firm_fail & product_mask`` is non-zero: one AND per word per pair.
   The pair-level checks (amount and term ranges, acceptable rate, credit enhancement) are
   vectorised comparisons of the joined columns.
4. Eligible pairs are ranked per need (see :func:`match` for the formula), and
   :func:`reasons` decodes the bits of the failed pairs into sentences, zh and en.

The same functions answer both directions: products for a need, needs for a product (the pair
frame filtered by product), and prospects (firms whose firm-level bits pass a product's mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from kejin.policy.predicates import Condition, Field, compile_all, show_number, split_rules
from kejin.vocab import (
    GUARANTEE_KINDS,
    INDUSTRY_CHAINS,
    QUALIFICATION_KINDS,
    STAGES,
    TAX_CREDIT_GRADES,
)

if TYPE_CHECKING:
    from kejin.matching.approval import Model as ApprovalModel

TIERS = {
    "base": ("基础层", "base tier"),
    "selected": ("精选层", "selected tier"),
    "core": ("核心层", "core tier"),
}


def _choices(vocab: dict) -> dict[str, tuple[str, str]]:
    return {k: (t.zh, t.en) for k, t in vocab.items()}


#: What a product's eligibility rules may name: one row per firm in the firm frame.
FIRM_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("revenue", "number", "上年营业收入", "revenue last year", "CNY"),
        Field("revenue_2y", "number", "近两年营业收入", "revenue in the last two years", "CNY"),
        Field("rd_expense", "number", "上年研发费用", "R&D expense last year", "CNY"),
        Field("rd_ratio", "number", "研发费用占营业收入比例", "R&D share of revenue"),
        Field("profit", "number", "上年利润总额", "profit last year", "CNY"),
        Field("staff", "number", "从业人数", "staff", "person"),
        Field("invention_patents", "number", "发明专利数", "invention patents"),
        Field("years_in_business", "number", "成立年限", "years in business", "year"),
        Field("points", "number", "创新积分", "innovation points", "points"),
        Field("stage", "choice", "生命周期阶段", "stage", choices=_choices(STAGES)),
        Field(
            "industry_chain",
            "choice",
            "所属产业链",
            "industry chain",
            choices=_choices(INDUSTRY_CHAINS),
        ),
        Field("tier", "choice", "白名单层级", "whitelist tier", choices=TIERS),
        Field(
            "tax_credit_grade",
            "choice",
            "纳税信用等级",
            "tax credit grade",
            choices=_choices(TAX_CREDIT_GRADES),
        ),
        Field("whitelisted", "flag", "白名单企业", "a whitelist member"),
        Field("never_borrowed", "flag", "无贷户", "a firm that never borrowed"),
        Field("dishonest", "flag", "失信被执行人", "listed as dishonest"),
        Field("abnormal_operation", "flag", "经营异常名录企业", "listed for abnormal operation"),
        *(Field(k, "flag", t.zh, t.en) for k, t in QUALIFICATION_KINDS.items()),
    )
}

#: Bits of the guarantee-kind mask (what a product accepts, what a need offers).
GUARANTEE_BITS = {k: 1 << i for i, k in enumerate(GUARANTEE_KINDS)}
WORD = 64


def guarantee_mask(kinds: pl.Expr) -> pl.Expr:
    """A list of guarantee kinds as an integer bit mask (vectorised over rows)."""
    return (
        kinds.list.eval(
            pl.element().replace_strict(GUARANTEE_BITS, default=0, return_dtype=pl.Int64)
        )
        .list.sum()
        .fill_null(0)
    )


@dataclass(frozen=True)
class Rules:
    """The compiled rules of a set of products: conditions by bit, and each product's mask."""

    conditions: list[Condition]
    masks: pl.DataFrame  # product_id, mask_0 … mask_{words-1}

    @property
    def words(self) -> int:
        return max(1, -(-len(self.conditions) // WORD))


def compile_products(products: pl.DataFrame) -> Rules:
    """Compile every distinct rule of ``products`` (``product_id``, ``eligibility``) once."""
    texts = products.select(
        "product_id",
        pl.col("eligibility").map_elements(split_rules, return_dtype=pl.List(pl.String)),
    )
    distinct = sorted(set(texts.explode("eligibility")["eligibility"].drop_nulls().to_list()))
    conditions = compile_all(distinct, FIRM_FIELDS)
    words = max(1, -(-len(conditions) // WORD))
    index = pl.DataFrame(
        {
            "eligibility": distinct,
            "word": [i // WORD for i in range(len(distinct))],
            "value": [1 << (i % WORD) for i in range(len(distinct))],
        },
        schema={"eligibility": pl.String, "word": pl.Int64, "value": pl.UInt64},
    )
    # A rule written twice in one product is one condition: summing its bit twice would carry
    # into the next rule's bit (found by the property test).
    exploded = (
        texts.explode("eligibility")
        .unique(["product_id", "eligibility"])
        .join(index, on="eligibility", how="left")
    )
    masks = exploded.group_by("product_id").agg(
        [
            pl.when(pl.col("word") == w)
            .then(pl.col("value"))
            .otherwise(0)
            .cast(pl.UInt64)
            .sum()
            .alias(f"mask_{w}")
            for w in range(words)
        ]
    )
    return Rules(conditions, masks)


def firm_failures(firms: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``uscc`` and ``fail_w`` words: bit b set iff the firm fails condition b."""
    cols = []
    for w in range(rules.words):
        bits = [
            pl.when(c.step.expr)
            .then(pl.lit(0, pl.UInt64))
            .otherwise(pl.lit(1 << (i % WORD), pl.UInt64))
            for i, c in enumerate(rules.conditions)
            if i // WORD == w
        ]
        word = pl.sum_horizontal(bits) if bits else pl.lit(0, pl.UInt64)
        cols.append(word.cast(pl.UInt64).alias(f"fail_{w}"))
    return firms.select("uscc", *cols)


#: A frame or a lazy frame: the formula is expressions, so the bulk path can fuse it with its rank.
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class Pricing:
    """Market parameters of a run: the LPR in force and the legal ceiling on the rate."""

    lpr: float
    rate_cap: float
    as_of: date


#: Ranking weights (documented in docs/matching.md): fit, price, approval probability.
WEIGHTS = {"fit": 0.3, "price": 0.3, "approval": 0.4}
PAIR_CHECKS = ("amount_ok", "term_ok", "rate_ok", "guarantee_ok")


def _position_fit(x: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    """1 in the middle of a product's range, falling to 0 at its edges (clipped outside)."""
    span = hi - lo
    pos = pl.when(span > 0).then((x - lo) / span).otherwise(0.5)
    return (1 - (2 * pos - 1).abs()).clip(0.0, 1.0)


def match(
    needs: pl.DataFrame,
    firms: pl.DataFrame,
    products: pl.DataFrame,
    pricing: Pricing,
    approvals: pl.DataFrame | None = None,
    rules: Rules | None = None,
    model: ApprovalModel | None = None,
) -> pl.DataFrame:
    """Every need × product pair: eligibility, the failed-rule words, rank, price and probability.

    ``needs``: need_id, uscc, amount, term_months, max_rate (nullable), guarantee_offered (list).
    ``products``: product_id, institution_id, kind, min_amount, max_amount, min_term_months,
    max_term_months, spread_min_bp, spread_max_bp, guarantee_kinds (list), eligibility (text),
    credit_model (nullable). ``approvals``: uscc, credit_model, approval_prob, model_id.

    Rank (1 = best) among a need's eligible products by
    ``score = 0.3·fit + 0.3·price + 0.4·p`` where fit is the mean of where the amount and the
    term sit in the product's ranges, price is ``1 − (expected − LPR)/(cap − LPR)``, and p the
    approval probability; without a model for the product, ``0.5·fit + 0.5·price``. The expected
    rate is ``LPR + spread_min + (spread_max − spread_min)·(1 − p)`` (the midpoint without p).

    ``model`` (:class:`kejin.matching.approval.Model`): p is then the pair's own approval
    probability — the enhancement it would use, the amount against the firm's revenue and the
    product's range, the rate band against the acceptable rate, and the credit model's PD where
    the product names a registered one (``approvals``' ``approval_prob`` is ``1 − PD``) — and the
    answer carries ``kind_used`` and the factors' contributions ``why_*``.
    """
    rules = rules or compile_products(products)
    fails = firm_failures(firms, rules)
    prod = products.join(rules.masks, on="product_id", how="left").with_columns(
        guarantee_mask(pl.col("guarantee_kinds")).alias("accepts"),
        *[pl.col(f"mask_{w}").fill_null(0).cast(pl.UInt64) for w in range(rules.words)],
    )
    nd = needs.join(fails, on="uscc", how="left").with_columns(
        guarantee_mask(pl.col("guarantee_offered")).alias("offers"),
        *[pl.col(f"fail_{w}").fill_null(0) for w in range(rules.words)],
    )
    pairs = nd.join(prod, how="cross")
    credit = GUARANTEE_BITS["credit"]
    amount = pl.col("amount").cast(pl.Float64)
    lo_rate = pricing.lpr + pl.col("spread_min_bp") / 10_000
    pairs = pairs.with_columns(
        *[
            (pl.col(f"fail_{w}") & pl.col(f"mask_{w}")).alias(f"failed_{w}")
            for w in range(rules.words)
        ],
        (
            (amount >= pl.col("min_amount").cast(pl.Float64))
            & (amount <= pl.col("max_amount").cast(pl.Float64))
        ).alias("amount_ok"),
        (
            (pl.col("term_months") >= pl.col("min_term_months"))
            & (pl.col("term_months") <= pl.col("max_term_months"))
        ).alias("term_ok"),
        (
            pl.col("max_rate").is_null() | (lo_rate <= pl.col("max_rate").cast(pl.Float64) + 1e-12)
        ).alias("rate_ok"),
        (((pl.col("accepts") & credit) != 0) | ((pl.col("accepts") & pl.col("offers")) != 0)).alias(
            "guarantee_ok"
        ),
        lo_rate.alias("rate_low"),
    )
    rules_ok = pl.all_horizontal([pl.col(f"failed_{w}") == 0 for w in range(rules.words)])
    pairs = pairs.with_columns(
        (rules_ok & pl.all_horizontal([pl.col(c) for c in PAIR_CHECKS])).alias("eligible")
    )
    if approvals is not None and approvals.height:
        pairs = pairs.join(approvals, on=["uscc", "credit_model"], how="left")
    else:
        pairs = pairs.with_columns(
            pl.lit(None, pl.Float64).alias("approval_prob"),
            pl.lit(None, pl.String).alias("model_id"),
        )
    extra: list[str] = []
    if model is not None:
        pairs = with_approval(pairs, firms, pricing, model)
        extra = ["kind_used", "pd", "revenue", "invention_patents", "rate_high",
                 *[c for c in pairs.columns if c.startswith("why_")]]  # fmt: skip
    pairs = score_and_rank(pairs, pricing)
    keep = [
        "need_id",
        "uscc",
        "product_id",
        "institution_id",
        "eligible",
        "rank",
        "score",
        "fit",
        "expected_rate",
        "approval_prob",
        "model_id",
        *PAIR_CHECKS,
        *[f"failed_{w}" for w in range(rules.words)],
        "amount",
        "term_months",
        "max_rate",
        "min_amount",
        "max_amount",
        "min_term_months",
        "max_term_months",
        "rate_low",
        *extra,
    ]
    return pairs.select(keep)


def with_approval(
    pairs: pl.DataFrame, firms: pl.DataFrame, pricing: Pricing, model: ApprovalModel
) -> pl.DataFrame:
    """Replace the firm-level ``approval_prob`` (1 − PD or none) by the pair's own (see :func:`match`)."""
    from kejin.matching.approval import kind_used

    return (
        pairs.join(
            firms.select("uscc", "revenue", "invention_patents"),
            on="uscc",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            (1 - pl.col("approval_prob")).alias("pd"),
            kind_used(pl.col("accepts"), pl.col("offers")).alias("kind_used"),
            (pricing.lpr + pl.col("spread_max_bp") / 10_000).alias("rate_high"),
        )
        .pipe(model.apply)
    )


def score_columns(pairs: Frame, pricing: Pricing) -> Frame:
    """Add ``expected_rate``, ``fit`` and ``score`` (eligible pairs only): the one formula.

    See :func:`match`; shared by the bulk path (:mod:`.bulk`), which calls it on the eligible
    pairs alone. Reads amount, term_months, the product's ranges and spreads, ``rate_low``,
    ``eligible`` and ``approval_prob``.
    """
    amount = pl.col("amount").cast(pl.Float64)
    p = pl.col("approval_prob")
    band = (pl.col("spread_max_bp") - pl.col("spread_min_bp")) / 10_000
    expected = pl.col("rate_low") + band * pl.when(p.is_null()).then(0.5).otherwise(1 - p)
    fit = 0.5 * _position_fit(
        amount, pl.col("min_amount").cast(pl.Float64), pl.col("max_amount").cast(pl.Float64)
    ) + 0.5 * _position_fit(
        pl.col("term_months").cast(pl.Float64),
        pl.col("min_term_months").cast(pl.Float64),
        pl.col("max_term_months").cast(pl.Float64),
    )
    room = max(pricing.rate_cap - pricing.lpr, 1e-9)
    price = (1 - (pl.col("expected_rate") - pricing.lpr) / room).clip(0.0, 1.0)
    score = (
        pl.when(p.is_null())
        .then(0.5 * pl.col("fit") + 0.5 * price)
        .otherwise(
            WEIGHTS["fit"] * pl.col("fit") + WEIGHTS["price"] * price + WEIGHTS["approval"] * p
        )
    )
    return pairs.with_columns(expected.alias("expected_rate"), fit.alias("fit")).with_columns(
        pl.when(pl.col("eligible")).then(score).otherwise(None).alias("score")
    )


def score_and_rank(pairs: pl.DataFrame, pricing: Pricing) -> pl.DataFrame:
    """:func:`score_columns`, then rank (1 = best, ties by product id) among a need's pairs."""
    return (
        score_columns(pairs, pricing)
        .sort("need_id", "product_id")
        .with_columns(
            pl.col("score")
            .rank("ordinal", descending=True)
            .over("need_id")
            .cast(pl.Int64)
            .alias("rank")
        )
    )


def _pair_reasons() -> list[tuple[str, pl.Expr, pl.Expr, pl.Expr]]:
    """(code, failed, zh, en) of the pair-level checks, worded with each pair's numbers."""

    def wan(c: str) -> pl.Expr:
        v = (pl.col(c).cast(pl.Float64) / 10_000).round(2)
        return (
            pl.when(v == v.floor())
            .then(v.cast(pl.Int64).cast(pl.String))
            .otherwise(v.cast(pl.String))
        )

    pct = lambda c: (pl.col(c).cast(pl.Float64) * 100).round(2).cast(pl.String)  # noqa: E731
    amount_low = pl.col("amount").cast(pl.Float64) < pl.col("min_amount").cast(pl.Float64)
    return [
        (
            "amount",
            ~pl.col("amount_ok"),
            pl.when(amount_low)
            .then(pl.format("需求金额低于产品最低额度 {} 万元", wan("min_amount")))
            .otherwise(pl.format("需求金额超过产品最高额度 {} 万元", wan("max_amount"))),
            pl.when(amount_low)
            .then(pl.format("amount below the product minimum of {} × 10k CNY", wan("min_amount")))
            .otherwise(
                pl.format("amount above the product maximum of {} × 10k CNY", wan("max_amount"))
            ),
        ),
        (
            "term",
            ~pl.col("term_ok"),
            pl.format("期限须在 {}–{} 个月之间", "min_term_months", "max_term_months"),
            pl.format("term must be {}–{} months", "min_term_months", "max_term_months"),
        ),
        (
            "rate",
            ~pl.col("rate_ok"),
            pl.format("产品最低利率 {}% 高于可接受的 {}%", pct("rate_low"), pct("max_rate")),
            pl.format(
                "the product's lowest rate {}% exceeds the acceptable {}%",
                pct("rate_low"),
                pct("max_rate"),
            ),
        ),
        (
            "guarantee",
            ~pl.col("guarantee_ok"),
            pl.lit("产品不接受所提供的增信方式"),
            pl.lit("the product accepts none of the credit enhancements offered"),
        ),
    ]


REASON_SCHEMA = {
    "need_id": pl.Int64,
    "product_id": pl.String,
    "code": pl.String,
    "reason_zh": pl.String,
    "reason_en": pl.String,
}


def reasons(pairs: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """One row per failed condition of every ineligible pair: code, zh and en.

    Rule failures come first, in the order of the rules' texts, then the pair-level checks.
    """
    failed = pairs.filter(~pl.col("eligible"))
    parts = []
    for i, c in enumerate(rules.conditions):
        bit = pl.lit(1 << (i % WORD), pl.UInt64)
        hit = failed.filter((pl.col(f"failed_{i // WORD}") & bit) != 0)
        if hit.height:
            parts.append(
                hit.select(
                    pl.col("need_id").cast(pl.Int64),
                    "product_id",
                    pl.lit(f"rule:{c.text}").alias("code"),
                    pl.lit(c.failed_zh).alias("reason_zh"),
                    pl.lit(c.failed_en).alias("reason_en"),
                )
            )
    for code, bad, zh, en in _pair_reasons():
        hit = failed.filter(bad)
        if hit.height:
            parts.append(
                hit.select(
                    pl.col("need_id").cast(pl.Int64),
                    "product_id",
                    pl.lit(code).alias("code"),
                    zh.alias("reason_zh"),
                    en.alias("reason_en"),
                )
            )
    if not parts:
        return pl.DataFrame(schema=REASON_SCHEMA)
    return pl.concat(parts).sort("need_id", "product_id", maintain_order=True)


def prospects(
    firms: pl.DataFrame, products: pl.DataFrame, rules: Rules | None = None
) -> pl.DataFrame:
    """首贷培育: whitelist firms that never borrowed and pass every rule of a product.

    Returns uscc, product_id for each such pair (firm-level rules only: a prospect has no need).
    """
    rules = rules or compile_products(products)
    pool = firms.filter(
        pl.col("whitelisted").fill_null(False) & pl.col("never_borrowed").fill_null(False)
    )
    fails = firm_failures(pool, rules)
    pairs = fails.join(
        products.select("product_id").join(rules.masks, on="product_id", how="left"), how="cross"
    )
    ok = pl.all_horizontal(
        [
            (pl.col(f"fail_{w}") & pl.col(f"mask_{w}").fill_null(0).cast(pl.UInt64)) == 0
            for w in range(rules.words)
        ]
    )
    return pairs.filter(ok).select("uscc", "product_id").sort("product_id", "uscc")


def firm_frame(
    enterprises: pl.DataFrame,
    indicators: pl.DataFrame,
    qualifications: pl.DataFrame,
    borrowers: pl.DataFrame,
    whitelist: pl.DataFrame,
    points: pl.DataFrame,
    as_of: date,
) -> pl.DataFrame:
    """The firm frame the rules read, one row per firm, as known on ``as_of``.

    ``revenue``/``rd_expense``/``profit``/``invention_patents`` are the latest year before
    ``as_of``'s year; ``revenue_2y`` the sum of the two latest such years (both must be known,
    else null: a missing year is not a zero). ``tier`` and ``whitelisted`` come from the latest
    whitelist version; ``points`` from the latest score run; ``never_borrowed`` is true when the
    firm has no loan in the registry. Qualifications count when valid on ``as_of``.
    """
    ind = indicators.filter(pl.col("year") < as_of.year).sort("uscc", "year")
    last = ind.group_by("uscc").agg(
        pl.col("revenue").last().cast(pl.Float64),
        pl.col("rd_expense").last().cast(pl.Float64),
        pl.col("profit").last().cast(pl.Float64),
        pl.col("invention_patents").last().cast(pl.Float64),
        pl.col("tax_credit_grade").last(),
        pl.when(pl.col("revenue").tail(2).is_not_null().sum() == 2)
        .then(pl.col("revenue").tail(2).cast(pl.Float64).sum())
        .otherwise(None)
        .alias("revenue_2y"),
    )
    held = (
        qualifications.filter((pl.col("valid_from") <= as_of) & (pl.col("valid_to") >= as_of))
        .select("uscc", "kind")
        .unique()
    )
    flags = [
        pl.col("uscc").is_in(held.filter(pl.col("kind") == k)["uscc"].implode()).alias(k)
        for k in QUALIFICATION_KINDS
    ]
    f = enterprises.join(last, on="uscc", how="left").with_columns(
        *flags,
        ((pl.lit(as_of) - pl.col("founded_on")).dt.total_days() / 365.25)
        .floor()
        .alias("years_in_business"),
        pl.when(pl.col("revenue") > 0)
        .then(pl.col("rd_expense") / pl.col("revenue"))
        .alias("rd_ratio"),
        (~pl.col("uscc").is_in(borrowers["uscc"].implode())).alias("never_borrowed"),
        pl.col("staff").cast(pl.Float64),
    )
    f = f.join(whitelist.select("uscc", "tier"), on="uscc", how="left").with_columns(
        pl.col("uscc").is_in(whitelist["uscc"].implode()).alias("whitelisted")
    )
    return f.join(points.select("uscc", pl.col("points").cast(pl.Float64)), on="uscc", how="left")


def show_rate(v: float) -> str:
    """A yearly rate as a percentage: ``show_rate(0.0345) == '3.45%'``."""
    return f"{v * 100:.2f}%"


def explain_threshold(field: str, value: float, lang: str) -> str:
    """How a rule's threshold reads (used by the product export's comment row)."""
    return show_number(value, FIRM_FIELDS[field].unit, lang)


def funnel_frame(needs: pl.DataFrame, by: Sequence[str], sla_days: int) -> pl.DataFrame:
    """The funnel by ``by`` columns of ``needs`` (one row per need, already joined to its
    firm, bank and product kind): posted, taken, taken within the service level, first-review
    pass, approved, declined, disbursed count and amount, working days to decision, 首贷.

    ``taken_days`` and ``decision_days`` are working days (computed by the caller, which
    owns the calendar); ``first_loan`` marks a disbursement to a firm that never borrowed.
    """
    reached = lambda *s: pl.col("state").is_in(list(s)).sum()  # noqa: E731
    later = ("taken", "first_review", "approved", "declined", "disbursed", "closed")
    return (
        needs.filter(pl.col("state") != "draft")
        .group_by(list(by))
        .agg(
            pl.len().alias("posted"),
            reached(*later).alias("taken"),
            (pl.col("taken_days") <= sla_days).sum().alias("taken_in_sla"),
            reached("first_review", "approved", "disbursed", "closed").alias("first_review"),
            reached("approved", "disbursed", "closed").alias("approved"),
            reached("declined").alias("declined"),
            reached("disbursed", "closed").alias("disbursed"),
            pl.col("disbursed_amount").cast(pl.Float64).sum().round(2).alias("disbursed_amount"),
            pl.col("decision_days").mean().round(1).alias("days_to_decision"),
            (pl.col("first_loan") & pl.col("state").is_in(["disbursed", "closed"]))
            .sum()
            .alias("first_loans"),
        )
        .sort(list(by), nulls_last=True)
    )
