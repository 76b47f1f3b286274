"""Conditions as data: the policy engine's condition steps, written by a person in a cell.

A policy module writes its conditions as Polars expressions (:class:`kejin.policy.engine.Step`).
A bank's product or a whitelist rule is maintained by an officer in Excel, so its conditions come
as text — ``revenue_2y >= 10000000``, ``stage in growth,mature``, ``hnte``, ``not dishonest`` —
and are compiled here into the very same ``Step`` (kind ``condition``), so that one engine
evaluates them, one trace explains them, and a product's rule is refused for the same reasons
a policy's formula is (a field nobody provides, a value of the wrong kind).

Each compiled condition also carries the sentence that explains its failure, because a firm
wants to read "近两年营业收入低于 1,000 万元", not "not met: revenue_2y >= 10000000".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from kejin.errors import Problem, ValidationError
from kejin.policy.engine import Step

FieldKind = Literal["number", "flag", "choice"]


@dataclass(frozen=True, slots=True)
class Field:
    """A column conditions may name, with the words used to explain it.

    ``unit`` is ``CNY`` (shown in 万元 / M CNY), ``year``, ``points`` or empty; ``choices`` maps
    the identifiers of a ``choice`` field to their Chinese and English labels.
    """

    name: str
    kind: FieldKind
    zh: str
    en: str
    unit: str = ""
    choices: Mapping[str, tuple[str, str]] | None = None


#: Operators of the text form, with their requirement and failure words (zh, en).
NUMBER_OPS: dict[str, tuple[str, str, str, str]] = {
    ">=": ("不低于", "at least", "低于", "below"),
    ">": ("高于", "above", "不高于", "not above"),
    "<=": ("不高于", "at most", "高于", "above"),
    "<": ("低于", "below", "不低于", "not below"),
    "==": ("等于", "equal to", "不等于", "not equal to"),
}
CHOICE_OPS = ("in", "not in")
_NUMBER = re.compile(r"^\s*(\w+)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_CHOICE = re.compile(r"^\s*(\w+)\s+(not\s+in|in)\s+([\w,\s]+?)\s*$")
_FLAG = re.compile(r"^\s*(not\s+)?(\w+)\s*$")


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled condition: the engine step and the sentence that explains its failure."""

    text: str
    step: Step
    failed_zh: str
    failed_en: str


def show_number(value: float, unit: str, lang: str) -> str:
    """A threshold as a person reads it.

    >>> show_number(10_000_000, "CNY", "zh"), show_number(10_000_000, "CNY", "en")
    ('1,000 万元', '10M CNY')
    >>> show_number(2, "year", "zh"), show_number(60, "points", "en")
    ('2 年', '60 points')
    """
    if unit == "CNY":
        if lang == "zh":
            return f"{value / 10_000:,.0f} 万元" if value % 10_000 == 0 else f"{value:,.2f} 元"
        if value % 1_000_000 == 0:
            return f"{value / 1_000_000:,.0f}M CNY"
        return f"{value:,.0f} CNY"
    n = f"{value:g}"
    words = {"year": ("年", "years"), "points": ("分", "points"), "person": ("人", "people")}
    if unit in words:
        return f"{n} {words[unit][0]}" if lang == "zh" else f"{n} {words[unit][1]}"
    return n


def _bad(text: str, zh: str, en: str, field: str | None = None) -> Problem:
    return Problem(zh, en, field=field or "rule", value=text)


