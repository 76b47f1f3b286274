"""Fund pages: the government's pools and claim desk, one claim with its shares and clauses, and
a bank's enrolments and claims. Same gates and the same desk functions as the API; a refusal
(the maker-checker rule, a trigger not reached, a loan of another bank) is shown in place, on the
page where the form was, and each form carries a fresh idempotency key so a double submit replays
instead of acting twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import KejinError, NotFoundError, Problem, ValidationError
from kejin.exports import chunks
from kejin.fund import desk, statement
from kejin.fund.routes import pools
from kejin.fund.scheme import load_scheme
from kejin.fund.tables import FundPool
from kejin.vocab import CLASSIFICATIONS
from kejin.web import charts, flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import N_, t
from kejin.web.pages import lang_of, render
from kejin.web.refusal import names_in, refusal_view

router = APIRouter(include_in_schema=False)

ClaimId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: Claims on the government's desk page, newest first (every claim: ``GET /api/fund/claims/…``).
DESK_ROWS = 300
NOTICES = ("deposited", "reviewed", "approved", "rejected", "paid", "enrolled", "filed", "reported")


def new_key() -> str:
    """A fresh idempotency key for one rendering of a form (a resubmission reuses it)."""
    return uuid.uuid4().hex


def _notice(notice: str | None) -> str | None:
    return notice if notice in NOTICES else None


#: The fund desks' form fields by their labels (a refusal names these, never the codes).
FIELDS = {
    "pool_party": N_("fund_funder"),
    "participant": N_("fund_funder"),
    "amount": N_("fund_amount"),
    "amount_fen": N_("fund_amount"),
    "pool": N_("fund_pool"),
    "pool_id": N_("fund_pool"),
    "pool_contract": N_("contract"),
    "month": N_("fund_month"),
    "balance": N_("fund_loan_balance"),
    "balance_fen": N_("fund_loan_balance"),
    "days_past_due": N_("fund_dpd"),
    "classification": N_("classification"),
}


def _error(e: KejinError, lang: str, s: Session) -> dict[str, Any] | None:
    """An error as the page shows it (kejin.web.refusal): fields by their form labels."""
    return refusal_view(e, lang, FIELDS, names=names_in(s))


def _money(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError(
            "金额无效",
            "invalid amount",
            [Problem("不是数字", "not a number", field="amount", value=text)],
        ) from None


def _attempt(
    request: Request,
    s: Session,
    go: Callable[[], Any],
    page: str,
    notice: str,
    form: dict[str, str] | None = None,
    page_names: type[KejinError] | None = None,
) -> Response:
    """Run a desk step, then go to its GET ``page``: with ``notice`` on success, with the
    refusal and the values typed (a flash) otherwise — unless the refusal is ``page_names``
    (the page's own object is missing or not the caller's: no page to show it on).

    No savepoint: a desk step checks before the service writes, and the service writes the
    change and its audit record in a transaction of its own; this session writes only the flash.
    """
    try:
        go()
    except KejinError as e:
        if page_names is not None and isinstance(e, page_names):
            raise
        return refused(request, s, page, e, form)
    return see_other(request, page, notice=notice)


def labels(s: Session, lang: str) -> dict[str, Callable[..., str]]:
    """Names for the fund's codes on a page — pool, scheme, party, loan category — from the
    pools and their scheme files (``demo_anhui · pool`` read as code; the names were there)."""
    rows = s.execute(select(FundPool.id, FundPool.name, FundPool.scheme_id)).all()
    pools = {r.id: r for r in rows}
    en = lang == "en"

    loaded: dict[str, Any] = {}

    def scheme(scheme_id: str) -> Any:
        if scheme_id not in loaded:
            try:
                loaded[scheme_id] = load_scheme(scheme_id)
            except KejinError:
                loaded[scheme_id] = None
        return loaded[scheme_id]

    def scheme_name(scheme_id: str) -> str:
        sc = scheme(scheme_id)
        return scheme_id if sc is None else (sc.name_en if en else sc.name_zh)

    def party(scheme_id: str | None, party_id: str) -> str:
        sc = scheme(scheme_id) if scheme_id else None
        hit = next((x for x in sc.participants if x.id == party_id), None) if sc else None
        return party_id if hit is None else (hit.name_en if en else hit.name_zh)

    def category(pool_id: str, category_id: str) -> str:
        row = pools.get(pool_id)
        sc = scheme(row.scheme_id) if row else None
        hit = next((x for x in sc.categories if x.id == category_id), None) if sc else None
        return category_id if hit is None else (hit.name_en if en else hit.name_zh)

    def pool_label(pool_id: str) -> str:
        """The pool's name; on a page in English, the scheme file's English name when the pool
        bears the scheme's Chinese one (a pool is named once, in Chinese, when it is opened)."""
        row = pools.get(pool_id)
        if row is None:
            return pool_id
        sc = scheme(row.scheme_id) if en else None
        return sc.name_en if sc is not None and row.name == sc.name_zh else row.name

    return {
        "pool_label": pool_label,
        "pool_scheme": lambda pool_id: pools[pool_id].scheme_id if pool_id in pools else None,
        "scheme_name": scheme_name,
        "party": party,
        "category": category,
    }


