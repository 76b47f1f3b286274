"""The marketplace's pages for the firm: the product supermarket, posting a need with the banks
that may see it, one need's matches, progress, withdrawal and the rating of the bank's service.

Thin like the routes: gate, call the same services as the API and the CLI, render. Every POST
runs its service calls in a savepoint and answers 303 to its GET page the one way every page
form does (:mod:`kejin.web.flash`): a refusal undoes everything the step wrote and travels as a
flash — shown to its owner beside the form, in either language, with the values typed — and a
success carries a notice that says what happened and where to go next. The bank's desk is in
:mod:`kejin.matching.pages_bank`, the government's monitor in :mod:`kejin.matching.pages_gov`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

import kejin.matching.texts  # noqa: F401  (registers the marketplace's words and labels)
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Forbidden, Principal
from kejin.errors import KejinError, NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution
from kejin.matching import events, params, products, prospects, query, relay, service
from kejin.matching.tables import ProductVersion
from kejin.vocab import GUARANTEE_KINDS
from kejin.web import flash
from kejin.web.i18n import N_, VOCABS, t, term
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)

NeedId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: The notices a page may show after a redirect (anything else in the query is ignored).
NOTICES = (
    "posted",
    "withdrawn",
    "rated",
    "taken",
    "reviewed",
    "approved",
    "declined",
    "disbursed",
    "drafted",
    "submitted",
    "product_approved",
    "assigned",
    "pushed",
    "redispatched",
    "ev_created",
    "ev_invited",
    "ev_signed_up",
    "ev_intent",
    "ev_outcome",
    "ev_replied",
)


def notice(request: Request) -> str | None:
    n = request.query_params.get("notice")
    return n if n in NOTICES else None


#: A refused field named as its form labels it (never the code the service gives it).
FIELD_LABELS = {
    "amount": N_("mk_amount"),
    "term_months": N_("mk_term"),
    "max_rate": N_("mk_max_rate"),
    "purpose": N_("mk_purpose"),
    "urgency": N_("mk_urgency"),
    "guarantee_offered": N_("mk_offered"),
    "banks": N_("mk_share"),
    "institution_id": N_("mk_bank"),
    "institution": N_("mk_bank"),
    "rating": N_("mk_rating"),
    "note": N_("mk_note"),
    "contract_no": N_("mk_contract"),
    "reason": N_("mk_decline_reason"),
    "product_id": N_("mk_product"),
    "contact_name": N_("mk_contact_name"),
    "contact_phone": N_("mk_contact_phone"),
    "state": N_("mk_state"),
    "name": N_("mk_product_name"),
    "kind": N_("mk_kind"),
    "min_amount": N_("mk_min_amount"),
    "max_amount": N_("mk_max_amount"),
    "min_term_months": N_("mk_min_term"),
    "max_term_months": N_("mk_max_term"),
    "spread_min_bp": N_("mk_spread_min"),
    "spread_max_bp": N_("mk_spread_max"),
    "guarantee_kinds": N_("mk_guarantees"),
    # matchmaking events and investors' intents
    "title": N_("mev_title_field"),
    "held_on": N_("mev_date"),
    "place": N_("mev_place"),
    "chain": N_("mev_chain"),
    "theme": N_("mev_theme"),
    "tiers": N_("mev_f_tiers"),
    "chains": N_("mev_f_chains"),
    "stages": N_("mev_f_stages"),
    "points_min": N_("mev_f_points"),
    "points_max": N_("mev_f_points"),
    "filter": N_("mev_filter"),
    "uscc": N_("mk_firm"),
    "partner_id": N_("mev_partner"),
    "outcome": N_("mev_outcome"),
    "need_id": N_("mev_inv_need"),
    "answer": N_("mev_reply"),
}
#: The vocabulary that labels a refused field's value (a state, a reason: codes to a reader).
VALUE_VOCAB = {
    "state": "need_state",
    "reason": "decline",
    "urgency": "urgency",
    "guarantee_offered": "guarantee",
    "guarantee_kinds": "guarantee",
    "kind": "product_kind",
}


def error_view(
    e: KejinError | None, lang: str, names: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """An error as a page shows it: the reason and each problem, in the reader's language; the
    field by its form label (a field the pages have no label for is left out, its value and
    reason kept), a coded value by its label and an institution by its name (``names``)."""
    if e is None:
        return None
    en = lang == "en"
    problems = []
    for pr in e.problems:
        value = pr.value
        if pr.field in VALUE_VOCAB and isinstance(value, str) and value:
            value = term(VOCABS[VALUE_VOCAB[pr.field]], value, lang)
        elif pr.field in ("institution_id", "institution") and names and value in names:
            value = names[value]
        label = FIELD_LABELS.get(pr.field or "")
        problems.append(
            {
                "field": t(label, lang) if label else None,
                "value": value if value not in ("", None) else None,
                "reason": pr.reason_en if en else pr.reason_zh,
            }
        )
    return {"reason": e.reason_en if en else e.reason_zh, "problems": problems}


def step(
    request: Request,
    s: Session,
    go: Callable[[], Any],
    back: str,
    what: str,
    form: dict[str, Any] | None = None,
    to: Callable[[Any], str] | None = None,
    *,
    own: bool = False,
) -> Response:
    """Run a page's step in a savepoint, then 303: a refusal (nothing left written) to ``back``
    as a flash with the values typed, a success to ``to(result)`` (else ``back``) with the
    notice ``what``. When ``back`` is the page of the very object the step acts on (``own``),
    a caller who may not see it or an object that is not there has no page to be told on: that
    refusal is answered as the page itself would be (403, 404)."""
    try:
        with s.begin_nested():
            out = go()
    except KejinError as e:
        if own and isinstance(e, (Forbidden, NotFoundError)):
            raise
        return flash.refused(request, s, back, e, form)
    return flash.see_other(request, to(out) if to else back, notice=what)


def decimal_of(text: str, fld: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError(
            "数字无效", "not a number", [Problem("不是数字", "not a number", fld, text)]
        ) from None


def int_of(text: str, fld: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(
            "整数无效", "not a whole number", [Problem("不是整数", "not a whole number", fld, text)]
        ) from None


def bank_names(s: Session) -> dict[str, str]:
    """The banks by id (the choices of "which banks may see my profile" and of assignment)."""
    return dict(
        s.execute(
            select(Institution.id, Institution.name)
            .where(Institution.kind == "bank")
            .order_by(Institution.id)
        ).all()
    )


def institution_names(s: Session) -> dict[str, str]:
    """Every institution by id: a product may be a guarantor's, an insurer's or a fund's."""
    return dict(s.execute(select(Institution.id, Institution.name)).all())


