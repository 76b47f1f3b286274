"""The evaluation scheme as data: indicators, their level/change points, qualitative items.

Checked on load, with every bad field named: an unknown indicator, an unknown field, points that
do not sum to the declared 80 + 20.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError
from kejin.stats.definitions import _problems_from_pydantic, monthly

HERE = Path(__file__).parent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scored(_Strict):
    id: str
    direction: Literal["positive", "negative"]
    level: float = Field(ge=0)
    change: float = Field(ge=0)
    change_kind: Literal["growth", "difference"]


class Item(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    en: str
    max: float = Field(gt=0)


class Scheme(_Strict):
    version: int
    quantitative_points: float = Field(gt=0)
    qualitative_points: float = Field(ge=0)
    indicators: tuple[Scored, ...]
    qualitative: tuple[Item, ...]

    @property
    def weights(self) -> dict[str, dict[str, float]]:
        """One weight vector (the parts ``id:level`` / ``id:change``), as the sensitivity draws take."""
        return {
            "all": {
                f"{i.id}:{part}": getattr(i, part)
                for i in self.indicators
                for part in ("level", "change")
            }
        }

    @property
    def weights_sum(self) -> float:
        return self.quantitative_points

    def item(self, item_id: str) -> Item | None:
        return next((x for x in self.qualitative if x.id == item_id), None)


def parse(text: str, file: str) -> Scheme:
    """A scheme from YAML, or a refusal naming every bad field (zh, en)."""
    try:
        raw = yaml.safe_load(text)
        s = Scheme.model_validate(raw)
    except yaml.YAMLError as e:
        raise ValidationError(
            "评估方案不是合法的YAML",
            "the evaluation scheme is not valid YAML",
            [Problem("YAML解析失败", str(e), file=file)],
        ) from None
    except PydanticError as e:
        raise ValidationError(
            "评估方案不合规", "invalid evaluation scheme", _problems_from_pydantic(e, file)
        ) from None
    probs = []
    known = monthly().by_id()
    for n, i in enumerate(s.indicators):
        if i.id not in known:
            probs.append(
                Problem(
                    "未知指标（应为月度指标之一）",
                    "unknown indicator (must be one of the monthly set)",
                    file, None, f"indicators[{n}].id", i.id,
                )
            )  # fmt: skip
    quant = sum(i.level + i.change for i in s.indicators)
    if abs(quant - s.quantitative_points) > 1e-9:
        probs.append(
            Problem(
                f"定量分值合计 {quant:g}，与声明的 {s.quantitative_points:g} 不符",
                f"quantitative points sum to {quant:g}, declared {s.quantitative_points:g}",
                file, None, "indicators", quant,
            )
        )  # fmt: skip
    qual = sum(x.max for x in s.qualitative)
    if abs(qual - s.qualitative_points) > 1e-9:
        probs.append(
            Problem(
                f"定性分值合计 {qual:g}，与声明的 {s.qualitative_points:g} 不符",
                f"qualitative maxima sum to {qual:g}, declared {s.qualitative_points:g}",
                file, None, "qualitative", qual,
            )
        )  # fmt: skip
    if probs:
        raise ValidationError("评估方案不合规", "invalid evaluation scheme", probs)
    return s


@lru_cache(maxsize=1)
def banks_scheme() -> Scheme:
    path = HERE / "banks.yaml"
    return parse(path.read_text(encoding="utf-8"), path.name)
