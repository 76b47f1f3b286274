"""The government's marketplace monitor: the funnel by bank, product kind, chain, tier or month
(table, bar charts, Excel through :mod:`kejin.exports`), needs nobody took in time with the
service-level rule and assignment by hand, and product versions waiting for a checker.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal, rule_for
from kejin.exports import Book
from kejin.matching import params, products, query, service
from kejin.matching.pages import bank_names, error_view, institution_names, notice, step
from kejin.matching.tables import Need
from kejin.matching.texts import FUNNEL_GROUPS
from kejin.registry.tables import Enterprise
from kejin.web import charts, flash
from kejin.web.i18n import N_, VOCABS, t, term
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)

NeedId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
VersionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: The funnel's columns, in the order of the loop (their headings: ``HEAD``).
COLUMNS = (
    "posted",
    "taken",
    "taken_in_sla",
    "first_review",
    "approved",
    "declined",
    "disbursed",
    "disbursed_amount",
    "days_to_decision",
    "first_loans",
)
HEAD = {
    "posted": N_("mk_posted"),
    "taken": N_("mk_taken"),
    "taken_in_sla": N_("mk_taken_in_sla"),
    "first_review": N_("mk_first_review"),
    "approved": N_("mk_approved"),
    "declined": N_("mk_declined"),
    "disbursed": N_("mk_disbursed"),
    "disbursed_amount": N_("mk_disbursed_sum"),
    "days_to_decision": N_("mk_days"),
    "first_loans": N_("mk_first_loans"),
}
assert set(HEAD) == set(COLUMNS)
#: The vocabulary that labels each grouping's values (the bank's name is looked up instead).
GROUP_VOCAB = {"kind": "product_kind", "chain": "chain", "tier": "tier"}


def group_label(by: str, value: Any, names: dict[str, str], lang: str) -> str:
    """What a person reads for a group: a bank's name, a vocabulary label, a month as written."""
    if value is None:
        return t(
            {"bank": N_("mk_untaken"), "kind": N_("mk_no_product")}.get(by, N_("mk_unknown")), lang
        )
    if by == "bank":
        return names.get(value, value)
    if by in GROUP_VOCAB:
        return term(VOCABS[GROUP_VOCAB[by]], value, lang)
    return str(value)


def _funnel(s: Session, p: Principal, by: str, lang: str) -> list[dict[str, Any]]:
    names = institution_names(s)
    return [{**r, "label": group_label(by, r[by], names, lang)} for r in query.funnel(s, p, by)]


def _overdue(s: Session, today: date) -> list[dict[str, Any]]:
    """Published needs older than the service level (or flagged by the rule), oldest first."""
    sla = int(params.value("sla_working_days", today))
    rows = s.execute(
        select(Need, Enterprise.name)
        .join(Enterprise, Enterprise.uscc == Need.uscc)
        .where(Need.state == "published")
        .order_by(Need.published_at)
    ).all()
    out = []
    for n, name in rows:
        waited = params.working_days(n.published_at.date(), today) if n.published_at else 0
        if waited > sla or n.flagged_at is not None:
            out.append({**service.view(n), "firm": name, "waited": waited})
    return out


def _monitor(request: Request, p: Principal, s: Session, by: str) -> Response:
    f = flash.read(request, s)
    lang = lang_of(request)
    today = utcnow().date()
    rows = _funnel(s, p, by, lang)
    svgs = [
        charts.hbar(
            t("mk_chart_posted", lang), [(r["label"], r["posted"]) for r in rows], 0, lang=lang
        ),
        charts.hbar(
            t("mk_chart_disbursed", lang),
            [(r["label"], r["disbursed_amount"] or 0) for r in rows],
            1,
            lang=lang,
        ),
    ]
    pending = [v for v in products.catalogue(s, p, None, ("pending",)) if v["state"] == "pending"]
    overdue = _overdue(s, today)
    # who may assign sees the banks whose live products fit each need first (marked), then the rest
    fits = (
        query.fitting_banks(s, p, [n["id"] for n in overdue])
        if overdue and rule_for(p.role, "match.assign")
        else {}
    )
    return render(
        request,
        "market_gov.html",
        {
            "by": by,
            "groups": FUNNEL_GROUPS,
            "rows": rows,
            "columns": COLUMNS,
            "head": HEAD,
            "charts": svgs,
            "overdue": overdue,
            "fits": fits,
            "sla": int(params.value("sla_working_days", today)),
            "banks": bank_names(s),
            "institutions": institution_names(s),
            "pending": pending,
            "form": f.form,
            "error": error_view(f.error, lang, institution_names(s)),
            "notice": notice(request),
            "redispatched": _redispatched(request),
        },
    )


By = Query("bank", pattern="^(bank|kind|chain|tier|month)$")
#: What a run of the service-level rule reports on the page (``service.redispatch``'s keys).
REDISPATCH_COUNTS = ("flagged", "expired", "released")


def _redispatched(request: Request) -> dict[str, int] | None:
    """The counts of the last run of the rule, from the address it redirected to."""
    q = request.query_params
    if q.get("notice") != "redispatched":
        return None
    try:
        return {k: max(0, min(int(q.get(k, "0")), 10**9)) for k in REDISPATCH_COUNTS}
    except ValueError:
        return None


@router.get("/market")
def monitor(
    request: Request, by: str = By, p: Principal = permit("match.funnel"), s: Session = TX
) -> Response:
    return _monitor(request, p, s, by)


@router.get("/market/funnel.xlsx")
def funnel_xlsx(
    request: Request, by: str = By, p: Principal = permit("match.funnel"), s: Session = TX
) -> Response:
    """The funnel as a workbook, labelled in the reader's language (through the export door)."""
    lang = lang_of(request)
    rows = _funnel(s, p, by, lang)
    book = Book()
    sh = book.sheet(t("mk_funnel", lang))
    sh.row([term(FUNNEL_GROUPS, by, lang), *(t(HEAD[c], lang) for c in COLUMNS)])
    sh.rows([[r["label"], *(r[c] for c in COLUMNS)] for r in rows])
    sh.widths([28, *([12] * len(COLUMNS))])
    sh.freeze("B2")
    return Response(
        book.to_bytes(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="funnel-{by}.xlsx"'},
    )


@router.post("/market/redispatch")
def redispatch(
    request: Request,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.redispatch"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)

    def counts(res: dict[str, list[int]]) -> str:
        """What the rule did, carried to the page that says it (counts, nothing of a firm)."""
        return "/market?" + "&".join(f"{k}={len(res[k])}" for k in REDISPATCH_COUNTS) + "#overdue"

    return step(request, s, lambda: service.redispatch(s, p), "/market", "redispatched", to=counts)


@router.post("/market/needs/{need_id}/assign")
def assign(
    request: Request,
    need_id: NeedId,
    institution_id: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.assign"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: service.assign(s, p, need_id, institution_id=institution_id)  # noqa: E731
    form = {"need_id": str(need_id), "institution_id": institution_id}
    return step(request, s, go, "/market", "assigned", form)


@router.post("/market/products/versions/{version_id}/approve")
def approve_version(
    request: Request,
    version_id: VersionId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.product.approve"),
    s: Session = TX,
) -> Response:
    """The government as the second person of a bank's product (maker-checker)."""
    check_csrf(request, csrf_token_)
    go = lambda: products.approve(s, p, version_id)  # noqa: E731
    desk = "/market" if p.role in products.GOV_CHECKERS else "/bank/market"  # a bank's own desk
    return step(request, s, go, desk, "product_approved")
