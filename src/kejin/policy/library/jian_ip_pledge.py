"""Ji'an (Xingan county) IP-pledge loan interest subsidy (知识产权质押贷款贴息), seed 002 (吉安).

Text: 新干县推出知识产权质押贷款贴息政策，按同期LPR的20%-30%进行贴息，单户企业上限10万元。

Interpretation (also in ``docs/policy.md``):

* The entity is a **loan-year** of a loan secured by an IP pledge (``guarantee_type = ip_pledge``).
* "同期LPR" is the one-year LPR in force on the loan's disbursement date (a dated parameter
  selected by ``disbursed_on``); the subsidy is ``average balance × LPR × share``.
* The text gives a range (20%–30%); the county sets the share. We publish the floor, 20%
  (``lpr_share``), so estimates never promise more than the text; a reform of 30% is a
  ``simulate --set lpr_share=0.30``.
* "单户企业上限10万元" is read per firm **per year** (the subsidy is settled yearly); a firm's
  loans take the room under the cap in contract order.
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
        document="科技金融简报第291期：吉安“金融+科技+人才”（种子002）",
        articles=(ARTICLE,),
        valid_from=date(2025, 1, 1),
        valid_to=None,
        entity="loan_year",
        key=("contract_no", "year"),
        inputs=(
            *LOAN_YEAR_KEYS,
            Input("disbursed_on", pl.Date, "放款日期", "disbursed on"),
            Input("average_balance", MONEY, "年均贷款余额", "average balance in the year"),
            Input("ip_pledge", pl.Boolean, "知识产权质押", "secured by an IP pledge"),
        ),
        param_units={"lpr_1y": "1/year", "lpr_share": "ratio", "firm_cap": "CNY"},
        param_dates={"lpr_1y": disbursed, "lpr_share": at_year_end, "firm_cap": at_year_end},
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
                cap_per_group(pl.col("subsidy_raw"), P("firm_cap"), ["uscc", "year"]),
                "amount",
                "单户企业上限10万元",
                "at most 100,000 per firm",
                ARTICLE,
            ),
        ),
        eligible="is_ip_pledge",
        amount="subsidy",
        cost_kind="interest",
        cost_key=(
            "contract_no",
            "year",
        ),
        order=("uscc", "year", "contract_no"),
        source=Path(__file__),
        summary_zh="知识产权质押贷款按同期LPR的20%-30%贴息，单户上限10万元",
        summary_en="IP-pledge loans: 20-30% of LPR, at most 100,000 per firm",
    )
