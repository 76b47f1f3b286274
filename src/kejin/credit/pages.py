"""The bank officer's credit pages: a decision for one firm, the institution's decision history,
and one decision's evidence pack with its replay, downloads and the officer's action form (same
gates and functions as the API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.credit.routes import COMPONENTS, act, decide, evidence, history, own_decision
from kejin.errors import KejinError, ValidationError
from kejin.params import Offset
from kejin.registry.tables import Enterprise
from kejin.vocab import decision_input_label
from kejin.web import flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import N_, VOCABS, term
from kejin.web.pages import lang_of, render
from kejin.web.refusal import refusal_view

router = APIRouter(include_in_schema=False)

DecisionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
PAGE = 20
ACTIONS = ("approve", "reject", "refer", "override")


@router.post("/firms/{uscc}/credit")
def credit_page(
    request: Request,
    uscc: str,
    product: str = Form("points_credit", max_length=40),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("credit.decide", target="uscc"),
    s: Session = TX,
) -> Response:
    if p.via != "token":  # a bearer token is no cookie: there is no cross-site forgery to stop
        check_csrf(request, csrf_token_)
    if product != "points_credit":
        raise ValidationError("没有该产品", "unknown product")
    out = decide(s, request.app.state.engine, p, uscc, product)
    # The decision is recorded with its evidence pack: its page shows the outcome, links to the
    # downloads and back to the firm, and survives a reload or a language switch.
    return see_other(request, f"/bank/credit/{out['decision_id']}", notice="decided")


@router.get("/bank/credit")
def credit_history_page(
    request: Request,
    offset: Offset = 0,
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    assert p.institution_id is not None
    res = history(s, p, p.institution_id, offset, PAGE)
    names = {d["product"]: product_name(d["product"], lang_of(request)) for d in res["items"]}
    return render(request, "credit_history.html", {"res": res, "page": PAGE, "products": names})


def product_name(product: str, lang: str) -> str:
    """A credit product by the name its decision table gives it (``points_credit`` → 科创积分贷)."""
    from kejin.credit.decisions import load_table

    try:
        table = load_table(product).table
    except KejinError:
        return product
    return table.name_en if lang == "en" else table.name_zh


def _rating_scale(product: str, lang: str) -> str | None:
    """The product's credit-rating scale in words, or None when its table is not bundled."""
    from kejin.credit.decisions import load_table, rating_scale

    try:
        return rating_scale(load_table(product).table, lang)
    except KejinError:
        return None


def _word(v: Any, lang: str) -> Any:
    """A vocabulary code among the pack's values (a stage, a chain, a qualification …) in words."""
    if isinstance(v, str):
        for vocab in VOCABS.values():
            if v in vocab:
                return term(vocab, v, lang)
    return v


def _flatten(obj: Any, lang: str, prefix: str = "") -> list[tuple[str, Any]]:
    """The pack's inputs as (field path, value) rows; the path stays the record's own (the JSON
    and Excel downloads carry it), each value a code is of reads as its label."""
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k in sorted(obj):
            out += _flatten(obj[k], lang, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        return [(prefix, "、".join(str(_word(v, lang)) for v in obj) if obj else "—")]
    if isinstance(obj, bool):
        return [(prefix, ("yes" if obj else "no") if lang == "en" else ("是" if obj else "否"))]
    return [(prefix, _word(obj, lang))]


#: The evidence page's action form by its labels (a refusal names these, never the codes).
FIELDS = {"note": N_("credit_action_note"), "contract_no": N_("credit_contract")}


def _evidence_page(
    request: Request,
    p: Principal,
    s: Session,
    decision_id: int,
    notice: str | None,
) -> Response:
    lang = lang_of(request)
    f = flash.read(request, s)
    err, form = f.error, f.form
    pack = evidence(s, request.app.state.engine, p, decision_id)
    firm = s.get(Enterprise, pack["uscc"])
    error = refusal_view(err, lang, FIELDS)
    return render(
        request,
        "credit_evidence.html",
        {
            "e": pack,
            "firm": firm,
            "outputs": pack["outputs"],
            "components": COMPONENTS,
            "inputs": _flatten(pack["inputs"], lang),
            "input_label": decision_input_label,
            "product_name": product_name(pack["product"], lang),
            "rating_scale": _rating_scale(pack["product"], lang),
            "actions": ACTIONS,
            "error": error,
            "form": form,
            "notice": notice if notice in ("recorded", "decided") else None,
        },
    )


@router.get("/bank/credit/{decision_id}")
def credit_evidence_page(
    request: Request,
    decision_id: DecisionId,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("credit.evidence"),
    s: Session = TX,
) -> Response:
    return _evidence_page(request, p, s, decision_id, notice)


@router.post("/bank/credit/{decision_id}/action")
def credit_action(
    request: Request,
    decision_id: DecisionId,
    action: str = Form("", max_length=20),
    note: str = Form("", max_length=2000),
    contract_no: str = Form("", max_length=40),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("credit.act"),
    s: Session = TX,
) -> Response:
    if p.via != "token":  # a bearer token is no cookie: there is no cross-site forgery to stop
        check_csrf(request, csrf_token_)
    # ``act`` checks everything before it writes the action and its audit record (both in this
    # session, committed together), so a refusal shown in place has written nothing.
    own_decision(s, p, decision_id, "credit.act")  # another bank's decision is refused, not shown
    try:
        act(
            s,
            request.app.state.engine,
            p,
            decision_id,
            action,
            note.strip() or None,
            contract_no.strip() or None,
        )
    except KejinError as e:
        form = {"action": action, "note": note, "contract_no": contract_no}
        return refused(request, s, f"/bank/credit/{decision_id}", e, form)
    return see_other(request, f"/bank/credit/{decision_id}", notice="recorded")
