"""Ji'an (Xingan county) IP-pledge loan interest subsidy (知识产权质押贷款贴息), seed 002 (吉安).

Text: 新干县推出知识产权质押贷款贴息政策，按同期LPR的20%-30%进行贴息，单户企业上限10万元。

Interpretation (also in ``docs/policy.md``); the three readings that are choices are parameters
marked ``reading`` with their alternatives in the YAML:

* The entity is a **loan-year** of a loan secured by an IP pledge (``guarantee_type = ip_pledge``).
* "同期LPR" is the one-year LPR in force on the loan's disbursement date (a dated parameter
  selected by ``disbursed_on``); the subsidy is ``average balance × LPR × share``.
* ``lpr_share`` (reading): the text gives a range (20%–30%); we publish the floor, 20%, so
  estimates never promise more than the text; ``simulate --set lpr_share=0.30`` is the ceiling.
* ``cap_per_year`` (reading): "单户企业上限10万元" is read per firm **per year** (1); 0 reads it
  per firm over the whole policy. A firm's loans take the room under the cap in contract order.
* ``first_year`` (reading): the briefing (2025) gives no start date; loan-years before 2025 are
  not eligible, with this reading as the reason.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from kejin.policy.engine import (
    LOAN_YEAR_KEYS,
    MONEY,
    Input,
    P,
    ParamDate,
    Policy,
    Step,
    YearEnd,
    cap_per_group,
    zero,
)

ARTICLE = "吉安：新干县知识产权质押贷款贴息"


def build() -> Policy:
    at_year_end = YearEnd("year")
    disbursed = ParamDate("disbursed_on", pl.col("disbursed_on"))
    return Policy(
        id="jian_ip_pledge",
        title_zh="吉安知识产权质押贷款贴息",
        title_en="Ji'an IP-pledge loan interest subsidy",
        issuer="新干县（吉安市）",
        document="科技金融简报第291期（上）：《打造长江中游科技金融样板区 吉安“金融+科技+人才”三链融合精准破解科技型企业融资难题》",
        articles=(ARTICLE,),
        valid_from=date(2019, 8, 20),  # the first LPR; ``first_year`` decides what is paid
        valid_to=None,
        entity="loan_year",
        key=("contract_no", "year"),
        inputs=(
            *LOAN_YEAR_KEYS,
            Input("disbursed_on", pl.Date, "放款日期", "disbursed on"),
            Input("average_balance", MONEY, "年均贷款余额", "average balance in the year"),
            Input("ip_pledge", pl.Boolean, "知识产权质押", "secured by an IP pledge"),
        ),
        param_units={
            "lpr_1y": "1/year",
            "lpr_share": "ratio",
            "firm_cap": "CNY",
            "cap_per_year": "choice",
            "first_year": "year",
        },
        param_dates={
            "lpr_1y": disbursed,
            **dict.fromkeys(("lpr_share", "firm_cap", "cap_per_year", "first_year"), at_year_end),
        },
        steps=(
            Step(
                "is_ip_pledge",
                pl.col("ip_pledge"),
                "condition",
                "知识产权质押贷款",
                "IP-pledge loan",
                ARTICLE,
            ),
            Step(
                "from_first_year",
                pl.col("year") >= P("first_year"),
                "condition",
                "2025年起的年度（读法：简报未载起始日）",
                "a year from 2025 on (reading: the briefing gives no start date)",
                ARTICLE,
            ),
            Step(
                "eligible_all",
                pl.col("is_ip_pledge") & pl.col("from_first_year"),
                "value",
                "全部条件满足",
                "all conditions met",
                ARTICLE,
            ),
            Step(
                "cap_period",
                pl.when(P("cap_per_year") == 1).then(pl.col("year")).otherwise(0),
                "value",
                "上限期间（每年或政策期内合计）",
                "cap period (each year, or the whole policy)",
                ARTICLE,
            ),
            Step(
                "subsidy_rate",
                P("lpr_1y") * P("lpr_share"),
                "value",
                "贴息率 = 同期LPR × 贴息比例",
                "subsidy rate = LPR × share",
                ARTICLE,
            ),
            Step(
                "subsidy_raw",
                pl.when(pl.col("is_ip_pledge"))
                .then(pl.col("average_balance") * pl.col("subsidy_rate"))
                .otherwise(zero()),
                "amount",
                "年均余额 × 贴息率",
                "average balance × subsidy rate",
                ARTICLE,
            ),
            Step(
                "subsidy",
                cap_per_group(
                    pl.col("subsidy_raw"),
                    P("firm_cap"),
                    ["uscc", "cap_period"],
                    ["year", "contract_no"],
                ),
                "amount",
                "单户企业上限10万元",
                "at most 100,000 per firm",
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
        summary_zh="知识产权质押贷款按同期LPR的20%-30%贴息，单户上限10万元",
        summary_en="IP-pledge loans: 20-30% of LPR, at most 100,000 per firm",
    )
