"""The rules-as-code engine: a policy is a list of named steps over an entity frame.

Each step is one vectorised Polars expression that becomes a named column, so a whole region is
computed in one lazy plan and the same columns explain any single result (:mod:`.trace`). A step
says which article it implements and whether it is a condition (a yes/no the reason text reports)
or an amount. Parameters enter the plan as columns chosen by date *before* the steps run: one
``when`` per dated segment, never a per-row lookup, which is what keeps a million loan-years fast.

Amounts are computed in float64 and rounded to the cent once, at the end, then cast to
``Decimal(18,2)``: every formula here is a product of a money amount and a rate followed by caps,
so the only rounding is that last one (documented in ``docs/policy.md``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.policy.params import OPEN_END, Parameter, Value, load_parameters, outside_validity

StepKind = Literal["condition", "amount", "value"]
AMOUNT_DTYPE = pl.Decimal(18, 2)


@dataclass(frozen=True)
class Input:
    """A column the policy reads, with the Chinese header a clerk may use instead."""

    name: str
    dtype: type[pl.DataType] | pl.DataType
    zh: str
    en: str


@dataclass(frozen=True)
class Step:
    """One named intermediate: its expression, what it means and the article it implements."""

    name: str
    expr: pl.Expr
    kind: StepKind
    zh: str
    en: str
    article: str


@dataclass(frozen=True)
class ParamDate:
    """Which date selects a parameter's value: a column, or an expression named ``name``."""

    name: str
    expr: pl.Expr