def product_rows(s: Session) -> dict[str, ProductVersion]:
    return {v.product_id: v for v in products.live(s)}


def _firm_of(p: Principal) -> str:
    if p.uscc is None:
        raise Forbidden("账户未关联企业", "the account is not linked to a firm")
    return p.uscc


# ---------------------------------------------------------------- the firm's market page


def _market_page(request: Request, p: Principal, s: Session) -> Response:
    f = flash.read(request, s)
    uscc = _firm_of(p)
    live = product_rows(s)
    shelf = [
        {**r, "v": live[r["product_id"]]}
        for r in query.supermarket(s, p, uscc)
        if r["product_id"] in live
    ]
    needs = sorted(service.firm_needs(s, p, uscc), key=lambda n: -n["id"])
    advice = relay.advise(s, p, uscc, {r["product_id"] for r in shelf if r["eligible"]})
    return render(
        request,
        "market_firm.html",
        {
            "shelf": shelf,
            "needs": needs,
            "contacts": prospects.pushed_to_firm(s, p, uscc),
            "events": events.listing(s, p),
            "relay": advice,
            "product_names": {pid: v.name for pid, v in live.items()},
            "banks": bank_names(s),
            "institutions": institution_names(s),
            "vocab_guarantee": GUARANTEE_KINDS,
            "lpr": params.pricing(datetime.now().date()).lpr,
            "form": f.form or {"urgency": "normal", "guarantee_offered": [], "banks": []},
            "error": error_view(f.error, lang_of(request)),
            "notice": notice(request),
        },
    )


