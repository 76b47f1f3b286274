"""One exception family for every area.

Errors carry where the problem is (file, row, field, value) and why, in Chinese and English, so
that the CLI can print them without a traceback and the API can return them as 4xx with the same
fields. A rule-based refusal also names the document and article it enforces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input value.

    ``row`` is the 1-based data row as a person sees it in a spreadsheet (header is row 1, so the
    first data row is row 2), because that is the number a clerk will look up.
    """

    reason_zh: str
    reason_en: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    value: Any = None
    document: str | None = None
    article: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["value"] is not None and not isinstance(d["value"], (int, float, bool, str)):
            d["value"] = str(d["value"])
        return d

    def render(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"第{self.row}行/row {self.row}")
        if self.field:
            where.append(f"字段/field {self.field}")
        loc = " · ".join(where)
        val = "" if self.value is None else f" = {self.value!r}"
        head = f"{loc}{val}: " if loc or val else ""
        return f"{head}{self.reason_zh} / {self.reason_en}"


@dataclass
class KejinError(Exception):
    """Base of every error a user can cause; never raised for programming mistakes."""

    reason_zh: str
    reason_en: str
    problems: list[Problem] = field(default_factory=list)
    exit_code: int = 2

    def __post_init__(self) -> None:
        Exception.__init__(self, self.render())

    def render(self) -> str:
        lines = [f"{self.reason_zh} / {self.reason_en}"]
        lines += [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
            "problems": [p.to_dict() for p in self.problems],
        }


class ValidationError(KejinError):
    """Input that breaks a rule of the domain or of the file format; nothing was written."""


class NotFoundError(KejinError):
    """A referenced entity (firm, institution, loan …) does not exist."""


class ConflictError(KejinError):
    """The request contradicts stored state (duplicate key, reused idempotency key …)."""


def parse_date(text: str, field: str) -> date:
    """An ISO date typed by a user (CLI option, form field), or a refusal naming the field.

    One place, so that every entry point answers a bad date with the same zh/en reason instead of
    a bare ``ValueError`` traceback.
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "日期格式应为 YYYY-MM-DD",
            "date must be YYYY-MM-DD",
            [Problem("日期无效", "invalid date", field=field, value=text)],
        ) from None
