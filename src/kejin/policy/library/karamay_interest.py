"""Karamay sci-tech loan interest subsidy (克拉玛依 科技信贷融资补贴), seed 004 三(二)8.

Text: 对经认定的"高新技术企业""科技小巨人企业"，通过科技金融合作银行获得贷款的，单户授信1000万元
及以下的贷款利息，给予20%的财政贴息补助；单户授信1000万元以上的贷款利息，给予10%的财政贴息补助。
同一家企业，享受贷款贴息政策最长不超过3年。

Interpretation (also in ``docs/policy.md``):

* The entity is a **loan-year**: the interest a firm paid on one loan in one calendar year.
  Parameters are those in force on 31 December of that year.
* "经认定的…科技小巨人企业" is the local title ``local_little_giant``; the national 专精特新
  "小巨人" is a different title and does not qualify on its own. The certificate must be valid at
  the end of the year.
* "单户授信1000万元及以下" includes exactly 10,000,000 (及以下): 20%; strictly above: 10%.
* "最长不超过3年" is read as a **period**: the three calendar years starting with the first year
  the firm received this subsidy (``first_subsidy_year``), not any three years.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import LOAN_YEAR_KEYS, MONEY, Input, P, Policy, Step, YearEnd

ARTICLE = "三(二)8"


def build() -> Policy:
    at_year_end = YearEnd("year")
    return Policy(
        id="karamay_interest",
        title_zh="克拉玛依科技信贷融资贴息",
        title_en="Karamay sci-tech loan interest subsidy",
        issuer="克拉玛依市人民政府",
        document="克拉玛依市人民政府科技金融实施意见（2022年8月15日）",
        articles=(ARTICLE,),
        valid_from=date(2022, 8, 15),
        valid_to=None,
        entity="loan_year",
        key=("contract_no", "year"),
        inputs=(
            *LOAN_YEAR_KEYS,
            Input("interest", MONEY, "当年贷款利息", "interest paid in the year"),
            Input("credit_line", MONEY, "单户授信", "credit line"),
            Input("partner_bank", pl.Boolean, "科技金融合作银行", "partner bank"),
            Input("hnte", pl.Boolean, "高新技术企业", "certified high-tech enterprise"),
            Input("local_little_giant", pl.Boolean, "科技小巨人企业", "science-tech little giant"),
            Input("first_subsidy_year", pl.Int64, "首次享受贴息年度", "first subsidised year"),
        ),
        param_units={
            "rate_small": "ratio",
            "rate_large": "ratio",
            "line_threshold": "CNY",
            "max_years": "year",
        },
        param_dates={
            n: at_year_end for n in ("rate_small", "rate_large", "line_threshold", "max_years")
        },
        steps=(
            Step(
                "qualified_firm",
                pl.col("hnte") | pl.col("local_little_giant"),
                "condition",
                "经认定的高新技术企业或科技小巨人企业",
                "certified high-tech or science-tech little giant firm",
                ARTICLE,
            ),
            Step(
                "via_partner_bank",
                pl.col("partner_bank"),
                "condition",
                "通过科技金融合作银行获得贷款",
                "loan from a sci-tech finance partner bank",
                ARTICLE,
            ),
            Step(
                "subsidy_year_no",
                pl.col("year") - pl.col("first_subsidy_year") + 1,
                "value",
                "第几个享受贴息的年度",
                "subsidised year number",
                ARTICLE,
            ),
            Step(
                "within_period",
                pl.col("subsidy_year_no").is_between(1, P("max_years")),
                "condition",
                "享受贴息不超过3年",
                "within the 3-year subsidy period",
                ARTICLE,
            ),
            Step(
                "small_line",
                pl.col("credit_line") <= P("line_threshold"),
                "value",
                "单户授信1000万元及以下",
                "credit line at most 10,000,000",
                ARTICLE,
            ),
            Step(
                "subsidy_rate",
                pl.when(pl.col("small_line")).then(P("rate_small")).otherwise(P("rate_large")),
                "value",
                "贴息比例",
                "subsidy rate",
                ARTICLE,
            ),
            Step(
                "eligible_all",
                pl.col("qualified_firm") & pl.col("via_partner_bank") & pl.col("within_period"),
                "value",
                "全部条件满足",
                "all conditions met",
                ARTICLE,
            ),
            Step(
                "subsidy",
                pl.col("interest") * pl.col("subsidy_rate"),
                "amount",
                "贴息金额 = 利息 × 贴息比例",
                "subsidy = interest × rate",
                ARTICLE,
            ),
        ),
        eligible="eligible_all",
        amount="subsidy",
        cost_kind="interest",
        cost_key=(
            "contract_no",
            "year",
        ),
        source=Path(__file__),
        summary_zh="高企、科技小巨人企业合作银行贷款利息贴息20%/10%，最长3年",
        summary_en="20%/10% of partner-bank loan interest for high-tech / little-giant firms, up to 3 years",
    )