@router.get("/enterprise/market")
def market_page(
    request: Request, p: Principal = permit("page.enterprise"), s: Session = TX
) -> Response:
    return _market_page(request, p, s)


@router.post("/enterprise/market/needs")
def post_need(
    request: Request,
    amount: str = Form("", max_length=30),
    term_months: str = Form("", max_length=6),
    purpose: str = Form("", max_length=200),
    max_rate: str = Form("", max_length=12),
    urgency: str = Form("normal", max_length=10),
    guarantee_offered: list[str] = Form([]),
    banks: list[str] = Form([]),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    """Post a need and grant the chosen banks a consent tied to it, in one step."""
    check_csrf(request, csrf_token_)
    f = {
        "amount": amount,
        "term_months": term_months,
        "purpose": purpose,
        "max_rate": max_rate,
        "urgency": urgency,
        "guarantee_offered": guarantee_offered[:10],
        "banks": banks[:50],
    }

    def go() -> int:
        rate = f["max_rate"].strip()
        need = service.post(
            s,
            p,
            _firm_of(p),
            service.NeedIn(
                amount=decimal_of(f["amount"], "amount"),
                term_months=int_of(f["term_months"], "term_months"),
                purpose=f["purpose"],
                guarantee_offered=f["guarantee_offered"],
                max_rate=decimal_of(rate, "max_rate") / 100 if rate else None,
                urgency=f["urgency"],
            ),
        )
        service.share(s, p, need.id, f["banks"])
        return need.id

    return step(
        request,
        s,
        go,
        "/enterprise/market",
        "posted",
        f,
        to=lambda i: f"/enterprise/market/needs/{i}",
    )


def _need_page(request: Request, p: Principal, s: Session, need_id: int) -> Response:
    f = flash.read(request, s)
    n = service.get(s, need_id)
    if n.uscc != p.uscc:
        raise Forbidden("只能查看本企业的需求", "a firm sees its own needs only")
    history = service.history(s, p, need_id)
    matches = query.for_need(s, p, need_id)
    return render(
        request,
        "market_need.html",
        {
            "n": service.view(n),
            "rating_note": n.rating_note,
            "history": history,
            "matches": matches,
            # a guarantee, an insurance or an investment has no loan rate to expect
            "kinds": {pid: v.kind for pid, v in product_rows(s).items()},
            "shared": service.shared_with(s, need_id),
            "banks": institution_names(s),
            "can_withdraw": n.state in service.MOVES["withdrawn"],
            "can_rate": n.state in service.RATEABLE and n.rating is None,
            "form": f.form,
            "error": error_view(f.error, lang_of(request)),
            "notice": notice(request),
        },
    )


@router.get("/enterprise/market/needs/{need_id}")
def need_page(
    request: Request, need_id: NeedId, p: Principal = permit("page.enterprise"), s: Session = TX
) -> Response:
    return _need_page(request, p, s, need_id)


@router.post("/enterprise/market/needs/{need_id}/withdraw")
def withdraw(
    request: Request,
    need_id: NeedId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.need.edit"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.withdraw(s, p, need_id)  # noqa: E731
    return step(request, s, go, f"/enterprise/market/needs/{need_id}", "withdrawn", own=True)


@router.post("/enterprise/market/needs/{need_id}/rate")
def rate(
    request: Request,
    need_id: NeedId,
    rating: str = Form("", max_length=2),
    note: str = Form("", max_length=500),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.rate(s, p, need_id, int_of(rating, "rating"), note)  # noqa: E731
    back = f"/enterprise/market/needs/{need_id}"
    return step(request, s, go, back, "rated", {"rating": rating, "note": note}, own=True)
