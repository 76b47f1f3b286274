"""Indicator definitions as data: a YAML file of formulas over named measures, checked on load.

A regulator's figure is only comparable if its definition is fixed and visible, so each indicator
states its formula, unit, population, the document and article it comes from and the date it takes
effect; the kernel evaluates these definitions rather than hard-coding the figures.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError

#: The seven qualification kinds of the list-based population (issue 18); the local 科技小巨人 title
#: is not among them.
LIST_QUALIFICATIONS = (
    "hnte",
    "tsme",
    "srdi_sme",
    "little_giant",
    "innovative_sme",
    "innovation_demo_firm",
    "single_champion",
)

#: Every measure the kernel computes per month and group, with its meaning (zh, en) and kind.
#: Money measures are integer fen; ``new_amount_rate`` is Σ amount(fen) × rate(millionths).
MEASURES: dict[str, tuple[str, str]] = {
    "firms": ("人群企业数", "firms in the population"),
    "balance": ("人群贷款余额", "month-end balance of the population's loans"),
    "all_balance": ("全部贷款余额", "month-end balance of every loan"),
    "balance_year_ago": (
        "十二个月前人群贷款余额",
        "the population's balance twelve months earlier",
    ),
    "all_balance_year_ago": (
        "十二个月前全部贷款余额",
        "balance of every loan twelve months earlier",
    ),
    "borrowers": ("有余额的人群企业数", "population firms with a balance > 0"),
    "first_time": (
        "首次放款在本月的人群企业数",
        "population firms first ever disbursed this month",
    ),
    "credit_balance": ("信用贷款余额", "balance of credit (unsecured) loans"),
    "medium_long_balance": ("中长期贷款余额", "balance of loans with an original term > 12 months"),
    "npl_balance": ("不良贷款余额", "balance classified substandard, doubtful or loss"),
    "new_amount": ("本月新发放金额", "amount disbursed in the month"),
    "new_amount_rate": ("本月新发放金额×利率", "amount disbursed in the month times its rate"),
    "balance_month_ago": ("上月末人群贷款余额", "the population's balance a month earlier"),
    "all_balance_month_ago": ("上月末全部贷款余额", "balance of every loan a month earlier"),
    "new_borrowers": (
        "本月有新发放贷款的人群企业数",
        "population firms with a loan disbursed in the month",
    ),
    "ip_pledge_balance": ("知识产权质押贷款余额", "balance of loans secured by an IP pledge"),
    "all_npl_balance": ("全部不良贷款余额", "balance of every loan classified non-performing"),
    "new_amount_spread": (
        "本月新发放金额×(利率−当月LPR)",
        "amount disbursed in the month times its rate minus the month's LPR",
    ),
}

#: The populations a figure can be computed over (``kernels.measures_by(population=…)``).
POPULATIONS: dict[str, tuple[str, str]] = {
    "list": ("名单口径：统计日持有七类资质之一", "list-based: holding one of the seven kinds on D"),
    "whitelist": ("白名单口径：统计日白名单在册企业", "whitelist-based: whitelist members on D"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Formula(_Strict):
    kind: Literal["measure", "ratio", "growth", "gap_pp"]
    numerator: str
    denominator: str | None = None


class Source(_Strict):
    """The document a figure answers to, by its own title (users read it), and the article."""

    document: str = Field(min_length=4)
    article: str = Field(min_length=1)


class Indicator(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    unit: Literal["firms", "yuan", "fraction", "pp", "rate"]
    population: Literal["list", "all"]
    formula: Formula
    source: Source
    effective_from: date


class PopulationList(_Strict):
    """The qualification kinds of the list-based population from a date on (a list may change:
    each month is counted with the list in effect on its month end)."""

    effective_from: date
    kinds: list[str] = Field(min_length=1)


class IndicatorSet(_Strict):
    """The definitions. An indicator may be listed more than once, each version with its own
    ``effective_from`` (in increasing order): a month is computed with the versions in effect
    on its month end D; a month before an indicator's first date of effect uses its first
    version (the series is not cut off where the definitions begin)."""

    version: int
    indicators: list[Indicator]
    population_lists: list[PopulationList] = Field(
        default_factory=lambda: [
            PopulationList(effective_from=date(2024, 1, 1), kinds=list(LIST_QUALIFICATIONS))
        ]
    )

    def as_of(self, d: date | None = None) -> list[Indicator]:
        """One version per indicator id, in file order: the latest with ``effective_from ≤ d``
        (else the first); ``d`` None: the latest of all."""
        chosen: dict[str, Indicator] = {}
        for i in self.indicators:
            if i.id not in chosen or d is None or i.effective_from <= d:
                chosen[i.id] = i
        return list(chosen.values())

    def by_id(self, d: date | None = None) -> dict[str, Indicator]:
        return {i.id: i for i in self.as_of(d)}

    def kinds_on(self, d: date) -> tuple[str, ...]:
        """The list-based population's kinds in effect on ``d`` (before the first list: the
        first list)."""
        kinds = self.population_lists[0].kinds
        for pl_ in self.population_lists:
            if pl_.effective_from <= d:
                kinds = pl_.kinds
        return tuple(kinds)


def _domain_problems(s: IndicatorSet, file: str) -> list[Problem]:
    """What pydantic cannot check: names refer to known measures or earlier indicators."""
    out: list[Problem] = []
    seen: set[str] = set()
    since: dict[str, date] = {}
    for n, ind in enumerate(s.indicators):
        where = f"indicators[{n}]"
        if ind.id in since and ind.effective_from == since[ind.id]:
            out.append(
                Problem("指标编号重复", "duplicate indicator id", file, None, f"{where}.id", ind.id)
            )
        elif ind.id in since and ind.effective_from < since[ind.id]:
            out.append(
                Problem(
                    "同一指标的新版本须晚于上一版本生效",
                    "a new version of an indicator must take effect after the last one",
                    file, None, f"{where}.effective_from", ind.effective_from.isoformat(),
                )
            )  # fmt: skip
        since[ind.id] = ind.effective_from
        f = ind.formula
        refs = seen if f.kind == "gap_pp" else MEASURES.keys()
        what_zh, what_en = (
            ("此前定义的指标", "an indicator defined above")
            if f.kind == "gap_pp"
            else ("已知度量", "a known measure")
        )
        for part in ("numerator", "denominator"):
            name = getattr(f, part)
            if name is None:
                if f.kind != "measure":
                    out.append(
                        Problem(
                            f"{f.kind} 公式需要分母",
                            f"a {f.kind} formula needs a denominator",
                            file,
                            None,
                            f"{where}.formula.denominator",
                        )
                    )
                continue
            if f.kind == "measure" and part == "denominator":
                out.append(
                    Problem(
                        "measure 公式不取分母",
                        "a measure formula takes no denominator",
                        file,
                        None,
                        f"{where}.formula.denominator",
                        name,
                    )
                )
            elif name not in refs:
                out.append(
                    Problem(
                        f"未知名称，应为{what_zh}：{', '.join(sorted(refs))}",
                        f"unknown name, expected {what_en}: {', '.join(sorted(refs))}",
                        file,
                        None,
                        f"{where}.formula.{part}",
                        name,
                    )
                )
        seen.add(ind.id)
    last: date | None = None
    for n, lst in enumerate(s.population_lists):
        where = f"population_lists[{n}]"
        if last is not None and lst.effective_from <= last:
            out.append(
                Problem(
                    "名单版本须按生效日期递增", "list versions must take effect in increasing order",
                    file, None, f"{where}.effective_from", lst.effective_from.isoformat(),
                )
            )  # fmt: skip
        last = lst.effective_from
        for k, kind in enumerate(lst.kinds):
            if kind not in LIST_QUALIFICATIONS:
                out.append(
                    Problem(
                        f"未知资质类别，应为：{', '.join(LIST_QUALIFICATIONS)}",
                        f"unknown qualification kind, expected one of: {', '.join(LIST_QUALIFICATIONS)}",
                        file, None, f"{where}.kinds[{k}]", kind,
                    )
                )  # fmt: skip
    if not s.population_lists:
        out.append(
            Problem("至少需要一个名单版本", "at least one list version is needed", file, None,
                    "population_lists")
        )  # fmt: skip
    return out


def _problems_from_pydantic(err: PydanticError, file: str) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            zh, en = "未知字段", "unknown field"
        elif e["type"] == "missing":
            zh, en = "缺少字段", "missing field"
        else:
            zh, en = "字段不合规：" + e["msg"], e["msg"]
        value = e.get("input")
        out.append(
            Problem(zh, en, file=file, field=loc, value=None if isinstance(value, dict) else value)
        )
    return out


def parse(text: str, file: str) -> IndicatorSet:
    """An indicator set from YAML text, or a refusal naming every bad field in zh and en."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValidationError(
            "指标定义不是合法的YAML",
            "indicator definitions are not valid YAML",
            [Problem("YAML解析失败", str(e), file=file)],
        ) from None
    if not isinstance(raw, dict):
        raise ValidationError(
            "指标定义应为映射",
            "indicator definitions must be a mapping",
            [Problem("顶层不是映射", "top level is not a mapping", file=file)],
        )
    try:
        s = IndicatorSet.model_validate(raw)
    except PydanticError as e:
        raise ValidationError(
            "指标定义不合规", "invalid indicator definitions", _problems_from_pydantic(e, file)
        ) from None
    probs = _domain_problems(s, file)
    if probs:
        raise ValidationError("指标定义不合规", "invalid indicator definitions", probs)
    return s


def load(path: Path) -> IndicatorSet:
    return parse(path.read_text(encoding="utf-8"), path.name)


@lru_cache(maxsize=1)
def monthly() -> IndicatorSet:
    """The shipped monthly indicator set (``indicators/monthly.yaml``)."""
    return load(Path(__file__).parent / "indicators" / "monthly.yaml")
