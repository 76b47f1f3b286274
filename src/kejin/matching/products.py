"""The product catalogue: draft, submit, approve (maker-checker), and what goes live.

A product's terms are validated once, here, whatever the door (API body, Excel row, the
synthetic region): ranges in order, vocabularies known, every eligibility rule compiled by the
policy engine's predicate compiler (an unknown field is refused by name), and the top of the
rate band at most the legal ceiling in force. Approval follows the policy programmes' rule
(:func:`kejin.policy.service.publish`): the checker is a different person, of the same bank or
of the government; the CHECK constraint ``maker_checker`` repeats it in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.access.service import log
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution, Product
from kejin.matching import params
from kejin.matching.kernels import FIRM_FIELDS
from kejin.matching.tables import ProductVersion
from kejin.policy.predicates import compile_condition, split_rules
from kejin.policy.service import _same_person
from kejin.vocab import GUARANTEE_KINDS, PRODUCT_KINDS, REPAYMENT_OPTIONS

GOV_CHECKERS = ("gov_admin", "gov_reviewer")


@dataclass
class ProductTerms:
    """What an officer fills in for one product (an API body, one Excel row)."""

    product_id: str
    institution_id: str
    name: str
    kind: str
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    spread_min_bp: int
    spread_max_bp: int
    guarantee_kinds: list[str]
    repayment: list[str] = field(default_factory=list)
    talent_loan: bool = False
    invest_loan_link: bool = False
    eligibility: list[str] = field(default_factory=list)
    credit_model: str | None = None


def problems_of(
    t: ProductTerms, day: date, row: int | None = None, file: str | None = None
) -> list[Problem]:
    """Every problem with ``t`` (empty when it is valid): each names its field, zh and en."""
    out: list[Problem] = []

    def bad(fld: str, value: Any, zh: str, en: str) -> None:
        out.append(Problem(zh, en, file=file, row=row, field=fld, value=value))

    if not t.product_id or len(t.product_id) > 30:
        bad(
            "product_id",
            t.product_id,
            "产品编号须为1–30个字符",
            "product id must be 1–30 characters",
        )
    if not t.name:
        bad("name", t.name, "产品名称不能为空", "name must not be empty")
    if t.kind not in PRODUCT_KINDS:
        bad("kind", t.kind, "产品类型不在词表中", "kind not in the vocabulary")
    if t.min_amount <= 0:
        bad("min_amount", t.min_amount, "最低金额须大于0", "minimum amount must be positive")
    if t.min_amount > t.max_amount:
        bad(
            "min_amount", t.min_amount, "最低金额高于最高金额", "minimum amount exceeds the maximum"
        )
    if t.min_term_months <= 0:
        bad(
            "min_term_months", t.min_term_months, "最短期限须大于0", "minimum term must be positive"
        )
    if t.min_term_months > t.max_term_months:
        bad(
            "min_term_months",
            t.min_term_months,
            "最短期限长于最长期限",
            "minimum term exceeds the maximum",
        )
    if t.spread_min_bp > t.spread_max_bp:
        bad("spread_min_bp", t.spread_min_bp, "加点下限高于上限", "spread low exceeds spread high")
    pricing = params.pricing(day)
    top = pricing.lpr + t.spread_max_bp / 10_000
    if top > pricing.rate_cap + 1e-12:
        ref = params.parameters()["rate_cap_lpr_multiple"]
        out.append(
            Problem(
                f"利率上限 {top:.2%} 超过法定上限 {pricing.rate_cap:.2%}",
                f"top of the rate band {top:.2%} exceeds the legal ceiling {pricing.rate_cap:.2%}",
                file=file,
                row=row,
                field="spread_max_bp",
                value=t.spread_max_bp,
                document=ref.document,
                article=ref.article,
            )
        )
    if not t.guarantee_kinds:
        bad("guarantee_kinds", "", "至少一种担保方式", "at least one guarantee kind")
    for g in t.guarantee_kinds:
        if g not in GUARANTEE_KINDS:
            bad("guarantee_kinds", g, "担保方式不在词表中", "guarantee kind not in the vocabulary")
    for r in t.repayment:
        if r not in REPAYMENT_OPTIONS:
            bad("repayment", r, "还款方式不在词表中", "repayment option not in the vocabulary")
    for text in t.eligibility:
        c = compile_condition(text, FIRM_FIELDS)
        if isinstance(c, Problem):
            out.append(
                Problem(
                    c.reason_zh, c.reason_en, file=file, row=row, field="eligibility", value=text
                )
            )
    return out


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise ValidationError(
            "产品信息有误，未保存", "invalid product; nothing was saved", problems
        )


def _check_institution(s: Session, p: Principal, institution_id: str) -> None:
    if s.get(Institution, institution_id) is None:
        raise NotFoundError(
            "机构不存在",
            "no such institution",
            [Problem("", "", field="institution_id", value=institution_id)],
        )
    if p.role == "bank_officer" and p.institution_id != institution_id:
        raise Forbidden(
            "只能维护本机构的产品", "an officer maintains its own institution's products only"
        )


def view(v: ProductVersion) -> dict[str, Any]:
    return {
        "version_id": v.id,
        "product_id": v.product_id,
        "version": v.version,
        "state": v.state,
        "institution_id": v.institution_id,
        "name": v.name,
        "kind": v.kind,
        "min_amount": v.min_amount,
        "max_amount": v.max_amount,
        "min_term_months": v.min_term_months,
        "max_term_months": v.max_term_months,
        "spread_min_bp": v.spread_min_bp,
        "spread_max_bp": v.spread_max_bp,
        "guarantee_kinds": list(v.guarantee_kinds),
        "repayment": list(v.repayment),
        "talent_loan": v.talent_loan,
        "invest_loan_link": v.invest_loan_link,
        "eligibility": split_rules(v.eligibility),
        "credit_model": v.credit_model,
        "made_by": v.made_by,
        "approved_by": v.approved_by,
        "approved_at": v.approved_at,
    }


def draft(
    s: Session, p: Principal, t: ProductTerms, *, submit: bool = False, now: datetime | None = None
) -> ProductVersion:
    """A new version of ``t.product_id`` (a new product at version 1), draft or submitted."""
    authorize(s, p, "match.product.edit")
    _check_institution(s, p, t.institution_id)
    now = now or utcnow()
    _refuse(problems_of(t, now.date()))
    existing = s.scalar(
        select(ProductVersion.institution_id)
        .where(ProductVersion.product_id == t.product_id)
        .limit(1)
    ) or s.scalar(select(Product.institution_id).where(Product.id == t.product_id))
    if existing is not None and existing != t.institution_id:
        raise ConflictError(
            "产品编号已属于另一机构",
            "the product id belongs to another institution",
            [Problem("", "", field="product_id", value=t.product_id)],
        )
    last = s.scalar(
        select(func.max(ProductVersion.version)).where(ProductVersion.product_id == t.product_id)
    )
    v = ProductVersion(
        product_id=t.product_id,
        version=(last or 0) + 1,
        state="pending" if submit else "draft",
        institution_id=t.institution_id,
        name=t.name,
        kind=t.kind,
        min_amount=t.min_amount,
        max_amount=t.max_amount,
        min_term_months=t.min_term_months,
        max_term_months=t.max_term_months,
        spread_min_bp=t.spread_min_bp,
        spread_max_bp=t.spread_max_bp,
        guarantee_kinds=list(t.guarantee_kinds),
        repayment=list(t.repayment),
        talent_loan=t.talent_loan,
        invest_loan_link=t.invest_loan_link,
        eligibility="\n".join(t.eligibility),
        credit_model=t.credit_model,
        made_by=p.username,
        made_at=now,
        submitted_at=now if submit else None,
    )
    s.add(v)
    s.flush()
    log(
        s,
        p,
        "match.product.draft",
        "product_version",
        v.id,
        detail={"product": t.product_id, "state": v.state},
    )
    return v


def _version(s: Session, version_id: int, lock: bool = False) -> ProductVersion:
    q = select(ProductVersion).where(ProductVersion.id == version_id)
    v = s.scalars(q.with_for_update() if lock else q).first()
    if v is None:
        raise NotFoundError(
            "产品版本不存在",
            "no such product version",
            [Problem("", "", field="version_id", value=version_id)],
        )
    return v


def submit(
    s: Session, p: Principal, version_id: int, now: datetime | None = None
) -> ProductVersion:
    authorize(s, p, "match.product.edit")
    v = _version(s, version_id, lock=True)
    _check_institution(s, p, v.institution_id)
    if v.state != "draft":
        raise ConflictError(
            f"版本状态为{v.state}，不能提交",
            f"the version is {v.state}; only a draft can be submitted",
        )
    v.state, v.submitted_at = "pending", now or utcnow()
    log(s, p, "match.product.submit", "product_version", v.id)
    return v


def approve(
    s: Session, p: Principal, version_id: int, now: datetime | None = None
) -> ProductVersion:
    """Put a submitted version live (a second person of the bank or of the government)."""
    authorize(s, p, "match.product.approve")
    v = _version(s, version_id, lock=True)
    if p.role not in GOV_CHECKERS:
        _check_institution(s, p, v.institution_id)
    if v.state != "pending":
        raise ConflictError(
            f"版本状态为{v.state}，不能审批",
            f"the version is {v.state}; only a submitted one can be approved",
        )
    _same_person(p.username, v.made_by, "产品上线", "putting a product live")
    now = now or utcnow()
    _refuse(problems_of(_terms(v), now.date()))
    s.execute(
        update(ProductVersion)
        .where(ProductVersion.product_id == v.product_id, ProductVersion.state == "live")
        .values(state="superseded")
    )
    v.state, v.approved_by, v.approved_at = "live", p.username, now
    _project(s, v, now.date())
    s.flush()
    log(s, p, "match.product.approve", "product_version", v.id, detail={"product": v.product_id})
    return v


def reject(s: Session, p: Principal, version_id: int, note: str) -> ProductVersion:
    authorize(s, p, "match.product.approve")
    v = _version(s, version_id, lock=True)
    if p.role not in GOV_CHECKERS:
        _check_institution(s, p, v.institution_id)
    if v.state != "pending":
        raise ConflictError(
            f"版本状态为{v.state}，不能退回",
            f"the version is {v.state}; only a submitted one can be rejected",
        )
    _same_person(p.username, v.made_by, "退回", "rejection")
    v.state = "rejected"
    log(s, p, "match.product.reject", "product_version", v.id, detail={"note": note})
    return v


def _terms(v: ProductVersion) -> ProductTerms:
    return ProductTerms(
        v.product_id,
        v.institution_id,
        v.name,
        v.kind,
        v.min_amount,
        v.max_amount,
        v.min_term_months,
        v.max_term_months,
        v.spread_min_bp,
        v.spread_max_bp,
        list(v.guarantee_kinds),
        list(v.repayment),
        v.talent_loan,
        v.invest_loan_link,
        split_rules(v.eligibility),
        v.credit_model,
    )


def _project(s: Session, v: ProductVersion, day: date) -> None:
    """The shared ``products`` row (what loans and ``/api/products`` read) from the live version."""
    lpr = Decimal(f"{params.pricing(day).lpr:.6f}")
    # One vocabulary for products and loans: the first kind the version accepts is the primary.
    primary = v.guarantee_kinds[0] if v.guarantee_kinds else None
    row = s.get(Product, v.product_id) or Product(id=v.product_id)
    row.institution_id, row.name, row.kind, row.guarantee_type = (
        v.institution_id,
        v.name,
        v.kind,
        primary,
    )
    row.min_amount, row.max_amount, row.max_term_months = (
        v.min_amount,
        v.max_amount,
        v.max_term_months,
    )
    row.rate_floor = lpr + Decimal(v.spread_min_bp) / 10_000
    row.rate_ceiling = lpr + Decimal(v.spread_max_bp) / 10_000
    s.add(row)


def live(s: Session, institution_id: str | None = None) -> list[ProductVersion]:
    q = select(ProductVersion).where(ProductVersion.state == "live")
    if institution_id is not None:
        q = q.where(ProductVersion.institution_id == institution_id)
    return list(s.scalars(q.order_by(ProductVersion.product_id)))


def catalogue(
    s: Session, p: Principal, institution_id: str | None = None, states: tuple[str, ...] = ("live",)
) -> list[dict[str, Any]]:
    """Live products for everyone; drafts and pending versions to their bank and the government."""
    authorize(s, p, "product.list")
    q = select(ProductVersion).where(ProductVersion.state.in_(states))
    if institution_id is not None:
        q = q.where(ProductVersion.institution_id == institution_id)
    if set(states) - {"live"}:
        if p.role == "bank_officer":
            q = q.where(
                (ProductVersion.state == "live")
                | (ProductVersion.institution_id == p.institution_id)
            )
        elif p.role not in (*GOV_CHECKERS, "auditor"):
            q = q.where(ProductVersion.state == "live")
    return [
        view(v) for v in s.scalars(q.order_by(ProductVersion.product_id, ProductVersion.version))
    ]


def adopt_registry(
    s: Session, maker: Principal, checker: Principal, now: datetime | None = None
) -> list[str]:
    """Bring every ``products`` row that has no catalogue version into the catalogue, live.

    The synthetic region (and any region loaded before the marketplace) has products as plain
    rows; each becomes version 1 with its amounts and rate band (as a spread over the LPR in
    force), its guarantee type, and no eligibility rule, made by ``maker`` and approved by
    ``checker`` — the same two steps a bank's own product goes through.
    """
    now = now or utcnow()
    lpr = Decimal(f"{params.pricing(now.date()).lpr:.6f}")
    known = set(s.scalars(select(ProductVersion.product_id).distinct()))
    adopted = []
    for prod in s.scalars(select(Product).order_by(Product.id)):
        if prod.id in known:
            continue
        lo = prod.rate_floor if prod.rate_floor is not None else lpr
        hi = prod.rate_ceiling if prod.rate_ceiling is not None else lo
        t = ProductTerms(
            product_id=prod.id,
            institution_id=prod.institution_id,
            name=prod.name,
            kind=prod.kind,
            min_amount=prod.min_amount or Decimal("10000"),
            max_amount=prod.max_amount or prod.min_amount or Decimal("10000"),
            min_term_months=1,
            max_term_months=prod.max_term_months or 12,
            spread_min_bp=int((lo - lpr) * 10_000),
            spread_max_bp=int((hi - lpr) * 10_000),
            guarantee_kinds=[prod.guarantee_type or "credit"],
            repayment=[],
        )
        v = draft(s, maker, t, submit=True, now=now)
        approve(s, checker, v.id, now=now)
        adopted.append(prod.id)
    return adopted
