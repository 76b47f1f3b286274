"""Policy pages: the enterprise's policies and applications, and the government's policy centre
(programmes, maker-checker publication, review and approval, payments, the eligible list and
simulation).

Each form posts with the session's CSRF token; a refused action (the same officer approving
what they reviewed, an ineligible entity …) re-renders the page with the reason next to the
button or field that caused it, and the savepoint around the change undoes anything it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.api import status_of
from kejin.errors import KejinError, Problem, ValidationError, parse_date
from kejin.policy import library
from kejin.policy import operations as ops
from kejin.policy.engine import ROUNDING_TEXT, Policy
from kejin.policy.entities import REGISTRY_ENTITIES
from kejin.policy.routes import ApplicationId, ProgrammeId, programmes
from kejin.policy.service import get_application, get_programme
from kejin.policy.tables import ALLOCATIONS
from kejin.vocab import INDUSTRY_CHAINS
from kejin.web import charts, flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import t, term
from kejin.web.pages import lang_of, render
from kejin.web.paging import PAGE_Q, clamp, pager

router = APIRouter(include_in_schema=False)

PAGE = 50
NOTICES = (
    "created",
    "published",
    "applied",
    "reviewed",
    "rejected",
    "approved",
    "paid",
    "corrected",
)


def _reason(e: KejinError, lang: str) -> str:
    """The error and its problems in one line, in the page language."""
    if lang == "en":
        details = "; ".join(pr.reason_en for pr in e.problems)
        return e.reason_en + (f" ({details})" if details else "")
    details = "；".join(pr.reason_zh for pr in e.problems)
    return e.reason_zh + (f"（{details}）" if details else "")


def _field_errors(
    e: KejinError, lang: str, fields: tuple[str, ...], default: str
) -> dict[str, str]:
    """Problems keyed by the form field they concern (others go to ``default``)."""
    out: dict[str, str] = {}
    for pr in e.problems or ():
        key = pr.field if pr.field in fields else default
        msg = pr.reason_en if lang == "en" else pr.reason_zh
        out[key] = f"{out[key]}；{msg}" if key in out else msg
    if not out:
        out[default] = e.reason_en if lang == "en" else e.reason_zh
    return out


def _num(v: float | Decimal | None, missing: str = "—") -> str:
    """A parameter as a person writes it: ``10000000``, ``3``, ``0.2``.

    >>> _num(Decimal("0.200000000000")), _num(Decimal("10000000")), _num(0.3)
    ('0.2', '10000000', '0.3')
    """
    if v is None:
        return missing
    return format(Decimal(str(v)).normalize(), "f")


def readings(policy: Policy, year: int, as_of: date | None) -> list[dict[str, Any]]:
    """The policy's readings that are choices, with the value in force at the end of ``year``
    as known on ``as_of`` (None when none is) and, for a choice, the meaning of that value."""
    out = []
    for name, prm in policy.params.items():
        if not prm.reading:
            continue
        try:
            value: Decimal | None = prm.at(date(year, 12, 31), as_of).value
        except KejinError:
            value = None
        out.append(
            {
                "name": name,
                "value": value,
                "unit": prm.unit,
                "choice": prm.choice_text(value),
                "description": prm.description,
                "article": prm.article,
            }
        )
    return out


def _half(text: str, lang: str) -> str:
    """The page language's half of a bilingual ``中文 / English`` description."""
    zh, sep, en = text.partition(" / ")
    return (en if lang == "en" else zh) if sep else text


def _title(policy_id: str, lang: str) -> str:
    pol = library.get(policy_id)
    return pol.title_en if lang == "en" else pol.title_zh


def _notice(notice: str | None) -> str | None:
    return notice if notice in NOTICES else None


# ── enterprise ────────────────────────────────────────────────────────────────────────────


