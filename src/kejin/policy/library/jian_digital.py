"""Ji'an digital-transformation loan interest subsidy (数字化转型专项贷款贴息), seed 002 (吉安).

Text: 推动吉州区、泰和县等地出台数字化转型专项贷款产品，并提供年化0.5%的政府贴息。

Interpretation (also in ``docs/policy.md``): the entity is a **loan-year** of a loan made under a
digital-transformation product (``digital_transformation``); the subsidy is 0.5% a year of the
year's average balance. No ceiling is stated, so none is applied. In the registry the flag is
read from the product name (a product whose name contains 数字化转型), the only place a loan's
purpose is recorded.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import LOAN_YEAR_KEYS, MONEY, Input, P, Policy, Step, YearEnd

ARTICLE = "吉安：数字化转型专项贷款贴息"


def build() -> Policy:
    at_year_end = YearEnd("year")
    return Policy(
        id="jian_digital",
        title_zh="吉安数字化转型专项贷款贴息",
        title_en="Ji'an digital-transformation loan subsidy",
        issuer="吉州区、泰和县（吉安市）",
        document="科技金融简报第291期（上）：《打造长江中游科技金融样板区 吉安“金融+科技+人才”三链融合精准破解科技型企业融资难题》",
        articles=(ARTICLE,),
        valid_from=date(2025, 1, 1),
        valid_to=None,
        entity="loan_year",
        key=("contract_no", "year"),
        inputs=(
            *LOAN_YEAR_KEYS,
            Input("average_balance", MONEY, "年均贷款余额", "average balance in the year"),
            Input(
                "digital_transformation",
                pl.Boolean,
                "数字化转型专项贷款",
                "digital-transformation loan",
            ),
        ),
        param_units={"annual_rate": "1/year"},
        param_dates={"annual_rate": at_year_end},
        steps=(
            Step(
                "is_digital_loan",
                pl.col("digital_transformation"),
                "condition",
                "数字化转型专项贷款",
                "digital-transformation loan",
                ARTICLE,
            ),
            Step(
                "subsidy",
                pl.col("average_balance") * P("annual_rate"),
                "amount",
                "年均余额 × 年化0.5%",
                "average balance × 0.5% a year",
                ARTICLE,
            ),
        ),
        eligible="is_digital_loan",
        amount="subsidy",
        cost_kind="interest",
        cost_key=(
            "contract_no",
            "year",
        ),
        source=Path(__file__),
        summary_zh="数字化转型专项贷款年化0.5%贴息",
        summary_en="0.5% a year on digital-transformation loans",
    )
