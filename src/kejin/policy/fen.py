"""Policy formulas compiled to integer arithmetic: money as Int64 fen, rates as exact integer ratios.

Why: Polars ``Decimal`` is i128 with a rescale on every product; on a million loan-years the
``Decimal`` trace columns cost more CPU than OpenFisca's whole float32 run (docs/policy.md, issue
20). The same exact numbers fit in Int64 once each column carries its own power-of-ten scale:
``interest`` 2,456,315.65 is ``245631565`` at scale 2, the rate 0.1 is ``1`` at scale 1, and
their product ``245631565`` at scale 3 is 245,631.565 — exact, no rescale, no rounding until the
policy's own rounding to the fen.

A formula stays the Polars expression its policy wrote. :func:`compile_step` reads the
expression's tree (Polars' JSON form) and rebuilds it over scaled integers: sums, comparisons,
``when``/``min``/``max``/``fill_null``/``clip``/``is_between`` align their operands to the larger
scale, a product adds the scales. Every node carries a bound on its magnitude (from the data's
largest money input and the parameters' values), so overflow is excluded before anything runs,
and the integer scale of every node is checked against the scale Polars' ``Decimal`` gives the
same node (a product Decimal would have rounded is refused). Anything the compiler does not know
(a division, a Python function such as :func:`kejin.policy.engine.cap_per_group`, a float) raises
:class:`Unsupported`, and the engine evaluates that policy in ``Decimal`` as before — the results
are equal either way, only the cost differs.
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from kejin.policy.engine import Rounding

#: The largest magnitude an Int64 column may reach anywhere in a compiled formula.
I64_MAX = 2**63 - 1


class Unsupported(Exception):
    """A formula (or the data's size) the integer compiler does not take; the reason says why."""


@dataclass(frozen=True)
class Num:
    """An Int64 column holding ``value × 10**scale`` exactly, within ``[lo, hi]``."""

    scale: int
    lo: int
    hi: int

    @property
    def bound(self) -> int:
        return max(abs(self.lo), abs(self.hi))

    def at(self, scale: int) -> Num:
        f = 10 ** (scale - self.scale)
        return Num(scale, self.lo * f, self.hi * f)

    def hull(self, other: Num) -> Num:
        return Num(self.scale, min(self.lo, other.lo), max(self.hi, other.hi))

    def checked(self, what: str) -> Num:
        _check(self.bound, what)
        return self


#: Any Int64: an integer column whose range the compiler does not know (only used unscaled).
UNKNOWN = Num(0, -I64_MAX, I64_MAX)


def span(scale: int, lo: int, hi: int) -> Num:
    """The range of a data column rounded out to powers of two, so that columns of similar size
    compile to the same cached plan (a wider range is still a safe one)."""

    def out(v: int) -> int:
        return 0 if v == 0 else (1 << (abs(v) - 1).bit_length()) * (1 if v > 0 else -1)

    return Num(scale, min(0, out(lo)), max(0, out(hi))).checked("a column")


def decimals(d: Decimal) -> int:
    """The scale needed to hold ``d`` exactly as an integer (0.035 → 3, 10000000 → 0)."""
    exp = d.normalize().as_tuple().exponent
    return max(0, -int(exp))


def scaled(d: Decimal, scale: int) -> int:
    """``d × 10**scale`` as an int; exact by construction of ``scale``."""
    v = d.scaleb(scale)
    if v != v.to_integral_value():
        raise Unsupported(f"{d} needs more than {scale} decimals")
    return int(v)


def _check(bound: int, what: str) -> int:
    if bound > I64_MAX:
        raise Unsupported(f"{what} may exceed Int64 (bound {bound})")
    return bound


def rescale(e: pl.Expr, n: Num, scale: int) -> pl.Expr:
    """``e`` (at ``n.scale``) at the larger ``scale``: a multiplication by a power of ten."""
    d = scale - n.scale
    if d == 0:
        return e
    n.at(scale).checked("a rescaled operand")
    return e * pl.lit(10**d, dtype=pl.Int64)


@dataclass
class Context:
    """What the compiler knows: the integer scale and bound of each money or rate column, the
    integer-world schema of every column so far, and the Decimal-world schema to check against."""

    nums: dict[str, Num]
    int_schema: dict[str, pl.DataType]
    dec_schema: pl.Schema
    #: Parameters with one value over the whole frame: formulas read them as scalars (Polars
    #: compares a column with a scalar, and folds ``10**7 × 100``, without a per-row column).
    consts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._dec = pl.LazyFrame(schema=self.dec_schema)
        self._int: pl.LazyFrame | None = None

    def dec_scale(self, node: dict[str, Any]) -> int | None:
        """The scale Polars' Decimal gives ``node`` (None when it is not a Decimal there)."""
        dt = self._dec.select(_load(node)).collect_schema().dtypes()[0]
        return dt.scale if isinstance(dt, pl.Decimal) else None

    def int_dtype(self, e: pl.Expr) -> pl.DataType:
        if self._int is None:
            self._int = pl.LazyFrame(schema=self.int_schema)
        return self._int.select(e).collect_schema().dtypes()[0]

    def add(self, name: str, dtype: pl.DataType) -> None:
        """A compiled step's column, visible to the steps after it."""
        self.int_schema[name] = dtype
        self._int = None


def _load(node: dict[str, Any]) -> pl.Expr:
    return pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")


def _touches_money(node: Any, nums: dict[str, Num]) -> bool:
    """Whether a subtree reads a money/rate column or holds a Decimal literal."""
    if isinstance(node, dict):
        if "Column" in node and isinstance(node["Column"], str):
            return node["Column"] in nums
        if "Decimal" in node and isinstance(node["Decimal"], list):
            return True
        return any(_touches_money(v, nums) for v in node.values())
    if isinstance(node, list):
        return any(_touches_money(v, nums) for v in node)
    return False


_COMPARE = {
    "Lt": pl.Expr.__lt__,
    "LtEq": pl.Expr.__le__,
    "Gt": pl.Expr.__gt__,
    "GtEq": pl.Expr.__ge__,
    "Eq": pl.Expr.__eq__,
    "NotEq": pl.Expr.__ne__,
}


_PLAIN = {
    "Plus": pl.Expr.__add__,
    "Minus": pl.Expr.__sub__,
    "Multiply": pl.Expr.__mul__,
    "FloorDivide": pl.Expr.__floordiv__,
    "Modulus": pl.Expr.__mod__,
    "And": pl.Expr.__and__,
    "Or": pl.Expr.__or__,
}
_INTEGERS = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")


Compiled = list[tuple[str, pl.Expr, Num | None]]
_CACHE: OrderedDict[tuple[Any, ...], tuple[Any, Compiled | Unsupported]] = OrderedDict()


def compile_steps(
    steps: tuple[Any, ...],
    nums: dict[str, Num],
    int_schema: dict[str, pl.DataType],
    dec_schema: pl.Schema,
    consts: frozenset[str] = frozenset(),
) -> Compiled:
    """Every step of a policy over scaled integers: ``(name, expression, Num or None)``.

    Raises :class:`Unsupported` when a step is not compiled or does not have the Decimal
    engine's type (a Decimal column must be a :class:`Num`, anything else the same dtype).
    Cached on the steps and the columns' scales and ranges (data ranges rounded to powers of
    two), so evaluating the same policy again reads no formula tree.
    """
    key = (
        id(steps),
        tuple(sorted(nums.items())),
        tuple(int_schema.items()),
        tuple(dec_schema.items()),
        consts,
    )
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is steps:
        _CACHE.move_to_end(key)
        result = hit[1]
    else:
        try:
            result = _compile_steps(steps, nums, int_schema, dec_schema, consts)
        except Unsupported as exc:
            result = exc
        _CACHE[key] = (steps, result)  # holding ``steps`` keeps its id from being reused
        if len(_CACHE) > 256:
            _CACHE.popitem(last=False)
    if isinstance(result, Unsupported):
        raise result
    return result


def _compile_steps(
    steps: tuple[Any, ...],
    nums: dict[str, Num],
    int_schema: dict[str, pl.DataType],
    dec_schema: pl.Schema,
    consts: frozenset[str],
) -> Compiled:
    ctx = Context(dict(nums), dict(int_schema), dec_schema, consts)
    out: Compiled = []
    for step in steps:
        e, n = compile_step(step.expr, ctx)
        dec = dec_schema[step.name]
        if (n is None) == isinstance(dec, pl.Decimal):
            raise Unsupported(f"step {step.name} is {dec} in Decimal")
        if n is None and ctx.int_dtype(e) != dec:
            raise Unsupported(f"step {step.name} is not {dec} in integers")
        ctx.add(step.name, pl.Int64() if n is not None else dec)
        if n is not None:
            ctx.nums[step.name] = n
        out.append((step.name, e.alias(step.name), n))
    return out


def compile_step(expr: pl.Expr, ctx: Context) -> tuple[pl.Expr, Num | None]:
    """``expr`` over scaled integers, and its :class:`Num` (None: not a money/rate value)."""
    try:
        tree = json.loads(expr.meta.serialize(format="json"))
    except Exception as exc:  # a Python function in the plan cannot be serialised
        raise Unsupported(f"formula not readable: {type(exc).__name__}") from exc
    return _node(tree, ctx)


def _numeric(node: dict[str, Any], ctx: Context) -> tuple[pl.Expr, Num]:
    """A node as a number: money/rate nodes as they are, integer nodes at scale 0."""
    e, n = _node(node, ctx)
    if n is not None:
        return e, n
    lit = node.get("Literal", {})
    if isinstance(lit, dict) and "Dyn" in lit and "Int" in lit["Dyn"]:
        return e, Num(0, int(lit["Dyn"]["Int"]), int(lit["Dyn"]["Int"]))
    dtype = ctx.int_dtype(e)
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.Int64), Num(0, 0, 0)
    if dtype.is_integer():
        return e.cast(pl.Int64), UNKNOWN
    raise Unsupported(f"{json.dumps(node)[:80]} is not a number the compiler can scale")