def _firm_page(
    request: Request,
    p: Principal,
    s: Session,
    notice: str | None = None,
) -> Response:
    assert p.uscc is not None
    engine = request.app.state.engine
    f = flash.read(request, s)
    lang = lang_of(request)
    errors = _field_errors(f.error, lang, ("programme", "entity"), "entity") if f.error else {}
    out = ops.firm_policies(s, engine, p, p.uscc)
    return render(
        request,
        "policies_firm.html",
        {
            "m": out,
            "open": ops.open_programmes(s, engine, p, p.uscc),
            "apps": ops.firm_applications(s, p, p.uscc),
            "prog_names": {
                r["id"]: f"{_title(r['policy'], lang)} {r['year']}" for r in programmes(s)
            },
            "clause_text": ops.clause_text,
            "policy_title": lambda policy_id: _title(policy_id, lang),
            "errors": errors,
            "form": f.form,
            "notice": _notice(notice),
        },
    )


@router.get("/enterprise/policies")
def my_policies(
    request: Request,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    return _firm_page(request, p, s, notice)


def _refusal(
    s: Session, change: Callable[[], Any], *, missing_in_place: bool = False
) -> KejinError | None:
    """Run one form's change in a savepoint. A refusal the page shows in place comes back (the
    savepoint undone); a forbidden target goes on to the error page, and so does an unknown one
    unless the form itself named it (``missing_in_place``): a page never hints at what the
    caller may not see."""
    try:
        with s.begin_nested():
            change()
    except KejinError as e:
        if status_of(e) == 403 or (status_of(e) == 404 and not missing_in_place):
            raise
        return e
    return None


@router.post("/enterprise/policies/apply")
def my_apply(
    request: Request,
    programme: str = Form("", max_length=60),
    entity: str = Form("", max_length=120),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    """Apply for the firm's own entity; refused ones come back with the reason at the form."""
    check_csrf(request, csrf_token_)
    assert p.uscc is not None
    form = {"programme": programme, "entity": entity}

    def change() -> None:
        if not programme:
            raise ValidationError(
                "请选择项目",
                "choose a programme",
                [Problem("必填", "required", field="programme")],
            )
        ops.apply(s, request.app.state.engine, p, p.uscc, programme, entity or None)

    if e := _refusal(s, change, missing_in_place=True):
        return refused(request, s, "/enterprise/policies", e, form)
    return see_other(request, "/enterprise/policies", notice="applied")


# ── government: policy centre ─────────────────────────────────────────────────────────────


def _centre(request: Request, s: Session, notice: str | None = None) -> Response:
    lang = lang_of(request)
    f = flash.read(request, s)
    errors: dict[str, str] = {}
    row_errors: dict[str, str] = {}
    if f.error is not None and f.data.get("at") == "create":
        errors = _field_errors(
            f.error, lang, ("policy", "year", "budget", "allocation", "programme"), "policy"
        )
        if "programme" in errors:
            errors["policy"] = errors.pop("programme")
    elif f.error is not None:
        row_errors = {f.data.get("at", ""): _reason(f.error, lang)}
    progs = programmes(s)
    pols = library.all_policies()
    titles = library.titles([r["policy"] for r in progs], lang)
    chart = charts.hbar(
        t("pol_used_chart", lang),
        [(f"{titles.get(r['policy'], r['policy'])} {r['year']}", r["reserved"]) for r in progs][
            :15
        ],
        2,
        lang=lang,
    )
    return render(
        request,
        "policies_gov.html",
        {
            "progs": progs,
            "titles": titles,
            "chart": chart,
            # only what the platform can compute: the others are refused (ops.computable)
            "policies": [pol for pol in pols if pol.entity in REGISTRY_ENTITIES],
            "allocations": ALLOCATIONS,
            "errors": errors,
            "form": f.form or {"year": str(ops.claim_year(date.today())), "allocation": "fcfs"},
            "row_errors": row_errors,
            "notice": _notice(notice),
        },
    )


@router.get("/policies")
def policy_centre(
    request: Request,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("policy.programmes"),
    s: Session = TX,
) -> Response:
    return _centre(request, s, notice)


@router.post("/policies/programmes")
def create_programme(
    request: Request,
    policy: str = Form("", max_length=40),
    year: str = Form("", max_length=8),
    budget: str = Form("", max_length=24),
    allocation: str = Form("fcfs", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.create"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"policy": policy, "year": year, "budget": budget, "allocation": allocation}

    def change() -> None:
        y = int(year) if year.strip().isdigit() else 0
        ops.create(s, p, policy_id=policy, year=y, budget=budget, allocation=allocation)

    if e := _refusal(s, change, missing_in_place=True):
        return refused(request, s, "/policies", e, form, at="create")
    return see_other(request, "/policies", notice="created")


@router.post("/policies/{programme_id}/publish")
def publish_programme(
    request: Request,
    programme_id: ProgrammeId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.publish"),
    s: Session = TX,
) -> Response:
    """Publish; when the maker tries, the refusal appears in the programme's row."""
    check_csrf(request, csrf_token_)
    if e := _refusal(s, lambda: ops.publish(s, p, programme_id, None)):
        return refused(request, s, "/policies", e, at=programme_id)
    return see_other(request, "/policies", notice="published")


def _programme_page(
    request: Request,
    p: Principal,
    s: Session,
    programme_id: str,
    *,
    notice: str | None = None,
    corr_as_of: date | None = None,
) -> Response:
    lang = lang_of(request)
    f = flash.read(request, s)
    errors = {f.data.get("at", ""): _reason(f.error, lang)} if f.error is not None else {}
    d = ops.programme_detail(s, p, programme_id)
    corr = ops.corrections(s, p, programme_id, corr_as_of) if corr_as_of else None
    policy = library.get(d["policy"])
    by_state: dict[str, int] = {}
    for a in d["applications"]:
        by_state[a["state"]] = by_state.get(a["state"], 0) + 1
    chart = charts.hbar(
        t("pol_budget_chart", lang),
        [
            (t("pol_budget", lang), d["budget"]),
            (t("pol_used", lang), d["reserved"]),
            (t("pol_paid", lang), d["paid"]),
            (t("pol_remaining", lang), d["remaining"]),
        ],
        0,
        lang=lang,
    )
    return render(
        request,
        "policy_programme.html",
        {
            "readings": readings(policy, d["year"], d["params_as_of"]),
            "rounding": ROUNDING_TEXT[policy.rounding][1 if lang == "en" else 0],
            "num": _num,
            "desc": lambda text: _half(text, lang),
            "d": d,
            "corr": corr,
            "corr_as_of": corr_as_of or date.today(),
            "policy": policy,
            "by_state": by_state,
            "chart": chart,
            "clause_text": ops.clause_text,
            "errors": errors,
            "notice": _notice(notice),
        },
    )


@router.get("/policies/{programme_id}")
def programme_page(
    request: Request,
    programme_id: ProgrammeId,
    notice: str | None = Query(None, max_length=20),
    corr_as_of: date | None = Query(None, description="preview corrections as known on"),
    p: Principal = permit("policy.programme"),
    s: Session = TX,
) -> Response:
    return _programme_page(request, p, s, programme_id, notice=notice, corr_as_of=corr_as_of)


@router.post("/policies/{programme_id}/corrections")
def record_corrections(
    request: Request,
    programme_id: ProgrammeId,
    as_of: str = Form("", max_length=10),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.correct"),
    s: Session = TX,
) -> Response:
    """Record the previewed top-ups and claw-backs with keys ``web:AS_OF:APPLICATION``: the same
    revision recorded twice returns the same payments."""
    check_csrf(request, csrf_token_)
    e: KejinError | None
    try:
        day = parse_date(as_of, "as_of")
    except ValidationError as bad:
        e = bad
    else:
        e = _refusal(s, lambda: ops.record_corrections(s, p, programme_id, day, f"web:{day}"))
    page = f"/policies/{programme_id}#corrections"
    if e is not None:
        return refused(request, s, page, e, at="correct")
    return see_other(request, page, notice="corrected", corr_as_of=day)


@router.post("/policies/{programme_id}/approve")
def approve_programme(
    request: Request,
    programme_id: ProgrammeId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.approve"),
    s: Session = TX,
) -> Response:
    """Approve the reviewed applications; the reviewer trying it sees the refusal in place."""
    check_csrf(request, csrf_token_)
    if e := _refusal(s, lambda: ops.approve(s, p, programme_id)):
        return refused(request, s, f"/policies/{programme_id}", e, at="approve")
    return see_other(request, f"/policies/{programme_id}", notice="approved")


def _application_action(
    request: Request, p: Principal, s: Session, application_id: int, notice: str, act: Any
) -> Response:
    page = f"/policies/{get_application(s, application_id).programme_id}#app-{application_id}"
    if e := _refusal(s, act):
        return refused(request, s, page, e, at=str(application_id))
    return see_other(request, page, notice=notice)


@router.post("/policies/applications/{application_id}/review")
def review_application(
    request: Request,
    application_id: ApplicationId,
    decision: str = Form("accept", max_length=10),
    note: str = Form("", max_length=300),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.review"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    accept = decision != "reject"
    return _application_action(
        request,
        p,
        s,
        application_id,
        "reviewed" if accept else "rejected",
        lambda: ops.review(s, p, application_id, accept=accept, note=note.strip() or None),
    )


@router.post("/policies/applications/{application_id}/pay")
def pay_application(
    request: Request,
    application_id: ApplicationId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("policy.pay"),
    s: Session = TX,
) -> Response:
    """Pay with the key ``web:<application>``: a double click returns the first payment."""
    check_csrf(request, csrf_token_)
    return _application_action(
        request,
        p,
        s,
        application_id,
        "paid",
        lambda: ops.pay(s, p, application_id, f"web:{application_id}"),
    )


@router.get("/policies/{programme_id}/eligible")
def eligible_page(
    request: Request,
    programme_id: ProgrammeId,
    page: int = PAGE_Q,
    p: Principal = permit("policy.eligible"),
    s: Session = TX,
) -> Response:
    """The eligible firms a screen at a time, with the numbered pager every list uses."""
    engine = request.app.state.engine
    out = ops.eligible(s, engine, p, programme_id, offset=(page - 1) * PAGE, limit=PAGE)
    if not out["items"] and page > 1 and out["total"]:  # past the end: the last page
        page = clamp(page, out["total"], PAGE)
        out = ops.eligible(s, engine, p, programme_id, offset=(page - 1) * PAGE, limit=PAGE)
    pg = pager(request, page, out["total"], PAGE)
    return render(
        request, "policy_eligible.html", {"e": out, "pg": pg, "clause_text": ops.clause_text}
    )


@router.get("/policies/{programme_id}/simulate")
def simulate_page(
    request: Request,
    programme_id: ProgrammeId,
    p: Principal = permit("policy.simulate"),
    s: Session = TX,
) -> Response:
    """Change parameters (the form's ``p_<name>`` fields) and see the reform against the budget."""
    lang = lang_of(request)
    policy = library.get(get_programme(s, programme_id).policy_id)
    form = {name: request.query_params.get(f"p_{name}", "")[:40] for name in policy.params}
    errors: dict[str, str] = {}
    try:
        overrides = ops.parse_overrides(list(form.items()))
    except KejinError as e:
        errors = _field_errors(e, lang, tuple(policy.params), next(iter(policy.params)))
        overrides = {}
    sim = ops.simulation(s, request.app.state.engine, p, programme_id, overrides)
    chart = charts.hbar(
        t("sim_chart", lang),
        [
            (t("sim_baseline", lang), sim["baseline_cost"]),
            (t("sim_reform", lang), sim["reform_cost"]),
            (t("pol_budget", lang), sim["budget"]),
        ],
        0,
        lang=lang,
    )
    by_chain = charts.hbar(
        t("sim_by_chain", lang),
        [
            (term(INDUSTRY_CHAINS, r["industry_chain"], lang), r["cost_reform"])
            for r in sim["by_chain"]
            if r["cost_reform"] or r["cost_baseline"]
        ][:12],
        1,
        lang=lang,
    )
    return render(
        request,
        "policy_simulate.html",
        {
            "sim": sim,
            "form": form,
            "errors": errors,
            "chart": chart,
            "by_chain": by_chain,
            "num": _num,
            "desc": lambda text: _half(text, lang),
        },
        422 if errors else 200,
    )
