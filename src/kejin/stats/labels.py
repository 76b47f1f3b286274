"""What a person reads for a statistics group, breakdown, unit and value: labels, not codes.

Shared by the statistics book, its charts and the pages, so a bank, region or qualification is
called the same everywhere (bank names from the registry, everything else from the vocabularies).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from kejin.ids import REGIONS
from kejin.lending.tables import Institution
from kejin.matching.texts import TIERS
from kejin.stats.kernels import NONE, TOTAL
from kejin.vocab import INDUSTRY_CHAINS, PRODUCT_KINDS, QUALIFICATION_KINDS, STAGES, Term

BREAKDOWN_LABELS: dict[str, tuple[str, str]] = {
    "bank": ("按银行", "by bank"),
    "product-kind": ("按产品类型", "by product kind"),
    "chain": ("按产业链", "by industry chain"),
    "region": ("按区县", "by district"),
    "stage": ("按生命周期阶段", "by stage"),
    "tier": ("按白名单层级", "by whitelist tier"),
    "qualification": ("按资质", "by qualification"),
}
POPULATION_LABELS: dict[str, tuple[str, str]] = {
    "list": ("名单口径（七类资质）", "list-based (seven qualification kinds)"),
    "whitelist": ("白名单口径", "whitelist-based"),
}
UNIT_LABELS: dict[str, tuple[str, str]] = {
    "firms": ("户", "firms"),
    "yuan": ("万元", "CNY 10k"),
    "fraction": ("%", "%"),
    "pp": ("百分点", "pp"),
    "rate": ("%", "%"),
}
_VOCAB: dict[str, dict[str, Term]] = {
    "product-kind": PRODUCT_KINDS,
    "chain": INDUSTRY_CHAINS,
    "stage": STAGES,
    "tier": TIERS,
    "qualification": QUALIFICATION_KINDS,
    "region": {k: Term(k, zh, en) for k, (zh, en) in REGIONS.items()},
}
_NONE: dict[str, tuple[str, str]] = {
    "product-kind": ("未关联产品", "no product"),
    "tier": ("不在白名单", "not on the whitelist"),
    "qualification": ("不在统计口径内", "outside the population"),
}


def institution_names(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {i: n for i, n in conn.execute(select(Institution.id, Institution.name))}


def pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def group_label(by: str | None, group: str, names: dict[str, str], lang: str) -> str:
    """A group as written for people: a bank's name, a vocabulary label, 全部 for the whole."""
    if group == TOTAL:
        return "All" if lang == "en" else "全部"
    if group == NONE:
        return pick(_NONE.get(by or "", ("未填", "not recorded")), lang)
    if by == "bank":
        return names.get(group, group)
    tm = _VOCAB.get(by or "", {}).get(group)
    if tm is None:
        return group
    return tm.en if lang == "en" else tm.zh


def in_unit(unit: str, value: Any) -> float | int | None:
    """A figure in the unit a person reads: money in 万元, ratios as they are (a % format shows
    them), percentage points as they are."""
    if value is None:
        return None
    if unit == "yuan":
        return float(Decimal(str(value)) / 10_000)
    if unit == "firms":
        return int(value)
    return float(value)


def shown(unit: str, value: Any) -> str:
    """A figure as text on a page: 万元 with two decimals, % with two, pp with two, firms whole.

    >>> shown("yuan", "1800000.00"), shown("fraction", 0.555556), shown("pp", -9.2593)
    ('180.00', '55.56%', '-9.26')
    >>> shown("rate", 0.03975), shown("firms", 4), shown("fraction", None)
    ('3.98%', '4', '—')
    """
    v = in_unit(unit, value)
    if v is None:
        return "—"
    if unit == "yuan":
        return f"{v:,.2f}"
    if unit == "firms":
        return f"{v:,}"
    if unit in ("fraction", "rate"):
        return f"{v * 100:.2f}%"
    return f"{v:.2f}"


#: Excel number formats by unit (the workbook keeps the exact value, the format shows it).
EXCEL_FORMATS = {
    "yuan": "#,##0.00",
    "firms": "#,##0",
    "fraction": "0.00%",
    "rate": "0.00%",
    "pp": "0.00",
}
