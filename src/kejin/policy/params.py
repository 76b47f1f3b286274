"""Policy parameters as dated, referenced, bitemporal data.

A parameter (a rate, a cap, the LPR) is never written into a formula: it lives in the YAML file
beside the policy module, with a description, a unit and the document and article it comes from.
Each value carries two kinds of date, because a fiscal bureau must be able to answer both "what
did the rule say for 2024?" and "what did we *know* the rule said when we paid in March 2025?":

* ``from`` / ``until`` — the period the value is in force (``until`` inclusive, open when absent);
* ``published`` — the day the value became known (a notice, a revision published late).

A parameter marked ``reading: true`` is a **reading that is a choice**: the text admits more than
one reading, the value is the one this library takes, and its description names the alternatives
(``…；备选：… / …; alternatives: …``). Pages and traces show them as such. A ``choice`` unit takes
one of the numbered ``choices`` the file lists (e.g. ``1: 每户每年 / per firm per year``).

Computing "as known on X" ignores every value published after X. When a later publication covers
a period already covered by an earlier one, it is a correction and wins for that period; two values
of the *same* publication that overlap are a contradiction and the file is refused.

The layout of a file (one per policy)::

    parameters:
      rate_small:
        description: 单户授信1000万元及以下贴息比例 / interest share, credit line <= 10M
        unit: ratio
        reference: {document: 克政办发〔2022〕23号, article: 三(一)8}
        values:
          - {value: 0.20, from: 2022-07-01, published: 2022-07-01}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from kejin.errors import Problem, ValidationError

#: Units a parameter may declare; a module states which one it expects for each name.
UNITS = {
    "ratio": ("比例", "ratio (0-1)"),
    "CNY": ("元", "yuan"),
    "year": ("年", "years"),
    "month": ("月", "months"),
    "1/year": ("年利率", "per year"),
    "times": ("倍", "multiple"),
    "working_day": ("工作日", "working days"),
    "day": ("日", "calendar days"),
    "choice": ("选项", "one of the listed choices"),
}

#: The latest date we accept as "open-ended"; comparisons need a real date.
OPEN_END = date(9999, 12, 31)


@dataclass(frozen=True, slots=True)
class Value:
    """One dated value of a parameter."""

    value: Decimal  # exact: read from the file's text, never through a binary float
    start: date
    end: date  # inclusive; OPEN_END when the file gives no ``until``
    published: date

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "from": self.start,
            "until": None if self.end == OPEN_END else self.end,
            "published": self.published,
        }


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named, referenced parameter with every value ever published for it."""

    name: str
    description: str
    unit: str
    document: str
    article: str
    values: tuple[Value, ...]
    reading: bool = False
    choices: tuple[tuple[int, str], ...] = ()

    def choice_text(self, value: Decimal | None) -> str | None:
        """The listed meaning of a ``choice`` value (None for other units)."""
        return next((t for k, t in self.choices if value is not None and k == value), None)

    def known(self, as_of: date | None) -> list[Value]:
        """The values published on or before ``as_of`` (all of them when None)."""
        return [v for v in self.values if as_of is None or v.published <= as_of]

    def segments(self, as_of: date | None) -> list[Value]:
        """Non-overlapping in-force segments as known on ``as_of``, sorted by start.

        Later publications override earlier ones where they overlap, so the result is the rule
        as a reader on ``as_of`` would have applied it.

        >>> p = Parameter("r", "", "ratio", "d", "a", (
        ...     Value(Decimal("0.2"), date(2022, 1, 1), OPEN_END, date(2022, 1, 1)),
        ...     Value(Decimal("0.25"), date(2024, 1, 1), OPEN_END, date(2024, 6, 1))))
        >>> [(str(s.value), s.start.year, s.end.year) for s in p.segments(date(2024, 7, 1))]
        [('0.2', 2022, 2023), ('0.25', 2024, 9999)]
        >>> [str(s.value) for s in p.segments(date(2024, 5, 1))]
        ['0.2']
        """
        out: list[Value] = []
        for v in sorted(self.known(as_of), key=lambda v: v.published):
            kept: list[Value] = []
            for s in out:
                if s.end < v.start or s.start > v.end:
                    kept.append(s)
                    continue
                if s.start < v.start:
                    kept.append(Value(s.value, s.start, _day_before(v.start), s.published))
                if s.end > v.end:
                    kept.append(Value(s.value, _day_after(v.end), s.end, s.published))
            kept.append(v)
            out = sorted(kept, key=lambda s: s.start)
        return out

    def at(self, day: date, as_of: date | None) -> Value:
        """The value in force on ``day`` as known on ``as_of``; an error outside any validity."""
        for s in self.segments(as_of):
            if s.start <= day <= s.end:
                return s
        raise outside_validity(self, day, as_of)


def outside_validity(
    p: Parameter, day: date, as_of: date | None, entity: str = ""
) -> ValidationError:
    known = "" if as_of is None else f"（截至{as_of}已公布）"
    known_en = "" if as_of is None else f" (as published by {as_of})"
    return ValidationError(
        f"参数{p.name}在{day}没有有效取值{known}",
        f"parameter {p.name} has no value in force on {day}{known_en}",
        [
            Problem(
                "超出参数有效期：不能按零计算",
                "outside the parameter's validity: not computed as zero",
                field=p.name,
                value=entity or str(day),
                document=p.document,
                article=p.article,
            )
        ],
    )


def _day_before(d: date) -> date:
    return date.fromordinal(d.toordinal() - 1)


def _day_after(d: date) -> date:
    return date.fromordinal(d.toordinal() + 1)


