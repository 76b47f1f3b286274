"""The generative model of the synthetic region: seeded numpy/Polars functions, no database.

Each firm gets two latent traits, *innovation capability* ``z_i`` and *credit quality* ``z_c``
(standard-normal-like, correlated with ``rho``); everything a department or a bank would observe
(annual indicators, qualifications, financing, loans and their monthly status) is drawn from
them, and defaults are drawn from a true probability of default that depends on ``z_c`` and on
the observed financials. The latent values and the true PD go to ``synth_truth`` only, so later
areas can check how well their scores recover what they cannot see. ``docs/synth.md`` gives the
equations; the constants below are the parameters it names.

Everything is vectorised over firms (one numpy draw per quantity, never a Python loop over
firms), so a million firms take seconds, and every draw comes from one
:class:`numpy.random.Generator` in a fixed order: the same seed gives the same frames, bit for
bit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from kejin.ids import REGIONS, USCC_ALPHABET, USCC_WEIGHTS
from kejin.registry.tables import INDICATOR_FIELDS, AnnualIndicator
from kejin.vocab import CLASSIFICATIONS, INDUSTRY_CHAINS, STAGES

GENERATOR_VERSION = "synth-1.0"
#: Data are "as of" this day: the last complete fiscal year is ``AS_OF.year - 1``.
AS_OF = dt.date(2026, 6, 30)
#: The default window: the twelve months ending in the ``AS_OF`` month, in which each firm's
#: 12-month default is drawn and the summary's default rate is counted.
WINDOW_MONTHS = 12
#: Months of performing history before the window, so that every month of the window has a
#: year-earlier figure (year-on-year growth needs twelve months before the first one).
HISTORY_MONTHS = 12
#: Months of loan status in the region: the history and the window.
STATUS_MONTHS = HISTORY_MONTHS + WINDOW_MONTHS
#: The entropy word of the history's own random stream (``default_rng([seed, HISTORY_STREAM])``):
#: the loans that matured before the window are drawn from it, never from the region's stream,
#: so every draw of the region (firms, the window's loans and their outcomes) is the same with
#: or without the history.
HISTORY_STREAM = 2024

STAGE_IDS = tuple(STAGES)  # seed, startup, growth, mature
STAGE_SHARE = np.array([0.15, 0.30, 0.35, 0.20])
#: Firm age in years by stage: uniform between these bounds.
STAGE_AGE = np.array([[0.3, 3.0], [1.0, 6.0], [3.0, 12.0], [8.0, 30.0]])
#: Shift of the latent traits by stage (innovation, credit): seeds are risky, matures solid.
STAGE_SHIFT_I = np.array([0.1, 0.1, 0.0, -0.1])
STAGE_SHIFT_C = np.array([-0.5, -0.25, 0.1, 0.4])
#: Median staff by stage, and the log-scale spread.
STAGE_STAFF = np.array([4.0, 15.0, 60.0, 220.0])
#: Mean annual revenue growth by stage.
STAGE_GROWTH = np.array([0.60, 0.35, 0.18, 0.06])
#: Mean net margin by stage.
STAGE_MARGIN = np.array([-0.25, -0.05, 0.05, 0.08])
#: Share of firms with no revenue yet, by stage.
STAGE_PRE_REVENUE = np.array([0.35, 0.08, 0.0, 0.0])
#: Additive term of the true default log-odds by stage.
STAGE_PD = np.array([0.6, 0.4, 0.0, -0.2])
#: Correlation of the two latent traits.
RHO = 0.4
#: Probability that one reported indicator value is missing.
MISSING = 0.03

CHAIN_IDS = tuple(INDUSTRY_CHAINS)
CHAIN_SHARE = np.array([0.06, 0.08, 0.06, 0.10, 0.16, 0.14, 0.12, 0.08, 0.10, 0.10])
#: Plausible GB/T 4754-2017 classes for each chain (one drawn uniformly per firm).
CHAIN_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "silicon_materials": ("C3985", "C3825", "C3099", "C2613"),
    "petrochemical": ("C2511", "C2614", "C2651"),
    "steel_alloy": ("C3120", "C3130", "C3140"),
    "new_energy": ("C3825", "C3841", "C3415", "D4416"),
    "equipment": ("C3421", "C3511", "C3731", "C3491", "C3562"),
    "information": ("I6510", "I6520", "I6531", "I6450", "C3974"),
    "biomedicine": ("C2710", "C2720", "C2761", "C3581", "M7340"),
    "fibre_composites": ("C2829", "C3061", "C3062", "C3091"),
    "green_food": ("C1391", "C1469", "C1491", "C1495"),
    "new_chemical_materials": ("C2652", "C2653", "C2661", "C2662", "C2669"),
}
#: A word of the firm name that suggests its chain.
CHAIN_WORD = {
    "silicon_materials": "硅业",
    "petrochemical": "石化",
    "steel_alloy": "特钢",
    "new_energy": "新能源",
    "equipment": "装备",
    "information": "信息技术",
    "biomedicine": "生物医药",
    "fibre_composites": "复合材料",
    "green_food": "食品",
    "new_chemical_materials": "新材料",
}
REGION_CODES = tuple(REGIONS)
REGION_SHARE = np.array([0.25, 0.10, 0.25, 0.12, 0.12, 0.08, 0.08])
_NAME_CHARS = tuple("瀚恒华泰鑫盛远达宏科创新海博润锦弘嘉天宇启航联众智源辰星卓越云港隆晟睿璟汇通")

#: Institutions of the region: id, name, kind, region, partner bank, tech branch.
INSTITUTIONS: tuple[tuple[str, str, str, str, bool, bool], ...] = (
    ("LYG-B01", "中国工商银行连云港分行", "bank", "320700", True, False),
    ("LYG-B02", "中国农业银行连云港分行", "bank", "320700", True, False),
    ("LYG-B03", "中国银行连云港分行", "bank", "320700", True, True),
    ("LYG-B04", "中国建设银行连云港分行", "bank", "320700", True, True),
    ("LYG-B05", "江苏银行连云港分行", "bank", "320706", True, True),
    ("LYG-B06", "南京银行连云港分行", "bank", "320706", False, True),
    ("LYG-B07", "连云港东方农村商业银行", "bank", "320706", True, False),
    ("LYG-B08", "交通银行连云港分行", "bank", "320706", False, False),
    ("LYG-B09", "兴业银行连云港分行", "bank", "320703", False, False),
    ("LYG-G01", "连云港市融资担保有限公司", "guarantor", "320700", False, False),
    ("LYG-G02", "江苏省信用再担保集团连云港分公司", "guarantor", "320706", False, False),
    ("LYG-I01", "中国人民财产保险连云港市分公司", "insurer", "320706", False, False),
    ("LYG-I02", "太平洋财产保险连云港中心支公司", "insurer", "320706", False, False),
    ("LYG-V01", "连云港市科创投资基金", "vc_fund", "320700", False, False),
    ("LYG-V02", "连云港市天使投资基金", "vc_fund", "320700", False, False),
)
#: Loan products every bank offers: suffix, name, guarantee type, min, max, rate floor/ceiling
#: (fractions per year), longest term in months.
BANK_PRODUCTS = (
    ("P1", "科创积分贷", "credit", 100_000, 10_000_000, "0.028000", "0.055000", 36),
    ("P2", "知识产权质押贷", "ip_pledge", 200_000, 30_000_000, "0.030000", "0.060000", 36),
    ("P3", "科技保证贷", "guarantee", 100_000, 20_000_000, "0.032000", "0.065000", 24),
    ("P4", "科技抵押贷", "mortgage", 500_000, 50_000_000, "0.029000", "0.050000", 36),
)
OTHER_PRODUCTS = {
    "guarantor": ("G1", "科技企业融资担保", "guarantee", "guarantee"),
    "insurer": ("S1", "科技企业贷款保证保险", "insurance", None),
    "vc_fund": ("E1", "科技企业股权投资", "equity", None),
}
#: The region's guarantors, named on guaranteed loans.
GUARANTORS = tuple(r[0] for r in INSTITUTIONS if r[2] == "guarantor")
GUARANTEE_SHARE = np.array([0.40, 0.12, 0.30, 0.18])  # credit, ip_pledge, guarantee, mortgage
GUARANTEE_IDS = ("credit", "ip_pledge", "guarantee", "mortgage")
GUARANTEE_RATE_SPREAD = np.array([0.006, 0.004, 0.008, -0.002])
#: One-year loan prime rate used as the base of loan pricing.
LPR = 0.030
TERMS = np.array([12, 24, 36])
TERM_SHARE = np.array([0.6, 0.25, 0.15])
#: Market share of the region's nine banks (in ``INSTITUTIONS`` order) by loan count.
BANK_SHARE = np.array([0.14, 0.12, 0.12, 0.14, 0.13, 0.09, 0.12, 0.07, 0.07])

#: Departments that supply each synthetic pull, in id order (id = position + 1).
PULL_DEPARTMENTS = ("amr", "most", "miit", "tax", "stats", "hrss", "ip", "finance", "institution")


@dataclass(frozen=True)
class Region:
    """The generated frames, one per table, in an order that satisfies foreign keys."""

    tables: dict[str, pl.DataFrame]

    def rows(self) -> int:
        return sum(df.height for df in self.tables.values())


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _epoch_days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _missing(rng: np.random.Generator, values: np.ndarray, p: float) -> np.ndarray:
    """Blank out a share ``p`` of the values (NaN becomes a database NULL)."""
    out = values.astype(np.float64)
    out[rng.random(values.shape[0]) < p] = np.nan
    return out


def _null_series(name: str, values: np.ndarray, dtype: pl.DataType) -> pl.Series:
    return pl.Series(name, values, nan_to_null=True).cast(dtype)


def uscc_codes(region_idx: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Valid USCCs for firm serial numbers: '91' + region + organisation code + check character.

    The 8-character organisation-code body is the serial in base 31 over the USCC alphabet, its
    9th character is the GB 11714 check, and the 18th the GB 32100 check, all computed on whole
    arrays. Distinct serials give distinct codes.
    """
    n = serial.shape[0]
    alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
    vals = np.zeros((n, 17), dtype=np.int64)
    vals[:, 0] = 9  # registration authority 9: market regulation
    vals[:, 1] = 1  # kind 1: enterprise
    regions = np.array([[int(c) for c in code] for code in REGION_CODES], dtype=np.int64)
    vals[:, 2:8] = regions[region_idx]
    rest = serial.astype(np.int64)
    for pos in range(15, 7, -1):
        vals[:, pos] = rest % 31
        rest //= 31
    # GB 11714 check over the body; characters count at their base-36 value (A=10 ...).
    b36 = np.array([int(c, 36) for c in USCC_ALPHABET], dtype=np.int64)
    org_weights = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
    c9 = 11 - (b36[vals[:, 8:16]] * org_weights).sum(axis=1) % 11
    vals[:, 16] = np.where(c9 == 10, USCC_ALPHABET.index("X"), np.where(c9 == 11, 0, c9))
    check = (31 - (vals * np.array(USCC_WEIGHTS, dtype=np.int64)).sum(axis=1) % 31) % 31
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = alphabet[vals]
    chars[:, 17] = alphabet[check]
    return chars.view("S18").ravel()


