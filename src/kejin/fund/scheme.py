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
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError
from kejin.vocab import CLASSIFICATIONS, GUARANTEE_FAMILIES, GUARANTEE_KINDS, QUALIFICATION_KINDS

SCHEMES_DIR = Path(__file__).parent / "schemes"
ROLES = ("government_pool", "bank", "guarantor", "insurer", "reguarantor")
#: The party that stands for "the lending institution" in a category's shares.
LENDER = "bank"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    document: str
    article: str
    url: str | None = None
    note: str | None = None


class Cite(_Model):
    """Where one figure of the scheme comes from: a reference and its article, or, for a value no
    source gives, ``choice`` saying so and naming the alternatives (listed in docs/fund.md)."""

    ref: str | None = None
    article: str | None = None
    choice: str | None = None


class Rounding(_Model):
    """How shares are rounded to the fen (a scheme may state its own rule, with its source)."""

    #: 四舍五入 per payment line by default; ``down`` rounds every line toward zero.
    mode: Literal["half_up", "down"] = "half_up"
    #: Who takes the residue so the lines add up to the loss; default: the party the category
    #: compensates (the lender unless the category says otherwise).
    remainder_to: str | None = None


class Participant(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    role: Literal["government_pool", "bank", "guarantor", "insurer", "reguarantor"]
    name_zh: str
    name_en: str


class Condition(_Model):
    """Facts a loan must have; every field given must hold (an empty condition always holds)."""

    guarantee_kinds: list[str] | None = None  # any one of these (vocab GUARANTEE_KINDS)
    guarantee_families: list[str] | None = None  # 信用 / 保证 / 抵押 / 质押 (any pledged asset)
    first_time_borrower: bool | None = None
    qualifications: list[str] | None = None  # any one of these, valid on the enrolment date
    profitable_years: int | None = Field(default=None, ge=1, le=10)  # latest N years, profit > 0


class Bonus(_Model):
    """Extra points moved from one party to another when any one condition holds."""

    points: Decimal = Field(gt=0, le=1)
    to: str
    from_: str = Field(alias="from")
    when_any: list[Condition]


class Category(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    name_zh: str
    name_en: str
    when: Condition = Condition()
    shares: dict[str, Decimal]
    bonuses: list[Bonus] = []
    #: The party the pool's payout goes to, the one that bore the loss it compensates (Anhui's
    #: guaranteed loans: the guarantor); default the lender.
    compensates: str = LENDER


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
    rounding: Rounding = Rounding()
    #: figure path (see :func:`figures`) → where it comes from; every figure needs one.
    sources: dict[str, Cite] = {}

    def citation(self, path: str) -> dict[str, str | None]:
        """Where the figure at ``path`` comes from: document, article, url (a stated choice shows
        as kejin's reading with its alternatives)."""
        c = self.sources[path]
        r = next((r for r in self.references if r.id == c.ref), None)
        if r is None:
            return {"document": "kejin 取舍 / kejin reading", "article": c.choice, "url": None}
        return {"document": r.document, "article": c.article, "url": r.url}

    def party_of_role(self, role: str, party: str) -> str:
        """The participant a claim share stands for: the lender and the guarantor are named by
        institution on a claim; every other party by its participant id."""
        if role in ("bank", "guarantor"):
            return next(p.id for p in self.participants if p.role == role)
        return party

    def remainder_party(self, cat: Category) -> str:
        """Who takes the rounding residue and any amount a cap cuts from the others."""
        return self.rounding.remainder_to or cat.compensates

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


def figures(s: Scheme) -> list[str]:
    """Every figure the scheme states, by path: each needs an entry in ``sources``."""
    out = [f"categories.{c.id}" for c in s.categories]  # its conditions and shares
    out += [f"categories.{c.id}.bonuses[{j}]" for c in s.categories for j in range(len(c.bonuses))]
    out += [
        f"categories.{c.id}.compensates"
        for c in s.categories
        if "compensates" in c.model_fields_set
    ]
    out += [f"caps.{k}" for k, v in s.caps if v is not None]
    out += [f"trigger.{k}" for k, v in s.trigger if v is not None]
    out += [k for k in ("leverage", "fee_rate", "interest_borne_by") if getattr(s, k) is not None]
    out.append("deadlines")
    if "rounding" in s.model_fields_set:
        out.append("rounding")
    return out


def _citation_problems(s: Scheme, file: str) -> list[Problem]:
    """A figure without a source is refused: a scheme says where each of its numbers comes from."""
    refs = {r.id for r in s.references}
    probs: list[Problem] = []
    wanted = figures(s)
    for path in wanted:
        c = s.sources.get(path)
        if c is None or not (c.choice or (c.ref and c.article)):
            probs.append(
                Problem(
                    "数值缺少出处（文件与条款，或注明为取舍及备选）",
                    "figure without a reference (document and article, or a stated choice)",
                    file=file,
                    field=f"sources.{path}",
                )
            )
        elif c.ref is not None and c.ref not in refs:
            probs.append(
                Problem(
                    "未知出处", "unknown reference", file=file, field=f"sources.{path}", value=c.ref
                )
            )
    for path in sorted(set(s.sources) - set(wanted)):
        probs.append(
            Problem(
                "出处指向不存在的数值",
                "source given for a figure the scheme does not state",
                file=file,
                field=f"sources.{path}",
            )
        )
    return probs


def _domain_problems(s: Scheme, file: str) -> list[Problem]:
    """Checks pydantic cannot express: shares add up, parties exist, vocabularies are known."""
    probs: list[Problem] = _citation_problems(s, file)
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
        # The compensated party bears what caps cut (it may hold a zero share, as 苏科贷's bank);
        # the remainder party must hold a positive share, or rounding could leave it negative.
        if c.compensates not in c.shares:
            probs.append(
                Problem(
                    "被补偿方不在本类别份额中",
                    "the compensated party has no share in this category",
                    file=file,
                    field=f"{where}.compensates",
                    value=c.compensates,
                )
            )
        rest = s.remainder_party(c)
        if c.shares.get(rest, Decimal(0)) <= 0:
            probs.append(
                Problem(
                    "尾差承担方在本类别中须有正的份额",
                    "the rounding remainder party needs a positive share in this category",
                    file=file,
                    field=f"{where}.rounding.remainder_to",
                    value=rest,
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
            for fld, vocab, vals in (
                ("guarantee_kinds", GUARANTEE_KINDS, cond.guarantee_kinds),
                ("guarantee_families", GUARANTEE_FAMILIES, cond.guarantee_families),
            ):
                for g in vals or []:
                    if g not in vocab:
                        probs.append(
                            Problem(
                                "未知担保方式",
                                "unknown guarantee kind",
                                file=file,
                                field=f"{where}.when.{fld}",
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


@cache
def region_scheme_text(name: str) -> tuple[str, str] | None:
    """(text, label) of the configured region's own scheme when ``name`` is its id."""
    from kejin.config import get_settings
    from kejin.regions import current, fund_scheme_text, region_path

    region = current()
    if region is None or region.fund.id != name:
        return None
    file = str(region_path(get_settings().region.strip()))
    return fund_scheme_text(region, file), f"{file}#fund"


def region_scheme_id() -> str | None:
    """The id of the configured region's scheme (the one its demo runs), if any."""
    from kejin.regions import current

    region = current()
    return region.fund.id if region is not None else None


def read_scheme_text(name_or_path: str) -> tuple[str, str]:
    """(text, file label) of the region's own scheme or a library scheme by id, or of a YAML
    file by path."""
    own = region_scheme_text(name_or_path)
    if own is not None:
        return own
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