def _as_date(raw: Any, file: str, key: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ValidationError(
            "参数文件日期格式错误",
            "bad date in parameter file",
            [
                Problem(
                    "日期应为YYYY-MM-DD", "dates are YYYY-MM-DD", file=file, field=key, value=raw
                )
            ],
        ) from None


def load_parameters(path: Path, expected_units: dict[str, str]) -> dict[str, Parameter]:
    """Read and validate one policy's parameter file; refuse it whole on any problem.

    ``expected_units`` is what the policy module declares: every declared name must be present
    with that unit, and the file may not define names the module does not use.
    """
    file = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValidationError(
            "无法读取参数文件",
            "cannot read the parameter file",
            [Problem(str(e), str(e), file=file)],
        ) from None
    raw_params = doc.get("parameters") or {}
    problems: list[Problem] = []
    params: dict[str, Parameter] = {}
    for name in expected_units:
        if name not in raw_params:
            problems.append(
                Problem(
                    "政策公式使用的参数缺失",
                    "parameter used by the policy is missing",
                    file=file,
                    field=name,
                )
            )
    for name, spec in raw_params.items():
        key = f"parameters.{name}"
        if name not in expected_units:
            problems.append(
                Problem(
                    "政策未使用此参数",
                    "the policy declares no such parameter",
                    file=file,
                    field=key,
                )
            )
            continue
        spec = spec or {}
        for req in ("description", "unit", "reference", "values"):
            if not spec.get(req):
                problems.append(
                    Problem(f"缺少{req}", f"missing {req}", file=file, field=f"{key}.{req}")
                )
        if any(p.field and p.field.startswith(key + ".") for p in problems):
            continue
        ref = spec["reference"]
        if not isinstance(ref, dict) or not ref.get("document") or not ref.get("article"):
            problems.append(
                Problem(
                    "reference须写明document和article",
                    "reference needs document and article",
                    file=file,
                    field=f"{key}.reference",
                    value=ref,
                )
            )
            continue
        unit = str(spec["unit"])
        reading = spec.get("reading", False)
        if reading and "备选" not in str(spec["description"]):
            problems.append(
                Problem(
                    "解读选择须在说明中写明备选（备选：…）",
                    "a reading must name its alternatives in the description (备选：…)",
                    file=file,
                    field=f"{key}.description",
                )
            )
            continue
        raw_choices = spec.get("choices") or {}
        choices = tuple(sorted((int(k), str(v)) for k, v in raw_choices.items()))
        if (unit == "choice") != bool(choices):
            problems.append(
                Problem(
                    "choice单位须列出choices，其他单位不得列出",
                    "a choice unit lists its choices; other units list none",
                    file=file,
                    field=f"{key}.choices",
                )
            )
            continue
        if unit not in UNITS:
            problems.append(
                Problem(
                    "未知单位",
                    f"unknown unit (one of {sorted(UNITS)})",
                    file=file,
                    field=f"{key}.unit",
                    value=unit,
                )
            )
            continue
        if unit != expected_units[name]:
            problems.append(
                Problem(
                    f"单位不符：政策要求{expected_units[name]}",
                    f"unit mismatch: the policy expects {expected_units[name]}",
                    file=file,
                    field=f"{key}.unit",
                    value=unit,
                )
            )
            continue
        values: list[Value] = []
        for i, rv in enumerate(spec["values"]):
            vkey = f"{key}.values[{i}]"
            if (
                not isinstance(rv, dict)
                or "value" not in rv
                or "from" not in rv
                or "published" not in rv
            ):
                problems.append(
                    Problem(
                        "取值须含value、from、published",
                        "a value needs value, from, published",
                        file=file,
                        field=vkey,
                        value=rv,
                    )
                )
                continue
            try:
                num = Decimal(str(rv["value"]))
                if not num.is_finite() or isinstance(rv["value"], bool):
                    raise InvalidOperation
            except (TypeError, ValueError, InvalidOperation):
                problems.append(
                    Problem(
                        "取值须为数字",
                        "value must be a number",
                        file=file,
                        field=vkey,
                        value=rv["value"],
                    )
                )
                continue
            if unit == "ratio" and not 0 <= num <= 1:
                problems.append(
                    Problem(
                        "比例须在0到1之间",
                        "a ratio lies between 0 and 1",
                        file=file,
                        field=vkey,
                        value=num,
                    )
                )
                continue
            if choices and num not in {k for k, _ in choices}:
                problems.append(
                    Problem(
                        "取值不在choices中",
                        f"value is not one of the choices {[k for k, _ in choices]}",
                        file=file,
                        field=vkey,
                        value=str(num),
                    )
                )
                continue
            start = _as_date(rv["from"], file, vkey)
            end = _as_date(rv["until"], file, vkey) if rv.get("until") else OPEN_END
            if end < start:
                problems.append(
                    Problem(
                        "until早于from", "until is before from", file=file, field=vkey, value=rv
                    )
                )
                continue
            values.append(Value(num, start, end, _as_date(rv["published"], file, vkey)))
        for i, a in enumerate(values):
            for b in values[i + 1 :]:
                if a.published == b.published and a.start <= b.end and b.start <= a.end:
                    problems.append(
                        Problem(
                            f"同一次公布的取值期间重叠：{a.start}–{a.end} 与 {b.start}–{b.end}",
                            f"overlapping date ranges in one publication: {a.start}–{a.end} and {b.start}–{b.end}",
                            file=file,
                            field=key,
                        )
                    )
        params[name] = Parameter(
            name,
            str(spec["description"]),
            unit,
            str(ref["document"]),
            str(ref["article"]),
            tuple(values),
            bool(reading),
            choices,
        )
    if problems:
        raise ValidationError("参数文件有误，未加载", "parameter file refused", problems)
    return params
