"""The bank officer's marketplace desk: its products (draft, edit, submit; a second person
approves), the queue of needs that fit them, taking a need (接单), first review, approve or
decline with a reason code, disbursement linked to a loan contract, and the 首贷培育 prospects.

Same shape as :mod:`kejin.matching.pages`: the services decide who may do what (an officer acts
on its own bank's products and on needs its bank holds); every POST answers 303 through
:func:`kejin.matching.pages.step` — a refusal, with nothing written, shown on the GET page
beside its form with the values typed, a success with a notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Forbidden, Principal, live_consent
from kejin.lending.tables import Loan
from kejin.matching import events, params, products, prospects, query, service
from kejin.matching.kernels import FIRM_FIELDS
from kejin.matching.pages import (
    bank_names,
    decimal_of,
    error_view,
    institution_names,
    int_of,
    notice,
    step,
)
from kejin.matching.products import ProductTerms
from kejin.matching.tables import Need, ProductVersion
from kejin.registry.tables import Enterprise
from kejin.vocab import DECLINE_REASONS, GUARANTEE_KINDS, PRODUCT_KINDS, REPAYMENT_OPTIONS
from kejin.web import flash
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)

NeedId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
VersionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: Needs the bank holds, newest first, on the desk (older ones through the API).
HELD_ROWS = 200


#: Needs of the queue shown a screen at a time.
QUEUE_ROWS = 50


def _desk(request: Request, p: Principal, s: Session, page: int = 1) -> Response:
    f = flash.read(request, s)
    now = utcnow()
    versions = [
        v
        for v in products.catalogue(s, p, p.institution_id, ("draft", "pending", "live"))
        if v["institution_id"] == p.institution_id
    ]
    held = list(
        s.scalars(
            select(Need)
            .where(Need.institution_id == p.institution_id)
            .order_by(Need.id.desc())
            .limit(HELD_ROWS)
        )
    )
    names = dict(
        s.execute(
            select(Enterprise.uscc, Enterprise.name).where(
                Enterprise.uscc.in_({n.uscc for n in held})
            )
        ).all()
    )
    queue = query.bank_queue(s, p, now, page, QUEUE_ROWS)
    return render(
        request,
        "market_bank.html",
        {
            "versions": versions,
            "queue": queue["rows"],
            "queue_total": queue["total"],
            "page": queue["page"],
            "pages": queue["pages"],
            "held": [{**service.view(n), "firm": names.get(n.uscc, n.uscc)} for n in held],
            "exclusive_days": int(params.value("exclusive_working_days", now.date())),
            "events": events.listing(s, p, now),
            "error": error_view(f.error, lang_of(request), institution_names(s)),
            "notice": notice(request),
        },
    )


@router.get("/bank/market")
def desk(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    return _desk(request, p, s, page)


@router.post("/bank/market/needs/{need_id}/take")
def take(
    request: Request,
    need_id: NeedId,
    product_id: str = Form("", max_length=30),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.take"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.take(s, p, need_id, product_id=product_id or None)  # noqa: E731
    return step(
        request, s, go, "/bank/market", "taken", to=lambda _: f"/bank/market/needs/{need_id}"
    )


def _need(request: Request, p: Principal, s: Session, need_id: int) -> Response:
    f = flash.read(request, s)
    now = utcnow()
    n = service.get(s, need_id)
    if n.institution_id != p.institution_id:
        raise Forbidden("只能办理本行已接的需求", "an officer works on needs its bank holds only")
    firm = s.get(Enterprise, n.uscc)
    consented = live_consent(s, p.institution_id or "", n.uscc, "financials", now) is not None
    loans = list(
        s.scalars(
            select(Loan.contract_no).where(
                Loan.uscc == n.uscc, Loan.institution_id == p.institution_id
            )
        )
    )
    return render(
        request,
        "market_bank_need.html",
        {
            "n": service.view(n),
            "firm": firm,
            "consented": consented,
            "history": service.history(s, p, need_id),
            "loans": loans,
            "banks": bank_names(s),
            "reasons": DECLINE_REASONS,
            "form": f.form,
            "error": error_view(f.error, lang_of(request), institution_names(s)),
            "notice": notice(request),
        },
    )


@router.get("/bank/market/needs/{need_id}")
def need_page(
    request: Request, need_id: NeedId, p: Principal = permit("page.bank"), s: Session = TX
) -> Response:
    return _need(request, p, s, need_id)


@router.post("/bank/market/needs/{need_id}/review")
def review(
    request: Request,
    need_id: NeedId,
    note: str = Form("", max_length=500),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.decide"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.review(s, p, need_id, note or None)  # noqa: E731
    return step(
        request, s, go, f"/bank/market/needs/{need_id}", "reviewed", {"note": note}, own=True
    )


@router.post("/bank/market/needs/{need_id}/decide")
def decide(
    request: Request,
    need_id: NeedId,
    outcome: str = Form("", max_length=10),
    reason: str = Form("", max_length=20),
    note: str = Form("", max_length=500),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.decide"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    approve = outcome == "approve"
    go = lambda: service.decide(  # noqa: E731
        s,
        p,
        need_id,
        approve=approve,
        reason=None if approve else (reason or None),
        note=note or None,
    )
    form = {"outcome": outcome, "reason": reason, "decide_note": note}
    what = "approved" if approve else "declined"
    return step(request, s, go, f"/bank/market/needs/{need_id}", what, form, own=True)


@router.post("/bank/market/needs/{need_id}/disburse")
def disburse(
    request: Request,
    need_id: NeedId,
    amount: str = Form("", max_length=30),
    contract_no: str = Form("", max_length=40),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.decide"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.disburse(  # noqa: E731
        s, p, need_id, amount=decimal_of(amount, "amount"), contract_no=contract_no or None
    )
    form = {"amount": amount, "contract_no": contract_no}
    return step(request, s, go, f"/bank/market/needs/{need_id}", "disbursed", form, own=True)


#: Prospects shown a screen at a time (a bank's list runs to hundreds of firms).
PROSPECT_ROWS = 50


def _prospects(request: Request, p: Principal, s: Session, page: int = 1) -> Response:
    f = flash.read(request, s)
    names = dict(s.execute(select(ProductVersion.product_id, ProductVersion.name)).all())
    assert p.institution_id is not None
    rows = query.bank_prospects(s, p)
    pages = max(1, -(-len(rows) // PROSPECT_ROWS))
    page = min(page, pages)
    return render(
        request,
        "market_prospects.html",
        {
            "rows": rows[(page - 1) * PROSPECT_ROWS : page * PROSPECT_ROWS],
            "total": len(rows),
            "page": page,
            "pages": pages,
            "names": names,
            "pushed": prospects.pushed_by_bank(s, p.institution_id),
            "form": f.form or {},
            "error": error_view(f.error, lang_of(request), institution_names(s)),
            "notice": notice(request),
        },
    )


@router.get("/bank/market/prospects")
def prospects_page(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    return _prospects(request, p, s, page)


@router.post("/bank/market/prospects/{uscc}/push")
def push_prospect(
    request: Request,
    uscc: Annotated[str, PathParam(min_length=18, max_length=18)],
    contact_name: str = Form("", max_length=40),
    contact_phone: str = Form("", max_length=20),
    product_id: str = Form("", max_length=30),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.prospect.push"),
    s: Session = TX,
) -> Response:
    """首贷培育: name the person who will contact the prospect (PRG; refusals in place)."""
    check_csrf(request, csrf_token_)
    form = {"uscc": uscc, "contact_name": contact_name, "contact_phone": contact_phone}
    go = lambda: prospects.push(  # noqa: E731
        s, p, uscc, contact_name, contact_phone, product_id or None
    )
    return step(request, s, go, "/bank/market/prospects", "pushed", form)


def _product_form(request: Request, form: dict[str, Any], err: Any = None) -> Response:
    return render(
        request,
        "market_product.html",
        {
            "form": form,
            "kinds": PRODUCT_KINDS,
            "guarantees": GUARANTEE_KINDS,
            "repayments": REPAYMENT_OPTIONS,
            "fields": FIRM_FIELDS.values(),
            "error": error_view(err, lang_of(request)),
        },
    )


@router.get("/bank/market/product")
def product_form(
    request: Request,
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    p: Principal = permit("match.product.edit"),
    s: Session = TX,
) -> Response:
    """An empty form, one filled from a version of the bank's product (its next version), or
    the one a refused save typed (its flash)."""
    f = flash.read(request, s)
    if f.form:
        return _product_form(request, f.form, f.error)
    form: dict[str, Any] = {"kind": "loan", "guarantee_kinds": [], "repayment": []}
    if version is not None:
        v = s.get(ProductVersion, version)
        if v is None or (p.role == "bank_officer" and v.institution_id != p.institution_id):
            raise Forbidden("只能修改本行的产品", "an officer edits its own bank's products only")
        form = products.view(v)
        form["eligibility"] = "\n".join(form["eligibility"])
    return _product_form(request, form)


@router.post("/bank/market/products")
def save_product(
    request: Request,
    product_id: str = Form("", max_length=30),
    name: str = Form("", max_length=200),
    kind: str = Form("loan", max_length=20),
    min_amount: str = Form("", max_length=30),
    max_amount: str = Form("", max_length=30),
    min_term_months: str = Form("", max_length=6),
    max_term_months: str = Form("", max_length=6),
    spread_min_bp: str = Form("", max_length=6),
    spread_max_bp: str = Form("", max_length=6),
    guarantee_kinds: list[str] = Form([]),
    repayment: list[str] = Form([]),
    talent_loan: str = Form("", max_length=3),
    invest_loan_link: str = Form("", max_length=3),
    eligibility: str = Form("", max_length=5000),
    submit: str = Form("", max_length=3),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.product.edit"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {
        "product_id": product_id.strip(),
        "name": name,
        "kind": kind,
        "min_amount": min_amount,
        "max_amount": max_amount,
        "min_term_months": min_term_months,
        "max_term_months": max_term_months,
        "spread_min_bp": spread_min_bp,
        "spread_max_bp": spread_max_bp,
        "guarantee_kinds": guarantee_kinds[:10],
        "repayment": repayment[:10],
        "talent_loan": bool(talent_loan),
        "invest_loan_link": bool(invest_loan_link),
        "eligibility": eligibility,
    }

    def go() -> Any:
        terms = ProductTerms(
            product_id=form["product_id"],
            institution_id=p.institution_id or "",
            name=name.strip(),
            kind=kind,
            min_amount=decimal_of(min_amount, "min_amount"),
            max_amount=decimal_of(max_amount, "max_amount"),
            min_term_months=int_of(min_term_months, "min_term_months"),
            max_term_months=int_of(max_term_months, "max_term_months"),
            spread_min_bp=int_of(spread_min_bp, "spread_min_bp"),
            spread_max_bp=int_of(spread_max_bp, "spread_max_bp"),
            guarantee_kinds=form["guarantee_kinds"],
            repayment=form["repayment"],
            talent_loan=form["talent_loan"],
            invest_loan_link=form["invest_loan_link"],
            eligibility=[r.strip() for r in eligibility.splitlines() if r.strip()],
        )
        return products.draft(s, p, terms, submit=bool(submit))

    what = "submitted" if submit else "drafted"
    return step(request, s, go, "/bank/market/product", what, form, to=lambda _: "/bank/market")


@router.post("/bank/market/products/versions/{version_id}/submit")
def submit_version(
    request: Request,
    version_id: VersionId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.product.edit"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: products.submit(s, p, version_id)  # noqa: E731
    return step(request, s, go, "/bank/market", "submitted")


@router.post("/bank/market/products/versions/{version_id}/approve")
def approve_version(
    request: Request,
    version_id: VersionId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.product.approve"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: products.approve(s, p, version_id)  # noqa: E731
    return step(request, s, go, "/bank/market", "product_approved")
