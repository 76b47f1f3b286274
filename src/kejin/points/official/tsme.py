"""科技型中小企业评价 (technology-based SME evaluation), exact to the published rules.

Source: 《科技型中小企业评价办法》, 科技部 财政部 税务总局, 国科发政〔2022〕16号.

* 第六条 (一)–(四): the gates — a resident enterprise registered in China (not HK/Macao/Taiwan);
  职工总数 ≤ 500, 年销售收入 ≤ 2亿元, 资产总额 ≤ 2亿元; products/services not in the prohibited,
  restricted or eliminated categories; no major safety/quality accident, serious environmental
  violation or serious research misconduct in the filing year and the year before, and not on the
  abnormal-operation list or the serious-dishonesty list.
* 第六条 (五): comprehensive score ≥ 60 **and** 科技人员 points ≠ 0.
* 第七条: a firm meeting (一)–(四) is confirmed directly if it (一) holds a valid 高新技术企业
  certificate; (二) won a national S&T award in the last five years ranking in the top three units;
  (三) has a recognised provincial/ministerial or higher R&D institution; or (四) led an
  international, national or industry standard in the last five years.
* 第八条 and the annexed indicator table (满分100): 科技人员 share of staff (20), 研发投入 (50; the
  firm may choose R&D / sales revenue **or** R&D / total cost and expenses, so we take the better),
  科技成果 (30; Class I / Class II intellectual property). Every band's lower bound is inclusive (含).
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl

from kejin.points.official.bands import (
    Band,
    amount_points,
    decide_route,
    pct,
    ratio_points,
    ratio_text,
)
from kejin.points.official.io import Column

DOCUMENT = "科技型中小企业评价办法（国科发政〔2022〕16号）"

COLUMNS: tuple[Column, ...] = (
    Column("uscc", "统一社会信用代码", "uscc", "unified social credit code"),
    Column("staff", "职工总数", "int", "total staff"),
    Column("tech_staff", "科技人员数", "int", "science and technology staff"),
    Column("sales_revenue", "销售收入", "money", "sales revenue (CNY)"),
    Column("total_assets", "资产总额", "money", "total assets (CNY)"),
    Column("rd_expense", "研发费用总额", "money", "R&D expense (CNY)"),
    Column("total_cost", "成本费用支出总额", "money", "total cost and expenses (CNY)"),
    Column("ip_class1", "Ⅰ类知识产权数", "int", "Class I IP items"),
    Column("ip_class2", "Ⅱ类知识产权数", "int", "Class II IP items"),
    Column("resident", "居民企业", "bool", "resident enterprise registered in mainland China"),
    Column(
        "prohibited_product",
        "禁止限制淘汰类产品",
        "bool",
        "products prohibited/restricted/eliminated",
    ),
    Column(
        "major_incident", "重大事故或严重失信行为", "bool", "major accident or serious misconduct"
    ),
    Column(
        "abnormal_or_dishonest", "经营异常或严重失信名单", "bool", "on abnormal or dishonesty list"
    ),
    Column("high_tech_cert_valid", "有效期内高新技术企业证书", "bool", "valid HNTE certificate"),
    Column(
        "national_award_top3_5y",
        "近五年国家级科技奖励前三",
        "bool",
        "national S&T award, top 3, 5 years",
    ),
    Column(
        "provincial_rd_institution",
        "省部级以上研发机构",
        "bool",
        "provincial or higher R&D institution",
    ),
    Column("led_standard_5y", "近五年主导制定标准", "bool", "led a standard in the last 5 years"),
)

OUTPUT_COLUMNS = (
    "staff_points",
    "rd_points",
    "rd_basis",
    "ip_points",
    "total",
    "passed",
    "route",
    "reason_zh",
    "reason_en",
)

#: 第八条(一) 科技人员 share of 职工总数.
STAFF_BANDS = (
    Band(pct(30), 20),
    Band(pct(25), 16),
    Band(pct(20), 12),
    Band(pct(15), 8),
    Band(pct(10), 4),
)
#: 第八条(二)(1) R&D expense / sales revenue.
RD_SALES_BANDS = (
    Band(pct(6), 50),
    Band(pct(5), 40),
    Band(pct(4), 30),
    Band(pct(3), 20),
    Band(pct(2), 10),
)
#: 第八条(二)(2) R&D expense / total cost and expenses.
RD_COST_BANDS = (
    Band(pct(30), 50),
    Band(pct(25), 40),
    Band(pct(20), 30),
    Band(pct(15), 20),
    Band(pct(10), 10),
)
#: 第八条(三) Class II IP counts (1 Class I item alone earns 30).
IP2_BANDS = (
    Band(Fraction(4), 24),
    Band(Fraction(3), 18),
    Band(Fraction(2), 12),
    Band(Fraction(1), 6),
)
IP1_POINTS = 30
PASS_TOTAL = 60
MAX_STAFF = 500
MAX_FEN = 200_000_000 * 100  # 2亿元, in fen

#: 第六条(一)–(四) gates in the order they are reported: (id, zh, en, failing condition).
GATES: tuple[tuple[str, str, str, pl.Expr], ...] = (
    (
        "resident",
        "非境内注册居民企业",
        "not a resident enterprise registered in China",
        ~pl.col("resident"),
    ),
    ("staff", "职工总数超过500人", "more than 500 staff", pl.col("staff") > MAX_STAFF),
    (
        "sales_revenue",
        "年销售收入超过2亿元",
        "sales revenue above 200M CNY",
        pl.col("sales_revenue") > MAX_FEN,
    ),
    (
        "total_assets",
        "资产总额超过2亿元",
        "total assets above 200M CNY",
        pl.col("total_assets") > MAX_FEN,
    ),
    (
        "prohibited_product",
        "产品属于禁止、限制或淘汰类",
        "products in a prohibited category",
        pl.col("prohibited_product"),
    ),
    (
        "major_incident",
        "发生重大事故或严重失信行为",
        "major accident or serious misconduct",
        pl.col("major_incident"),
    ),
    (
        "abnormal_or_dishonest",
        "列入经营异常名录或严重违法失信名单",
        "on the abnormal-operation or dishonesty list",
        pl.col("abnormal_or_dishonest"),
    ),
)

#: 第七条 direct routes, in the article's order.
DIRECT: tuple[tuple[str, str, str], ...] = (
    ("high_tech_cert_valid", "拥有有效期内高新技术企业资格证书", "holds a valid HNTE certificate"),
    (
        "national_award_top3_5y",
        "近五年获国家级科技奖励且排名前三",
        "national S&T award in 5 years, top 3",
    ),
    (
        "provincial_rd_institution",
        "拥有省部级以上研发机构",
        "has a provincial or higher R&D institution",
    ),
    (
        "led_standard_5y",
        "近五年主导制定国际/国家/行业标准",
        "led an international/national/industry standard in 5 years",
    ),
)


def evaluate(df: pl.DataFrame) -> pl.DataFrame:
    """Score every row of a frame holding :data:`COLUMNS` (money in fen); pure, vectorised.

    Adds ``staff_points, rd_points, rd_basis, ip_points, total, passed, route`` and the list
    ``failed_gates`` (every failing 第六条 gate, for the reason text). The whitelist
    calls the same function over registry data, so a list clerk and the whitelist never disagree.
    """
    staff = ratio_points(pl.col("tech_staff"), pl.col("staff"), STAFF_BANDS).fill_null(0)
    rd_sales = ratio_points(pl.col("rd_expense"), pl.col("sales_revenue"), RD_SALES_BANDS)
    rd_cost = ratio_points(pl.col("rd_expense"), pl.col("total_cost"), RD_COST_BANDS)
    ip = (
        pl.when(pl.col("ip_class1") >= 1)
        .then(pl.lit(IP1_POINTS, dtype=pl.Int64))
        .otherwise(amount_points(pl.col("ip_class2"), IP2_BANDS))
    )
    out = df.with_columns(
        staff_points=staff,
        _rd_sales=rd_sales.fill_null(-1),
        _rd_cost=rd_cost.fill_null(-1),
        ip_points=ip,
    ).with_columns(
        rd_points=pl.max_horizontal("_rd_sales", "_rd_cost").clip(lower_bound=0),
        rd_basis=pl.when(pl.col("_rd_sales") >= pl.col("_rd_cost"))
        .then(pl.lit("sales"))
        .otherwise(pl.lit("cost")),
    )
    out = out.with_columns(total=pl.col("staff_points") + pl.col("rd_points") + pl.col("ip_points"))
    by_score = (pl.col("total") >= PASS_TOTAL) & (pl.col("staff_points") > 0)
    out = decide_route(
        out,
        [(gid, failing) for gid, _, _, failing in GATES],
        [(did, pl.col(did)) for did, _, _ in DIRECT],
        by_score,
    )
    return out.drop("_rd_sales", "_rd_cost")


def reasons(row: dict) -> tuple[str, str]:
    """The reason a clerk can read: which gate, route or bands decided, citing the article."""
    zh: list[str] = []
    en: list[str] = []
    failed = [(g, z, e) for g, z, e, _ in GATES if g in row["failed_gates"]]
    if failed:
        zh.append("未通过第六条基本条件：" + "；".join(z for _, z, _ in failed))
        en.append("fails the Art. 6 conditions: " + "; ".join(e for _, _, e in failed))
    zh.append(
        f"科技人员占比{ratio_text(row['tech_staff'], row['staff'])}得{row['staff_points']}分；"
        f"研发费用占{'销售收入' if row['rd_basis'] == 'sales' else '成本费用总额'}"
        f"{ratio_text(row['rd_expense'], row['sales_revenue'] if row['rd_basis'] == 'sales' else row['total_cost'])}"
        f"得{row['rd_points']}分；Ⅰ类知识产权{row['ip_class1']}项、Ⅱ类{row['ip_class2']}项得{row['ip_points']}分；"
        f"合计{row['total']}分（第八条）"
    )
    en.append(
        f"tech staff share {ratio_text(row['tech_staff'], row['staff'])}: {row['staff_points']} pts; "
        f"R&D / {'sales' if row['rd_basis'] == 'sales' else 'total cost'} "
        f"{ratio_text(row['rd_expense'], row['sales_revenue'] if row['rd_basis'] == 'sales' else row['total_cost'])}: "
        f"{row['rd_points']} pts; IP class I {row['ip_class1']}, class II {row['ip_class2']}: "
        f"{row['ip_points']} pts; total {row['total']} (Art. 8)"
    )
    route = row["route"]
    if route.startswith("direct:"):
        d = next(d for d in DIRECT if d[0] == route.removeprefix("direct:"))
        zh.append(f"{d[1]}，依第七条直接确认，通过")
        en.append(f"{d[2]}: confirmed directly under Art. 7, passed")
    elif route == "score":
        if row["passed"]:
            zh.append("总分≥60且科技人员得分不为0，依第六条第（五）项通过")
            en.append("total ≥ 60 and tech-staff points > 0: passed under Art. 6(5)")
        elif row["staff_points"] == 0:
            zh.append("科技人员指标得分为0，不通过（第六条第（五）项）")
            en.append("tech-staff points are 0: not passed (Art. 6(5))")
        else:
            zh.append("总分低于60分，不通过（第六条第（五）项）")
            en.append("total below 60: not passed (Art. 6(5))")
    else:
        zh.append("不通过")
        en.append("not passed")
    return "；".join(zh), "; ".join(en)