def _aligned(nodes: list[dict[str, Any]], ctx: Context) -> tuple[list[pl.Expr], Num]:
    parts = [_numeric(n, ctx) for n in nodes]
    scale = max(n.scale for _, n in parts)
    ranges = [n.at(scale) for _, n in parts]
    hull = functools.reduce(Num.hull, ranges)
    return [rescale(e, n, scale) for e, n in parts], hull


def _node(node: dict[str, Any], ctx: Context) -> tuple[pl.Expr, Num | None]:
    if not _touches_money(node, ctx.nums):
        return _load(node), None
    (kind, body), *_ = node.items()
    if kind == "Column":
        n = ctx.nums[body]
        if body in ctx.consts:
            return pl.lit(n.lo, dtype=pl.Int64), n
        return pl.col(body), n
    if kind == "Alias":
        e, n = _node(body[0], ctx)
        return e.alias(body[1]), n
    if kind == "Literal":
        scalar = body.get("Scalar", {}) if isinstance(body, dict) else {}
        if scalar == {"Null": "Null"}:
            return pl.lit(None, dtype=pl.Int64), Num(0, 0, 0)
        if "Decimal" in scalar:
            v, _, s = scalar["Decimal"]
            return pl.lit(int(v), dtype=pl.Int64), Num(int(s), int(v), int(v)).checked("a literal")
        raise Unsupported(f"literal {json.dumps(body)[:60]}")
    if kind == "BinaryExpr":
        return _binary(node, body, ctx)
    if kind == "Ternary":
        pred, n = _node(body["predicate"], ctx)
        if n is not None:
            raise Unsupported("a money value used as a condition")
        branches = [body["truthy"], body["falsy"]]
        if not _touches_money(branches, ctx.nums):
            t, f = (_load(b) for b in branches)
            return pl.when(pred).then(t).otherwise(f), None
        (t, f), num = _aligned([body["truthy"], body["falsy"]], ctx)
        _check_against_decimal(node, num, ctx)
        return pl.when(pred).then(t).otherwise(f), num
    if kind == "Function":
        return _function(node, body, ctx)
    if kind == "Cast":
        e, n = _node(body["expr"], ctx)
        target = body["dtype"].get("Literal") if isinstance(body["dtype"], dict) else None
        if n is not None and n.scale == 0 and target in _INTEGERS:
            return e.cast(getattr(pl, target)), None
    raise Unsupported(f"{kind} on money")


