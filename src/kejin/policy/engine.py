"""The rules-as-code engine: a policy is a list of named steps over an entity frame.

Each step is one vectorised Polars expression that becomes a named column, so a whole region is
computed in one lazy plan and the same columns explain any single result (:mod:`.trace`). A step
says which article it implements and whether it is a condition (a yes/no the reason text reports)
or an amount. Parameters enter the plan as columns chosen by date *before* the steps run: one
``when`` per dated segment, never a per-row lookup, which is what keeps a million loan-years fast.

Money is exact: money inputs are :data:`MONEY` (``Decimal(38,2)``, fen), parameters and rates
:data:`RATE` (``Decimal(38,12)``), so ``2,456,315.65 × 10% = 245,631.565`` exactly, and the
result is rounded to the fen by the policy's ``rounding`` rule (四舍五入, half up per payment
line, unless the policy says otherwise). A float would have paid 245,631.56. Every ``amount``
step must be a Decimal column; a policy whose formula falls back to float is refused when
evaluated (:func:`_check_exact`).

Those are the types a policy is written and read in. The arithmetic itself is scaled Int64
(:mod:`.fen`): money in fen, each rate as an integer over a power of ten, every formula compiled
from its Polars expression with a range check against overflow and a scale check against the
Decimal types above, so the numbers are the Decimal engine's to the last digit at a fraction of
its cost. A formula the compiler does not take is evaluated in Decimal, as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.policy import fen
from kejin.policy.params import OPEN_END, Parameter, Value, load_parameters, outside_validity
from kejin.vocab import Term, lookup

StepKind = Literal["condition", "amount", "value"]
#: Stored and shown amounts (the Money column holds 18 digits with 2 decimals).
AMOUNT_DTYPE = pl.Decimal(18, 2)
#: Money inputs and results, exact to the fen.
MONEY = pl.Decimal(38, 2)
#: Parameters and rates: 12 decimals hold a fen amount times two rates of up to 5 decimals each
#: (LPR × share) exactly; Polars keeps the larger scale of a product's operands.
RATE = pl.Decimal(38, 12)

#: How an amount is rounded to the fen; ``half_up`` is 四舍五入 (ties away from zero, so a
#: claw-back of −0.005 is −0.01 as its top-up would be 0.01).
Rounding = Literal["half_up", "half_even", "down"]
ROUNDING_TEXT: dict[str, tuple[str, str]] = {
    "half_up": ("四舍五入到分（每笔支付）", "half up to the fen, per payment line"),
    "half_even": ("银行家舍入到分", "half to even to the fen (banker's rounding)"),
    "down": ("舍去分以下", "truncated to the fen"),
}
_POLARS_MODE = {"half_up": "half_away_from_zero", "half_even": "half_to_even"}


def to_fen(x: pl.Expr, rounding: Rounding = "half_up") -> pl.Expr:
    """An exact Decimal amount rounded to the fen by ``rounding``, as :data:`MONEY`.

    Polars' ``round`` has no toward-zero mode (``to_zero`` is refused), so ``down`` truncates the
    amount in fen and divides back, exactly (found by the integer engine's property test)."""
    if rounding == "down":
        return ((x * 100).truncate() / 100).cast(MONEY)
    return x.round(2, mode=_POLARS_MODE[rounding]).cast(MONEY)  # type: ignore[arg-type]


def zero() -> pl.Expr:
    """The Decimal zero a formula's ``otherwise`` uses (a float 0.0 would make the column float)."""
    return pl.lit(Decimal(0), dtype=MONEY)


@dataclass(frozen=True)
class Input:
    """A column the policy reads, with the Chinese header a clerk may use instead.

    ``vocab`` marks a column that takes a controlled vocabulary (:mod:`kejin.vocab`): it accepts
    the identifiers and the Chinese/English labels the imports accept, through the same
    :func:`kejin.vocab.lookup`, and an unknown value is refused by row and field, never read as
    "not eligible".
    """

    name: str
    dtype: type[pl.DataType] | pl.DataType
    zh: str
    en: str
    vocab: Mapping[str, Term] | None = None


#: The key columns every loan-year policy reads, declared once so their labels stay identical.
LOAN_YEAR_KEYS: tuple[Input, ...] = (
    Input("uscc", pl.String, "统一社会信用代码", "USCC"),
    Input("contract_no", pl.String, "合同编号", "contract number"),
    Input("year", pl.Int64, "年度", "year"),
)


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
    """Which date selects a parameter's value: a column, or an expression named ``name``.

    ``year_column`` marks the common case "31 December of the row's year": the engine then selects
    values by comparing the integer year with each segment's years and never materialises a date
    column (building a million dates cost more than the rest of the Karamay rule; see
    ``bench/bench_policy.py``). ``expr`` still gives the date, for filters and traces.
    """

    name: str
    expr: pl.Expr
    year_column: str | None = None


def YearEnd(column: str = "year") -> ParamDate:
    """Parameters in force on 31 December of the integer ``column``."""
    return ParamDate("param_date", year_end(pl.col(column)), year_column=column)


@dataclass
class Policy:
    """A policy of the library: metadata, inputs, parameters and steps.

    ``eligible`` and ``amount`` name the steps whose values are the result; ``cost_item`` (when
    given) with ``cost_key`` names the cost a payment covers (``interest:CONTRACT:YEAR``), which the
    stacking rule uses to avoid paying it twice.
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
    cost_kind: str | None = None
    cost_key: tuple[str, ...] = ()
    firm_column: str = "uscc"
    period: str = "param_date"
    order: tuple[str, ...] = ()
    summary_zh: str = ""
    summary_en: str = ""
    rounding: Rounding = "half_up"
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
            if pd_.year_column is not None and pd_.year_column not in known:
                problems.append(self._absent(pd_.name, pd_.year_column))
            for root in pd_.expr.meta.root_names():
                if root not in known:
                    problems.append(self._absent(pd_.name, root))
        known |= {pd_.name for pd_ in self.param_dates.values() if pd_.year_column is None}
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

    @property
    def cost_item(self) -> pl.Expr | None:
        """``KIND:KEY…`` — policies of one ``cost_kind`` pay for the same kind of cost."""
        if self.cost_kind is None:
            return None
        return pl.format(
            f"{self.cost_kind}" + ":{}" * len(self.cost_key), *[pl.col(c) for c in self.cost_key]
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


def year_end(year: pl.Expr) -> pl.Expr:
    """31 December of an integer year column, by integer arithmetic.

    ``pl.date(year, 12, 31)`` goes through a datetime per row (136 ms for a million rows, most of
    a whole evaluation); this is the civil-calendar day count of 1 January of the next year,
    minus one day (H. Hinnant's ``days_from_civil``), and costs a few integer operations.

    >>> pl.select(year_end(pl.lit(2024))).item(), pl.select(year_end(pl.lit(1900))).item()
    (datetime.date(2024, 12, 31), datetime.date(1900, 12, 31))
    """
    y = year.cast(pl.Int64)
    era = y.floordiv(400)
    yoe = y - era * 400
    days = era * 146097 + yoe * 365 + yoe.floordiv(4) - yoe.floordiv(100) + 306 - 719468 - 1
    return days.cast(pl.Int32).cast(pl.Date)


def run_starts(by: Iterable[str]) -> pl.Expr:
    """True on the first row of each run of equal ``by`` values (rows sorted by ``by``).

    Group-wise scans (``cum_sum().over(...)``) hash the keys and evaluate per group: with a
    USCC string key and ~500k tiny groups that took 0.4–1.2 s per window. A policy that needs
    them declares an ``order``; the engine sorts by it (only when the input is not already in
    that order), and these helpers then work on runs with element-wise operations only.
    """
    cols = list(by)
    change = pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in cols])
    return (pl.int_range(pl.len()) == 0) | change.fill_null(True)


def group_cum_sum(x: pl.Expr, by: Iterable[str]) -> pl.Expr:
    """Cumulative sum of ``x`` restarting at every run of ``by`` (inclusive of the row)."""
    cs = x.cum_sum()
    start = pl.when(run_starts(by)).then(cs - x).otherwise(None).forward_fill()
    return cs - start


def group_shift(x: pl.Expr, by: Iterable[str]) -> pl.Expr:
    """The previous row's ``x`` within the run of ``by`` (zero on each run's first row)."""
    return pl.when(run_starts(by)).then(zero()).otherwise(x.shift(1))


def cap_per_group(
    raw: pl.Expr, cap: pl.Expr, by: Iterable[str], order: Iterable[str] = ()
) -> pl.Expr:
    """Cap the sum of ``raw`` within each group of ``by``; rows take the room in ``order``.

    A per-firm ceiling (e.g. 100,000 CNY per firm and year) is paid to the firm's rows in
    ``order`` (then input row), each receiving what is left of the cap:
    ``min(raw, max(cap - paid_before, 0))``. Each row is rounded to the fen *before* the cap is
    shared out, so the rounded amounts of a firm never add up to a fen more than the cap (found
    by a hypothesis test).

    Works on rows in any order and never sorts the whole frame on its string keys (issue 20: on
    1M unsorted loans the sort cost more than the rule): a group-by on a hash of the key sums the
    non-zero amounts per group, and only the groups whose sum passes a row's cap — the only rows
    whose amount the order can change — are sorted and shared out; every other row keeps its
    amount.
    """
    by, order = list(by), [c for c in order if c not in by]
    fields = [pl.col(c) for c in dict.fromkeys([*by, *order])]
    return pl.struct([*fields, to_fen(raw).alias(_CENTS), cap.cast(MONEY).alias(_CAP)]).map_batches(
        lambda s: _share_cap(s.struct.unnest(), by, order), return_dtype=MONEY
    )


_CENTS, _CAP, _ROW, _KEY = "__cap_cents", "__cap_cap", "__cap_row", "__cap_key"


def _share_cap(df: pl.DataFrame, by: list[str], order: list[str]) -> pl.Series:
    """The capped amounts of :func:`cap_per_group`, in ``df``'s row order."""
    cents = df[_CENTS]
    # Screen on a hash of the group key: integers group far faster than strings. Two groups
    # sharing a hash only merge in the screen, whose positive sums then only grow, so every group
    # a cap binds is still found; the rows found are then shared out on their real keys.
    live = df.with_row_index(_ROW).filter(pl.col(_CENTS) != 0)  # a zero stays zero, takes no room
    live = live.with_columns(pl.struct(by).hash().alias(_KEY))
    full = (
        live.group_by(_KEY)
        .agg(
            pl.when(pl.col(_CENTS) > 0).then(pl.col(_CENTS)).otherwise(zero()).sum().alias("s"),
            pl.col(_CAP).min().alias("c"),
        )
        .filter(pl.col("s") > pl.col("c"))
    )
    over = live.join(full.select(_KEY), on=_KEY, how="semi")
    if over.height == 0:
        return cents
    over = over.sort([*by, *order, _ROW]).select(
        _ROW,
        pl.min_horizontal(
            pl.col(_CENTS),
            pl.max_horizontal(
                pl.col(_CAP) - (group_cum_sum(pl.col(_CENTS), by) - pl.col(_CENTS)), zero()
            ),
        ).alias(_CENTS),
    )
    return cents.scatter(over[_ROW], over[_CENTS])  # the other rows keep their amount


@dataclass
class Resolved:
    """How each parameter was chosen for an evaluation (the trace reports it), and which
    arithmetic computed it: ``engine`` is ``fen`` (scaled Int64, :mod:`.fen`) or ``decimal``
    (the policy's formulas in Polars Decimal, with ``fallback`` saying why). With
    ``money="fen"``, ``scales`` gives each integer money/rate column's power of ten."""

    segments: dict[str, list[Value]]
    overrides: dict[str, Decimal]
    engine: Literal["fen", "decimal"] = "fen"
    fallback: str | None = None
    scales: dict[str, int] = field(default_factory=dict)


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


def normalise_vocab(policy: Policy, frame: pl.DataFrame, file: str | None) -> pl.DataFrame:
    """Vocabulary columns as identifiers; the first unknown value refused with its row and field.

    Each distinct value is looked up once (:func:`kejin.vocab.lookup`, the imports' normaliser),
    so a million rows cost a join on a handful of labels.
    """
    for i in policy.inputs:
        if i.vocab is None or i.name not in frame.columns:
            continue
        col = frame[i.name].cast(pl.String)
        distinct = col.drop_nulls().unique().to_list()
        table = pl.DataFrame(
            {"v": distinct, "id": [lookup(i.vocab, v) for v in distinct]},
            schema={"v": pl.String, "id": pl.String},
        )
        ids = col.to_frame("v").join(table, on="v", how="left", maintain_order="left")["id"]
        bad = ids.is_null()
        if bad.any():
            idx = bad.arg_true()[0]
            allowed_zh = "、".join(f"{k}（{t.zh}）" for k, t in i.vocab.items())
            allowed_en = ", ".join(f"{k} ({t.en})" for k, t in i.vocab.items())
            raise ValidationError(
                f"{i.zh}不在代码表中",
                f"{i.en} is not in the vocabulary",
                [
                    Problem(
                        f"{i.zh}（{i.name}）的值不在代码表中；可选：{allowed_zh}",
                        f"{i.en} ({i.name}) is not in the vocabulary; one of {allowed_en}",
                        file=file,
                        row=idx + 2,
                        field=i.name,
                        value=col[idx],
                    )
                ],
            )
        frame = frame.with_columns(ids.alias(i.name))
    return frame


def _year_span(s: Value) -> tuple[int, int]:
    """The years whose 31 December falls inside segment ``s``."""
    last = s.end.year if (s.end.month, s.end.day) == (12, 31) else s.end.year - 1
    return s.start.year, last


def _param_expr(
    p: Parameter,
    segs: list[Value],
    pd_: ParamDate,
    lo: date,
    hi: date,
    scale: int | None = None,
) -> tuple[pl.Expr, bool]:
    """The value column for ``p`` and whether rows may fall outside every segment: Decimal
    :data:`RATE`, or (``scale`` given) Int64 holding ``value × 10**scale``."""

    def lit(v: Decimal | None) -> pl.Expr:
        if scale is None or v is None:
            return pl.lit(v, dtype=RATE if scale is None else pl.Int64)
        return pl.lit(fen.scaled(exact(v), scale), dtype=pl.Int64)

    used = [s for s in segs if s.end >= lo and s.start <= hi]
    covered = bool(used) and used[0].start <= lo and used[-1].end >= hi
    covered = covered and all(
        a.end.toordinal() + 1 >= b.start.toordinal() for a, b in itertools.pairwise(used)
    )
    if covered and len({s.value for s in used}) == 1:
        return lit(used[0].value).alias(p.name), False
    chain = None
    for s in used:
        if pd_.year_column is not None:
            y0, y1 = _year_span(s)
            cond = pl.col(pd_.year_column).is_between(y0, y1)
        else:
            cond = pl.col(pd_.name).is_between(pl.lit(s.start), pl.lit(s.end))
        chain = (
            pl.when(cond).then(lit(s.value))
            if chain is None
            else chain.when(cond).then(lit(s.value))
        )
    if chain is None:
        return lit(None).alias(p.name), True
    return chain.otherwise(lit(None)).alias(p.name), not covered


def evaluate(
    policy: Policy,
    frame: pl.DataFrame,
    *,
    as_of: date | None = None,
    overrides: Mapping[str, float | Decimal | str] | None = None,
    file: str | None = None,
    money: Literal["decimal", "fen"] = "decimal",
    arithmetic: Literal["fen", "decimal"] = "fen",
) -> tuple[pl.DataFrame, Resolved]:
    """Evaluate ``policy`` on every row of ``frame``; adds parameter and step columns.

    The result keeps the input columns and adds, in order: the parameter dates, each parameter,
    each step, then ``eligible`` (bool) and ``amount`` (exact :data:`MONEY`, rounded to the fen by
    the policy's ``rounding``, zero when not eligible).
    ``overrides`` replace parameters by a constant (a reform in :mod:`.simulate`).
    Raises ValidationError for a missing column or a row outside a parameter's validity.

    The arithmetic is scaled Int64 (:mod:`.fen`) whenever the compiler takes every formula and
    the data's bounds fit, Decimal otherwise (``Resolved.engine``/``fallback`` say which); the
    values are the same. ``money="decimal"`` returns money, rates and amounts as the Decimal
    types above; ``money="fen"`` leaves them as Int64 holding ``value × 10**scale`` with
    ``Resolved.scales`` (``amount`` in fen), for bulk callers that convert only what they show.
    ``arithmetic="decimal"`` skips the integer compiler (the reference the tests compare with).
    """
    overrides = {k: exact(v) for k, v in (overrides or {}).items()}
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
    frame = normalise_vocab(policy, frame, file)
    restore = False
    if policy.order and frame.height > 1:
        frame, restore = _in_order(frame, list(policy.order))
    casts = [
        pl.col(i.name).cast(i.dtype)
        for i in policy.inputs
        if frame.schema[i.name] != (i.dtype() if isinstance(i.dtype, type) else i.dtype)
    ]
    dates = {pd_.name: pd_ for pd_ in policy.param_dates.values()}
    lf = (
        frame.lazy()
        .with_columns(casts)
        .with_columns(pd_.expr.alias(n) for n, pd_ in dates.items() if pd_.year_column is None)
    )
    bounds: dict[str, tuple[date, date] | None] = {}
    if frame.height:
        cols = {n: (pd_.year_column or n) for n, pd_ in dates.items()}
        row = (
            lf.select(
                [pl.col(c).min().alias(f"{n}__lo") for n, c in cols.items()]
                + [pl.col(c).max().alias(f"{n}__hi") for n, c in cols.items()]
            )
            .collect()
            .row(0, named=True)
        )
        for n, pd_ in dates.items():
            lo, hi = row[f"{n}__lo"], row[f"{n}__hi"]
            if lo is not None and pd_.year_column is not None:
                lo, hi = date(lo, 12, 31), date(hi, 12, 31)
            bounds[n] = None if lo is None else (lo, hi)
    exprs: list[pl.Expr] = []
    int_params: list[tuple[str, pl.Expr, fen.Num]] = []
    consts = set(overrides)
    resolved = Resolved({}, overrides)
    check: list[tuple[Parameter, ParamDate]] = []
    for name, p in policy.params.items():
        if name in overrides:
            exprs.append(pl.lit(overrides[name], dtype=RATE).alias(name))
            scale = fen.decimals(overrides[name])
            v = fen.scaled(overrides[name], scale)
            int_params.append((name, pl.lit(v, dtype=pl.Int64).alias(name), fen.Num(scale, v, v)))
            continue
        segs = p.segments(as_of)
        resolved.segments[name] = segs
        pd_ = policy.param_dates[name]
        span = bounds.get(pd_.name)
        scale = max((fen.decimals(exact(s.value)) for s in segs), default=0)
        ints = [fen.scaled(exact(s.value), scale) for s in segs] or [0]
        if span is None:
            exprs.append(pl.lit(None, dtype=RATE).alias(name))
            int_params.append((name, pl.lit(None, dtype=pl.Int64).alias(name), fen.Num(0, 0, 0)))
            continue
        e, needs_check = _param_expr(p, segs, pd_, *span)
        exprs.append(e)
        int_e = _param_expr(p, segs, pd_, *span, scale)[0]
        num = fen.Num(scale, min(ints), max(ints))
        if not needs_check and int_e.meta.is_literal(allow_aliasing=True):
            v = pl.select(int_e).item()  # the one value in force for every row
            consts.add(name)  # formulas read it as a scalar
            num = fen.Num(scale, v, v)
        int_params.append((name, int_e, num))
        if needs_check:
            check.append((p, pd_))
    lf = lf.with_columns(exprs)
    if check:
        first_bad = (
            lf.filter(pl.any_horizontal(pl.col(p.name).is_null() for p, _ in check))
            .select(
                list(
                    dict.fromkeys(
                        [
                            *policy.key,
                            *[p.name for p, _ in check],
                            *[d.year_column or d.name for _, d in check],
                        ]
                    )
                )
            )
            .head(1)
            .collect()
        )
        if first_bad.height:
            row = first_bad.row(0, named=True)
            p, d = next((p, d) for p, d in check if row[p.name] is None)
            day = date(row[d.year_column], 12, 31) if d.year_column else row[d.name]
            entity = "/".join(str(row[k]) for k in policy.key)
            raise outside_validity(p, day, as_of, entity)
    for step in policy.steps:
        lf = lf.with_columns(step.expr.alias(step.name))
    schema = lf.collect_schema()
    _check_exact(policy, schema)
    try:
        if arithmetic == "decimal":
            raise fen.Unsupported("Decimal arithmetic asked for")
        out, nums = _evaluate_fen(policy, frame, dates, int_params, schema, frozenset(consts))
        scales = {k: n.scale for k, n in nums.items()}
    except fen.Unsupported as exc:
        resolved.engine, resolved.fallback = "decimal", str(exc)
        out = (
            lf.with_columns(
                pl.col(policy.eligible).fill_null(False).alias("eligible"),
            )
            .with_columns(
                pl.when(pl.col("eligible"))
                .then(to_fen(pl.col(policy.amount), policy.rounding))
                .otherwise(zero())
                .alias("amount")
            )
            .collect()
        )
        if money == "fen":
            out, scales = _decimal_as_int(out)
    else:
        if money == "decimal":
            out = _int_as_decimal(out, nums, schema, exprs)
    if money == "fen":
        resolved.scales = scales
    if restore:
        out = out.sort(ROW_INDEX).drop(ROW_INDEX)
    return out, resolved


def _evaluate_fen(
    policy: Policy,
    frame: pl.DataFrame,
    dates: dict[str, ParamDate],
    int_params: list[tuple[str, pl.Expr, fen.Num]],
    schema: pl.Schema,
    consts: frozenset[str],
) -> tuple[pl.DataFrame, dict[str, fen.Num]]:
    """The evaluation in scaled Int64 (:mod:`.fen`): money inputs as their exact Decimal's
    integer values, parameters at the fewest decimals their values need, each step compiled;
    ``amount`` rounded to Int64 fen. Raises :class:`fen.Unsupported` for a formula, a value or
    a range the integers cannot hold exactly; the caller then evaluates in Decimal."""
    money = {
        i.name: dtype
        for i in policy.inputs
        if isinstance(dtype := (i.dtype() if isinstance(i.dtype, type) else i.dtype), pl.Decimal)
    }
    nums: dict[str, fen.Num] = {}
    cols: list[pl.Series] = []
    other: list[pl.Expr] = []
    for i in policy.inputs:
        if i.name in money:
            ints, nums[i.name] = fen.input_ints(
                frame[i.name], money[i.name].scale or 0, money[i.name]
            )
            cols.append(ints)
        elif frame.schema[i.name] != (i.dtype() if isinstance(i.dtype, type) else i.dtype):
            other.append(pl.col(i.name).cast(i.dtype))
    nums |= {name: n for name, _, n in int_params}
    lf = (
        frame.with_columns(cols)
        .lazy()
        .with_columns(other)
        .with_columns(pd_.expr.alias(n) for n, pd_ in dates.items() if pd_.year_column is None)
        .with_columns(e for _, e, _ in int_params)
    )
    compiled = fen.compile_steps(policy.steps, nums, dict(lf.collect_schema()), schema, consts)
    for name, e, n in compiled:
        lf = lf.with_columns(e)
        if n is not None:
            nums[name] = n
    amount = nums[policy.amount]
    lf = lf.with_columns(pl.col(policy.eligible).fill_null(False).alias("eligible")).with_columns(
        pl.when(pl.col("eligible"))
        .then(fen.to_fen(pl.col(policy.amount), amount, policy.rounding))
        .otherwise(pl.lit(0, dtype=pl.Int64))
        .alias("amount")
    )
    d = 10 ** max(amount.scale - 2, 0)  # the amount's range in fen, zero included (not eligible)
    fen_range = (
        amount.at(2) if amount.scale <= 2 else fen.Num(2, amount.lo // d, -(-amount.hi // d))
    )
    return lf.collect(), {**nums, "amount": fen_range.hull(fen.Num(2, 0, 0))}


def _int_as_decimal(
    out: pl.DataFrame, nums: dict[str, fen.Num], schema: pl.Schema, params: list[pl.Expr]
) -> pl.DataFrame:
    """The integer result in the Decimal types the Decimal engine gives it (same values, same
    dtypes): parameters by their Decimal expressions (a constant costs nothing), every other
    money/rate column from its integer words."""
    names = {e.meta.output_name() for e in params}
    conv = [
        fen.int_to_decimal(out[c], n, schema.get(c, MONEY))  # type: ignore[arg-type]
        for c, n in nums.items()
        if c not in names
    ]
    return out.with_columns(conv).with_columns(params)


def _decimal_as_int(out: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """A Decimal result (the fallback) in the integer form ``money="fen"`` promises."""
    dec = {c: dt.scale or 0 for c, dt in out.schema.items() if isinstance(dt, pl.Decimal)}
    try:
        ints = [fen.decimal_to_int(out[c]) for c in dec]
    except fen.Unsupported as exc:
        raise ValidationError(
            "金额超出整数分的范围",
            "an amount exceeds the integer-fen range",
            [Problem(str(exc), str(exc))],
        ) from exc
    return out.with_columns(ints), dec


ROW_INDEX = "__row"


def exact(v: float | Decimal | str) -> Decimal:
    """A parameter value or reform as an exact decimal (a float through its shortest repr,
    so ``0.3`` is 0.3, not 0.299999…), held to :data:`RATE`'s 12 decimals.

    >>> exact(0.3), exact("1e-20"), exact(Decimal("0.0000000000005"))
    (Decimal('0.3'), Decimal('0E-12'), Decimal('1E-12'))
    """
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    if d.as_tuple().exponent < -12:  # type: ignore[operator]
        d = d.quantize(Decimal("1e-12"), rounding=ROUND_HALF_UP)
    return d


def _check_exact(policy: Policy, schema: pl.Schema) -> None:
    """Refuse a policy whose money step is not a Decimal column (a float slipped in)."""
    bad = [
        s.name
        for s in policy.steps
        if (s.kind == "amount" or s.name == policy.amount)
        and not isinstance(schema[s.name], pl.Decimal)
    ]
    if bad:
        raise ValidationError(
            "金额须按十进制精确计算",
            "money must be computed exactly (Decimal)",
            [
                Problem(
                    f"步骤{b}的类型为{schema[b]}，不是十进制",
                    f"step {b} is {schema[b]}, not Decimal",
                    file=str(policy.source),
                    field=b,
                )
                for b in bad
            ],
        )


def _in_order(frame: pl.DataFrame, order: list[str]) -> tuple[pl.DataFrame, bool]:
    """``frame`` sorted by ``order`` (returned as is when it already is, the usual case)."""
    # Sorted iff every row is >= its predecessor lexicographically.
    lex_ok = pl.lit(True)
    eq_so_far = pl.lit(True)
    for c in order:
        prev = pl.col(c).shift(1)
        lex_ok = lex_ok & (~eq_so_far | (prev <= pl.col(c)).fill_null(True))
        eq_so_far = eq_so_far & (prev == pl.col(c)).fill_null(False)
    if frame.select(lex_ok.all()).item():
        return frame, False
    return frame.with_row_index(ROW_INDEX).sort(order), True


def money(frame: pl.DataFrame, column: str = "amount") -> pl.DataFrame:
    """The amount column (already exact to the fen) as ``Decimal(18,2)``, the stored type."""
    return frame.with_columns(pl.col(column).cast(AMOUNT_DTYPE))


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
