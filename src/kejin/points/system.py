"""Indicator systems as versioned data: ``points/systems/<id>.yaml`` validated by pydantic at load.

A system is refused at load — with the file, the key and the reason — when it names an unknown
indicator, when a weight vector does not sum to the declared total, when a lifecycle stage has no
weight vector, or when a formula reads a field the registry does not hold. A refused system never
scores anyone: silently defaulting a weight would publish a wrong list.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError
from kejin.points.formula import Compiled, FormulaError, compile_formula
from kejin.registry.tables import INDICATOR_FIELDS
from kejin.vocab import STAGES

SYSTEMS_DIR = Path(__file__).parent / "systems"

#: Numeric annual-indicator fields a formula may read, plus equity financing received in the
#: year (angel + VC + PE, from ``financing_events``: MOST's 获得风险投资金额).
FORMULA_FIELDS: frozenset[str] = frozenset(
    f for f in INDICATOR_FIELDS if f != "tax_credit_grade"
) | {"vc_financing"}

#: Wenzhou revenue bands (CNY): < 1M, 1–5M, 5–20M, 20–100M, ≥ 100M.
REVENUE_BANDS: tuple[float, ...] = (1e6, 5e6, 2e7, 1e8)

Normalisation = Literal["percentile", "minmax", "zscore", "log_minmax", "banded"]
Missing = Literal["zero", "worst", "group_median"]
WEIGHT_TOLERANCE = 1e-9


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """``score`` in [0, 1] for raw values ≥ ``lower`` (inclusive)."""

    lower: float
    score: float = Field(ge=0, le=1)


class Indicator(_Strict):
    id: str
    zh: str
    en: str
    group: str
    formula: str
    direction: Literal["positive", "negative"] = "positive"
    unit: str
    missing: Missing = "zero"
    winsor: tuple[float, float] | None = None
    normalisation: Normalisation = "percentile"
    bands: tuple[Band, ...] | None = None
    bonus_points: float | None = Field(default=None, gt=0)
    choice: Literal["public", "project"] = "project"
    why: str

    @model_validator(mode="after")
    def _bands(self) -> Indicator:
        if self.normalisation == "banded":
            if not self.bands:
                raise ValueError("banded normalisation needs bands / 分档归一化需要分档表")
            lowers = [b.lower for b in self.bands]
            if lowers != sorted(lowers) or len(set(lowers)) != len(lowers):
                raise ValueError("band lower bounds must increase / 分档下限必须递增")
        if self.winsor is not None and not (0 <= self.winsor[0] < self.winsor[1] <= 1):
            raise ValueError("winsor must be 0 ≤ low < high ≤ 1 / 缩尾分位数应满足 0≤下<上≤1")
        return self

    @field_validator("formula")
    @classmethod
    def _formula(cls, v: str) -> str:
        try:
            compile_formula(v, FORMULA_FIELDS)
        except FormulaError as e:
            raise ValueError(f"{e.en} / {e.zh}") from None
        return v

    @cached_property
    def compiled(self) -> Compiled:
        return compile_formula(self.formula, FORMULA_FIELDS)


class Group(_Strict):
    id: str
    zh: str
    en: str


class List(_Strict):
    """A published list: firms whose rank within the peer group falls in (``above``, ``upto``]."""

    id: str
    zh: str
    en: str
    above: float = Field(ge=0, lt=1)
    upto: float = Field(gt=0, le=1)


class Grade(_Strict):
    id: str
    min_total: float


class PeerGroups(_Strict):
    """Peer groups by lifecycle stage (mapped to a weight vector), optionally chain or revenue band."""

    stage_map: dict[str, str]
    extra: Literal["none", "chain", "revenue_band"] = "none"

    @field_validator("stage_map")
    @classmethod
    def _all_stages(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)} / 未知生命周期阶段")
        missing = set(STAGES) - set(v)
        if missing:
            raise ValueError(f"stages without a peer group: {sorted(missing)} / 阶段未映射")
        return v


class System(_Strict):
    id: str
    version: str
    zh: str
    en: str
    reference: str
    caveat: str
    scale: float = Field(gt=0)
    weights_sum: float = Field(gt=0)
    bonus_cap: float = 0
    peer_groups: PeerGroups
    groups: tuple[Group, ...]
    indicators: tuple[Indicator, ...]
    weights: dict[str, dict[str, float]]
    grades: tuple[Grade, ...]
    lists: tuple[List, ...]

    def grade_scale(self, lang: str) -> str:
        """The innovation grades by the totals they need, in words (``A ≥ 75 分 · …``): the
        letters alone read like a bank's credit rating, which is a different scale."""
        unit = "" if lang == "en" else " 分"
        return " · ".join(
            f"{g.id} ≥ {g.min_total:g}{unit}" if g.min_total > 0 else f"{g.id} < {prev:g}{unit}"
            for g, prev in zip(self.grades, (0, *(x.min_total for x in self.grades)), strict=False)
        )

    @field_validator("weights")
    @classmethod
    def _weights(
        cls, v: dict[str, dict[str, float]], info: ValidationInfo
    ) -> dict[str, dict[str, float]]:
        data = info.data
        if "indicators" not in data or "peer_groups" not in data or "weights_sum" not in data:
            return v
        base = {i.id for i in data["indicators"] if i.bonus_points is None}
        declared = {i.id for i in data["indicators"]}
        needed = set(data["peer_groups"].stage_map.values())
        errors = []
        for key in sorted(needed - set(v)):
            errors.append(
                f"missing weight vector for peer group '{key}' / 缺少同业组“{key}”的权重向量"
            )
        for key, vec in v.items():
            if key not in needed:
                errors.append(
                    f"weight vector '{key}' is not a peer group / 权重向量“{key}”不对应任何同业组"
                )
            for ind in sorted(set(vec) - declared):
                errors.append(f"weights.{key}: unknown indicator '{ind}' / 未知指标“{ind}”")
            for ind in sorted((set(vec) & declared) - base):
                errors.append(
                    f"weights.{key}: '{ind}' is a bonus indicator / “{ind}”是加分指标，不应有权重"
                )
            for ind in sorted(base - set(vec)):
                errors.append(f"weights.{key}: no weight for '{ind}' / 缺少指标“{ind}”的权重")
            if any(w < 0 for w in vec.values()):
                errors.append(f"weights.{key}: negative weight / 权重不能为负")
            total = sum(vec.values())
            if abs(total - data["weights_sum"]) > WEIGHT_TOLERANCE:
                errors.append(
                    f"weights.{key} sum to {total:g}, declared {data['weights_sum']:g} / "
                    f"权重合计{total:g}，与声明的{data['weights_sum']:g}不符"
                )
        if errors:
            raise ValueError("; ".join(errors))
        return v

    @model_validator(mode="after")
    def _consistency(self) -> System:
        ids = [i.id for i in self.indicators]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate indicators {dup} / 指标重复")
        groups = {g.id for g in self.groups}
        for i in self.indicators:
            if i.group not in groups:
                raise ValueError(f"indicator '{i.id}': unknown group '{i.group}' / 未知指标组")
        bonus = sum(i.bonus_points or 0 for i in self.indicators)
        if bonus > self.bonus_cap + WEIGHT_TOLERANCE:
            raise ValueError(
                f"bonus points {bonus:g} exceed bonus_cap {self.bonus_cap:g} / 加分超过上限"
            )
        if abs(self.scale - self.weights_sum) > WEIGHT_TOLERANCE:
            raise ValueError(
                "scale must equal weights_sum (weights are points) / 满分应等于权重合计"
            )
        mins = [g.min_total for g in self.grades]
        if mins != sorted(mins, reverse=True):
            raise ValueError("grades must be listed from the highest / 等级须从高到低")
        return self

    @property
    def base_indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.bonus_points is None)

    @property
    def bonus_indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.bonus_points is not None)

    @property
    def weight_keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.weights))

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(i.compiled.fields for i in self.indicators))

    @property
    def lagged(self) -> frozenset[str]:
        return frozenset().union(*(i.compiled.lagged for i in self.indicators))

    def indicator(self, ind_id: str) -> Indicator:
        return next(i for i in self.indicators if i.id == ind_id)