def _binary(node: dict[str, Any], body: dict[str, Any], ctx: Context) -> tuple[pl.Expr, Num | None]:
    op = body["op"]
    (le, ln), (re, rn) = _node(body["left"], ctx), _node(body["right"], ctx)
    if (
        ln is None and rn is None and op in {**_PLAIN, **_COMPARE}
    ):  # integers made from money: plain arithmetic
        return {**_PLAIN, **_COMPARE}[op](le, re), None
    if op == "Multiply":
        (le, ln), (re, rn) = _numeric(body["left"], ctx), _numeric(body["right"], ctx)
        ends = [a * b for a in (ln.lo, ln.hi) for b in (rn.lo, rn.hi)]
        num = Num(ln.scale + rn.scale, min(ends), max(ends)).checked("a product")
        _check_against_decimal(node, num, ctx)
        return le * re, num
    if op in ("Plus", "Minus"):
        (le, a), (re, b) = _numeric(body["left"], ctx), _numeric(body["right"], ctx)
        scale = max(a.scale, b.scale)
        le, re, a, b = rescale(le, a, scale), rescale(re, b, scale), a.at(scale), b.at(scale)
        num = (
            Num(scale, a.lo + b.lo, a.hi + b.hi)
            if op == "Plus"
            else Num(scale, a.lo - b.hi, a.hi - b.lo)
        ).checked("a sum")
        _check_against_decimal(node, num, ctx)
        return (le + re if op == "Plus" else le - re), num
    if op in _COMPARE:
        (le, re), _ = _aligned([body["left"], body["right"]], ctx)
        return _COMPARE[op](le, re), None
    raise Unsupported(f"operator {op} on money")