# ---------------------------------------------------------------- government


def _fund_page(request: Request, p: Principal, s: Session) -> Response:
    lang = lang_of(request)
    f = flash.read(request, s)
    engine = request.app.state.engine
    ps = pools(s, engine, date.today())
    name = labels(s, lang)["pool_label"]
    chart = charts.hbar(
        t("fund_balance_chart", lang),
        [(name(x["pool"]), x["balance"]) for x in ps]
        + [(name(x["pool"]) + " · " + t("fund_enrolled", lang), x["enrolled_balance"]) for x in ps],
        1,
        lang=lang,
    )
    funders = [(x["pool"], party) for x in ps for party in desk.funders(engine, x["pool"])]
    statements = {x["pool"]: statement.statement(engine, x["pool"], lang) for x in ps}
    claims = desk.claims(s, p, limit=DESK_ROWS)
    access.log(s, p, "fund.claims", "institution", "*", detail={"rows": len(claims)})
    return render(
        request,
        "fund.html",
        {
            "pools": ps,
            "chart": chart,
            "claims": claims,
            "funders": funders,
            "statements": statements,
            "today": date.today(),
            "error": _error(f.error, lang, s),
            "form": f.form,
            "key": new_key(),
            "notice": _notice(request.query_params.get("notice")),
            **labels(s, lang),
        },
    )


@router.get("/fund")
def fund_page(
    request: Request,
    p: Principal = permit("fund.pools"),
    s: Session = TX,
) -> Response:
    return _fund_page(request, p, s)


@router.get("/fund/{pool_id}/statement.xlsx")
def fund_statement(
    request: Request,
    pool_id: Annotated[str, PathParam(min_length=1, max_length=40)],
    p: Principal = permit("fund.pools"),
    s: Session = TX,
) -> StreamingResponse:
    """The pool's statement (per party, by name, zero accounts folded) as Excel."""
    pool = s.get(FundPool, pool_id)
    if pool is None:
        raise NotFoundError(
            "资金池不存在",
            "no such pool",
            [Problem("不存在", "not found", field="pool_id", value=pool_id)],
        )
    book = statement.workbook(request.app.state.engine, pool_id, pool.name, lang_of(request))
    access.log(s, p, "fund.statement", "pool", pool_id)
    return StreamingResponse(
        chunks(book),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="fund_{pool_id}_statement.xlsx"'},
    )


