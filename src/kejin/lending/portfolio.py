"""Loans, products and institutions as the service shows them, with tenancy applied.

A bank officer sees only its own institution's loans (the rule table checks the path's
institution id); the latest monthly status gives each loan its balance and 五级分类.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.access.rules import Principal, authorize
from kejin.access.service import log
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import Enterprise

MAX_PAGE = 200


def _latest_status() -> Any:
    """Per loan, its latest month's status row (one grouped subquery, no N+1)."""
    last = (
        select(LoanStatus.contract_no, func.max(LoanStatus.month).label("month"))
        .group_by(LoanStatus.contract_no)
        .subquery()
    )
    return (
        select(
            LoanStatus.contract_no,
            LoanStatus.month,
            LoanStatus.balance,
            LoanStatus.days_past_due,
            LoanStatus.classification,
        )
        .join(
            last,
            (last.c.contract_no == LoanStatus.contract_no) & (last.c.month == LoanStatus.month),
        )
        .subquery()
    )


def _loans(session: Session, where: Any, limit: int, offset: int) -> dict[str, Any]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationError(
            "分页参数有误",
            "invalid paging",
            [
                Problem(
                    f"每页1–{MAX_PAGE}条，偏移非负",
                    f"limit 1–{MAX_PAGE}, offset ≥ 0",
                    field="limit",
                    value=limit,
                )
            ],
        )
    st = _latest_status()
    total = session.scalar(select(func.count()).select_from(Loan).where(where)) or 0
    rows = session.execute(
        select(
            Loan.contract_no,
            Loan.uscc,
            Enterprise.name.label("firm_name"),
            Loan.institution_id,
            Loan.product_id,
            Loan.amount,
            Loan.rate,
            Loan.disbursed_on,
            Loan.maturity_on,
            Loan.guarantee_type,
            Loan.first_time_borrower,
            st.c.month.label("status_month"),
            st.c.balance,
            st.c.days_past_due,
            st.c.classification,
        )
        .join(Enterprise, Enterprise.uscc == Loan.uscc)
        .outerjoin(st, st.c.contract_no == Loan.contract_no)
        .where(where)
        .order_by(Loan.disbursed_on.desc(), Loan.contract_no)
        .limit(limit)
        .offset(offset)
    ).all()
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [dict(r._mapping) for r in rows],
    }


def institution_loans(
    session: Session, p: Principal, institution_id: str, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    authorize(session, p, "loan.list", institution_id)
    if session.get(Institution, institution_id) is None:
        raise NotFoundError(
            "机构不存在",
            "no such institution",
            [
                Problem(
                    "机构不存在",
                    "no such institution",
                    field="institution_id",
                    value=institution_id,
                )
            ],
        )
    out = _loans(session, Loan.institution_id == institution_id, limit, offset)
    log(
        session,
        p,
        "loan.list",
        "institution",
        institution_id,
        after=[i["contract_no"] for i in out["items"]],
        durable=False,
    )
    return out


def firm_loans(
    session: Session, p: Principal, uscc: str, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    authorize(session, p, "firm.loans", uscc)
    out = _loans(session, Loan.uscc == uscc, limit, offset)
    log(
        session,
        p,
        "firm.loans",
        "firm",
        uscc,
        after=[i["contract_no"] for i in out["items"]],
        durable=False,
    )
    return out


def list_institutions(session: Session, p: Principal) -> list[dict[str, Any]]:
    authorize(session, p, "institution.list")
    rows = session.execute(
        select(
            Institution.id,
            Institution.name,
            Institution.kind,
            Institution.region_code,
            Institution.partner_bank,
            Institution.tech_branch,
        ).order_by(Institution.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def list_products(
    session: Session, p: Principal, institution_id: str | None = None
) -> list[dict[str, Any]]:
    authorize(session, p, "product.list")
    q = select(
        Product.id,
        Product.institution_id,
        Product.name,
        Product.kind,
        Product.guarantee_type,
        Product.min_amount,
        Product.max_amount,
        Product.rate_floor,
        Product.rate_ceiling,
        Product.max_term_months,
    ).order_by(Product.id)
    if institution_id is not None:
        q = q.where(Product.institution_id == institution_id)
    return [dict(r._mapping) for r in session.execute(q).all()]


def loan_totals(session: Session) -> list[dict[str, Any]]:
    """Per institution: loans, amount lent and latest balance (for the region dashboard)."""
    st = _latest_status()
    rows = session.execute(
        select(
            Institution.id,
            Institution.name,
            func.count(Loan.contract_no).label("loans"),
            func.coalesce(func.sum(Loan.amount), 0).label("amount"),
            func.coalesce(func.sum(st.c.balance), 0).label("balance"),
        )
        .join(Loan, Loan.institution_id == Institution.id)
        .outerjoin(st, st.c.contract_no == Loan.contract_no)
        .group_by(Institution.id, Institution.name)
        .order_by(Institution.id)
    ).all()
    return [dict(r._mapping) for r in rows]
