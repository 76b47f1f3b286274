"""Risk-sharing schemes as data: YAML files validated by pydantic, then by the rules of the domain.

A scheme says who shares a loss (government pools, bank, guarantor, insurer, re-guarantor), in what
proportion for each loan category, what triggers a claim, which caps bind and how fast reviewers
must act. The numbers come from real policies and each file cites its source; nothing here is
hard-coded in the service. A file whose shares do not add up to 100% is refused with the file, the
key and the reason, before any pool can be set up under it.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError
from kejin.vocab import CLASSIFICATIONS, GUARANTEE_TYPES, QUALIFICATION_KINDS

SCHEMES_DIR = Path(__file__).parent / "schemes"
ROLES = ("government_pool", "bank", "guarantor", "insurer", "reguarantor")
#: The party that stands for "the lending institution" in a category's shares.
LENDER = "bank"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Model):
    document: str
    article: str
    url: str | None = None
    note: str | None = None


class Participant(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    role: Literal["government_pool", "bank", "guarantor", "insurer", "reguarantor"]
    name_zh: str
    name_en: str


class Condition(_Model):
    """Facts a loan must have; every field given must hold (an empty condition always holds)."""

    guarantee_types: list[str] | None = None
    first_time_borrower: bool | None = None
    qualifications: list[str] | None = None  # any one of these, valid on the enrolment date
    profitable_years: int | None = Field(default=None, ge=1, le=10)  # latest N years, profit > 0


class Bonus(_Model):
    """Extra points moved from one party to another when any one condition holds."""

    points: Decimal = Field(gt=0, le=1)
    to: str
    from_: str = Field(alias="from")
    when_any: list[Condition]
    reference: Reference | None = None


class Category(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    name_zh: str
    name_en: str
    when: Condition = Condition()
    shares: dict[str, Decimal]
    bonuses: list[Bonus] = []
    reference: Reference | None = None


class Trigger(_Model):
    """A claim may be filed once either configured test holds on the latest monthly status."""

    days_past_due: int | None = Field(default=None, ge=1)
    classification: str | None = None  # this class or worse (五级分类)


class Caps(_Model):
    per_loan: Decimal | None = Field(default=None, gt=0)
    per_firm: Decimal | None = Field(default=None, gt=0)
    #: cumulative compensation ≤ this share of the institution's actual liability (the loss).
    max_share_of_liability: Decimal | None = Field(default=None, gt=0, le=1)
    #: a bank whose compensation rate (claimed loss / enrolled amount) exceeds this is suspended.
    compensation_rate: Decimal | None = Field(default=None, gt=0, le=1)
    #: total payouts ≤ this multiple of the guarantee fees collected.
    payout_to_fee_multiple: Decimal | None = Field(default=None, gt=0)


class Deadlines(_Model):
    first_review_working_days: int = Field(ge=1)
    approval_working_days: int = Field(ge=1)
    holidays: list[date] = []


class Scheme(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    version: str
    name_zh: str
    name_en: str
    references: list[Reference] = Field(min_length=1)
    participants: list[Participant] = Field(min_length=2)
    interest_borne_by: str | None = None
    trigger: Trigger
    categories: list[Category] = Field(min_length=1)
    caps: Caps = Caps()
    leverage: Decimal | None = Field(default=None, gt=0)
    fee_rate: Decimal | None = Field(default=None, gt=0, lt=1)
    deadlines: Deadlines

    def role_of(self, party: str) -> str:
        return next(p.role for p in self.participants if p.id == party)

    @property
    def pool_parties(self) -> list[str]:
        """Participants whose shares the pool pays in cash (government pools)."""
        return [p.id for p in self.participants if p.role == "government_pool"]

    def due_date(self, start: date, working_days: int) -> date:
        """``working_days`` working days after ``start`` (weekends and listed holidays skipped).

        >>> s = load_scheme("anhui")
        >>> s.due_date(date(2026, 11, 27), 5)  # a Friday
        datetime.date(2026, 12, 4)
        """
        d, left, off = start, working_days, set(self.deadlines.holidays)
        while left:
            d += timedelta(days=1)
            if d.weekday() < 5 and d not in off:
                left -= 1
        return d

    def triggered(self, days_past_due: int, classification: str) -> str | None:
        """Why the trigger holds for this status, or None; the reason is stored on the claim."""
        t = self.trigger
        if t.days_past_due is not None and days_past_due >= t.days_past_due:
            return f"逾期{days_past_due}天≥{t.days_past_due} / {days_past_due} days past due ≥ {t.days_past_due}"
        order = list(CLASSIFICATIONS)
        if t.classification is not None and order.index(classification) >= order.index(
            t.classification
        ):
            return f"五级分类 {classification} ≥ {t.classification} / classification {classification} at or below {t.classification}"
        return None


def _problems_from_pydantic(err: PydanticError, file: str) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        out.append(
            Problem(
                "方案字段不合规：" + e["msg"],
                e["msg"],
                file=file,
                field=loc,
                value=e.get("input") if not isinstance(e.get("input"), dict) else None,
            )
        )
    return out


def _domain_problems(s: Scheme, file: str) -> list[Problem]:
    """Checks pydantic cannot express: shares add up, parties exist, vocabularies are known."""
    probs: list[Problem] = []
    ids = [p.id for p in s.participants]
    if len(set(ids)) != len(ids):
        probs.append(
            Problem("参与方重复", "duplicate participant id", file=file, field="participants")
        )
    if not s.pool_parties:
        probs.append(
            Problem(
                "至少需要一个政府资金池参与方",
                "at least one government_pool participant is required",
                file=file,
                field="participants",
            )
        )
    if s.interest_borne_by is not None and s.interest_borne_by not in ids:
        probs.append(
            Problem(
                "未知参与方",
                "unknown participant",
                file=file,
                field="interest_borne_by",
                value=s.interest_borne_by,
            )
        )
    if s.trigger.days_past_due is None and s.trigger.classification is None:
        probs.append(
            Problem(
                "触发条件至少设一项",
                "the trigger needs days_past_due or classification",
                file=file,
                field="trigger",
            )
        )
    if s.trigger.classification is not None and s.trigger.classification not in CLASSIFICATIONS:
        probs.append(
            Problem(
                "未知五级分类",
                "unknown classification",
                file=file,
                field="trigger.classification",
                value=s.trigger.classification,
            )
        )
    if s.caps.payout_to_fee_multiple is not None and s.fee_rate is None:
        probs.append(
            Problem(
                "按保费倍数封顶需设费率",
                "payout_to_fee_multiple needs fee_rate",
                file=file,
                field="caps.payout_to_fee_multiple",
            )
        )
    seen: set[str] = set()
    for i, c in enumerate(s.categories):
        where = f"categories[{i}]({c.id})"
        if c.id in seen:
            probs.append(Problem("类别重复", "duplicate category id", file=file, field=where))
        seen.add(c.id)
        for party, rate in c.shares.items():
            if party not in ids:
                probs.append(
                    Problem(
                        "未知参与方",
                        "unknown participant",
                        file=file,
                        field=f"{where}.shares.{party}",
                        value=party,
                    )
                )
            if rate < 0 or rate > 1:
                probs.append(
                    Problem(
                        "分担比例须在0到1之间",
                        "a share must lie in [0, 1]",
                        file=file,
                        field=f"{where}.shares.{party}",
                        value=str(rate),
                    )
                )
        total = sum(c.shares.values(), Decimal(0))
        if total != 1:
            probs.append(
                Problem(
                    f"分担比例合计为{total}，应为1",
                    f"shares add up to {total}, not 1",
                    file=file,
                    field=f"{where}.shares",
                    value=str(total),
                )
            )
        if not any(s.role_of(p) == "government_pool" for p in c.shares if p in ids):
            probs.append(
                Problem(
                    "类别中没有政府资金池份额",
                    "no government pool share in category",
                    file=file,
                    field=f"{where}.shares",
                )
            )
        for j, b in enumerate(c.bonuses):
            bw = f"{where}.bonuses[{j}]"
            for party, fld in ((b.to, "to"), (b.from_, "from")):
                if party not in c.shares:
                    probs.append(
                        Problem(
                            "加成的参与方不在本类别份额中",
                            "bonus party has no share in this category",
                            file=file,
                            field=f"{bw}.{fld}",
                            value=party,
                        )
                    )
            if b.from_ in c.shares and c.shares[b.from_] < b.points:
                probs.append(
                    Problem(
                        "加成超过让出方的份额",
                        "bonus exceeds the giving party's share",
                        file=file,
                        field=f"{bw}.points",
                        value=str(b.points),
                    )
                )
        conds = [c.when] + [w for b in c.bonuses for w in b.when_any]
        for cond in conds:
            for g in cond.guarantee_types or []:
                if g not in GUARANTEE_TYPES:
                    probs.append(
                        Problem(
                            "未知担保方式",
                            "unknown guarantee type",
                            file=file,
                            field=f"{where}.when.guarantee_types",
                            value=g,
                        )
                    )
            for q in cond.qualifications or []:
                if q not in QUALIFICATION_KINDS:
                    probs.append(
                        Problem(
                            "未知资质",
                            "unknown qualification",
                            file=file,
                            field=f"{where}.when.qualifications",
                            value=q,
                        )
                    )
    return probs


def parse_scheme(text: str, file: str) -> Scheme:
    """Validate scheme YAML text; raise :class:`ValidationError` listing every problem."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValidationError(
            "方案文件不是合法的YAML",
            "scheme file is not valid YAML",
            [Problem("YAML解析失败", str(e), file=file)],
        ) from None
    if not isinstance(raw, dict):
        raise ValidationError(
            "方案文件应为映射",
            "scheme file must be a mapping",
            [Problem("顶层不是映射", "top level is not a mapping", file=file)],
        )
    try:
        scheme = Scheme.model_validate(raw)
    except PydanticError as e:
        raise ValidationError(
            "方案不合规", "invalid scheme", _problems_from_pydantic(e, file)
        ) from None
    probs = _domain_problems(scheme, file)
    if probs:
        raise ValidationError("方案不合规", "invalid scheme", probs)
    return scheme


def scheme_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return SCHEMES_DIR / f"{name_or_path}.yaml"


def read_scheme_text(name_or_path: str) -> tuple[str, str]:
    """(text, file label) of a library scheme by id, or of a YAML file by path."""
    path = scheme_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(x.stem for x in SCHEMES_DIR.glob("*.yaml")))
        raise ValidationError(
            f"找不到方案 {name_or_path}（库中有：{known}）",
            f"no scheme {name_or_path} (library: {known})",
            [Problem("文件不存在", "file not found", file=str(path))],
        )
    return path.read_text(encoding="utf-8"), str(path)


def load_scheme(name_or_path: str) -> Scheme:
    text, file = read_scheme_text(name_or_path)
    return parse_scheme(text, file)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def library() -> list[Scheme]:
    return [load_scheme(str(p)) for p in sorted(SCHEMES_DIR.glob("*.yaml"))]
