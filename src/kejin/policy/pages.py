"""Policy pages: the enterprise's "policies I qualify for" and the government's policy centre."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import db, permit
from kejin.access.rules import Principal
from kejin.policy import library
from kejin.policy.routes import firm_matches, programmes
from kejin.web import charts
from kejin.web.i18n import t
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)


@router.get("/enterprise/policies")
def my_policies(
    request: Request, p: Principal = permit("page.enterprise"), s: Session = Depends(db)
) -> Response:
    assert p.uscc is not None
    out = firm_matches(s, request.app.state.engine, p, p.uscc)
    return render(request, "policies_firm.html", {"m": out})


@router.get("/policies")
def policy_centre(
    request: Request, p: Principal = permit("policy.programmes"), s: Session = Depends(db)
) -> Response:
    lang = lang_of(request)
    progs = programmes(s)
    titles = {pol.id: pol.title_zh for pol in library.all_policies()}
    chart = charts.hbar(
        t("pol_used_chart", lang), [(r["id"], r["reserved"]) for r in progs][:15], 2, lang=lang
    )
    return render(request, "policies_gov.html", {"progs": progs, "titles": titles, "chart": chart})
