"""Venture-investment tax deduction with carry-forward (创业投资抵扣应纳税所得额), seed 000 四(八).

Text: 落实天使投资、创业投资相关税收政策，按规定在股权持有满2年的当年按照投资额的70%抵扣应纳税
所得额，当年不足抵扣的，可按规定结转以后年度抵扣。

Interpretation (also in ``docs/policy.md``):

* The entity is an **investment-year**: one equity investment tracked over the investor's tax
  years, with the taxable income available to it that year (``taxable_income``; when an investor
  holds several investments, the caller allocates income among them, earliest maturity first).
* "持有满2年的当年" is the tax year in which ``invested_on`` + 24 months falls (computed on
  months, ``(12·year + month − 1 + 24) // 12``, since only that year matters): invested on
  2023-01-15 the equity is held 23 full months at 2024-12-31 (not yet) and 2 full years on
  2025-01-15, so 2025 is the first year of deduction.
* The deduction base is 70% of the investment. From that year on, each year uses
  ``min(remaining base, taxable income)``; the rest carries forward without a time limit
  (the seed says "结转以后年度" without a limit). Loss years (negative income) use nothing.
* Carry-forward is computed without a loop: cumulative use ``U(t) = min(base, Σ income since
  maturity)``, so a year's use is ``U(t) − U(t−1)`` and the carry is ``base − U(t)``; the
  cumulative figures are in cents, so the yearly uses add up to exactly 70% of the investment.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import (
    MONEY,
    Input,
    P,
    Policy,
    Step,
    YearEnd,
    group_cum_sum,
    group_shift,
    to_fen,
    zero,
)

ARTICLE = "四(八)"


def build() -> Policy:
    at_year_end = YearEnd("year")
    inv = ["investment_id"]
    return Policy(
        id="vc_tax_deduction",
        title_zh="创业投资按投资额70%抵扣应纳税所得额",
        title_en="Venture investment 70% taxable-income deduction",
        issuer="新疆维吾尔自治区",
        document="关于加快推进科技金融工作的若干措施（新疆）",
        articles=(ARTICLE,),
        valid_from=date(2018, 1, 1),
        valid_to=None,
        entity="investment_year",
        key=("investment_id", "year"),
        inputs=(
            Input("investor_id", pl.String, "投资机构", "investor"),
            Input("investment_id", pl.String, "投资编号", "investment id"),
            Input("uscc", pl.String, "被投企业统一社会信用代码", "investee USCC"),
            Input("invested_on", pl.Date, "投资日期", "invested on"),
            Input("investment_amount", MONEY, "投资额", "investment amount"),
            Input("year", pl.Int64, "纳税年度", "tax year"),
            Input("taxable_income", MONEY, "应纳税所得额", "taxable income"),
        ),
        param_units={"deduction_share": "ratio", "holding_months": "month"},
        param_dates={"deduction_share": at_year_end, "holding_months": at_year_end},
        steps=(
            Step(
                "held_full_year",
                (
                    pl.col("invested_on").dt.year().cast(pl.Int64) * 12
                    + pl.col("invested_on").dt.month().cast(pl.Int64)
                    - 1
                    + P("holding_months").cast(pl.Int64)
                ).floordiv(12),
                "value",
                "持有满2年的年度（投资日加24个月所在年度）",
                "year the 2-year holding completes (investment date + 24 months)",
                ARTICLE,
            ),
            Step(
                "held_full_period",
                pl.col("held_full_year") <= pl.col("year"),
                "condition",
                "股权持有满2年",
                "equity held 2 full years by year end",
                ARTICLE,
            ),
            Step(
                "deduction_base",
                pl.col("investment_amount") * P("deduction_share"),
                "amount",
                "可抵扣额 = 投资额 × 70%",
                "deduction base = investment × 70%",
                ARTICLE,
            ),
            Step(
                "usable_income",
                pl.when(pl.col("held_full_period"))
                .then(pl.col("taxable_income").clip(lower_bound=0))
                .otherwise(zero()),
                "value",
                "满2年后当年可抵扣的应纳税所得额",
                "taxable income usable this year",
                ARTICLE,
            ),
            Step(
                "cumulative_used",
                pl.min_horizontal(
                    group_cum_sum(to_fen(pl.col("usable_income")), inv),
                    to_fen(pl.col("deduction_base")),
                ),
                "amount",
                "累计已抵扣",
                "cumulative deduction used",
                ARTICLE,
            ),
            Step(
                "deduction_this_year",
                pl.col("cumulative_used") - group_shift(pl.col("cumulative_used"), inv),
                "amount",
                "当年抵扣额",
                "deduction used this year",
                ARTICLE,
            ),
            Step(
                "carry_forward",
                pl.when(pl.col("held_full_period"))
                .then(pl.col("deduction_base") - pl.col("cumulative_used"))
                .otherwise(zero()),
                "amount",
                "结转以后年度抵扣",
                "carried forward to later years",
                ARTICLE,
            ),
        ),
        eligible="held_full_period",
        amount="deduction_this_year",
        cost_kind="tax",
        cost_key=(
            "investment_id",
            "year",
        ),
        firm_column="investor_id",
        order=("investment_id", "year"),
        source=Path(__file__),
        summary_zh="股权持有满2年当年按投资额70%抵扣应纳税所得额，不足结转",
        summary_en="70% of the investment deducted once held 2 years; unused part carried forward",
    )
