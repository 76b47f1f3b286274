"""The 科技金融发展指数: eight dimensions, chain-linked monthly from a base month of 100.

Definition (``indicators/index.yaml``; docs/index.md gives the method): for each month t after the
base, each indicator's *relative* r = v_t ÷ v_{t−1} (inverted for a negative indicator such as the
NPL ratio or the lending rate; optionally capped) is averaged within its dimension with the
indicator weights, the dimensions with the dimension weights, over what is known at both ends of
the link (weights renormalised), and the index is I_t = I_{t−1} × link_t. So an indicator that
starts, stops or changes definition enters or leaves without a jump: the method is chain-linking,
and every link that left something out says what. Sensitivity: Dirichlet draws of the dimension
weights around the nominal ones (as the points engine's :func:`kejin.points.sensitivity.draw_weights`)
give each month's 5th–95th percentile range.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy import Engine, select

from kejin.errors import Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import LoanStatus
from kejin.points.sensitivity import draw_weights
from kejin.policy.tables import Application, Payment, Programme
from kejin.registry.tables import FinancingEvent
from kejin.relend.tables import RelendBatch
from kejin.stats import kernels
from kejin.stats.definitions import _problems_from_pydantic, monthly
from kejin.stats.service import gather

SOURCES = ("monthly", "equity", "insurance", "subsidy", "relending")
EQUITY_KINDS = ("angel", "vc", "pe")
INSURANCE_POLICIES = ("tech_insurance",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Part(_Strict):
    id: str
    source: Literal["monthly", "equity", "insurance", "subsidy", "relending"]
    direction: Literal["positive", "negative"]
    weight: float = Field(gt=0)
    #: ``complement``: index 1 − value (an NPL ratio of 0.0001 rising to 0.02 would otherwise
    #: be a relative of 1/200; the performing share 0.9999 → 0.98 says what changed).
    transform: Literal["none", "complement"] = "none"


class Dimension(_Strict):
    id: str
    zh: str
    en: str
    weight: float = Field(gt=0)
    indicators: tuple[Part, ...] = Field(min_length=1)


class IndexSpec(_Strict):
    version: int
    base: Literal["first"]
    total: float = Field(gt=0)
    normalisation: Literal["relative", "capped_relative"]
    cap: tuple[float, float] = (0.5, 2.0)
    dimensions: tuple[Dimension, ...] = Field(min_length=1)

    @property
    def weights(self) -> dict[str, dict[str, float]]:
        return {"all": {d.id: d.weight for d in self.dimensions}}

    @property
    def weights_sum(self) -> float:
        return self.total


def parse(text: str, file: str) -> IndexSpec:
    """The index definition, or a refusal naming each bad field (unknown field or indicator,
    weights not summing to the declared total)."""
    try:
        spec = IndexSpec.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as e:
        raise ValidationError(
            "指数定义不是合法的YAML",
            "the index definition is not valid YAML",
            [Problem("YAML解析失败", str(e), file=file)],
        ) from None
    except PydanticError as e:
        raise ValidationError(
            "指数定义不合规", "invalid index definition", _problems_from_pydantic(e, file)
        ) from None
    probs = []
    known = monthly().by_id()
    for n, d in enumerate(spec.dimensions):
        for k, part in enumerate(d.indicators):
            if part.source == "monthly" and part.id not in known:
                probs.append(
                    Problem(
                        "未知月度指标", "unknown monthly indicator", file, None,
                        f"dimensions[{n}].indicators[{k}].id", part.id,
                    )
                )  # fmt: skip
    s = sum(d.weight for d in spec.dimensions)
    if abs(s - spec.total) > 1e-9:
        probs.append(
            Problem(
                f"维度权重合计 {s:g}，与声明的 {spec.total:g} 不符",
                f"dimension weights sum to {s:g}, declared {spec.total:g}",
                file, None, "dimensions", s,
            )
        )  # fmt: skip
    if spec.cap[0] <= 0 or spec.cap[0] >= 1 or spec.cap[1] <= 1:
        probs.append(Problem("上下限应满足 0<下<1<上", "cap must be 0 < low < 1 < high", file,
                             None, "cap", list(spec.cap)))  # fmt: skip
    if probs:
        raise ValidationError("指数定义不合规", "invalid index definition", probs)
    return spec


@lru_cache(maxsize=1)
def spec() -> IndexSpec:
    path = Path(__file__).parent / "indicators" / "index.yaml"
    return parse(path.read_text(encoding="utf-8"), path.name)


# ------------------------------------------------------------------ inputs


def _months(engine: Engine) -> list[date]:
    with engine.connect() as c:
        return sorted(c.scalars(select(LoanStatus.month).distinct()))


def _ttm(events: pl.DataFrame, months: list[date], on: str) -> dict[date, float]:
    """Sum of ``amount`` over the twelve months ending at each month end."""
    out = {}
    for m in months:
        end = kernels.month_end(m)
        start = kernels.shift_months(m, -11)
        sel = events.filter(pl.col(on).is_between(start, end))
        out[m] = float(sel["amount"].sum()) if sel.height else 0.0
    return out


def series(engine: Engine) -> tuple[list[date], dict[str, dict[date, float | None]]]:
    """Every indicator the index reads, per month with loan-status data."""
    months = _months(engine)
    if not months:
        raise ValidationError(
            "没有贷款月度状态数据，无法编制指数",
            "no loan-status data: no index can be compiled",
            [Problem("无贷款状态", "no loan status", field="month")],
        )
    f = gather(engine, months[-1])
    with engine.connect() as conn:
        statuses = read_frame(
            conn, LoanStatus.__table__, ["contract_no", "month", "balance", "classification"]
        )
        fin = read_frame(conn, FinancingEvent.__table__, ["kind", "occurred_on", "amount"])
        pay = pl.DataFrame(
            conn.execute(
                select(Programme.policy_id, Payment.paid_at, Payment.amount)
                .join(Application, Application.id == Payment.application_id)
                .join(Programme, Programme.id == Application.programme_id)
            ).all(),
            schema={"policy_id": pl.String, "paid_at": pl.Datetime, "amount": pl.Float64},
            orient="row",
        ).with_columns(paid_on=pl.col("paid_at").dt.date())
        drawn = conn.execute(
            select(RelendBatch.amount, RelendBatch.drawn_on, RelendBatch.matures_on).where(
                RelendBatch.drawn_on.is_not(None)
            )
        ).all()
    f = kernels.Frames(f.loans, statuses, f.qualifications, f.firms, f.tiers, f.products)
    m = kernels.measures_by(f, months, [None])[None]
    rows = {r["month"]: r["indicators"] for r in kernels.indicators(m, monthly())}
    out: dict[str, dict[date, float | None]] = {}
    for ind in monthly().as_of():
        out[ind.id] = {
            mo: None if rows[mo][ind.id] is None else float(rows[mo][ind.id]) for mo in months
        }
    eq = fin.filter(pl.col("kind").is_in(EQUITY_KINDS)).with_columns(
        pl.col("amount").cast(pl.Float64)
    )
    out["equity_ttm"] = dict(_ttm(eq, months, "occurred_on"))
    ins = pay.filter(pl.col("policy_id").is_in(INSURANCE_POLICIES))
    out["insurance_subsidy_ttm"] = dict(_ttm(ins, months, "paid_on"))
    out["subsidy_ttm"] = dict(_ttm(pay.filter(~pl.col("policy_id").is_in(INSURANCE_POLICIES)),
                                   months, "paid_on"))  # fmt: skip
    out["relending_outstanding"] = {
        mo: float(sum(a for a, d, t in drawn if d <= kernels.month_end(mo) and (t is None or t > kernels.month_end(mo))))
        for mo in months
    }  # fmt: skip
    return months, out


# ------------------------------------------------------------------ the index (pure)


@dataclass(frozen=True)
class Link:
    month: date
    value: float
    dimensions: dict[str, float | None]
    left_out: list[str]


def _value(data: dict[str, dict[date, float | None]], p: Part, m: date) -> float | None:
    v = data[p.id].get(m)
    return None if v is None else (1.0 - v if p.transform == "complement" else v)


def _relative(a: float | None, b: float | None, part: Part, s: IndexSpec) -> float | None:
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    r = b / a if part.direction == "positive" else a / b
    if s.normalisation == "capped_relative":
        r = min(max(r, s.cap[0]), s.cap[1])
    return r


def compile_index(
    s: IndexSpec,
    months: list[date],
    data: dict[str, dict[date, float | None]],
    weights: dict[str, float] | None = None,
) -> list[Link]:
    """The chain-linked index and its dimensions per month; the first month is 100."""
    w = weights or s.weights["all"]
    level = 100.0
    dims: dict[str, float | None] = {d.id: 100.0 for d in s.dimensions}
    out = [Link(months[0], 100.0, dict(dims), [])]
    for prev, cur in itertools.pairwise(months):
        left: list[str] = []
        num = den = 0.0
        for d in s.dimensions:
            rs = [
                (p.weight, _relative(_value(data, p, prev), _value(data, p, cur), p, s))
                for p in d.indicators
            ]
            known = [(wt, r) for wt, r in rs if r is not None]
            left += [p.id for p, (_, r) in zip(d.indicators, rs, strict=True) if r is None]
            if not known:
                continue
            link = sum(wt * r for wt, r in known) / sum(wt for wt, _ in known)
            dims[d.id] = (dims[d.id] or 100.0) * link
            num += w[d.id] * link
            den += w[d.id]
        level = level * (num / den) if den else level
        out.append(Link(cur, level, dict(dims), left))
    return out


def sensitivity(
    s: IndexSpec,
    months: list[date],
    data: dict[str, dict[date, float | None]],
    draws: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """5th and 95th percentile of the index per month over Dirichlet draws of dimension weights."""
    rng = np.random.default_rng(seed)
    got = np.array(
        [
            [x.value for x in compile_index(s, months, data, draw_weights(s, rng, 100.0)["all"])]  # type: ignore[arg-type]
            for _ in range(draws)
        ]
    )
    return np.quantile(got, 0.05, axis=0), np.quantile(got, 0.95, axis=0)


def index_report(engine: Engine, year: int, draws: int = 200, seed: int = 18) -> dict[str, Any]:
    """The index at the year's last month with data, its dimensions, the monthly series and
    the sensitivity range; a year without data is refused, naming it."""
    s = spec()
    months, data = series(engine)
    in_year = [m for m in months if m.year == year]
    if not in_year:
        raise ValidationError(
            f"{year} 年没有贷款月度状态数据，无法编制指数",
            f"no loan-status data in {year}: no index for that year",
            [Problem("该年无数据", "no data that year", field="year", value=year)],
        )
    links = compile_index(s, months, data)
    lo, hi = sensitivity(s, months, data, draws, seed) if draws else (None, None)
    upto = [x for x in links if x.month <= in_year[-1]]
    last = upto[-1]
    at = len(upto) - 1
    return {
        "year": year,
        "date": kernels.month_end(last.month).isoformat(),
        "base": f"{months[0]:%Y-%m}",
        "index": round(last.value, 2),
        "range_p5": None if lo is None else round(float(lo[at]), 2),
        "range_p95": None if hi is None else round(float(hi[at]), 2),
        "dimensions": {
            d.id: {
                "zh": d.zh,
                "en": d.en,
                "weight": d.weight,
                "value": None if last.dimensions[d.id] is None else round(last.dimensions[d.id], 2),
            }
            for d in s.dimensions
        },
        "series": [
            {
                "month": f"{x.month:%Y-%m}",
                "index": round(x.value, 2),
                "p5": None if lo is None else round(float(lo[i]), 2),
                "p95": None if hi is None else round(float(hi[i]), 2),
                "dimensions": {
                    k: None if v is None else round(v, 2) for k, v in x.dimensions.items()
                },
                "left_out": x.left_out,
            }
            for i, x in enumerate(upto)
        ],
        "method": {
            "normalisation": s.normalisation,
            "cap": list(s.cap),
            "version": s.version,
            "sensitivity": {"draws": draws, "seed": seed, "concentration": 100.0},
        },
    }
