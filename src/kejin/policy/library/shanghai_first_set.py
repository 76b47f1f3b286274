"""Shanghai first-set / first-batch / first-version support (首台套、首批次、首版次), seed 002 上海(八).

Text (沪府办规〔2025〕8号 (八)): 加大首台套、首批次、首版次政策对未来产业的支持力度，对符合条件的
创新产品按照规定给予不超过合同金额30%、最高2000万元支持。Valid 2025-09-26 to 2030-09-25.

Interpretation (also in ``docs/policy.md``): the entity is a **contract** selling a recognised
首台套/首批次/首版次 product (``first_set``) of a future-industry field (``future_industry``);
the estimate is the ceiling, 30% of the contract amount, at most 20,000,000 per contract.
Parameters are those in force on the signing date, so a contract signed outside the measures'
validity is an error, not a zero.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import MONEY, Input, P, ParamDate, Policy, Step

ARTICLE = "(八)"


def build() -> Policy:
    signed = ParamDate("signed_on", pl.col("signed_on"))
    return Policy(
        id="shanghai_first_set",
        title_zh="上海首台套首批次首版次支持",
        title_en="Shanghai first-set / first-batch / first-version support",
        issuer="上海市人民政府办公厅",
        document="沪府办规〔2025〕8号",
        articles=(ARTICLE,),
        valid_from=date(2025, 9, 26),
        valid_to=date(2030, 9, 25),
        entity="contract",
        key=("contract_no",),
        inputs=(
            Input("uscc", pl.String, "统一社会信用代码", "USCC"),
            Input("contract_no", pl.String, "合同编号", "contract number"),
            Input("signed_on", pl.Date, "签订日期", "signed on"),
            Input("contract_amount", MONEY, "合同金额", "contract amount"),
            Input(
                "first_set", pl.Boolean, "首台套首批次首版次", "recognised first set/batch/version"
            ),
            Input("future_industry", pl.Boolean, "未来产业", "future-industry product"),
        ),
        param_units={"support_share": "ratio", "support_cap": "CNY"},
        param_dates={"support_share": signed, "support_cap": signed},
        steps=(
            Step(
                "is_first_set",
                pl.col("first_set"),
                "condition",
                "首台套、首批次、首版次创新产品",
                "first set/batch/version product",
                ARTICLE,
            ),
            Step(
                "is_future_industry",
                pl.col("future_industry"),
                "condition",
                "未来产业领域",
                "future-industry field",
                ARTICLE,
            ),
            Step(
                "eligible_all",
                pl.col("is_first_set") & pl.col("is_future_industry"),
                "value",
                "全部条件满足",
                "all conditions met",
                ARTICLE,
            ),
            Step(
                "support_raw",
                pl.col("contract_amount") * P("support_share"),
                "amount",
                "合同金额 × 30%",
                "contract × 30%",
                ARTICLE,
            ),
            Step(
                "support",
                pl.min_horizontal("support_raw", P("support_cap")),
                "amount",
                "最高2000万元",
                "at most 20,000,000",
                ARTICLE,
            ),
        ),
        eligible="eligible_all",
        amount="support",
        cost_kind="contract",
        cost_key=("contract_no",),
        period="signed_on",
        source=Path(__file__),
        summary_zh="首台套等创新产品不超过合同金额30%、最高2000万元",
        summary_en="up to 30% of the contract, at most 20,000,000",
    )