@dataclass
class Policy:
    """A policy of the library: metadata, inputs, parameters and steps.

    ``eligible`` and ``amount`` name the steps whose values are the result; ``cost_item`` (when
    given) names the cost a payment covers, which the stacking rule uses to avoid paying it twice.
    """

    id: str
    title_zh: str
    title_en: str
    issuer: str
    document: str
    articles: tuple[str, ...]
    valid_from: date
    valid_to: date | None
    entity: str
    key: tuple[str, ...]
    inputs: tuple[Input, ...]
    param_units: dict[str, str]
    param_dates: dict[str, ParamDate]
    steps: tuple[Step, ...]
    eligible: str
    amount: str
    source: Path
    cost_item: pl.Expr | None = None
    firm_column: str = "uscc"
    period: str = "param_date"
    summary_zh: str = ""
    summary_en: str = ""
    params: dict[str, Parameter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        yaml_path = self.source.with_suffix(".yaml")
        self.params = load_parameters(yaml_path, self.param_units)
        self._check_formulas()

    def _check_formulas(self) -> None:
        """Refuse a policy whose formulas name a column that no input, parameter or step makes."""
        known = {i.name for i in self.inputs} | set(self.param_units)
        problems = []
        for pd_ in self.param_dates.values():
            for root in pd_.expr.meta.root_names():
                if root not in known:
                    problems.append(self._absent(pd_.name, root))
        known |= {pd_.name for pd_ in self.param_dates.values()}
        for step in self.steps:
            for root in step.expr.meta.root_names():
                if root not in known:
                    problems.append(self._absent(step.name, root))
            known.add(step.name)
        if self.cost_item is not None:
            problems += [
                self._absent("cost_item", r)
                for r in self.cost_item.meta.root_names()
                if r not in known
            ]
        if self.period not in {pd_.name for pd_ in self.param_dates.values()}:
            problems.append(self._absent("period", self.period))
        for name in (self.eligible, self.amount):
            if name not in known:
                problems.append(self._absent("result", name))
        if problems:
            raise ValidationError(
                "政策公式引用了不存在的列", "a formula names an absent column", problems
            )

    def _absent(self, step: str, column: str) -> Problem:
        return Problem(
            f"步骤{step}引用的列{column}不存在",
            f"step {step} names column {column}, which no input, parameter or earlier step provides",
            file=str(self.source),
            field=step,
            value=column,
        )

    def period_expr(self) -> pl.Expr:
        """The date that places a row in time (its budget year and the policy's validity)."""
        return next(pd_.expr for pd_ in self.param_dates.values() if pd_.name == self.period)

    def in_force(self) -> pl.Expr:
        """Rows whose period falls inside the policy's own validity."""
        d = self.period_expr()
        end = self.valid_to or OPEN_END
        return d.is_between(pl.lit(self.valid_from), pl.lit(end))

    @property
    def step_by_name(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}

    @property
    def conditions(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "condition"]

    def header_aliases(self) -> dict[str, str]:
        """Chinese (and English label) headers accepted for each input column."""
        out: dict[str, str] = {}
        for i in self.inputs:
            out[i.zh] = i.name
            out[i.en] = i.name
        return out


def P(name: str) -> pl.Expr:
    """A parameter inside a formula (it is a column once the engine has chosen its value)."""
    return pl.col(name)


def cap_per_group(raw: pl.Expr, cap: pl.Expr, by: Iterable[str]) -> pl.Expr:
    """Cap the sum of ``raw`` within each group, rows taking the room in frame order.

    A per-firm ceiling (e.g. 100,000 CNY per firm) is paid to the firm's rows in the order given,
    each row receiving what is left of the cap: ``min(raw, max(cap - paid_before, 0))``.
    """
    by = list(by)
    before = raw.cum_sum().over(by) - raw
    return pl.min_horizontal(raw, pl.max_horizontal(cap - before, pl.lit(0.0)))


@dataclass
class Resolved:
    """How each parameter was chosen for an evaluation (the trace reports it)."""

    segments: dict[str, list[Value]]
    overrides: dict[str, float]


def _check_inputs(policy: Policy, frame: pl.DataFrame, file: str | None) -> None:
    missing = [i for i in policy.inputs if i.name not in frame.columns]
    if missing:
        raise ValidationError(
            "输入缺少必需列",
            "the input lacks required columns",
            [
                Problem(
                    f"缺少列：{i.name}（{i.zh}）",
                    f"missing column: {i.name} ({i.en})",
                    file=file,
                    field=i.name,
                )
                for i in missing
            ],
        )


def _param_expr(
    p: Parameter, segs: list[Value], dcol: str, lo: date, hi: date
) -> tuple[pl.Expr, bool]:
    """The value column for ``p`` and whether rows may fall outside every segment."""
    used = [s for s in segs if s.end >= lo and s.start <= hi]
    covered = bool(used) and used[0].start <= lo and used[-1].end >= hi
    covered = covered and all(
        a.end.toordinal() + 1 >= b.start.toordinal() for a, b in itertools.pairwise(used)
    )
    if covered and len({s.value for s in used}) == 1:
        return pl.lit(used[0].value, dtype=pl.Float64).alias(p.name), False
    d = pl.col(dcol)
    chain = None
    for s in used:
        cond = d.is_between(pl.lit(s.start), pl.lit(s.end))
        chain = (
            pl.when(cond).then(pl.lit(s.value))
            if chain is None
            else chain.when(cond).then(pl.lit(s.value))
        )
    if chain is None:
        return pl.lit(None, dtype=pl.Float64).alias(p.name), True
    return chain.otherwise(pl.lit(None, dtype=pl.Float64)).alias(p.name), not covered


def evaluate(
    policy: Policy,
    frame: pl.DataFrame,
    *,
    as_of: date | None = None,
    overrides: Mapping[str, float] | None = None,
    file: str | None = None,
) -> tuple[pl.DataFrame, Resolved]:
    """Evaluate ``policy`` on every row of ``frame``; adds parameter and step columns.

    The result keeps the input columns and adds, in order: the parameter dates, each parameter,
    each step, then ``eligible`` (bool) and ``amount`` (Decimal(18,2), zero when not eligible).
    ``overrides`` replace parameters by a constant (a reform in :mod:`.simulate`).
    Raises ValidationError for a missing column or a row outside a parameter's validity.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(policy.params))
    if unknown:
        raise ValidationError(
            "没有这个参数",
            "no such parameter",
            [
                Problem(
                    f"政策{policy.id}没有参数{u}",
                    f"policy {policy.id} has no parameter {u}",
                    field=u,
                )
                for u in unknown
            ],
        )
    _check_inputs(policy, frame, file)
    date_exprs = {pd_.name: pd_.expr for pd_ in policy.param_dates.values()}
    casts = [
        pl.col(i.name).cast(i.dtype)
        for i in policy.inputs
        if frame.schema[i.name] != (i.dtype() if isinstance(i.dtype, type) else i.dtype)
    ]
    lf = frame.lazy().with_columns(casts).with_columns(e.alias(n) for n, e in date_exprs.items())
    date_cols = sorted(date_exprs)
    bounds = (
        lf.select(
            [pl.col(c).min().alias(f"{c}__lo") for c in date_cols]
            + [pl.col(c).max().alias(f"{c}__hi") for c in date_cols]
        ).collect()
        if frame.height
        else None
    )
    exprs: list[pl.Expr] = []
    resolved = Resolved({}, overrides)
    check: list[tuple[Parameter, str]] = []
    for name, p in policy.params.items():
        if name in overrides:
            exprs.append(pl.lit(float(overrides[name]), dtype=pl.Float64).alias(name))
            continue
        segs = p.segments(as_of)
        resolved.segments[name] = segs
        dcol = policy.param_dates[name].name
        if bounds is None:
            exprs.append(pl.lit(None, dtype=pl.Float64).alias(name))
            continue
        lo, hi = bounds[f"{dcol}__lo"][0], bounds[f"{dcol}__hi"][0]
        if lo is None:
            exprs.append(pl.lit(None, dtype=pl.Float64).alias(name))
            continue
        e, needs_check = _param_expr(p, segs, dcol, lo, hi)
        exprs.append(e)
        if needs_check:
            check.append((p, dcol))
    lf = lf.with_columns(exprs)
    if check:
        first_bad = (
            lf.filter(pl.any_horizontal(pl.col(p.name).is_null() for p, _ in check))
            .select([*policy.key, *[pl.col(p.name) for p, _ in check], *{d for _, d in check}])
            .head(1)
            .collect()
        )
        if first_bad.height:
            row = first_bad.row(0, named=True)
            p, dcol = next((p, d) for p, d in check if row[p.name] is None)
            entity = "/".join(str(row[k]) for k in policy.key)
            raise outside_validity(p, row[dcol], as_of, entity)
    for step in policy.steps:
        lf = lf.with_columns(step.expr.alias(step.name))
    lf = lf.with_columns(
        pl.col(policy.eligible).fill_null(False).alias("eligible"),
    ).with_columns(
        pl.when(pl.col("eligible"))
        .then(pl.col(policy.amount).round(2))
        .otherwise(0.0)
        .cast(AMOUNT_DTYPE)
        .alias("amount")
    )
    return lf.collect(), resolved


def with_reasons(policy: Policy, result: pl.DataFrame) -> pl.DataFrame:
    """Add ``reason_zh`` / ``reason_en``: the first failed condition, or the amount's basis.

    Built from a ``when`` chain of literal strings, so it costs one pass over the conditions.
    """
    zh = pl.when(pl.col("eligible")).then(pl.lit(f"符合《{policy.title_zh}》（{policy.document}）"))
    en = pl.when(pl.col("eligible")).then(
        pl.lit(f"eligible under {policy.title_en} ({policy.document})")
    )
    for c in policy.conditions:
        failed = ~pl.col(c.name).fill_null(False)
        zh = zh.when(failed).then(pl.lit(f"不满足：{c.zh}（{c.article}）"))
        en = en.when(failed).then(pl.lit(f"not met: {c.en} ({c.article})"))
    return result.with_columns(
        zh.otherwise(pl.lit("不符合")).alias("reason_zh"),
        en.otherwise(pl.lit("not eligible")).alias("reason_en"),
    )


def step_columns(policy: Policy) -> list[str]:
    return [s.name for s in policy.steps]
