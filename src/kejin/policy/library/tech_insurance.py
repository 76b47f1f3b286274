"""Sci-tech insurance premium subsidy (科技保险保费补贴), seed 000 四(八).

Text: 探索开展新疆科技贷款风险补偿和科技保险保费补贴，启动科技贷款风险补偿和科技保险保费补贴
工作试点。

Interpretation (also in ``docs/policy.md``): the seed starts a pilot without figures; issue #4
fixes the pilot's parameters at **at most 50% of the premium and at most 300,000 CNY per firm per
year**. The entity is an **insurance policy-year** of a sci-tech insurance product
(``tech_insurance``); a firm's policies take the room under the yearly cap in policy order.
We estimate the full 50% ("不超过" is a ceiling the bureau may lower by publishing a new value).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import MONEY, Input, P, Policy, Step, YearEnd, cap_per_group, zero

ARTICLE = "四(八)"


def build() -> Policy:
    at_year_end = YearEnd("year")
    return Policy(
        id="tech_insurance",
        title_zh="科技保险保费补贴",
        title_en="Sci-tech insurance premium subsidy",
        issuer="新疆维吾尔自治区",
        document="关于加快推进科技金融工作的若干措施（新疆）",
        articles=(ARTICLE,),
        valid_from=date(2025, 1, 1),
        valid_to=None,
        entity="insurance_policy",
        key=("policy_no", "year"),
        inputs=(
            Input("uscc", pl.String, "统一社会信用代码", "USCC"),
            Input("policy_no", pl.String, "保单号", "policy number"),
            Input("year", pl.Int64, "年度", "year"),
            Input("premium", MONEY, "保费", "premium"),
            Input("tech_insurance", pl.Boolean, "科技保险产品", "sci-tech insurance product"),
        ),
        param_units={"premium_share": "ratio", "firm_cap": "CNY"},
        param_dates={"premium_share": at_year_end, "firm_cap": at_year_end},
        steps=(
            Step(
                "is_tech_insurance",
                pl.col("tech_insurance"),
                "condition",
                "科技保险产品",
                "sci-tech insurance",
                ARTICLE,
            ),
            Step(
                "subsidy_raw",
                pl.when(pl.col("is_tech_insurance"))
                .then(pl.col("premium") * P("premium_share"))
                .otherwise(zero()),
                "amount",
                "保费 × 补贴比例",
                "premium × share",
                ARTICLE,
            ),
            Step(
                "subsidy",
                cap_per_group(
                    pl.col("subsidy_raw"), P("firm_cap"), ["uscc", "year"], ["policy_no"]
                ),
                "amount",
                "每户每年不超过30万元",
                "at most 300,000 per firm per year",
                ARTICLE,
            ),
        ),
        eligible="is_tech_insurance",
        amount="subsidy",
        cost_kind="premium",
        cost_key=(
            "policy_no",
            "year",
        ),
        source=Path(__file__),
        summary_zh="科技保险保费补贴不超过50%，每户每年最高30万元",
        summary_en="up to 50% of sci-tech insurance premiums, 300,000 per firm per year",
    )