def _firms(
    rng: np.random.Generator, n: int, first: int = 0, serial_offset: int | None = None
) -> dict[str, np.ndarray]:
    """Stage, chain, region, age and the two latent traits of every firm."""
    stage = rng.choice(4, size=n, p=STAGE_SHARE)
    chain = rng.choice(len(CHAIN_IDS), size=n, p=CHAIN_SHARE)
    region = rng.choice(len(REGION_CODES), size=n, p=REGION_SHARE)
    lo, hi = STAGE_AGE[stage, 0], STAGE_AGE[stage, 1]
    age_years = lo + (hi - lo) * rng.random(n)
    e1, e2 = rng.standard_normal(n), rng.standard_normal(n)
    z_i = e1 + STAGE_SHIFT_I[stage]
    z_c = RHO * e1 + np.sqrt(1 - RHO**2) * e2 + STAGE_SHIFT_C[stage]
    # Serials: a seeded affine map of the firm number, distinct for n < 31**8.
    # ``first``/``serial_offset``: a region written in parts numbers its firms on from the
    # parts before, all with one offset, so codes stay distinct across parts.
    offset = int(rng.integers(0, 31**8))
    if serial_offset is not None:
        offset = serial_offset
    serial = ((np.arange(n, dtype=np.int64) + first) * 528_282_514_393 + offset) % (31**8)
    firms = {
        "stage": stage,
        "chain": chain,
        "region": region,
        "age_years": age_years,
        "z_i": z_i,
        "z_c": z_c,
        "serial": serial,
    }
    # Number the firms in USCC order (region, then serial: the code's own sort order), so every
    # per-firm table comes out in primary-key order without sorting wide frames.
    order = np.lexsort((serial, region))
    return {k: v[order] for k, v in firms.items()}