def _function(
    node: dict[str, Any], body: dict[str, Any], ctx: Context
) -> tuple[pl.Expr, Num | None]:
    fn, inputs = body["function"], body["input"]
    if fn in ("MinHorizontal", "MaxHorizontal"):
        parts, num = _aligned(inputs, ctx)
        _check_against_decimal(node, num, ctx)
        return (pl.min_horizontal if fn == "MinHorizontal" else pl.max_horizontal)(parts), num
    if fn == "FillNull":
        (x, v), num = _aligned(inputs, ctx)
        _check_against_decimal(node, num, ctx)
        return x.fill_null(v), num
    if isinstance(fn, dict) and "Clip" in fn:
        (x, *bounds), num = _aligned(inputs, ctx)
        lo = bounds.pop(0) if fn["Clip"]["has_min"] else None
        hi = bounds.pop(0) if fn["Clip"]["has_max"] else None
        _check_against_decimal(node, num, ctx)
        return x.clip(lo, hi), num
    if isinstance(fn, dict) and "IsBetween" in fn.get("Boolean", {}):
        (x, lo, hi), _ = _aligned(inputs, ctx)
        closed = fn["Boolean"]["IsBetween"]["closed"].lower()
        return x.is_between(lo, hi, closed=closed), None
    raise Unsupported(f"function {json.dumps(fn)[:60]} on money")


def _check_against_decimal(node: dict[str, Any], num: Num, ctx: Context) -> None:
    """The Decimal engine holds this node at some scale: ours must not need more (it would mean
    Decimal rounded there, and the two engines would differ)."""
    dec = ctx.dec_scale(node)
    if dec is None or num.scale > dec:
        raise Unsupported(f"scale {num.scale} where Decimal has {dec}")


