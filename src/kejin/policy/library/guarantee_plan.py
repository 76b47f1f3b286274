"""支持科技创新专项担保计划: risk shares as data, and the guarantee-fee subsidy that reads them.

Seeds: 000 四(八) (有效落实融资担保机构担保、再担保费补助和风险补偿机制；"政府+银行+保险+企业"风险
分担) and 002 北京(十五) (用好…担保或保费补贴). The plan's figures are not in the seeds; issue #4
states them: the lending bank keeps at least 20% of the risk; the national financing guarantee
fund takes 40% for 专精特新"小巨人" and 专精特新中小企业, 35% for 高新技术企业 and firms screened
by 创新积分, 30% for 科技型中小企业 and 创新型中小企业; the guarantee fee is below 1%.

Interpretation (also in ``docs/policy.md``):

* The entity is a **guaranteed loan**. Firm types are tried in the order above, so a firm holding
  several titles gets the highest share (the plan's tiers are a ranking, not a sum).
* ``guarantee_plan`` is a *data* policy: its amount is the national fund's share of the guaranteed
  amount (risk it carries), which the fund area reads; it is not a payment.
* ``guarantee_fee_subsidy`` pays ``fee_subsidy_share`` of the fee on loans inside the plan. The
  seeds give no rate ("担保费补助"); the published value (50%) is this library's assumption pending a
  bureau's decision and is marked as such in its reference.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import MONEY, RATE, Input, P, ParamDate, Policy, Step, zero

ARTICLE = "四(八)"
PLAN_DOC = "支持科技创新专项担保计划（分担份额为本平台参数，以计划的实施文件为准）"

INPUTS = (
    Input("uscc", pl.String, "统一社会信用代码", "USCC"),
    Input("contract_no", pl.String, "合同编号", "contract number"),
    Input("signed_on", pl.Date, "担保日期", "guarantee date"),
    Input("guaranteed_amount", MONEY, "担保金额", "guaranteed amount"),
    Input("fee_rate", RATE, "担保费率", "guarantee fee rate"),
    Input("bank_share", RATE, "银行分险比例", "bank risk share"),
    Input("little_giant_or_srdi", pl.Boolean, "小巨人或专精特新", "little giant or SRDI SME"),
    Input(
        "hnte_or_points", pl.Boolean, "高新技术企业或创新积分入选", "high-tech or points-screened"
    ),
    Input(
        "tsme_or_innovative", pl.Boolean, "科技型或创新型中小企业", "tech-based or innovative SME"
    ),
)
PLAN_UNITS = {
    "fee_ceiling": "1/year",
    "bank_share_floor": "ratio",
    "share_little_giant": "ratio",
    "share_hnte": "ratio",
    "share_tsme": "ratio",
}


def plan_steps() -> tuple[Step, ...]:
    """The plan's conditions and the national fund's share, reused by the fee subsidy."""
    return (
        Step(
            "fee_below_ceiling",
            pl.col("fee_rate") < P("fee_ceiling"),
            "condition",
            "担保费率低于1%",
            "fee below 1%",
            ARTICLE,
        ),
        Step(
            "bank_keeps_share",
            pl.col("bank_share") >= P("bank_share_floor"),
            "condition",
            "银行分险不低于20%",
            "bank keeps at least 20%",
            ARTICLE,
        ),
        Step(
            "national_share",
            pl.when(pl.col("little_giant_or_srdi"))
            .then(P("share_little_giant"))
            .when(pl.col("hnte_or_points"))
            .then(P("share_hnte"))
            .when(pl.col("tsme_or_innovative"))
            .then(P("share_tsme")),
            "value",
            "国家融资担保基金分险比例",
            "national guarantee fund share",
            ARTICLE,
        ),
        Step(
            "firm_type_covered",
            pl.col("national_share").is_not_null(),
            "condition",
            "属于计划支持的企业类型",
            "firm type covered by the plan",
            ARTICLE,
        ),
        Step(
            "in_plan",
            pl.col("fee_below_ceiling") & pl.col("bank_keeps_share") & pl.col("firm_type_covered"),
            "value",
            "纳入专项担保计划",
            "inside the plan",
            ARTICLE,
        ),
    )


def build() -> Policy:
    signed = ParamDate("signed_on", pl.col("signed_on"))
    return Policy(
        id="guarantee_plan",
        title_zh="支持科技创新专项担保计划分险",
        title_en="Special guarantee plan for sci-tech innovation: risk shares",
        issuer="国家融资担保基金",
        document=PLAN_DOC,
        articles=(ARTICLE,),
        valid_from=date(2024, 1, 1),
        valid_to=None,
        entity="guaranteed_loan",
        key=("contract_no",),
        inputs=INPUTS,
        param_units=PLAN_UNITS,
        param_dates=dict.fromkeys(PLAN_UNITS, signed),
        steps=(
            *plan_steps(),
            Step(
                "national_risk",
                pl.col("guaranteed_amount") * pl.col("national_share").fill_null(zero()),
                "amount",
                "国家基金承担的风险金额",
                "risk carried by the national fund",
                ARTICLE,
            ),
        ),
        eligible="in_plan",
        amount="national_risk",
        period="signed_on",
        source=Path(__file__),
        summary_zh="专项担保计划：银行≥20%，国家基金40%/35%/30%，费率<1%（分险数据，非支付）",
        summary_en="plan shares: bank ≥ 20%, national fund 40/35/30%, fee < 1% (risk data, not a payment)",
    )