@router.post("/fund/deposit")
def fund_deposit(
    request: Request,
    pool_party: str = Form("", max_length=90),
    amount: str = Form("", max_length=30),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.deposit"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    pool, _, party = pool_party.partition(":")
    return _attempt(
        request,
        s,
        lambda: desk.deposit(
            s,
            request.app.state.engine,
            p,
            pool=pool,
            party=party,
            amount=_money(amount),
            why=reason,
            key=key,
        ),
        "/fund",
        "deposited",
        {"pool_party": pool_party, "amount": amount, "reason": reason},
    )


def _claim_page(request: Request, p: Principal, s: Session, claim_id: int) -> Response:
    lang = lang_of(request)
    err = flash.read(request, s).error
    c = desk.claim_detail(s, request.app.state.engine, p, claim_id)
    return render(
        request,
        "fund_claim.html",
        {
            "c": c,
            "error": _error(err, lang, s),
            "key": new_key(),
            "notice": _notice(request.query_params.get("notice")),
            **labels(s, lang),
        },
    )


@router.get("/fund/claims/{claim_id}")
def claim_page(
    request: Request,
    claim_id: ClaimId,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("fund.claim"),
    s: Session = TX,
) -> Response:
    return _claim_page(request, p, s, claim_id)


def _step(
    request: Request, s: Session, p: Principal, claim_id: int, go: Callable[[], Any], notice: str
) -> Response:
    return _attempt(request, s, go, f"/fund/claims/{claim_id}", notice, page_names=NotFoundError)


@router.post("/fund/claims/{claim_id}/review")
def claim_review(
    request: Request,
    claim_id: ClaimId,
    decision: str = Form("", max_length=10),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.review"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    ok = decision == "approve"
    return _step(
        request,
        s,
        p,
        claim_id,
        lambda: desk.review(s, request.app.state.engine, p, claim_id, ok, reason, key),
        "reviewed" if ok else "rejected",
    )


@router.post("/fund/claims/{claim_id}/approve")
def claim_approve(
    request: Request,
    claim_id: ClaimId,
    decision: str = Form("", max_length=10),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.approve"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    ok = decision == "approve"
    return _step(
        request,
        s,
        p,
        claim_id,
        lambda: desk.approve(s, request.app.state.engine, p, claim_id, ok, reason, key),
        "approved" if ok else "rejected",
    )


@router.post("/fund/claims/{claim_id}/pay")
def claim_pay(
    request: Request,
    claim_id: ClaimId,
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.pay"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    return _step(
        request,
        s,
        p,
        claim_id,
        lambda: desk.pay(s, request.app.state.engine, p, claim_id, reason, key),
        "paid",
    )


# ---------------------------------------------------------------- bank


def _bank_page(request: Request, p: Principal, s: Session) -> Response:
    assert p.institution_id is not None
    lang = lang_of(request)
    f = flash.read(request, s)
    claims = desk.claims(s, p)
    access.log(s, p, "fund.claims", "institution", p.institution_id, detail={"rows": len(claims)})
    return render(
        request,
        "bank_claims.html",
        {
            "claims": claims,
            "enrolments": desk.enrolments(s, p),
            "enrollable": desk.enrollable(s, request.app.state.engine, p),
            "pools": desk.pool_names(s),
            "classes": CLASSIFICATIONS,
            "error": _error(f.error, lang, s),
            "form": f.form,
            "key": new_key(),
            "notice": _notice(request.query_params.get("notice")),
            "today": date.today(),
            **labels(s, lang),
        },
    )


@router.get("/bank/claims")
def bank_claims(request: Request, p: Principal = permit("page.bank"), s: Session = TX) -> Response:
    return _bank_page(request, p, s)


def _chosen(pool: str, contract_no: str) -> None:
    """A bank form must name a pool and a loan (the select boxes offer only the bank's own)."""
    missing = [f for f, v in (("pool", pool), ("contract_no", contract_no)) if not v.strip()]
    if missing:
        raise ValidationError(
            "请选择资金池和贷款合同",
            "choose a pool and a loan contract",
            [Problem("必填", "required", field=f) for f in missing],
        )


def _bank_step(
    request: Request, s: Session, p: Principal, go: Callable[[], Any], notice: str, **form: Any
) -> Response:
    return _attempt(request, s, go, "/bank/claims", notice, {"step": notice, **form})


@router.post("/bank/claims/enrol")
def bank_enrol(
    request: Request,
    pool: str = Form("", max_length=40),
    contract_no: str = Form("", max_length=40),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.enrol"),
    s: Session = TX,
) -> Response:
    if p.via != "token":  # a bearer token is no cookie: there is no cross-site forgery to stop
        check_csrf(request, csrf_token_)
    return _bank_step(
        request,
        s,
        p,
        lambda: (
            _chosen(pool, contract_no)
            or desk.enrol(
                s,
                request.app.state.engine,
                p,
                pool=pool,
                contract_no=contract_no,
                why=reason,
                key=key,
            )
        ),
        "enrolled",
        pool=pool,
        contract_no=contract_no,
        reason=reason,
    )


@router.post("/bank/claims/status")
def bank_status(
    request: Request,
    pool: str = Form("", max_length=40),
    contract_no: str = Form("", max_length=40),
    month: str = Form("", max_length=10),
    balance: str = Form("", max_length=30),
    days_past_due: str = Form("", max_length=10),
    classification: str = Form("", max_length=20),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.report"),
    s: Session = TX,
) -> Response:
    if p.via != "token":  # a bearer token is no cookie: there is no cross-site forgery to stop
        check_csrf(request, csrf_token_)

    def go() -> Any:
        _chosen(pool, contract_no)
        try:
            m = date.fromisoformat(month + "-01" if len(month) == 7 else month)
        except ValueError:
            raise ValidationError(
                "月份格式应为YYYY-MM",
                "month must be YYYY-MM",
                [Problem("应为YYYY-MM", "must be YYYY-MM", field="month", value=month)],
            ) from None
        if not days_past_due.strip().isdigit():
            raise ValidationError(
                "逾期天数须为非负整数",
                "days past due must be a whole number ≥ 0",
                [
                    Problem(
                        "须为非负整数",
                        "a whole number ≥ 0",
                        field="days_past_due",
                        value=days_past_due,
                    )
                ],
            )
        return desk.report_status(
            s,
            request.app.state.engine,
            p,
            pool=pool,
            contract_no=contract_no,
            month=m,
            balance=_money(balance),
            days_past_due=int(days_past_due),
            classification=classification,
            why=reason,
            key=key,
        )

    return _bank_step(
        request,
        s,
        p,
        go,
        "reported",
        pool=pool,
        contract_no=contract_no,
        month=month,
        balance=balance,
        days_past_due=days_past_due,
        classification=classification,
        reason=reason,
    )


@router.post("/bank/claims/file")
def bank_file(
    request: Request,
    pool_contract: str = Form("", max_length=90),
    reason: str = Form("", max_length=500),
    key: str = Form("", max_length=desk.KEY_MAX),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("fund.file"),
    s: Session = TX,
) -> Response:
    if p.via != "token":  # a bearer token is no cookie: there is no cross-site forgery to stop
        check_csrf(request, csrf_token_)
    pool, _, contract_no = pool_contract.partition(":")
    return _bank_step(
        request,
        s,
        p,
        lambda: (
            _chosen(pool, contract_no)
            or desk.file_claim(
                s,
                request.app.state.engine,
                p,
                pool=pool,
                contract_no=contract_no,
                why=reason,
                key=key,
            )
        ),
        "filed",
        pool_contract=pool_contract,
        reason=reason,
    )