def to_fen(e: pl.Expr, n: Num, rounding: Rounding) -> pl.Expr:
    """``e`` (at ``n.scale``) rounded to the fen by ``rounding``, as Int64 fen.

    Integer division on the magnitude, the sign put back, so ties go the way the Decimal engine
    sends them: ``half_up`` away from zero (−0.005 → −0.01), ``half_even`` to the even fen,
    ``down`` toward zero.
    """
    if n.scale <= 2:
        return rescale(e, n, 2)
    d = 10 ** (n.scale - 2)
    _check(n.bound + d, "rounding")
    if n.lo >= 0 and rounding != "half_even":  # no sign to carry: one division
        return (e + d // 2) // d if rounding == "half_up" else e // d
    mag = e.abs()
    if rounding == "half_up":
        q = (mag + d // 2) // d
    elif rounding == "down":
        q = mag // d
    else:
        q0, r2 = mag // d, (mag % d) * 2
        q = q0 + ((r2 > d) | ((r2 == d) & (q0 % 2 == 1))).cast(pl.Int64)
    return pl.when(e < 0).then(-q).otherwise(q)


def input_ints(s: pl.Series, scale: int, dtype: pl.Decimal) -> tuple[pl.Series, Num]:
    """A money input as Int64 at ``scale``, equal to what casting it to ``dtype`` holds, and its
    range.

    A float column becomes ``x × 10**scale`` rounded half to even — exactly Polars' own float →
    Decimal cast (checked on 18M values with ties, and by the property tests) — with numpy's
    ``rint``, a third of the cost of Polars' ``round``; an integer column is multiplied;
    anything else (a Decimal of another scale, text) goes through the Decimal cast and its
    integer words. A value that does not fit (or is not finite) raises :class:`Unsupported`.
    """
    f = 10**scale
    if s.dtype.is_float():
        x = s.to_numpy() * float(f)  # nulls are NaN here, and put back below
        np.rint(x, out=x)
        nulls = s.null_count()
        if nulls:
            x[s.is_null().to_numpy()] = 0
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if not (math.isfinite(lo) and math.isfinite(hi)):  # a NaN or an infinity
            raise Unsupported(f"{s.name} has a value that is not a finite number")
        if not max(-lo, hi) < 2.0**62:
            raise Unsupported(f"{s.name} exceeds Int64 at scale {scale}")
        ints = pl.Series(s.name, x.astype(np.int64))
        if nulls:
            ints = pl.select(pl.when(s.is_null()).then(None).otherwise(ints)).to_series()
        return ints.alias(s.name), span(scale, int(lo), int(hi))
    elif s.dtype.is_integer():
        top = s.cast(pl.Int64).abs().max()
        _check((0 if top is None else int(top)) * f, f"{s.name} at scale {scale}")  # type: ignore[arg-type]
        ints = s.cast(pl.Int64) * f
    else:
        ints = decimal_to_int(s.cast(dtype))
    lo, hi = ints.min(), ints.max()
    return ints.alias(s.name), span(scale, int(lo or 0), int(hi or 0))  # type: ignore[arg-type]


def decimal_to_int(s: pl.Series) -> pl.Series:
    """An exact Decimal series as its Int64 representation (value × 10**scale), no arithmetic:
    the low word of each i128. Refused when a value needs the high word."""
    arr = s.rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)
    words = words[arr.offset : arr.offset + len(arr)]
    lo, hi = np.ascontiguousarray(words[:, 0]), words[:, 1]
    fits = hi == lo >> 63
    validity = None
    if s.null_count():
        valid = s.is_not_null().to_numpy()
        fits |= ~valid  # a null's words are not a value
        validity = pa.array(valid).buffers()[1]
    if not fits.all():
        raise Unsupported(f"{s.name} exceeds Int64 at its scale")
    return pl.Series(
        s.name, pa.Array.from_buffers(pa.int64(), len(lo), [validity, pa.py_buffer(lo)])
    )


def int_to_decimal(s: pl.Series, n: Num, dtype: pl.Decimal) -> pl.Series:
    """An Int64 series (``n``: its scale and range) as the Decimal ``dtype`` the Decimal engine
    gives it, by writing the i128 words directly: the value times the power of ten the scales
    differ by (in Int64 when ``n``'s range allows it, else Polars' exact upscale), sign-extended
    to the high word. Two numpy passes instead of Polars' i128 cast."""
    target = dtype.scale or 0
    k = target - n.scale
    fits = k >= 0 and n.bound * 10**k <= I64_MAX
    nulls = s.null_count()
    lo = (s.fill_null(0) if nulls else s).to_numpy()
    if fits and k:
        lo = lo * 10**k
    words = np.empty(lo.size * 2, dtype=np.int64)
    words[0::2] = lo
    np.right_shift(lo, 63, out=words[1::2])
    validity = None
    if nulls:
        validity = pa.array(s.is_not_null().to_numpy()).buffers()[1]
    scale = target if fits else n.scale
    out = pl.Series(
        s.name,
        pa.Array.from_buffers(pa.decimal128(38, scale), lo.size, [validity, pa.py_buffer(words)]),
    )
    return out if out.dtype == dtype else out.cast(dtype)