class LoadedSystem(BaseModel):
    """A validated system plus where it came from and the hash of its exact bytes."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    system: System
    path: str
    sha256: str


def _problems(path: Path, err: PydanticError) -> list[Problem]:
    out = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"].removeprefix("Value error, ")
        out.append(
            Problem(
                msg,
                msg,
                file=str(path),
                field=key,
                value=e.get("input") if e["type"] != "value_error" else None,
            )
        )
    return out


def load_system_file(path: Path) -> LoadedSystem:
    """Load and validate one YAML system; raises :class:`ValidationError` naming file, key, reason."""
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ValidationError(
            "指标体系文件不是有效的 YAML",
            "the system file is not valid YAML",
            [Problem(str(e), str(e), file=str(path))],
        ) from None
    try:
        system = System.model_validate(data)
    except PydanticError as e:
        raise ValidationError(
            "指标体系未通过校验，拒绝加载",
            "the indicator system is invalid and was refused",
            _problems(path, e),
        ) from None
    return LoadedSystem(system=system, path=str(path), sha256=hashlib.sha256(raw).hexdigest())


def available_systems() -> list[str]:
    return sorted(p.stem for p in SYSTEMS_DIR.glob("*.yaml"))


def load_system(name: str) -> LoadedSystem:
    """A shipped system by id (``most-v1``) or a path to a YAML file."""
    path = Path(name)
    if not path.suffix:
        path = SYSTEMS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValidationError(
            "找不到指标体系",
            "indicator system not found",
            [
                Problem(
                    f"可用：{', '.join(available_systems())}",
                    f"available: {', '.join(available_systems())}",
                    field="system",
                    value=name,
                )
            ],
        )
    return load_system_file(path)
