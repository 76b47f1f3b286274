"""Page routes: thin like the API routes — gate, call the same services, render a template.

Permissions are the rule table's (each page names its action through ``permit``), so a page can
never show more than the API would. Forms carry the session's CSRF token and re-render with the
errors next to their fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import accounts, service, sessions
from kejin.access.audit import utcnow
from kejin.access.deps import TX, check_csrf, csrf_token, end_session, permit, signed_in
from kejin.access.rules import READERS, Principal, Rule, add_rules
from kejin.db import transaction
from kejin.errors import KejinError, Problem, ValidationError
from kejin.lending import portfolio
from kejin.lending.tables import Institution
from kejin.registry import profiles
from kejin.vocab import INDUSTRY_CHAINS, QUALIFICATION_KINDS, STAGES
from kejin.web import charts, flash
from kejin.web.i18n import N_, VOCABS, lang_of, languages, t, term, texts
from kejin.web.paging import PAGE_Q, clamp, pager

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def money(v: Any) -> str:
    """Yuan with thousands separators: staff read 38,980,578.00, not 38980578.00."""
    return "—" if v is None else f"{v:,.2f}"


def pct(v: Any, digits: int = 2) -> str:
    """A rate stored as a fraction (``0.033000``) the way an officer quotes it: 3.30%."""
    return "—" if v is None else f"{float(v):.{digits}%}"


templates.env.filters["money"] = money
templates.env.filters["pct"] = pct

add_rules(
    [
        Rule("page.bank", "bank_officer", "region"),
        Rule("page.enterprise", "enterprise_user", "region"),
        Rule("page.investor", "investor", "region"),
    ]
)

HOME = {
    "gov_admin": "/dashboard",
    "gov_reviewer": "/dashboard",
    "auditor": "/dashboard",
    "bank_officer": "/bank",
    "enterprise_user": "/enterprise",
    "investor": "/investor/market",
}


def lang_switch(request: Request, other: str) -> str:
    """A language switch's address: this page, its path and query kept, in the ``other``
    language (a list's search filters survive the switch). A page answering something other
    than a GET (an error shown for a POST) switches on the home page: its address serves no GET."""
    if request.method != "GET":
        return f"/?lang={other}"
    return flash.with_query(f"{request.url.path}?{request.url.query}", lang=other)


def lang_switches(request: Request, lang: str) -> list[tuple[str, str, str]]:
    """(language, its own name, address) for every other language a catalog offers."""
    return [
        (other, t(N_("lang_name"), other), lang_switch(request, other))
        for other in languages()
        if other != lang
    ]


def problem_texts(e: KejinError | None, lang: str) -> dict[str, str]:
    """A refusal's problems keyed by form field, in the page language."""
    if e is None:
        return {}
    return {pr.field or "": (pr.reason_en if lang == "en" else pr.reason_zh) for pr in e.problems}


def institution_names(request: Request) -> Callable[[str | None], str]:
    """``inst(id)`` for templates: an institution's name (its id is a code no reader knows),
    read once per page and only if the page asks."""
    names: dict[str, str] = {}

    def inst(code: str | None) -> str:
        if code is None:
            return "—"
        if not names:
            with transaction(request.app.state.engine) as s:
                names.update(s.execute(select(Institution.id, Institution.name)).all())
        return names.get(code, code)

    return inst


def region_name(lang: str) -> str:
    """The configured region's name (docs/region.md), empty when none is configured."""
    from kejin.regions import current

    r = current()
    return "" if r is None else (r.name_en if lang == "en" else r.name_zh)


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    p = getattr(request.state, "principal", None)
    full = {
        "request": request,
        "lang": lang,
        "lang_tag": t(N_("lang_tag"), lang),
        "lang_switches": lang_switches(request, lang),
        "t": texts()[lang].__getitem__,  # the page language's catalog, looked up once
        "term": lambda vocab, k: term(VOCABS[vocab], k, lang),
        "inst": institution_names(request),
        "p": p,
        "csrf": csrf_token(request),
        "path": request.url.path,
        "region": region_name(lang),
        **ctx,
    }
    resp = templates.TemplateResponse(request, name, full, status_code=status)
    if request.query_params.get("lang") in languages():
        resp.set_cookie("kejin_lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


def error_page(request: Request, status: int, e: KejinError) -> Response:
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    if getattr(request.state, "principal", None) is None:
        # An unknown path never ran a gate: find who is signed in, or the page loses its
        # navigation and the user their way back.
        request.state.principal = signed_in(request)
    p = request.state.principal
    if p is not None and p.must_change:
        return RedirectResponse("/password", status_code=303)
    return render(request, "error.html", {"status": status, "err": e}, status)


@router.get("/")
def home(request: Request) -> Response:
    p = signed_in(request)
    if p is None:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    if p.must_change:
        return RedirectResponse("/password", status_code=303)
    return RedirectResponse(HOME.get(p.role, "/login"), status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    with transaction(request.app.state.engine) as s:
        f = flash.read(request, s)
    lang = lang_of(request)
    err = f.error and (f.error.reason_en if lang == "en" else f.error.reason_zh)
    return render(request, "login.html", {"error": err, "username": f.form.get("username", "")})


@router.post("/login")
def login_submit(
    request: Request,
    username: str = Form("", max_length=60),
    password: str = Form("", max_length=200),
    csrf_token_: str = Form("", alias="csrf_token"),
) -> Response:
    check_csrf(request, csrf_token_)
    try:
        u, sid = sessions.login(
            request.app.state.engine,
            username,
            password,
            sessions.client_key(request.client.host if request.client else None),
        )
    except KejinError as e:
        with transaction(request.app.state.engine) as s:
            return flash.refused(request, s, "/login", e, {"username": username})
    request.session.clear()
    request.session[sessions.SID] = sid
    return flash.see_other(request, "/password" if u.must_change_password else HOME[u.role])


@router.post("/logout")
def logout(request: Request, csrf_token_: str = Form("", alias="csrf_token")) -> Response:
    end_session(request, csrf_token_)
    return flash.see_other(request, "/login")


@router.get("/password")
def password_form(
    request: Request,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("self.password"),
    s: Session = TX,
) -> Response:
    f = flash.read(request, s)
    problems = problem_texts(f.error, lang_of(request))
    return render(request, "password.html", {"problems": problems, "done": notice == "changed"})


@router.post("/password")
def password_submit(
    request: Request,
    current_password: str = Form("", max_length=200),
    new_password: str = Form("", max_length=200),
    new_password_again: str = Form("", max_length=200),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("self.password"),
    s: Session = TX,
) -> Response:
    """Self-service password change (also the one page a first login may open)."""
    check_csrf(request, csrf_token_)
    try:
        if new_password != new_password_again:
            raise ValidationError(
                "两次输入的新密码不一致",
                "the new passwords do not match",
                [Problem("两次输入不一致", "does not match", field="new_password_again")],
            )
        accounts.change_password(
            s,
            p,
            current=current_password,
            new=new_password,
            keep_session=request.session.get(sessions.SID),
        )
    except ValidationError as e:
        return flash.refused(request, s, "/password", e)
    return flash.see_other(request, "/password", notice="changed")


@router.get("/dashboard")
def dashboard(
    request: Request,
    p: Principal = permit("stats.region"),
    s: Session = TX,
) -> Response:
    lang = lang_of(request)
    ov = profiles.region_overview(s, p)

    def labelled(counts: dict[str, int], vocab: str) -> list[tuple[str, int]]:
        return sorted(
            ((term(VOCABS[vocab], k, lang), v) for k, v in counts.items()), key=lambda x: -x[1]
        )

    svgs = [
        charts.hbar(
            t("by_stage", lang),
            [(term(STAGES, k, lang), ov["by_stage"].get(k, 0)) for k in STAGES],
            0,
            lang=lang,
        ),
        charts.hbar(t("by_chain", lang), labelled(ov["by_chain"], "chain"), 1, lang=lang),
        charts.hbar(
            t("by_qual", lang), labelled(ov["by_qualification"], "qualification"), 2, lang=lang
        ),
        charts.hbar(
            t("loans_by_bank", lang),
            [(r["name"], r["balance"]) for r in ov["loans_by_institution"]][:15],
            3,
            lang=lang,
        ),
    ]
    areas = area_state(request, s)
    svgs += area_charts(s, areas, lang)
    from kejin.asof import RULE

    return render(
        request,
        "dashboard.html",
        {"ov": ov, "charts": svgs, "kpi": headline(areas), "rule": RULE[1 if lang == "en" else 0]},
    )


def area_state(request: Request, s: Session) -> dict[str, Any]:
    """What the areas contribute to the dashboard, read once for the headline and the charts
    (the fund summaries walk every pool's ledger). Imported here, not at the top, because the
    areas' page modules import this one."""
    from sqlalchemy import func

    from kejin.fund.routes import pools
    from kejin.points.tables import ScoreRun
    from kejin.policy.routes import programmes
    from kejin.registry.tables import DataPull
    from kejin.whitelist.visibility import versions

    today = utcnow().date()
    return {
        "today": today,
        "registry_as_of": s.scalar(select(func.max(DataPull.pulled_at))),
        "versions": versions(s, 2),
        "points_run": s.execute(select(ScoreRun).order_by(ScoreRun.id.desc()).limit(1)).scalar(),
        "programmes": programmes(s),
        "pools": pools(s, request.app.state.engine, today),
    }


def headline(a: dict[str, Any]) -> dict[str, Any]:
    """The figures above the charts, each with the date or run it rests on: a region's registry,
    points, whitelist and ledgers are refreshed at different times, and a reader comparing them
    must see which snapshot each comes from. Counts are judged on the data date
    (:mod:`kejin.asof`), the one rule of every page and command."""
    vs, progs, ps = a["versions"], a["programmes"], a["pools"]
    return {
        "registry_as_of": a["registry_as_of"],
        "points_run": a["points_run"],
        "whitelist": vs[0] if vs else None,
        "whitelist_change": (vs[0]["members"] - vs[1]["members"]) if len(vs) > 1 else None,
        "budget": sum(r["budget"] for r in progs) if progs else None,
        "reserved": sum(r["reserved"] for r in progs) if progs else None,
        "fund_balance": sum(x["balance"] for x in ps) if ps else None,
        "claims_paid": sum(
            x["claims_by_status"].get("paid", 0) + x["claims_by_status"].get("closed", 0)
            for x in ps
        )
        if ps
        else None,
        "claims_paid_amount": sum(x["paid"] for x in ps) if ps else None,
    }


def area_charts(s: Session, a: dict[str, Any], lang: str) -> list[str]:
    """The areas' dashboard charts: whitelist size by tier, points distribution, policy budget
    used, fund balances (each empty until its area has data)."""
    from sqlalchemy import func

    from kejin.points.tables import ScoreResult
    from kejin.policy import library
    from kejin.whitelist.rules import load_rules

    latest = a["versions"][:1]
    tiers = latest[0]["tiers"] if latest else {}
    tier_defs = load_rules("default")[0].tiers
    names = {x.id: (x.en if lang == "en" else x.zh) for x in tier_defs}
    order = {x.id: i for i, x in enumerate(tier_defs)}
    bins: dict[int, int] = {}
    if a["points_run"] is not None:
        bucket = func.floor(ScoreResult.total / 10)
        for b, n in s.execute(
            select(bucket, func.count())
            .where(ScoreResult.run_id == a["points_run"].id)
            .group_by(bucket)
        ):
            k = min(int(b), 9)
            bins[k] = bins.get(k, 0) + n
    titles = library.titles([r["policy"] for r in a["programmes"]], lang)
    by_tier = sorted(tiers.items(), key=lambda kv: order.get(kv[0], len(order)))
    return [
        charts.hbar(
            t("dash_whitelist", lang) + (f" (v{latest[0]['version']})" if latest else ""),
            [(names.get(k, k), v) for k, v in by_tier],
            4,
            lang=lang,
        ),
        charts.hbar(
            t("dash_points", lang),
            [(f"{k * 10}–{k * 10 + 10}", bins.get(k, 0)) for k in range(10)] if bins else [],
            5,
            lang=lang,
        ),
        charts.hbar(
            t("pol_used_chart", lang),
            [
                (f"{titles.get(r['policy'], r['policy'])} {r['year']}", r["reserved"])
                for r in a["programmes"]
            ][:15],
            2,
            lang=lang,
        ),
        charts.hbar(
            t("fund_balance", lang), [(x["name"], x["balance"]) for x in a["pools"]], 1, lang=lang
        ),
    ]


FIRM_PAGE = 50


@router.get("/firms")
def firms(
    request: Request,
    q: str | None = Query(None, max_length=100),
    chain: str | None = Query(None, max_length=40),
    stage: str | None = Query(None, max_length=20),
    qualification: str | None = Query(None, max_length=40),
    page: int = PAGE_Q,
    p: Principal = permit("firm.search"),
    s: Session = TX,
) -> Response:
    """The firm list a screen at a time (numbered pages, filters kept); for the government with
    each firm's points and whitelist tier, and the run and version those come from."""
    from kejin.registry.routes import tier_names

    lang = lang_of(request)
    filters = {
        "q": q or None,
        "chain": chain or None,
        "stage": stage or None,
        "qualification": qualification or None,
    }
    errors: dict[str, str] = {}
    res: dict[str, Any] = {"total": 0, "items": [], "offset": 0, "limit": FIRM_PAGE}
    try:
        res = profiles.search_firms(s, p, **filters, limit=FIRM_PAGE, offset=(page - 1) * FIRM_PAGE)
        if not res["items"] and page > 1 and res["total"]:  # a stale link past the end
            page = clamp(page, res["total"], FIRM_PAGE)
            res = profiles.search_firms(
                s, p, **filters, limit=FIRM_PAGE, offset=(page - 1) * FIRM_PAGE
            )
    except ValidationError as e:
        errors = problem_texts(e, lang)
    ranking = res.get("ranking") or {}
    qs = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "firms.html",
        {
            "res": res,
            "f": filters,
            "errors": errors,
            "qs": qs,
            "pg": pager(request, page, res["total"], FIRM_PAGE),
            "ranking": ranking,
            "tiers": tier_names(ranking.get("rules_id"), lang) if ranking else {},
            "ranked": p.role != "bank_officer",
            "chains": INDUSTRY_CHAINS,
            "stages": STAGES,
            "quals": QUALIFICATION_KINDS,
        },
        422 if errors else 200,
    )


@router.get("/firms/{uscc}")
def firm(
    request: Request,
    uscc: str,
    p: Principal = permit("firm.read", target="uscc"),
    s: Session = TX,
) -> Response:
    from kejin.relend.service import combination

    prof = profiles.firm_profile(s, p, uscc)
    rec = None
    if p.role in READERS:
        from kejin.registry.firm_record import firm_record
        from kejin.registry.routes import tier_names

        rec = firm_record(s, p, uscc)
        if rec["tier"]:
            rec["tier_names"] = tier_names(rec["tier"]["rules_id"], lang_of(request))
    from kejin.credit.pages import product_name

    lang = lang_of(request)
    combo = combination(s, prof["uscc"], lang) if prof["level"] == "full" else None
    return render(
        request,
        "firm.html",
        {
            "f": prof,
            "ind_fields": _indicator_columns(),
            "rec": rec,
            "combo": combo,
            "product_name": lambda prod: product_name(prod, lang),
        },
    )


def _indicator_columns() -> list[tuple[str, str, str, bool]]:
    """(field, zh, en, is money) of the indicators a profile page shows."""
    from kejin.registry.tables import INDICATOR_FIELDS, AnnualIndicator

    cols = AnnualIndicator.__table__.c
    return [
        (f, cols[f].info["zh"], cols[f].info["en"], cols[f].info.get("unit") == "CNY")
        for f in INDICATOR_FIELDS[:12]
    ]


BANK_PAGE = 50


def page_count(total: int, size: int) -> int:
    """Screens needed for ``total`` rows (at least one, which says "nothing yet")."""
    return max(1, -(-total // size))


@router.get("/bank")
def bank(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    assert p.institution_id is not None
    inst = s.get(Institution, p.institution_id)
    loans = portfolio.institution_loans(
        s, p, p.institution_id, limit=BANK_PAGE, offset=(page - 1) * BANK_PAGE
    )
    consents = [service.consent_view(c) for c in service.list_consents(s, p)]
    names = dict(
        s.execute(
            select(profiles.Enterprise.uscc, profiles.Enterprise.name).where(
                profiles.Enterprise.uscc.in_([c["uscc"] for c in consents])
            )
        ).all()
    )
    pages = page_count(loans["total"], BANK_PAGE)
    return render(
        request,
        "bank.html",
        {
            "inst": inst,
            "loans": loans,
            "consents": consents,
            "names": names,
            "page": min(page, pages),
            "pages": pages,
        },
    )


def _enterprise_page(request: Request, p: Principal, s: Session, notice: str | None) -> Response:
    assert p.uscc is not None
    f = flash.read(request, s)
    prof = profiles.firm_profile(s, p, p.uscc)
    consents = [service.consent_view(c) for c in service.list_consents(s, p)]
    banks = s.execute(select(Institution.id, Institution.name).order_by(Institution.id)).all()
    return render(
        request,
        "enterprise.html",
        {
            "f": prof,
            "consents": consents,
            "banks": banks,
            "errors": problem_texts(f.error, lang_of(request)),
            "form": f.form,
            "notice": notice,
            "inst_names": dict(banks),
            "ind_fields": _indicator_columns(),
        },
    )


@router.get("/enterprise")
def enterprise(
    request: Request,
    notice: str | None = Query(None, max_length=20),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    return _enterprise_page(
        request, p, s, notice if notice in (N_("granted"), N_("revoked")) else None
    )


@router.post("/enterprise/consents")
def enterprise_grant(
    request: Request,
    institution_id: str = Form("", max_length=20),
    purpose: str = Form("", max_length=40),
    scope: str = Form("", max_length=20),
    expires_on: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.enterprise"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {
        "institution_id": institution_id,
        "purpose": purpose,
        "scope": scope,
        "expires_on": expires_on,
    }
    try:
        try:
            day = datetime.strptime(expires_on, "%Y-%m-%d").date()
        except ValueError:
            raise ValidationError(
                "到期日无效",
                "invalid expiry date",
                [
                    Problem(
                        "请输入日期（年-月-日）", "enter a date as YYYY-MM-DD", field="expires_at"
                    )
                ],
            ) from None
        with s.begin_nested():
            service.grant_consent(
                s,
                p,
                uscc=p.uscc or "",
                institution_id=institution_id,
                purpose=purpose,
                scope=scope,
                expires_at=datetime.combine(day, time(23, 59, 59)),
            )
    except ValidationError as e:
        return flash.refused(request, s, "/enterprise", e, form)
    return flash.see_other(request, "/enterprise", notice="granted")


@router.post("/enterprise/consents/{consent_id}/revoke")
def enterprise_revoke(
    request: Request,
    consent_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("consent.revoke", target="consent_id"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    service.revoke_consent(s, p, consent_id)
    return flash.see_other(request, "/enterprise", notice="revoked")