def _founded_days(f: dict[str, np.ndarray], as_of: dt.date) -> np.ndarray:
    return _epoch_days(as_of) - np.round(f["age_years"] * 365.25).astype(np.int64)


def _year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _indicators(
    rng: np.random.Generator, f: dict[str, np.ndarray], as_of: dt.date, years: int
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Annual indicators for the last ``years`` fiscal years of every firm that existed then.

    Returns the frame and the true latest-year figures (used for the default model and the
    enterprise row), which exist even where the reported value is missing.
    """
    n = f["stage"].shape[0]
    stage, z_i, z_c = f["stage"], f["z_i"], f["z_c"]
    founded_year = _year_of(f["founded"])
    norm = rng.standard_normal
    staff_last = np.maximum(1.0, np.round(STAGE_STAFF[stage] * np.exp(0.25 * z_i + 0.7 * norm(n))))
    growth = np.clip(STAGE_GROWTH[stage] + 0.12 * z_i + 0.15 * norm(n), -0.5, 3.0)
    pre_revenue = rng.random(n) < STAGE_PRE_REVENUE[stage]
    per_head = np.exp(np.log(5e5) + 0.3 * z_c + 0.2 * z_i + 0.5 * norm(n))
    rev_last = np.where(pre_revenue, 0.0, staff_last * per_head)
    turnover = np.exp(np.log(1.1) + 0.4 * norm(n))
    lev_base = -0.5 - 0.6 * z_c + 0.5 * norm(n)
    rd_intensity = _sig(-2.8 + 0.8 * z_i + 0.4 * norm(n))
    rd_share = _sig(-1.3 + 0.6 * z_i)
    ht_share = _sig(-0.3 + 1.0 * z_i + 0.5 * norm(n))
    size = np.log1p(staff_last)
    info = (f["chain"] == CHAIN_IDS.index("information")).astype(np.float64)
    rates = {
        "invention_patents": np.exp(-2.2 + 0.9 * z_i + 0.35 * size),
        "utility_patents": np.exp(-1.2 + 0.6 * z_i + 0.45 * size),
        "design_patents": np.exp(-2.8 + 0.3 * z_i + 0.3 * size),
        "software_copyrights": np.exp(-2.0 + 0.6 * z_i + 0.3 * size + 1.5 * info),
        "pct_applications": np.exp(-4.5 + 1.0 * z_i + 0.3 * size),
        "rd_platforms": np.exp(-3.0 + 0.8 * z_i + 0.35 * size),
    }
    first_year = as_of.year - years
    prior = np.clip(first_year - founded_year, 0, None).astype(np.float64)
    stocks = {k: rng.poisson(lam * prior * 0.8).astype(np.float64) for k, lam in rates.items()}
    tech_active = _sig(-1.8 + 0.8 * z_i)
    columns: dict[str, list[np.ndarray]] = {}
    exists: list[np.ndarray] = []
    last: dict[str, np.ndarray] = {}
    for t in range(years):
        year = first_year + t
        back = years - 1 - t
        eps = norm((8, n))
        staff = np.maximum(
            1.0, np.round(staff_last / (1 + 0.5 * growth) ** back * np.exp(0.05 * eps[0]))
        )
        rev = np.round(rev_last / (1 + growth) ** back * np.exp(0.1 * eps[1]))
        margin = np.minimum(STAGE_MARGIN[stage] + 0.05 * z_c + 0.06 * eps[2], 0.5)
        opex = np.round(staff * 1.5e5 * np.exp(0.2 * eps[3]))
        profit = np.where(rev > 0, np.round(margin * rev), -opex)
        cost = np.where(rev > 0, rev - profit, opex)
        assets = np.round(rev * turnover + staff * 8e4)
        lev = _sig(lev_base + 0.1 * eps[4])
        liabilities = np.round(assets * lev)
        rd = np.round(np.where(rev > 0, rd_intensity * rev, staff * 8e4 * _sig(z_i)))
        for k, lam in rates.items():
            stocks[k] = stocks[k] + rng.poisson(lam)
        tech = np.where(
            rng.random(n) < tech_active,
            np.round(np.exp(np.log(3e5) + 0.5 * z_i + 0.8 * eps[5]), -2),
            0.0,
        )
        grade_score = z_c + 0.5 * eps[6]
        new_firm = (f["founded"] > _epoch_days(dt.date(year, 1, 1)) - 1).astype(bool)
        # Codes into TAX_GRADES: A, B, C, D by score; M for a firm founded in the year.
        grade = np.select(
            [new_firm, grade_score > 0.6, grade_score > -1.0, grade_score > -2.0], [4, 0, 1, 2], 3
        ).astype(np.float64)
        cols = {
            "revenue": rev,
            "profit": profit,
            "total_assets": assets,
            "total_liabilities": liabilities,
            "total_cost": cost,
            "rd_expense": rd,
            "rd_staff": rng.binomial(staff.astype(np.int64), rd_share).astype(np.float64),
            "staff": staff,
            "high_tech_revenue": np.round(rev * ht_share),
            "invention_patents": stocks["invention_patents"],
            "utility_patents": stocks["utility_patents"],
            "design_patents": stocks["design_patents"],
            "software_copyrights": stocks["software_copyrights"],
            "pct_applications": stocks["pct_applications"],
            "tech_contract_turnover": tech,
            "graduates_hired": rng.poisson(staff * 0.03 * np.exp(0.3 * z_i)).astype(np.float64),
            "awards": rng.poisson(np.exp(-3.5 + 0.9 * z_i + 0.2 * size)).astype(np.float64),
            "science_programmes": rng.poisson(np.exp(-2.5 + 0.9 * z_i + 0.2 * size)).astype(
                np.float64
            ),
            "rd_platforms": stocks["rd_platforms"],
            "standards_led": rng.poisson(np.exp(-3.8 + 0.8 * z_i + 0.3 * size)).astype(np.float64),
            "tax_paid": np.round(
                rev * 0.025 * np.exp(0.2 * eps[7]) + np.maximum(profit, 0.0) * 0.15
            ),
        }
        for name, values in cols.items():
            columns.setdefault(name, []).append(_missing(rng, values, MISSING))
        columns.setdefault("tax_credit_grade", []).append(_missing(rng, grade, MISSING))
        columns.setdefault("year", []).append(np.full(n, year, dtype=np.float64))
        exists.append(founded_year <= year)
        if t == years - 1:
            last = {"staff": staff, "revenue": rev, "profit": profit, "leverage": lev}
    # Interleave the years firm by firm, so rows come out in (uscc, year) key order.
    keep = np.stack(exists, axis=1).ravel()
    firm = np.repeat(np.arange(n, dtype=np.int64), years)[keep]
    series = [pl.Series("firm", firm)]
    for name, per_year in columns.items():
        values = np.stack(per_year, axis=1).ravel()[keep]
        if name == "tax_credit_grade":
            codes = pl.Series(values, nan_to_null=True).cast(pl.UInt32)
            series.append(TAX_GRADES.gather(codes).alias(name))
        else:
            dtype = pl.Decimal(18, 2) if name in _MONEY else pl.Int64()
            series.append(_null_series(name, values, dtype))
    return pl.DataFrame(series), last


TAX_GRADES = pl.Series(["A", "B", "C", "D", "M"], dtype=pl.String)
_MONEY = frozenset(c.name for c in AnnualIndicator.__table__.columns if c.info.get("unit") == "CNY")


def _enterprise_frame(
    rng: np.random.Generator,
    f: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    as_of: dt.date,
    pull_id: int,
) -> pl.DataFrame:
    """Registration data: USCC, name, region, GB/T 4754 class, founding date, status flags."""
    n = f["stage"].shape[0]
    industries = [CHAIN_INDUSTRIES[c] for c in CHAIN_IDS]
    lengths = np.array([len(x) for x in industries])
    pick = (rng.random(n) * lengths[f["chain"]]).astype(np.int64)
    flat = pl.Series([code for codes in industries for code in codes], dtype=pl.String)
    starts = np.cumsum(lengths) - lengths
    chars = pl.Series(_NAME_CHARS)
    k = len(_NAME_CHARS)
    suffix = pl.Series(["科技有限公司", "股份有限公司", "有限公司"])
    words = pl.Series([CHAIN_WORD[c] for c in CHAIN_IDS])
    z_c = f["z_c"]
    staff = _missing(rng, last["staff"], 0.02)
    frame = pl.DataFrame(
        {
            "uscc": pl.Series(uscc_codes(f["region"], f["serial"])).cast(pl.String),
            "w1": chars.gather(rng.integers(0, k, n)),
            "w2": chars.gather(rng.integers(0, k, n)),
            "w3": words.gather(f["chain"]),
            "w4": suffix.gather(rng.choice(3, n, p=[0.6, 0.1, 0.3])),
            "region_code": pl.Series(REGION_CODES).gather(f["region"]),
            "industry_code": flat.gather(starts[f["chain"]] + pick),
            "industry_chain": pl.Series(CHAIN_IDS).gather(f["chain"]),
            "founded_on": _dates(f["founded"]),
            "stage": pl.Series(STAGE_IDS).gather(f["stage"]),
            "staff": _null_series("staff", staff, pl.Int64()),
            "dishonest": rng.random(n) < _sig(-5.0 - 1.0 * z_c),
            "deregistered": rng.random(n) < np.array([0.02, 0.01, 0.003, 0.002])[f["stage"]],
            "abnormal_operation": rng.random(n) < _sig(-4.0 - 0.8 * z_c),
        }
    )
    return frame.select(
        "uscc",
        pl.concat_str(pl.lit("连云港"), "w1", "w2", "w3", "w4").alias("name"),
        "region_code",
        "industry_code",
        "industry_chain",
        "founded_on",
        "stage",
        "staff",
        "dishonest",
        "deregistered",
        "abnormal_operation",
        pl.lit(pull_id, pl.Int64).alias("pull_id"),
    )


#: Qualification kinds: logit intercept, weight of z_i, weight of log size, validity in years,
#: source department, certificate prefix. Eligibility is applied in :func:`_qualifications`.
QUALIFICATION_MODEL = {
    "tsme": (-0.2, 1.3, 0.0, 1, "most", "TSME"),
    "hnte": (-2.6, 1.5, 0.25, 3, "most", "GR"),
    "innovative_sme": (-1.0, 1.2, 0.0, 3, "miit", "CXZX"),
    "srdi_sme": (-3.2, 1.3, 0.3, 3, "miit", "ZJTX"),
    "little_giant": (-3.5, 1.2, 0.4, 3, "miit", "XJR"),
    "innovation_demo_firm": (-6.5, 1.2, 0.4, 3, "miit", "JSSF"),
    "single_champion": (-7.5, 1.2, 0.5, 3, "miit", "DXGJ"),
}


def _in_code_order(df: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by firm (= by USCC, stable), then numbered: ids and code indexes ascend."""
    return df.sort("firm", maintain_order=True).with_row_index("id", offset=1)


def _qualifications(
    rng: np.random.Generator,
    f: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    as_of: dt.date,
    pull_of: dict[str, int],
) -> pl.DataFrame:
    """Certified titles with validity windows; some have lapsed without renewal."""
    n = f["stage"].shape[0]
    z_i, stage = f["z_i"], f["stage"]
    age = f["age_years"]
    size = np.log1p(last["staff"])
    sme = (last["staff"] <= 500) & (last["revenue"] <= 2e8)
    held: dict[str, np.ndarray] = {}
    eligible = {
        "tsme": sme,
        "hnte": age >= 1,
        "innovative_sme": sme,
        "srdi_sme": sme & (age >= 2),
        "little_giant": np.zeros(n, dtype=bool),  # set from srdi_sme below
        "innovation_demo_firm": (stage >= 2) & (last["staff"] >= 100),
        "single_champion": (stage == 3) & (last["staff"] >= 200),
    }
    today = _epoch_days(as_of)
    frames = []
    for kind, (a, b_i, b_s, years, dept, prefix) in QUALIFICATION_MODEL.items():
        if kind == "little_giant":
            eligible[kind] = held["srdi_sme"]
        p = _sig(a + b_i * z_i + b_s * size)
        has = eligible[kind] & (rng.random(n) < p)
        held[kind] = has
        span = round(365.25 * years)
        issue = today - rng.integers(0, span + 365, n)
        issue = np.minimum(np.maximum(issue, f["founded"] + 365), today)
        valid_to = issue + span - 1
        idx = np.flatnonzero(has)
        issue_year = _year_of(issue[idx])
        frames.append(
            pl.DataFrame(
                {
                    "firm": idx.astype(np.int64),
                    "year": pl.Series(issue_year, dtype=pl.Int64).cast(pl.String),
                    "valid_from": _dates(issue[idx]),
                    "valid_to": _dates(valid_to[idx]),
                }
            ).with_columns(
                pl.lit(kind, pl.String).alias("kind"),
                pl.lit(dept, pl.String).alias("source"),
                pl.lit(pull_of[dept], pl.Int64).alias("pull_id"),
                pl.lit(prefix, pl.String).alias("prefix"),
            )
        )
    out = _in_code_order(pl.concat(frames))
    return out.with_columns(
        pl.col("id").cast(pl.Int64),
        pl.concat_str(
            "prefix",
            "year",
            pl.lit("3207"),
            pl.col("id").cast(pl.String).str.zfill(8),
        ).alias("certificate_no"),
    ).drop("prefix", "year")


#: Financing kinds: investors drawn uniformly from these names.
INVESTORS = {
    "angel": ("连云港市天使投资基金", "港城天使投资合伙企业(有限合伙)", "海州种子投资有限公司"),
    "vc": ("连云港市科创投资基金", "苏北创业投资合伙企业(有限合伙)", "淮海科技创投有限公司"),
    "pe": ("江苏沿海产业投资基金", "港城产业股权投资基金", "淮海成长股权投资合伙企业"),
    "ipo": ("公开发行投资者",),
    "bond": ("银行间市场投资者",),
}
FINANCING_SIZE = {"angel": 2e6, "vc": 1.5e7, "pe": 8e7, "ipo": 6e8, "bond": 3e8}
LISTED_BOARDS = ("main", "chinext", "star", "bse")
QUOTED_BOARDS = ("neeq", "regional")


def _financing(
    rng: np.random.Generator,
    f: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    as_of: dt.date,
    pull_id: int,
) -> tuple[pl.DataFrame, pl.Series]:
    """Equity and bond financing along the relay angel → VC → PE → IPO/bond; and listing boards."""
    n = f["stage"].shape[0]
    z_i, z_c, stage = f["z_i"], f["z_c"], f["stage"]
    size = np.log1p(last["staff"])
    listed = (stage >= 2) & (rng.random(n) < _sig(-7.0 + 1.2 * z_i + 0.5 * size))
    quoted = ~listed & (stage >= 1) & (rng.random(n) < _sig(-5.0 + 0.8 * z_i + 0.3 * size))
    code = np.zeros(n, dtype=np.int64)  # index into BOARDS: none, listed boards, quoted boards
    code[listed] = 1 + rng.choice(4, int(listed.sum()), p=[0.2, 0.3, 0.3, 0.2])
    code[quoted] = 5 + rng.choice(2, int(quoted.sum()))
    board = pl.Series(("none", *LISTED_BOARDS, *QUOTED_BOARDS), dtype=pl.String).gather(code)
    has = {
        "angel": rng.random(n) < _sig(-2.8 + 0.8 * z_i),
        "vc": (stage >= 1) & (rng.random(n) < _sig(-3.0 + 1.0 * z_i)),
        "pe": (stage >= 2) & (rng.random(n) < _sig(-3.5 + 1.0 * z_i + 0.3 * z_c)),
        "ipo": listed,
        "bond": (stage == 3) & (rng.random(n) < _sig(-6.0 + 1.0 * z_c + 0.5 * size)),
    }
    # Earliest plausible date of each kind, in years after founding.
    after = {"angel": 0.2, "vc": 1.0, "pe": 3.0, "ipo": 5.0, "bond": 5.0}
    today = _epoch_days(as_of)
    frames = []
    for kind, mask in has.items():
        lo = np.minimum(f["founded"] + int(after[kind] * 365), today)
        when = lo + (rng.random(n) * (today - lo)).astype(np.int64)
        amount = np.round(np.exp(np.log(FINANCING_SIZE[kind]) + 0.6 * rng.standard_normal(n)), -4)
        names = pl.Series(INVESTORS[kind], dtype=pl.String)
        pick = rng.integers(0, names.len(), n)
        idx = np.flatnonzero(mask)
        frames.append(
            pl.DataFrame(
                {
                    "firm": idx.astype(np.int64),
                    "occurred_on": _dates(when[idx]),
                    "amount": pl.Series(np.maximum(amount[idx], 1e4)).cast(pl.Decimal(18, 2)),
                    "investor": names.gather(pick[idx]),
                }
            ).with_columns(
                pl.lit(kind, pl.String).alias("kind"), pl.lit(pull_id, pl.Int64).alias("pull_id")
            )
        )
    out = _in_code_order(pl.concat(frames))
    return out.with_columns(pl.col("id").cast(pl.Int64)), board


def _institutions(pull_id: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    inst = pl.DataFrame(
        [
            dict(
                zip(
                    ("id", "name", "kind", "region_code", "partner_bank", "tech_branch"),
                    r,
                    strict=True,
                )
            )
            for r in INSTITUTIONS
        ]
    ).with_columns(pl.lit(pull_id, pl.Int64).alias("pull_id"))
    rows = []
    for iid, iname, kind, *_ in INSTITUTIONS:
        if kind == "bank":
            for suffix, name, g, lo, hi, r_lo, r_hi, term in BANK_PRODUCTS:
                rows.append(
                    (f"{iid}-{suffix}", iid, f"{iname}{name}", "loan", g, lo, hi, r_lo, r_hi, term)
                )
        else:
            suffix, name, pkind, g = OTHER_PRODUCTS[kind]
            rows.append(
                (f"{iid}-{suffix}", iid, name, pkind, g, 100_000, 20_000_000, None, None, 36)
            )
    names = (
        "id",
        "institution_id",
        "name",
        "kind",
        "guarantee_type",
        "min_amount",
        "max_amount",
        "rate_floor",
        "rate_ceiling",
        "max_term_months",
    )
    prod = pl.DataFrame(
        [dict(zip(names, r, strict=True)) for r in rows],
        schema_overrides={
            "rate_floor": pl.String,
            "rate_ceiling": pl.String,
            "guarantee_type": pl.String,
        },
    )
    prod = prod.with_columns(
        pl.col("min_amount", "max_amount").cast(pl.Decimal(18, 2)),
        pl.col("rate_floor", "rate_ceiling").cast(pl.Decimal(9, 6)),
        pl.lit(pull_id, pl.Int64).alias("pull_id"),
    )
    return inst, prod


def true_pd(
    f: dict[str, np.ndarray], last: dict[str, np.ndarray], dishonest: np.ndarray
) -> np.ndarray:
    """The true 12-month probability of default: credit quality plus observed financials.

    logit PD = −4.8 − 1.1·z_c − 0.25·z_i + 1.5·(leverage − 0.5) + 0.6·[loss] + stage term
    + 0.8·[失信]; the same equation is written out in docs/synth.md.
    """
    logit = (
        -4.8
        - 1.1 * f["z_c"]
        - 0.25 * f["z_i"]
        + 1.5 * (last["leverage"] - 0.5)
        + 0.6 * (last["profit"] < 0)
        + STAGE_PD[f["stage"]]
        + 0.8 * dishonest
    )
    return _sig(logit)


def _month_start(month_index: np.ndarray, day: np.ndarray | int = 1) -> pl.Series:
    """Dates from month indices (year*12 + month-1) and a day of month (≤ 28)."""
    y = month_index // 12
    m = month_index % 12 + 1
    frame = pl.DataFrame(
        {
            "y": y.astype(np.int32),
            "m": m.astype(np.int8),
            "d": np.broadcast_to(day, y.shape).astype(np.int8),
        }
    )
    return frame.select(pl.date("y", "m", "d")).to_series()


def _price(
    gtype: np.ndarray,
    firm: np.ndarray,
    z_c: np.ndarray,
    last: dict[str, np.ndarray],
    eps_amount: np.ndarray,
    u_line: np.ndarray,
    eps_signal: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Amount, credit line and rate (ppm) of loans from their draws: one pricing rule for the
    window's loans and the history's, whichever stream the draws came from."""
    prod = BANK_PRODUCTS
    p_min = np.array([p[3] for p in prod], dtype=np.float64)[gtype]
    p_max = np.array([p[4] for p in prod], dtype=np.float64)[gtype]
    r_lo = np.array([float(p[5]) for p in prod])[gtype]
    r_hi = np.array([float(p[6]) for p in prod])[gtype]
    base = np.maximum(last["revenue"][firm] * 0.12, last["staff"][firm] * 4e4)
    amount = np.round(np.clip(np.exp(np.log(base) + 0.5 * eps_amount), p_min, p_max), -4)
    line = np.ceil(amount * (1.0 + 0.6 * u_line) / 1e4) * 1e4
    signal = 0.6 * z_c[firm] + 0.8 * eps_signal
    rate = np.clip(LPR + 0.012 + GUARANTEE_RATE_SPREAD[gtype] - 0.004 * signal, r_lo, r_hi)
    return amount, line, (np.round(rate * 1e4) * 100).astype(np.int64)


def _term_cap() -> np.ndarray:
    """Longest term in months of each guarantee type's product."""
    return np.array([p[7] for p in BANK_PRODUCTS])


def _status_rows(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(loan index, month) of every month from ``lo`` to ``hi`` (inclusive) of each loan."""
    rows = np.maximum(hi - lo + 1, 0)
    loan_idx = np.repeat(np.arange(lo.shape[0]), rows)
    offsets = np.arange(loan_idx.shape[0]) - np.repeat(np.cumsum(rows) - rows, rows)
    return loan_idx, lo[loan_idx] + offsets


def _balance(amount: np.ndarray, term: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
    """Month-end balance: bullet up to a year, equal principal beyond."""
    return np.where(term > 12, np.round(amount * (1 - elapsed / term)), amount)


def _matured(
    rng: np.random.Generator,
    firms: np.ndarray,
    founded_month: np.ndarray,
    first_month: int,
) -> dict[str, np.ndarray]:
    """Loans of the borrowing firms that matured in the history before the window.

    Drawn from the history's own stream. The window's loans are, per borrower, 1 + Poisson(0.3)
    with a term-T loan's disbursement uniform over the T + 11 months that make it overlap the
    window; continuing that flow backwards, a borrower disburses term-T loans at the same rate per
    month, so the loans whose last status month falls in the twelve history months number
    Poisson(1.3 × Σ share(g, T) × 12 ÷ (T + 11)) per borrower, each (guarantee type, term) drawn in
    proportion to its term. A loan whose disbursement month would precede the firm's founding is
    not made.
    """
    cap = _term_cap()
    share = np.zeros((len(GUARANTEE_IDS), TERMS.shape[0]))
    for g in range(len(GUARANTEE_IDS)):
        for t, p in zip(TERMS, TERM_SHARE, strict=True):
            share[g, int(np.searchsorted(TERMS, min(t, cap[g])))] += GUARANTEE_SHARE[g] * p
    lam = 1.3 * share * HISTORY_MONTHS / (TERMS + WINDOW_MONTHS - 1)
    count = rng.poisson(lam.sum(), firms.shape[0])
    firm = np.repeat(firms, count)
    k = firm.shape[0]
    cell = rng.choice(lam.size, k, p=(lam / lam.sum()).ravel())
    gtype, term = cell // TERMS.shape[0], TERMS[cell % TERMS.shape[0]]
    disb = (
        first_month - HISTORY_MONTHS - term + 1 + (rng.random(k) * HISTORY_MONTHS).astype(np.int64)
    )
    keep = disb > founded_month[firm]
    return {
        "firm": firm[keep],
        "bank": rng.choice(len(BANK_SHARE), k, p=BANK_SHARE)[keep],
        "gtype": gtype[keep],
        "term": term[keep],
        "disb": disb[keep],
        "day": rng.integers(1, 29, k)[keep],
        "eps_amount": rng.standard_normal(k)[keep],
        "u_line": rng.random(k)[keep],
        "eps_signal": rng.standard_normal(k)[keep],
        "u_first": rng.random(k)[keep],
    }


def _loans(
    rng: np.random.Generator,
    history_rng: np.random.Generator,
    f: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    uscc: pl.Series,
    deregistered: np.ndarray,
    pd: np.ndarray,
    as_of: dt.date,
    pull_id: int,
) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """Loans with status in the history or the window, their month-end status, and each firm's
    default draw.

    The window's loans and outcomes come from ``rng`` in the order they always have; the history
    (the window's loans before the window, and the loans that matured before it) adds rows and
    loans from ``history_rng`` only, so it leaves every figure of the window as it was. The
    history is performing: the default draw is the window's, so a loan's 30 and 60 days past due
    before a default in the window's first two months are not shown before the window.
    """
    n = f["stage"].shape[0]
    z_i, z_c, stage = f["z_i"], f["z_c"], f["stage"]
    size = np.log1p(last["staff"])
    borrow_stage = np.array([-1.0, -0.4, 0.2, 0.3])
    borrows = ~deregistered & (
        rng.random(n) < _sig(-1.6 + 0.35 * (size - 3) + 0.3 * z_c + 0.2 * z_i + borrow_stage[stage])
    )
    firms = np.flatnonzero(borrows)
    count = 1 + rng.poisson(0.3, firms.shape[0])
    firm = np.repeat(firms, count)
    k = firm.shape[0]
    banks = [r for r in INSTITUTIONS if r[2] == "bank"]
    bank = rng.choice(len(banks), k, p=BANK_SHARE)
    gtype = rng.choice(4, k, p=GUARANTEE_SHARE)
    eps_amount = rng.standard_normal(k)
    u_line = rng.random(k)
    term = np.minimum(rng.choice(TERMS, k, p=TERM_SHARE), _term_cap()[gtype])
    now = as_of.year * 12 + as_of.month - 1
    first_month = now - WINDOW_MONTHS + 1
    founded_month = _month_index(f["founded"])
    disb = (
        now
        - term
        - WINDOW_MONTHS
        + 2
        + (rng.random(k) * (term + WINDOW_MONTHS - 1)).astype(np.int64)
    )
    disb = np.minimum(np.maximum(disb, founded_month[firm] + 1), now)
    day = rng.integers(1, 29, k)
    maturity = disb + term
    amount, line, rate_ppm = _price(
        gtype, firm, z_c, last, eps_amount, u_line, rng.standard_normal(k)
    )
    order = np.lexsort((day, disb, firm))
    first = np.ones(k, dtype=bool)
    first[order[1:]] = firm[order[1:]] != firm[order[:-1]]
    first_time = first & (rng.random(k) < 0.35)
    # Contract numbers are bank-year-sequence: number the loans in that order (stable), so that
    # loans and their statuses come out in primary-key order with no sort of the big frame.
    key = np.lexsort((disb // 12, bank))
    firm, bank, gtype, amount, line, term, disb, day, maturity, rate_ppm, first_time = (
        a[key]
        for a in (firm, bank, gtype, amount, line, term, disb, day, maturity, rate_ppm, first_time)
    )
    # Defaults: one 12-month draw per firm from its true PD, at a month inside the window.
    defaulted = rng.random(n) < pd
    default_month = first_month + rng.integers(0, WINDOW_MONTHS, n)
    # A defaulting firm defaults on every loan it has in the window: a loan disbursed after (or
    # matured before) the firm's default month goes bad in its own first (or last) month.
    loan_defaults = defaulted[firm]
    dm = np.clip(default_month[firm], np.maximum(disb, first_month), np.minimum(maturity - 1, now))
    # Month-end status rows: from disbursement (or the window start) until the month before
    # maturity; a defaulted loan stays outstanding to the end of the window.
    loan_idx, month = _status_rows(
        np.maximum(disb, first_month), np.where(loan_defaults, now, np.minimum(maturity - 1, now))
    )
    elapsed = month - disb[loan_idx]
    frozen = np.where(
        loan_defaults[loan_idx], np.minimum(elapsed, dm[loan_idx] - disb[loan_idx]), elapsed
    )
    balance = _balance(amount[loan_idx], term[loan_idx], frozen)
    since = month - dm[loan_idx]
    dpd = np.where(loan_defaults[loan_idx] & (since >= -2), 90 + 30 * since, 0)
    # A few performing loans slip a little (1–29 days) in some month, more so for weak firms.
    slip = (dpd == 0) & (rng.random(loan_idx.shape[0]) < 0.02 * _sig(-z_c[firm[loan_idx]]))
    dpd = np.where(slip, rng.integers(1, 30, loan_idx.shape[0]), dpd)

    # The history: the loans that matured before the window (numbered after the window's, in the
    # same bank-year order), then every loan's performing months before the window.
    old = _matured(history_rng, firms, founded_month, first_month)
    o_key = np.lexsort((old["disb"] // 12, old["bank"]))
    old = {c: a[o_key] for c, a in old.items()}
    o_amount, o_line, o_rate = _price(
        old["gtype"], old["firm"], z_c, last, old["eps_amount"], old["u_line"], old["eps_signal"]
    )
    # The bank's first-time flag of a matured loan: the firm's earliest loan of all, w.p. 0.35
    # (the window's loans keep the flag their bank reported, right or wrong against the history).
    every_firm = np.concatenate([firm, old["firm"]])
    every_start = np.concatenate([disb * 32 + day, old["disb"] * 32 + old["day"]])
    earliest = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(earliest, every_firm, every_start)
    o_first = (old["disb"] * 32 + old["day"] == earliest[old["firm"]]) & (old["u_first"] < 0.35)
    firm, bank, gtype, amount, line, term, disb, day, rate_ppm, first_time = (
        np.concatenate([a, b])
        for a, b in (
            (firm, old["firm"]),
            (bank, old["bank"]),
            (gtype, old["gtype"]),
            (amount, o_amount),
            (line, o_line),
            (term, old["term"]),
            (disb, old["disb"]),
            (day, old["day"]),
            (rate_ppm, o_rate),
            (first_time, o_first),
        )
    )
    maturity = disb + term
    h_idx, h_month = _status_rows(
        np.maximum(disb, first_month - HISTORY_MONTHS), np.minimum(maturity - 1, first_month - 1)
    )
    h_balance = _balance(amount[h_idx], term[h_idx], h_month - disb[h_idx])
    # Primary-key order (bank, year, sequence) for the loans, then month within each loan.
    seq = np.arange(1, firm.shape[0] + 1, dtype=np.int64)
    rank = np.empty(seq.shape[0], dtype=np.int64)
    rank[np.lexsort((seq, disb // 12, bank))] = np.arange(seq.shape[0])
    loan_idx = np.concatenate([loan_idx, h_idx])
    month = np.concatenate([month, h_month])
    balance = np.concatenate([balance, h_balance])
    dpd = np.concatenate([dpd, np.zeros(h_idx.shape[0], dtype=dpd.dtype)])
    rows = np.lexsort((month, rank[loan_idx]))
    loan_idx, month, balance, dpd = loan_idx[rows], month[rows], balance[rows], dpd[rows]
    pk = np.argsort(rank)
    firm, bank, gtype, amount, line, term, disb, day, rate_ppm, first_time, seq = (
        a[pk] for a in (firm, bank, gtype, amount, line, term, disb, day, rate_ppm, first_time, seq)
    )
    maturity = disb + term
    loan_idx = rank[loan_idx]
    classification = pl.Series(list(CLASSIFICATIONS), dtype=pl.String).gather(
        np.select([dpd == 0, dpd < 90, dpd <= 180, dpd <= 360], [0, 1, 2, 3], 4)
    )
    bank_ids = pl.Series([b[0] for b in banks], dtype=pl.String).gather(bank)
    g_ids = pl.Series(GUARANTEE_IDS, dtype=pl.String).gather(gtype)
    p_suffix = pl.Series([p[0] for p in BANK_PRODUCTS], dtype=pl.String).gather(gtype)
    loans = pl.DataFrame(
        {
            "bank": bank_ids,
            "seq": seq,
            "uscc": uscc.gather(firm),
            "amount": amount,
            "credit_line": line,
            "rate_ppm": rate_ppm,
            "disbursed_on": _month_start(disb, day),
            "maturity_on": _month_start(maturity, day),
            "guarantee_type": g_ids,
            "first_time_borrower": first_time,
            "suffix": p_suffix,
        }
    ).select(
        pl.concat_str(
            "bank",
            pl.lit("-"),
            pl.col("disbursed_on").dt.year().cast(pl.String),
            pl.lit("-"),
            pl.col("seq").cast(pl.String).str.zfill(8),
        ).alias("contract_no"),
        "uscc",
        pl.col("bank").alias("institution_id"),
        pl.concat_str("bank", pl.lit("-"), "suffix").alias("product_id"),
        pl.col("amount").cast(pl.Decimal(18, 2)),
        pl.col("credit_line").cast(pl.Decimal(18, 2)),
        pl.concat_str(pl.lit("0."), pl.col("rate_ppm").cast(pl.String).str.zfill(6))
        .cast(pl.Decimal(9, 6))
        .alias("rate"),
        "disbursed_on",
        "maturity_on",
        "guarantee_type",
        "first_time_borrower",
        pl.lit(pull_id, pl.Int64).alias("pull_id"),
        # A guaranteed loan names its guarantor and guarantee contract (alternating between the
        # region's guarantors by sequence, so no random draw shifts the rest of the region).
        pl.when(pl.col("guarantee_type") == "guarantee")
        .then(
            pl.when(pl.col("seq") % 2 == 0)
            .then(pl.lit(GUARANTORS[0]))
            .otherwise(pl.lit(GUARANTORS[1]))
        )
        .alias("guarantor_id"),
        pl.when(pl.col("guarantee_type") == "guarantee")
        .then(
            pl.concat_str(
                pl.lit("DB-"), "bank", pl.lit("-"), pl.col("seq").cast(pl.String).str.zfill(8)
            )
        )
        .alias("guarantee_contract"),
    )
    statuses = pl.DataFrame(
        {
            "contract_no": loans["contract_no"].gather(loan_idx),
            "month": _month_start(month),
            "balance": pl.Series(balance).cast(pl.Decimal(18, 2)),
            "days_past_due": dpd.astype(np.int64),
            "classification": classification,
            "pull_id": pl.Series(np.full(loan_idx.shape[0], pull_id, dtype=np.int64)),
        }
    )
    return loans, statuses, defaulted


def _month_index(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12


def generate(
    firms: int,
    seed: int,
    as_of: dt.date = AS_OF,
    years: int = 3,
    first: int = 0,
    serial_offset: int | None = None,
) -> Region:
    """Generate the whole region as frames keyed by table name, in foreign-key order.

    Pure: no database, no clock. The same ``(firms, seed, as_of, years)`` gives identical frames.
    """
    if firms < 1:
        raise ValueError("firms must be at least 1")
    if years < 1:
        raise ValueError("years must be at least 1")
    rng = np.random.default_rng(seed)
    pull_of = {d: i + 1 for i, d in enumerate(PULL_DEPARTMENTS)}
    f = _firms(rng, firms, first, serial_offset)
    f["founded"] = _founded_days(f, as_of)
    indicators, last = _indicators(rng, f, as_of, years)
    ent = _enterprise_frame(rng, f, last, as_of, pull_of["amr"])
    uscc = ent["uscc"]
    quals = _qualifications(rng, f, last, as_of, pull_of)
    financing, board = _financing(rng, f, last, as_of, pull_of["finance"])
    ent = ent.with_columns(board.alias("listing_board"))
    institutions, products = _institutions(pull_of["institution"])
    dishonest = ent["dishonest"].to_numpy()
    deregistered = ent["deregistered"].to_numpy()
    pd = true_pd(f, last, dishonest)
    loans, statuses, defaulted = _loans(
        rng,
        np.random.default_rng([seed, HISTORY_STREAM]),
        f,
        last,
        uscc,
        deregistered,
        pd,
        as_of,
        pull_of["institution"],
    )
    truth = pl.DataFrame(
        {
            "uscc": uscc,
            "innovation_capability": np.round(f["z_i"], 6),
            "credit_quality": np.round(f["z_c"], 6),
            "pd_annual": np.round(pd, 8),
            "defaulted": defaulted.astype(np.int64),
        }
    )

    def with_uscc(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(uscc.gather(df["firm"]).alias("uscc")).drop("firm")

    indicators = with_uscc(indicators).with_columns(
        pl.lit(pull_of[AnnualIndicator.__table__.columns[c].info["dept"]], pl.Int64).alias(
            f"{c}_pull"
        )
        for c in INDICATOR_FIELDS
    )
    counts = {
        "amr": ent.height,
        "most": quals.filter(pl.col("source") == "most").height,
        "miit": quals.filter(pl.col("source") == "miit").height,
        "finance": financing.height,
        "institution": institutions.height + products.height + loans.height + statuses.height,
    }
    pulled = dt.datetime.combine(as_of, dt.time(18, 0))
    pulls = pl.DataFrame(
        {
            "id": list(pull_of.values()),
            "kind": [f"synth:{d}" for d in pull_of],
            "department": list(pull_of),
            "pulled_at": [pulled] * len(pull_of),
            "file_name": [None] * len(pull_of),
            "file_sha256": [None] * len(pull_of),
            "loaded_at": [pulled] * len(pull_of),
            "rows_inserted": [counts.get(d, indicators.height) for d in pull_of],
            "rows_updated": [0] * len(pull_of),
            "rows_unchanged": [0] * len(pull_of),
        },
        schema_overrides={"file_name": pl.String, "file_sha256": pl.String},
    )
    run = pl.DataFrame(
        {
            "id": [1],
            "seed": [seed],
            "firms": [firms],
            "as_of": [as_of.isoformat()],
            "generator_version": [GENERATOR_VERSION],
        }
    )
    # Rows leave in primary-key order: B-tree inserts then append at the right edge, which is
    # several times cheaper for SQLite than inserting a million random keys.
    from kejin.synth.programme import plant

    return Region(
        plant(
            {
                "data_pulls": pulls,
                "synth_runs": run,
                "enterprises": ent,
                "qualifications": with_uscc(quals),
                "annual_indicators": indicators,
                "financing_events": with_uscc(financing),
                "institutions": institutions,
                "products": products,
                "loans": loans,
                "loan_statuses": statuses,
                "synth_truth": truth,
            },
            seed,
            as_of,
        )
    )