def compile_condition(
    text: str, fields: Mapping[str, Field], article: str = ""
) -> Condition | Problem:
    """``text`` as a condition step over ``fields``, or the Problem that refuses it."""
    if m := _NUMBER.match(text):
        name, op, raw = m.groups()
        f = fields.get(name)
        if f is None:
            return _bad(
                text, f"规则引用了未知字段 {name}", f"the rule names an unknown field {name}"
            )
        if f.kind != "number":
            return _bad(text, f"字段 {name} 不是数值", f"field {name} is not a number", name)
        v = float(raw)
        req_zh, req_en, fail_zh, fail_en = NUMBER_OPS[op]
        expr = {
            ">=": pl.col(name) >= v,
            ">": pl.col(name) > v,
            "<=": pl.col(name) <= v,
            "<": pl.col(name) < v,
            "==": pl.col(name) == v,
        }[op]
        shown_zh, shown_en = show_number(v, f.unit, "zh"), show_number(v, f.unit, "en")
        return Condition(
            text,
            Step(
                text,
                expr.fill_null(False),
                "condition",
                f"{f.zh}{req_zh} {shown_zh}",
                f"{f.en} {req_en} {shown_en}",
                article,
            ),
            f"{f.zh}{fail_zh} {shown_zh}",
            f"{f.en} {fail_en} {shown_en}",
        )
    if m := _CHOICE.match(text):
        name, op, raw = m.groups()
        op = " ".join(op.split())
        f = fields.get(name)
        if f is None:
            return _bad(
                text, f"规则引用了未知字段 {name}", f"the rule names an unknown field {name}"
            )
        if f.kind != "choice" or f.choices is None:
            return _bad(text, f"字段 {name} 不是选项", f"field {name} is not a choice", name)
        vals = [v.strip() for v in raw.split(",") if v.strip()]
        unknown = [v for v in vals if v not in f.choices]
        if unknown or not vals:
            return _bad(
                text,
                f"{name} 的取值不在词表中：{','.join(unknown)}",
                f"values of {name} not in the vocabulary: {','.join(unknown)}",
                name,
            )
        zh = "、".join(f.choices[v][0] for v in vals)
        en = ", ".join(f.choices[v][1] for v in vals)
        inside = pl.col(name).is_in(vals).fill_null(False)
        if op == "in":
            return Condition(
                text,
                Step(text, inside, "condition", f"{f.zh}为{zh}", f"{f.en} is {en}", article),
                f"{f.zh}不是{zh}",
                f"{f.en} is not {en}",
            )
        return Condition(
            text,
            Step(text, ~inside, "condition", f"{f.zh}不是{zh}", f"{f.en} is not {en}", article),
            f"{f.zh}为{zh}",
            f"{f.en} is {en}",
        )
    if m := _FLAG.match(text):
        neg, name = m.groups()
        f = fields.get(name)
        if f is None:
            return _bad(
                text, f"规则引用了未知字段 {name}", f"the rule names an unknown field {name}"
            )
        if f.kind != "flag":
            return _bad(
                text, f"字段 {name} 不是是/否标志", f"field {name} is not a yes/no flag", name
            )
        held = pl.col(name).fill_null(False)
        if neg:
            return Condition(
                text,
                Step(text, ~held, "condition", f"非{f.zh}", f"not {f.en}", article),
                f"属于{f.zh}",
                f"is {f.en}",
            )
        return Condition(
            text,
            Step(text, held, "condition", f"属于{f.zh}", f"is {f.en}", article),
            f"不属于{f.zh}",
            f"is not {f.en}",
        )
    return _bad(
        text,
        "无法识别的规则（应为“字段 >= 数值”“字段 in 值1,值2”或“[not] 标志”）",
        "unreadable rule (expected 'field >= number', 'field in a,b' or '[not] flag')",
    )


def split_rules(cell: Any) -> list[str]:
    """The conditions of one Excel cell or API field, separated by ``;`` or new lines.

    >>> split_rules("hnte; revenue_2y >= 1\\n not dishonest")
    ['hnte', 'revenue_2y >= 1', 'not dishonest']
    """
    if cell is None:
        return []
    items = cell if isinstance(cell, (list, tuple)) else re.split(r"[;；\n]", str(cell))
    return [" ".join(str(t).split()) for t in items if str(t).strip()]


def compile_all(
    texts: Sequence[str], fields: Mapping[str, Field], article: str = ""
) -> list[Condition]:
    """Every condition compiled, or one ValidationError naming each bad one (all-or-nothing)."""
    out: list[Condition] = []
    problems: list[Problem] = []
    for t in texts:
        c = compile_condition(t, fields, article)
        (problems if isinstance(c, Problem) else out).append(c)  # type: ignore[arg-type]
    if problems:
        raise ValidationError("规则有误", "invalid rule", problems)
    return out
