"""Whitelist rules as validated data (``whitelist/rules/*.yaml``).

Entry rules admit a firm when **any** holds; an exclusion removes it whatever else holds; tiers
are tried from the top and the first whose conditions hold wins (the last tier takes the rest).
``push_fields`` is the whole of what a bank may receive: nothing else leaves the platform.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError
from kejin.vocab import QUALIFICATION_KINDS, STAGES, TAX_CREDIT_GRADES

RULES_DIR = Path(__file__).parent / "rules"
PUSHABLE = (
    "uscc",
    "name",
    "tier",
    "stage",
    "industry_chain",
    "region_code",
    "points",
    "list_id",
    "entry_rules",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Entry(_Strict):
    id: str
    kind: Literal["qualification", "evaluation", "points"]
    zh: str
    en: str
    qualifications: tuple[str, ...] = ()
    scheme: Literal["tsme"] | None = None
    lists: tuple[str, ...] = ()
    min_total: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> Entry:
        if self.kind == "qualification":
            bad = [q for q in self.qualifications if q not in QUALIFICATION_KINDS]
            if not self.qualifications or bad:
                raise ValueError(
                    f"qualifications must be known kinds, got {bad or 'none'} / 资质类型未知"
                )
        if self.kind == "evaluation" and self.scheme is None:
            raise ValueError("evaluation rule needs a scheme / 评价规则需指定方案")
        if self.kind == "points" and not self.lists and self.min_total is None:
            raise ValueError("points rule needs lists or min_total / 积分规则需名单或分数线")
        return self


class Exclusion(_Strict):
    id: str
    kind: Literal["flag", "overdue", "tax_grade"]
    zh: str
    en: str
    field: Literal["dishonest", "deregistered", "abnormal_operation"] | None = None
    days: int | None = Field(default=None, ge=0)
    grades: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> Exclusion:
        if self.kind == "flag" and self.field is None:
            raise ValueError("flag exclusion needs a field / 标记类排除需指定字段")
        if self.kind == "overdue" and self.days is None:
            raise ValueError("overdue exclusion needs days / 逾期排除需指定天数")
        if self.kind == "tax_grade" and (
            not self.grades or any(g not in TAX_CREDIT_GRADES for g in self.grades)
        ):
            raise ValueError("tax_grade exclusion needs known grades / 纳税信用等级未知")
        return self


class Tier(_Strict):
    """A tier holds when (listed, if set) OR (stage in ``stages`` AND points ≥ ``min_points``)
    OR (list in ``lists``); a tier with no condition is the default (must be last)."""

    id: Literal["core", "selected", "base"]
    zh: str
    en: str
    why: str
    listed: bool = False
    stages: tuple[str, ...] = ()
    min_points: float | None = None
    lists: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return not (self.listed or self.stages or self.min_points is not None or self.lists)


class Rules(_Strict):
    id: str
    version: str
    zh: str
    en: str
    reference: str
    points_system: str
    entry: tuple[Entry, ...]
    exclusions: tuple[Exclusion, ...]
    tiers: tuple[Tier, ...]
    push_fields: tuple[str, ...]

    @model_validator(mode="after")
    def _check(self) -> Rules:
        ids = [r.id for r in (*self.entry, *self.exclusions)]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique / 规则编号重复")
        if [t.id for t in self.tiers] != ["core", "selected", "base"] or not self.tiers[
            -1
        ].is_default:
            raise ValueError(
                "tiers must be core, selected, base with base as the default / 三层须为核心、精选、基础"
            )
        for t in self.tiers:
            if any(s not in STAGES for s in t.stages):
                raise ValueError(f"tier {t.id}: unknown stage / 未知阶段")
        return self

    @field_validator("push_fields")
    @classmethod
    def _pushable(cls, fields: tuple[str, ...]) -> tuple[str, ...]:
        """A field validator (not the model check) so the refusal names ``push_fields`` and is
        reported together with any other error in the file, never hidden behind it."""
        bad = [f for f in fields if f not in PUSHABLE]
        if bad:
            raise ValueError(
                f"push_fields not pushable: {', '.join(bad)} / 不可推送的字段：{'、'.join(bad)}"
            )
        return fields


def load_rules(name: str = "default") -> tuple[Rules, str]:
    """Rules by id (``default``) or YAML path, with the sha256 of the file's bytes."""
    path = Path(name)
    if not path.suffix:
        path = RULES_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValidationError(
            "找不到白名单规则",
            "whitelist rules not found",
            [Problem("文件不存在", "no such file", file=str(path))],
        )
    raw = path.read_bytes()
    try:
        rules = Rules.model_validate(yaml.safe_load(raw))
    except PydanticError as e:
        raise ValidationError(
            "白名单规则未通过校验",
            "the whitelist rules are invalid",
            [
                Problem(
                    *_zh_en(err["msg"]),
                    file=str(path),
                    field=".".join(str(p) for p in err["loc"]) or "(root)",
                )
                for err in e.errors()
            ],
        ) from None
    return rules, hashlib.sha256(raw).hexdigest()


def _zh_en(msg: str) -> tuple[str, str]:
    """Our validators write ``English / 中文``; pydantic's own messages are English only."""
    msg = msg.removeprefix("Value error, ")
    en, sep, zh = msg.partition(" / ")
    return (zh, en) if sep else (msg, msg)
