"""A small, safe formula language for indicators, compiled to Polars expressions.

Indicator systems are data written by analysts, so a formula must never run arbitrary code. We
parse it with :mod:`ast` and accept only numbers, field names, ``+ - * /``, unary minus and four
functions:

* ``lag(x)`` — field ``x`` in the previous year;
* ``growth(x)`` — ``(x - lag(x)) / lag(x)``, null when last year's value is missing or ≤ 0;
* ``log1p(e)`` — ``ln(1 + e)``;
* ``max(a, b)`` / ``min(a, b)``.

Division by zero gives null (a missing value, handled by the indicator's missing-value rule),
never infinity.

>>> sorted(compile_formula("rd_expense / revenue", {"rd_expense", "revenue"}).fields)
['rd_expense', 'revenue']
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import polars as pl

FUNCTIONS = {"lag": 1, "growth": 1, "log1p": 1, "max": 2, "min": 2}


class FormulaError(ValueError):
    """A formula that is not in the language or names an absent field; ``args[0]`` is (zh, en)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh, en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class Compiled:
    """The compiled expression, the fields it reads this year, and those it reads last year."""

    expr: pl.Expr
    fields: frozenset[str]
    lagged: frozenset[str]


def lag_name(field: str) -> str:
    """Column holding last year's value of ``field`` in the scoring frame."""
    return f"{field}__lag"


def _safe_div(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return pl.when(b != 0).then(a / b).otherwise(None)


def compile_formula(text: str, allowed: set[str] | frozenset[str]) -> Compiled:
    """Compile ``text`` over ``allowed`` field names; raises :class:`FormulaError`."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise FormulaError(f"公式语法错误：{e.msg}", f"formula syntax error: {e.msg}") from None
    fields: set[str] = set()
    lagged: set[str] = set()

    def field(node: ast.AST) -> str:
        if not isinstance(node, ast.Name):
            raise FormulaError("lag/growth 的参数必须是字段名", "lag/growth take a field name")
        if node.id not in allowed:
            raise FormulaError(f"字段“{node.id}”不存在", f"no such field '{node.id}'")
        return node.id

    def walk(node: ast.AST) -> pl.Expr:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            return pl.lit(float(node.value))
        if isinstance(node, ast.Name):
            fields.add(field(node))
            return pl.col(node.id).cast(pl.Float64)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)
        ):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            return _safe_div(a, b)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            if name not in FUNCTIONS:
                raise FormulaError(f"不允许的函数“{name}”", f"function '{name}' is not allowed")
            if len(node.args) != FUNCTIONS[name]:
                raise FormulaError(
                    f"函数“{name}”参数个数错误", f"wrong number of arguments to '{name}'"
                )
            if name in ("lag", "growth"):
                f = field(node.args[0])
                lagged.add(f)
                prev = pl.col(lag_name(f)).cast(pl.Float64)
                if name == "lag":
                    return prev
                fields.add(f)
                cur = pl.col(f).cast(pl.Float64)
                return pl.when(prev > 0).then((cur - prev) / prev).otherwise(None)
            args = [walk(a) for a in node.args]
            if name == "log1p":
                return pl.when(args[0] > -1).then(args[0].log1p()).otherwise(None)
            if name == "max":
                return pl.max_horizontal(args)
            return pl.min_horizontal(args)
        raise FormulaError(
            f"公式中不允许的写法：{type(node).__name__}",
            f"not allowed in a formula: {type(node).__name__}",
        )

    expr = walk(tree)
    return Compiled(expr, frozenset(fields), frozenset(lagged))
