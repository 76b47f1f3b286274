"""Fund pages: the government's pools (balance, leverage, claims by status) and a bank's claims."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import db, permit
from kejin.access.rules import Principal
from kejin.fund.routes import institution_claims, pools
from kejin.web import charts
from kejin.web.i18n import t
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)


@router.get("/fund")
def fund_page(
    request: Request, p: Principal = permit("fund.pools"), s: Session = Depends(db)
) -> Response:
    lang = lang_of(request)
    ps = pools(s, request.app.state.engine, date.today())
    chart = charts.hbar(
        t("fund_balance_chart", lang),
        [(x["name"], x["balance"]) for x in ps]
        + [(x["name"] + " · " + t("fund_enrolled", lang), x["enrolled_balance"]) for x in ps],
        1,
        lang=lang,
    )
    return render(request, "fund.html", {"pools": ps, "chart": chart})


@router.get("/bank/claims")
def bank_claims(
    request: Request, p: Principal = permit("page.bank"), s: Session = Depends(db)
) -> Response:
    assert p.institution_id is not None
    claims = institution_claims(s, p.institution_id)
    access.log(s, p, "fund.claims", "institution", p.institution_id, detail={"rows": len(claims)})
    return render(request, "bank_claims.html", {"claims": claims})
