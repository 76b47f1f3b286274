"""Matchmaking events as pages: the government's list and event desk (invite by whitelist filter,
sign-ups, intents, outcomes, summary figures, Excel), a bank's sign-up and its own intents, a
firm's answer to its invitation.

Thin like the other marketplace pages: gate, call :mod:`kejin.matching.events` (the same
functions as the API and the CLI), render; every POST is one savepoint and a 303 through
:func:`kejin.matching.pages.step`, so a refusal writes nothing and is shown beside its form.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import Problem, ValidationError
from kejin.exports import Book
from kejin.lending.tables import Institution
from kejin.matching import events
from kejin.matching.pages import decimal_of, error_view, institution_names, notice, step
from kejin.vocab import (
    EVENT_KINDS,
    INDUSTRY_CHAINS,
    INTENT_KINDS,
    INTENT_OUTCOMES,
    NO_DEAL_REASONS,
    STAGES,
)
from kejin.web import flash
from kejin.web.i18n import VOCABS, t, term
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)

EventId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
IntentId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _date_of(text: str, fld: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            "日期应为 YYYY-MM-DD", "the date must be YYYY-MM-DD",
            [Problem("日期无效", "invalid date", fld, text)],
        ) from None  # fmt: skip


def _float_of(text: str, fld: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise ValidationError(
            "数字无效", "not a number", [Problem("不是数字", "not a number", fld, text)]
        ) from None


def attending(s: Session) -> dict[str, str]:
    """Banks and investor institutions by id (who may sign up)."""
    return dict(
        s.execute(
            select(Institution.id, Institution.name)
            .where(Institution.kind.in_(events.ATTENDING_KINDS))
            .order_by(Institution.kind, Institution.id)
        ).all()
    )


def filter_words(f: dict[str, Any] | None, lang: str) -> str:
    """The frozen invitation filter as a sentence (labels, never codes)."""
    if not f:
        return "—"
    parts = []
    for key, vocab, head in (
        ("tiers", "tier", t("mev_f_tiers", lang)),
        ("chains", "chain", t("mev_f_chains", lang)),
        ("stages", "stage", t("mev_f_stages", lang)),
    ):
        if f.get(key):
            parts.append(f"{head}：" + "、".join(term(VOCABS[vocab], v, lang) for v in f[key]))
    lo, hi = f.get("points_min"), f.get("points_max")
    if lo is not None or hi is not None:
        parts.append(
            f"{t('mev_f_points', lang)}：{'' if lo is None else lo}–{'' if hi is None else hi}"
        )
    return "；".join(parts) or t("mev_f_all", lang)


# ---------------------------------------------------------------- the list


def _list(request: Request, p: Principal, s: Session) -> Response:
    f = flash.read(request, s)
    return render(
        request,
        "market_events.html",
        {
            "events": events.listing(s, p),
            "kinds": EVENT_KINDS,
            "chains": INDUSTRY_CHAINS,
            "today": utcnow().date(),
            "form": f.form or {"kind": "bank_firm"},
            "error": error_view(f.error, lang_of(request)),
            "notice": notice(request),
        },
    )


@router.get("/market/events")
def events_page(
    request: Request, p: Principal = permit("match.event.read"), s: Session = TX
) -> Response:
    return _list(request, p, s)


@router.post("/market/events")
def create(
    request: Request,
    title: str = Form("", max_length=200),
    kind: str = Form("", max_length=20),
    held_on: str = Form("", max_length=10),
    place: str = Form("", max_length=200),
    chain: str = Form("", max_length=30),
    theme: str = Form("", max_length=200),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.create"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"title": title, "kind": kind, "held_on": held_on, "place": place, "chain": chain,
            "theme": theme}  # fmt: skip

    def go() -> int:
        e = events.EventIn(title, kind, _date_of(held_on, "held_on"), place, chain or None, theme)
        return events.create(s, p, e).id

    return step(
        request, s, go, "/market/events", "ev_created", form, to=lambda i: f"/market/events/{i}"
    )


# ---------------------------------------------------------------- one event


def _event(request: Request, p: Principal, s: Session, event_id: int) -> Response:
    f = flash.read(request, s)
    lang = lang_of(request)
    d = events.detail(s, p, event_id)
    today = utcnow().date()
    return render(
        request,
        "market_event.html",
        {
            "e": d,
            "filter_text": filter_words(d["invite_filter"], lang),
            "held": d["held_on"] <= today,
            "institutions": institution_names(s),
            "attending": attending(s),
            "tiers": events.TIER_IDS,
            "chains": INDUSTRY_CHAINS,
            "stages": STAGES,
            "intent_kinds": INTENT_KINDS,
            "outcomes": INTENT_OUTCOMES,
            "outcomes_for": events.OUTCOMES_FOR,
            "reasons": NO_DEAL_REASONS,
            "form": f.form or {},
            "error": error_view(f.error, lang),
            "notice": notice(request),
        },
    )


@router.get("/market/events/{event_id}")
def event_page(
    request: Request,
    event_id: EventId,
    p: Principal = permit("match.event.read"),
    s: Session = TX,
) -> Response:
    return _event(request, p, s, event_id)


@router.post("/market/events/{event_id}/invite")
def invite(
    request: Request,
    event_id: EventId,
    tiers: list[str] = Form([]),
    chains: list[str] = Form([]),
    stages: list[str] = Form([]),
    points_min: str = Form("", max_length=12),
    points_max: str = Form("", max_length=12),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.invite"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"tiers": tiers[:10], "chains": chains[:20], "stages": stages[:10],
            "points_min": points_min, "points_max": points_max}  # fmt: skip

    def go() -> None:
        f = events.InviteFilter(
            form["tiers"],
            form["chains"],
            form["stages"],
            _float_of(points_min, "points_min"),
            _float_of(points_max, "points_max"),
        )
        events.invite(s, p, event_id, f)

    return step(request, s, go, f"/market/events/{event_id}", "ev_invited", form, own=True)


@router.post("/market/events/{event_id}/signup")
def signup(
    request: Request,
    event_id: EventId,
    institution_id: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.signup"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    go = lambda: events.signup(s, p, event_id, institution_id or None)  # noqa: E731
    back = f"/market/events/{event_id}"
    return step(request, s, go, back, "ev_signed_up", {"institution_id": institution_id})


@router.post("/market/events/{event_id}/intents")
def intent(
    request: Request,
    event_id: EventId,
    uscc: str = Form("", max_length=18),
    institution_id: str = Form("", max_length=20),
    kind: str = Form("", max_length=20),
    amount: str = Form("", max_length=30),
    partner_id: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.intent"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"uscc": uscc, "institution_id": institution_id, "kind": kind, "amount": amount,
            "partner_id": partner_id}  # fmt: skip

    def go() -> None:
        i = events.IntentIn(uscc, institution_id or None, kind, decimal_of(amount, "amount"),
                            partner_id or None)  # fmt: skip
        events.record_intent(s, p, event_id, i)

    return step(request, s, go, f"/market/events/{event_id}", "ev_intent", form)


@router.post("/market/intents/{intent_id}/outcome")
def outcome(
    request: Request,
    intent_id: IntentId,
    outcome: str = Form("", max_length=20),
    amount: str = Form("", max_length=30),
    reason: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.outcome"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    from kejin.matching.tables import EventIntent

    row = s.get(EventIntent, intent_id)
    if p.role == "investor":  # the investor follows its intents on its own desk
        back = "/investor/market"
    else:
        back = f"/market/events/{row.event_id}" if row and row.event_id else "/market/events"
    form = {"intent_id": str(intent_id), "outcome": outcome, "amount": amount, "reason": reason}

    def go() -> None:
        value = decimal_of(amount, "amount") if amount.strip() else None
        events.record_outcome(s, p, intent_id, outcome, value, reason or None)

    return step(request, s, go, back, "ev_outcome", form)


@router.get("/market/events/{event_id}/event.xlsx")
def event_xlsx(
    request: Request,
    event_id: EventId,
    p: Principal = permit("match.event.read"),
    s: Session = TX,
) -> Response:
    """The event as a workbook (summary, invitees, sign-ups, intents), labelled in the reader's
    language (through the export door)."""
    lang = lang_of(request)
    d = events.detail(s, p, event_id)
    names = institution_names(s)
    sm = d["summary"]
    book = Book()
    sh = book.sheet(t("mev_summary", lang))
    sh.row([t("mev_field", lang), t("mev_value", lang)])
    sh.rows(
        [
            [t("mev_title_field", lang), d["title"]],
            [t("mev_kind", lang), term(EVENT_KINDS, d["kind"], lang)],
            [t("mev_date", lang), d["held_on"]],
            [t("mev_place", lang), d["place"]],
            [t("mev_filter", lang), filter_words(d["invite_filter"], lang)],
            [t("mev_invited", lang), sm["invited"]],
            [t("mev_accepted", lang), sm["accepted"]],
            [t("mev_banks", lang), sm["banks"]],
            [t("mev_investors", lang), sm["investors"]],
            [t("mev_intents", lang), sm["intents"]],
            [t("mev_intent_amount", lang), sm["intent_amount"]],
            [t("mev_concluded", lang), sm["concluded"]],
            [t("mev_signed_amount", lang), sm["signed_amount"]],
            [t("mev_disbursed_amount", lang), sm["disbursed_amount"]],
            [t("mev_invested_amount", lang), sm["invested_amount"]],
            [t("mev_no_deal", lang), sm["no_deal"]],
        ]
    )
    sh.widths([24, 40])
    sh = book.sheet(t("mev_invitees", lang))
    sh.row([t("mk_firm", lang), "USCC", t("mev_tier", lang), t("mev_chain", lang),
            t("mev_points", lang), t("mev_reply", lang)])  # fmt: skip
    sh.rows(
        [
            [
                r["name"],
                r["uscc"],
                term(VOCABS["tier"], r["tier"], lang) if r["tier"] else "",
                term(INDUSTRY_CHAINS, r["chain"], lang) if r["chain"] else "",
                r["points"],
                term(VOCABS["invite_reply"], r["reply"], lang),
            ]
            for r in d["invitees"]
        ]
    )
    sh.widths([30, 20, 10, 16, 8, 10])
    sh = book.sheet(t("mev_signups", lang))
    sh.row([t("mev_institution", lang), t("mev_institution_kind", lang), t("mev_signed_at", lang)])
    sh.rows(
        [
            [r["name"], term(VOCABS["institution_kind"], r["kind"], lang), r["signed_at"]]
            for r in d["signups"]
        ]
    )
    sh.widths([30, 12, 18])
    sh = book.sheet(t("mev_intents", lang))
    sh.row([t("mk_firm", lang), t("mev_institution", lang), t("mev_partner", lang),
            t("mev_intent_kind", lang), t("mev_amount", lang), t("mev_outcome", lang),
            t("mev_outcome_amount", lang), t("mev_reason", lang)])  # fmt: skip
    sh.rows(
        [
            [
                r["firm"],
                names.get(r["institution_id"], r["institution_id"]),
                names.get(r["partner_id"], "") if r["partner_id"] else "",
                term(INTENT_KINDS, r["kind"], lang),
                r["amount"],
                term(INTENT_OUTCOMES, r["outcome"], lang) if r["outcome"] else "",
                r["outcome_amount"],
                term(NO_DEAL_REASONS, r["outcome_reason"], lang) if r["outcome_reason"] else "",
            ]
            for r in d["intents"]
        ]
    )
    sh.widths([30, 24, 24, 12, 14, 10, 14, 18])
    return Response(
        book.to_bytes(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="event-{event_id}.xlsx"'},
    )


# ---------------------------------------------------------------- the firm's answer


@router.post("/enterprise/market/events/{event_id}/reply")
def reply(
    request: Request,
    event_id: EventId,
    answer: str = Form("", max_length=10),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.event.reply"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)

    def go() -> None:
        if answer not in ("accept", "decline"):
            raise ValidationError(
                "请选择参加或婉拒", "choose to accept or decline",
                [Problem("未选择", "no choice", "answer", answer)],
            )  # fmt: skip
        events.reply(s, p, event_id, answer == "accept")

    return step(request, s, go, "/enterprise/market", "ev_replied")


# ---------------------------------------------------------------- the investor's desk


def _investor(request: Request, p: Principal, s: Session) -> Response:
    f = flash.read(request, s)
    from kejin.matching.pages import bank_names

    return render(
        request,
        "market_investor.html",
        {
            "firms": events.consented_firms(s, p),
            "events": events.listing(s, p),
            "intents": events.my_intents(s, p),
            "institutions": institution_names(s),
            "banks": bank_names(s),
            "direct_kinds": events.DIRECT_KINDS,
            "outcomes_for": events.OUTCOMES_FOR,
            "reasons": NO_DEAL_REASONS,
            "form": f.form or {},
            "error": error_view(f.error, lang_of(request)),
            "notice": notice(request),
        },
    )


@router.get("/investor/market")
def investor_page(
    request: Request, p: Principal = permit("page.investor"), s: Session = TX
) -> Response:
    return _investor(request, p, s)


@router.post("/investor/market/intents")
def investor_intent(
    request: Request,
    uscc: str = Form("", max_length=18),
    kind: str = Form("", max_length=20),
    amount: str = Form("", max_length=30),
    partner_id: str = Form("", max_length=20),
    need_id: str = Form("", max_length=12),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("match.intent.direct"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"uscc": uscc, "kind": kind, "amount": amount, "partner_id": partner_id,
            "need_id": need_id}  # fmt: skip

    def go() -> None:
        from kejin.matching.pages import int_of

        i = events.IntentIn(uscc, None, kind, decimal_of(amount, "amount"), partner_id or None)
        nid = int_of(need_id, "need_id") if need_id.strip() else None
        events.register_intent(s, p, i, nid)

    return step(request, s, go, "/investor/market", "ev_intent", form)
