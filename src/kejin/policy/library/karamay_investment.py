"""Karamay angel / venture investment reward (克拉玛依 天使投资和创业投资奖励), seed 004 三(三)10.

Text: 对获得天使投资和创业投资机构投资的科技型企业，按照投资额的1%且最多不超过50万元的额度给予奖励。

Interpretation (also in ``docs/policy.md``):

* The entity is one **investment** (a financing event of kind ``angel`` or ``vc``); PE, IPO and
  bonds are not 天使投资/创业投资 and do not qualify. ``kind`` takes the financing vocabulary the
  imports take (``vc``, 创业投资, ``venture capital``, ``VC`` …); an unknown kind is an error.
* "科技型企业" is any firm holding a current 科技型中小企业, 高新技术企业 or other registry
  qualification on the investment date (``tech_firm``).
* The 500,000 ceiling applies **per investment**: the sentence attaches it to "投资额的1%".
  Parameters are those in force on the investment date.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import MONEY, Input, P, ParamDate, Policy, Step
from kejin.vocab import FINANCING_KINDS

ARTICLE = "三(三)10"


def build() -> Policy:
    on_date = ParamDate("occurred_on", pl.col("occurred_on"))
    return Policy(
        id="karamay_investment",
        title_zh="克拉玛依天使投资和创业投资奖励",
        title_en="Karamay angel and venture investment reward",
        issuer="克拉玛依市人民政府",
        document="克拉玛依市人民政府科技金融实施意见（2022年8月15日）",
        articles=(ARTICLE,),
        valid_from=date(2022, 8, 15),
        valid_to=None,
        entity="investment",
        key=("investment_id",),
        inputs=(
            Input("uscc", pl.String, "统一社会信用代码", "USCC"),
            Input("investment_id", pl.String, "投资编号", "investment id"),
            Input("kind", pl.String, "融资类型", "financing kind", vocab=FINANCING_KINDS),
            Input("occurred_on", pl.Date, "融资日期", "investment date"),
            Input("investment_amount", MONEY, "投资额", "investment amount"),
            Input("tech_firm", pl.Boolean, "科技型企业", "technology firm"),
        ),
        param_units={"reward_rate": "ratio", "reward_cap": "CNY"},
        param_dates={"reward_rate": on_date, "reward_cap": on_date},
        steps=(
            Step(
                "angel_or_vc",
                pl.col("kind").is_in(["angel", "vc"]),
                "condition",
                "获得天使投资或创业投资机构投资",
                "angel or venture-capital investment",
                ARTICLE,
            ),
            Step(
                "is_tech_firm",
                pl.col("tech_firm"),
                "condition",
                "科技型企业",
                "technology firm",
                ARTICLE,
            ),
            Step(
                "eligible_all",
                pl.col("angel_or_vc") & pl.col("is_tech_firm"),
                "value",
                "全部条件满足",
                "all conditions met",
                ARTICLE,
            ),
            Step(
                "reward_raw",
                pl.col("investment_amount") * P("reward_rate"),
                "amount",
                "投资额 × 1%",
                "investment × 1%",
                ARTICLE,
            ),
            Step(
                "reward",
                pl.min_horizontal("reward_raw", P("reward_cap")),
                "amount",
                "不超过50万元",
                "capped at 500,000",
                ARTICLE,
            ),
        ),
        eligible="eligible_all",
        amount="reward",
        cost_kind="investment",
        cost_key=("investment_id",),
        period="occurred_on",
        source=Path(__file__),
        summary_zh="获天使/创投投资的科技型企业按投资额1%奖励，最高50万元",
        summary_en="1% of angel/VC investment received, at most 500,000",
    )
