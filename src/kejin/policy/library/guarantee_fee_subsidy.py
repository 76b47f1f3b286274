"""Guarantee-fee subsidy for loans inside the special guarantee plan (担保费补助), seed 000 四(八).

It reads the plan's conditions (:func:`kejin.policy.library.guarantee_plan.plan_steps`) rather
than restating them, so a change to the plan's shares or fee ceiling reaches it. See
:mod:`kejin.policy.library.guarantee_plan` for the interpretation, including why the subsidy
share is an assumed value the bureau must confirm.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import P, ParamDate, Policy, Step
from kejin.policy.library.guarantee_plan import ARTICLE, INPUTS, PLAN_DOC, PLAN_UNITS, plan_steps


def build() -> Policy:
    signed = ParamDate("signed_on", pl.col("signed_on"))
    units = {**PLAN_UNITS, "fee_subsidy_share": "ratio"}
    return Policy(
        id="guarantee_fee_subsidy",
        title_zh="科技型企业融资担保费补助",
        title_en="Guarantee-fee subsidy for sci-tech firms",
        issuer="财政部门",
        document=PLAN_DOC,
        articles=(ARTICLE,),
        valid_from=date(2024, 1, 1),
        valid_to=None,
        entity="guaranteed_loan",
        key=("contract_no",),
        inputs=INPUTS,
        param_units=units,
        param_dates=dict.fromkeys(units, signed),
        steps=(
            *plan_steps(),
            Step(
                "fee",
                pl.col("guaranteed_amount") * pl.col("fee_rate"),
                "amount",
                "担保费 = 担保金额 × 费率",
                "fee = guaranteed amount × fee rate",
                ARTICLE,
            ),
            Step(
                "fee_subsidy",
                pl.col("fee") * P("fee_subsidy_share"),
                "amount",
                "担保费 × 补助比例",
                "fee × subsidy share",
                ARTICLE,
            ),
        ),
        eligible="in_plan",
        amount="fee_subsidy",
        cost_kind="guarantee_fee",
        cost_key=("contract_no",),
        period="signed_on",
        source=Path(__file__),
        summary_zh="专项担保计划内贷款的担保费补助",
        summary_en="subsidy of the guarantee fee on loans inside the plan",
    )
