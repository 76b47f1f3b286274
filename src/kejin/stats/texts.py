"""Page texts of the statistics pages (zh, en), registered into :mod:`kejin.web.i18n`'s table."""

from __future__ import annotations

from kejin.web.i18n import TEXTS

STATS_TEXTS: dict[str, tuple[str, str]] = {
    "st_nav": ("统计监测", "Statistics"),
    "st_title": ("科技金融统计监测", "Sci-tech finance statistics"),
    "st_month": ("统计月份", "Month"),
    "st_by": ("分组", "Breakdown"),
    "st_by_none": ("不分组", "none"),
    "st_population": ("统计口径", "Population"),
    "st_show": ("显示", "Show"),
    "st_date": ("统计日", "Statistics date"),
    "st_data_as_of": ("数据日期", "Data as of"),
    "st_indicator": ("指标", "Indicator"),
    "st_value": ("数值", "Value"),
    "st_unit": ("单位", "Unit"),
    "st_definition": ("定义", "Definition"),
    "st_source": ("依据", "Source"),
    "st_effective": ("生效日期", "In effect from"),
    "st_basis_all": ("全部贷款", "all loans"),
    "st_groups": ("分组结果", "By group"),
    "st_group": ("分组", "Group"),
    "st_trend": ("趋势", "Trend"),
    "st_trend_of": ("趋势指标", "Indicator over time"),
    "st_lpr": ("当月LPR", "LPR of the month"),
    "st_lpr_1y": ("1年期", "1-year"),
    "st_lpr_5y": ("5年期以上", "over 5 years"),
    "st_lpr_none": (
        "LPR表中没有该月的公布值，不计算较LPR的加点；管理员导入该月公布值后即可计算。",
        "the LPR table has no value published for this month, so no spread over it is computed; it is once an administrator imports the month's published value.",
    ),
    "st_flags": ("首贷户标志核对", "First-loan flag check"),
    "st_flags_note": (
        "本月放款中，银行报送的首贷户标志与登记的放款历史（所有银行）不符的贷款：",
        "Loans disbursed this month whose bank-reported first-time flag contradicts the registry's history (every bank):",
    ),
    "st_flags_none": ("本月没有不符的标志。", "No flag contradicts the history this month."),
    "st_contract": ("合同编号", "Contract"),
    "st_firm": ("企业", "Firm"),
    "st_bank": ("银行", "Bank"),
    "st_disbursed": ("放款日", "Disbursed"),
    "st_reported": ("银行报送", "Reported"),
    "st_computed": ("按历史", "From history"),
    "st_first_on": ("首次放款日", "First disbursed"),
    "st_yes": ("是", "yes"),
    "st_no": ("否", "no"),
    "st_book": ("下载月度统计手册（Excel）", "Download the monthly statistics book (Excel)"),
    "st_no_data": (
        "还没有任何月份的贷款状态数据，无法统计。请先导入贷款及月度状态（数据导入）。",
        "No month has loan-status data yet: nothing to compute. Import loans and their monthly status first (data import).",
    ),
    "st_money_note": ("金额单位：万元；比率为百分比。", "Money in CNY 10k; ratios in percent."),
    "st_api": ("接口", "API"),
}


def _register() -> None:
    clash = set(STATS_TEXTS) & set(TEXTS)
    if clash:
        raise RuntimeError(f"statistics text keys already used elsewhere: {sorted(clash)}")
    TEXTS.update(STATS_TEXTS)


_register()
