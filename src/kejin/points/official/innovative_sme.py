"""创新型中小企业评价 (MIIT innovative-SME evaluation), exact to the published rules.

Source: 《优质中小企业梯度培育管理暂行办法》, 工业和信息化部, 工信部企业〔2022〕63号.

* 第六条 (basic conditions for every tier): registered in China with independent legal
  personality; an SME under 《中小企业划型标准规定》; not on the abnormal-operation or
  serious-dishonesty list; products not prohibited/restricted/eliminated; no major safety
  (including network/data security), quality or environmental accident, nor tax evasion or other
  violation, in the last three years.
* 附件1 《创新型中小企业评价标准》, 一、评价指标 (满分100):
  创新能力 (40) = 知识产权 (20) + 上年度研发费用投入 (20, amount **or** share of 营业收入, so the
  better of the two); 成长性 (30) = 上年度主营业务收入增长率 (20) + 上年度资产负债率 (10);
  专业化 (30) = 主导产品所属领域 (10) + 主营业务收入占营业收入比重 (20).
* 附件1, 二、评价标准: pass at ≥ 60 points with 创新能力 ≥ 20, 成长性 ≥ 15 and 专业化 ≥ 15, or
  one of four direct conditions: (一) national or provincial S&T award in the last three years;
  (二) a valid honour such as 高新技术企业, national 技术创新示范企业, 知识产权优势企业 or
  知识产权示范企业; (三) a recognised provincial/ministerial or higher R&D institution;
  (四) new equity financing (paid-in by qualified institutional investors) ≥ 5M CNY in the last
  three years.

Every band's lower bound is inclusive ("以上" includes the number, "以下" excludes it), as the
issue prescribes; the project's choices where the text is silent are listed in ``docs/points.md``.
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

DOCUMENT = "优质中小企业梯度培育管理暂行办法（工信部企业〔2022〕63号）附件1"

COLUMNS: tuple[Column, ...] = (
    Column("uscc", "统一社会信用代码", "uscc", "unified social credit code"),
    Column(
        "domestic_legal_person",
        "境内注册独立法人",
        "bool",
        "registered in China, independent legal person",
    ),
    Column("sme_size", "符合中小企业划型标准", "bool", "an SME under the size standard"),
    Column(
        "prohibited_product",
        "禁止限制淘汰类产品",
        "bool",
        "products prohibited/restricted/eliminated",
    ),
    Column(
        "major_incident_3y",
        "近三年重大事故或违法违规",
        "bool",
        "major accident or violation in 3 years",
    ),
    Column(
        "abnormal_or_dishonest", "经营异常或严重失信名单", "bool", "on abnormal or dishonesty list"
    ),
    Column("ip_class1_high_value", "Ⅰ类高价值知识产权数", "int", "Class I high-value IP items"),
    Column(
        "ip_class1_self_developed",
        "自主研发Ⅰ类知识产权数",
        "int",
        "self-developed Class I IP items",
    ),
    Column("ip_class1", "Ⅰ类知识产权数", "int", "Class I IP items (all)"),
    Column("ip_class2", "Ⅱ类知识产权数", "int", "Class II IP items"),
    Column("rd_expense", "研发费用总额", "money", "R&D expense last year (CNY)"),
    Column("operating_revenue", "营业收入总额", "money", "operating revenue last year (CNY)"),
    Column("main_revenue", "主营业务收入", "money", "main-business revenue last year (CNY)"),
    Column(
        "main_revenue_prior",
        "前一年主营业务收入",
        "money",
        "main-business revenue the year before (CNY)",
    ),
    Column("total_assets", "资产总额", "money", "total assets (CNY)"),
    Column("total_liabilities", "负债总额", "money", "total liabilities (CNY)"),
    Column(
        "strategic_emerging",
        "主导产品属于战略性新兴产业",
        "bool",
        "main product in a strategic emerging industry",
    ),
    Column(
        "award_3y", "近三年国家级或省级科技奖励", "bool", "national/provincial S&T award in 3 years"
    ),
    Column(
        "valid_honour", "有效期内高企等荣誉", "bool", "valid HNTE / demo firm / IP advantage honour"
    ),
    Column(
        "provincial_rd_institution",
        "省部级以上研发机构",
        "bool",
        "provincial or higher R&D institution",
    ),
    Column(
        "equity_financing_3y",
        "近三年新增股权融资额",
        "money",
        "new equity financing in 3 years (CNY)",
    ),
)

OUTPUT_COLUMNS = (
    "ip_points",
    "rd_points",
    "rd_basis",
    "growth_points",
    "debt_points",
    "field_points",
    "main_share_points",
    "innovation_subtotal",
    "growth_subtotal",
    "specialisation_subtotal",
    "total",
    "passed",
    "route",
    "reason_zh",
    "reason_en",
)

YUAN = 100  # fen per yuan
#: 研发费用总额 bands (万元 → fen), and the share-of-revenue bands; the better one counts.
RD_AMOUNT_BANDS = (
    Band(Fraction(500 * 10_000 * YUAN), 20),
    Band(Fraction(400 * 10_000 * YUAN), 15),
    Band(Fraction(300 * 10_000 * YUAN), 10),
    Band(Fraction(200 * 10_000 * YUAN), 5),
)
RD_SHARE_BANDS = (Band(pct(10), 20), Band(pct(8), 15), Band(pct(6), 10), Band(pct(3), 5))
#: 主营业务收入增长率: growth ≥ 15% → 20 … ≥ 0% → 5, negative → 0 (as current/prior ratios).
GROWTH_BANDS = (
    Band(1 + pct(15), 20),
    Band(1 + pct(10), 15),
    Band(1 + pct(5), 10),
    Band(Fraction(1), 5),
)
#: 资产负债率: < 55% → 10, 55% (incl.) – 75% → 5, ≥ 75% → 0 (bands on the debt ratio, inverted).
DEBT_HIGH = pct(75)
DEBT_MID = pct(55)
#: 主营业务收入占营业收入比重.
MAIN_SHARE_BANDS = (Band(pct(70), 20), Band(pct(60), 15), Band(pct(55), 10), Band(pct(50), 5))
EQUITY_DIRECT_FEN = 500 * 10_000 * YUAN
PASS_TOTAL, MIN_INNOVATION, MIN_GROWTH, MIN_SPECIALISATION = 60, 20, 15, 15

GATES: tuple[tuple[str, str, str, pl.Expr], ...] = (
    (
        "domestic_legal_person",
        "非境内注册的独立法人",
        "not a legal person registered in China",
        ~pl.col("domestic_legal_person"),
    ),
    (
        "sme_size",
        "不符合中小企业划型标准",
        "not an SME under the size standard",
        ~pl.col("sme_size"),
    ),
    (
        "abnormal_or_dishonest",
        "列入经营异常名录或严重失信主体名单",
        "on the abnormal-operation or dishonesty list",
        pl.col("abnormal_or_dishonest"),
    ),
    (
        "prohibited_product",
        "产品属于禁止、限制或淘汰类",
        "products in a prohibited category",
        pl.col("prohibited_product"),
    ),
    (
        "major_incident_3y",
        "近三年发生重大事故或违法违规行为",
        "major accident or violation in the last 3 years",
        pl.col("major_incident_3y"),
    ),
)

DIRECT: tuple[tuple[str, str, str, pl.Expr], ...] = (
    (
        "award_3y",
        "近三年获得国家级或省级科技奖励",
        "national/provincial S&T award in 3 years",
        pl.col("award_3y"),
    ),
    (
        "valid_honour",
        "拥有有效期内高新技术企业等荣誉",
        "valid HNTE or similar honour",
        pl.col("valid_honour"),
    ),
    (
        "provincial_rd_institution",
        "拥有省部级以上研发机构",
        "provincial or higher R&D institution",
        pl.col("provincial_rd_institution"),
    ),
    (
        "equity_financing_3y",
        "近三年新增股权融资500万元以上",
        "≥ 5M CNY new equity financing in 3 years",
        pl.col("equity_financing_3y") >= EQUITY_DIRECT_FEN,
    ),
)


def evaluate(df: pl.DataFrame) -> pl.DataFrame:
    """Score every row of a frame holding :data:`COLUMNS` (money in fen); pure and vectorised."""
    ip = (
        pl.when(pl.col("ip_class1_high_value") >= 1)
        .then(20)
        .when(pl.col("ip_class1_self_developed") >= 1)
        .then(15)
        .when(pl.col("ip_class1") >= 1)
        .then(10)
        .when(pl.col("ip_class2") >= 1)
        .then(5)
        .otherwise(0)
        .cast(pl.Int64)
    )
    rd_amount = amount_points(pl.col("rd_expense"), RD_AMOUNT_BANDS)
    rd_share = ratio_points(
        pl.col("rd_expense"), pl.col("operating_revenue"), RD_SHARE_BANDS
    ).fill_null(0)
    # Prior revenue of 0 with current revenue > 0 is unbounded growth (top band); both 0 is 0%.
    growth = (
        pl.when(pl.col("main_revenue_prior") > 0)
        .then(ratio_points(pl.col("main_revenue"), pl.col("main_revenue_prior"), GROWTH_BANDS))
        .when(pl.col("main_revenue") > 0)
        .then(20)
        .otherwise(5)
        .cast(pl.Int64)
    )
    liab, assets = pl.col("total_liabilities"), pl.col("total_assets")
    debt = (
        pl.when(assets <= 0)
        .then(0)
        .when(liab * DEBT_HIGH.denominator >= assets * DEBT_HIGH.numerator)
        .then(0)
        .when(liab * DEBT_MID.denominator >= assets * DEBT_MID.numerator)
        .then(5)
        .otherwise(10)
        .cast(pl.Int64)
    )
    field = pl.when(pl.col("strategic_emerging")).then(10).otherwise(5).cast(pl.Int64)
    main = ratio_points(
        pl.col("main_revenue"), pl.col("operating_revenue"), MAIN_SHARE_BANDS
    ).fill_null(0)
    out = df.with_columns(
        ip_points=ip,
        _rd_amount=rd_amount,
        _rd_share=rd_share,
        growth_points=growth,
        debt_points=debt,
        field_points=field,
        main_share_points=main,
    ).with_columns(
        rd_points=pl.max_horizontal("_rd_amount", "_rd_share"),
        rd_basis=pl.when(pl.col("_rd_amount") >= pl.col("_rd_share"))
        .then(pl.lit("amount"))
        .otherwise(pl.lit("ratio")),
    )
    out = out.with_columns(
        innovation_subtotal=pl.col("ip_points") + pl.col("rd_points"),
        growth_subtotal=pl.col("growth_points") + pl.col("debt_points"),
        specialisation_subtotal=pl.col("field_points") + pl.col("main_share_points"),
    ).with_columns(
        total=pl.col("innovation_subtotal")
        + pl.col("growth_subtotal")
        + pl.col("specialisation_subtotal")
    )
    by_score = (
        (pl.col("total") >= PASS_TOTAL)
        & (pl.col("innovation_subtotal") >= MIN_INNOVATION)
        & (pl.col("growth_subtotal") >= MIN_GROWTH)
        & (pl.col("specialisation_subtotal") >= MIN_SPECIALISATION)
    )
    out = decide_route(
        out,
        [(gid, failing) for gid, _, _, failing in GATES],
        [(did, holds) for did, _, _, holds in DIRECT],
        by_score,
    )
    return out.drop("_rd_amount", "_rd_share")


def reasons(row: dict) -> tuple[str, str]:
    """Reason text citing the standard; lists failing gates, the route and each indicator's band."""
    zh: list[str] = []
    en: list[str] = []
    failed = [(z, e) for g, z, e, _ in GATES if g in row["failed_gates"]]
    if failed:
        zh.append("未通过第六条基本条件：" + "；".join(z for z, _ in failed))
        en.append("fails the Art. 6 basic conditions: " + "; ".join(e for _, e in failed))
    rd_yuan = row["rd_expense"] / 100 / 10_000
    zh.append(
        f"知识产权得{row['ip_points']}分；研发费用{rd_yuan:.2f}万元、占营业收入"
        f"{ratio_text(row['rd_expense'], row['operating_revenue'])}得{row['rd_points']}分"
        f"（按{'金额' if row['rd_basis'] == 'amount' else '比重'}）；创新能力{row['innovation_subtotal']}分"
    )
    en.append(
        f"IP {row['ip_points']} pts; R&D {rd_yuan:.2f} × 10k CNY, "
        f"{ratio_text(row['rd_expense'], row['operating_revenue'])} of revenue: {row['rd_points']} pts "
        f"(by {row['rd_basis']}); innovation {row['innovation_subtotal']}"
    )
    prior = row["main_revenue_prior"]
    growth = "—" if prior <= 0 else f"{(row['main_revenue'] - prior) * 100 / prior:.2f}%"
    debt = ratio_text(row["total_liabilities"], row["total_assets"])
    zh.append(
        f"主营业务收入增长率{growth}得{row['growth_points']}分；资产负债率{debt}得{row['debt_points']}分；"
        f"成长性{row['growth_subtotal']}分"
    )
    en.append(
        f"main revenue growth {growth}: {row['growth_points']} pts; debt ratio {debt}: "
        f"{row['debt_points']} pts; growth {row['growth_subtotal']}"
    )
    share = ratio_text(row["main_revenue"], row["operating_revenue"])
    zh.append(
        f"主导产品领域得{row['field_points']}分；主营业务收入占比{share}得{row['main_share_points']}分；"
        f"专业化{row['specialisation_subtotal']}分；合计{row['total']}分（附件1 一）"
    )
    en.append(
        f"product field {row['field_points']} pts; main-business share {share}: "
        f"{row['main_share_points']} pts; specialisation {row['specialisation_subtotal']}; "
        f"total {row['total']} (Annex 1, part 1)"
    )
    route = row["route"]
    if route.startswith("direct:"):
        d = next(d for d in DIRECT if d[0] == route.removeprefix("direct:"))
        zh.append(f"{d[1]}，依附件1 二直接认定，通过")
        en.append(f"{d[2]}: qualifies directly under Annex 1 part 2, passed")
    elif route == "score":
        if row["passed"]:
            zh.append("总分≥60且创新能力≥20、成长性≥15、专业化≥15，通过（附件1 二）")
            en.append("total ≥ 60 with innovation ≥ 20, growth ≥ 15, specialisation ≥ 15: passed")
        else:
            short = []
            short_en = []
            if row["total"] < PASS_TOTAL:
                short.append("总分低于60")
                short_en.append("total below 60")
            if row["innovation_subtotal"] < MIN_INNOVATION:
                short.append("创新能力低于20")
                short_en.append("innovation below 20")
            if row["growth_subtotal"] < MIN_GROWTH:
                short.append("成长性低于15")
                short_en.append("growth below 15")
            if row["specialisation_subtotal"] < MIN_SPECIALISATION:
                short.append("专业化低于15")
                short_en.append("specialisation below 15")
            zh.append("、".join(short) + "，不通过（附件1 二）")
            en.append(", ".join(short_en) + ": not passed (Annex 1 part 2)")
    else:
        zh.append("不通过")
        en.append("not passed")
    return "；".join(zh), "; ".join(en)
