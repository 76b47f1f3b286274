"""The bank officer's credit decision page for one firm (same gate as the API)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import check_csrf, db, permit
from kejin.access.rules import Principal
from kejin.credit.routes import COMPONENTS, decide
from kejin.errors import ValidationError
from kejin.registry.tables import Enterprise
from kejin.web.pages import render

router = APIRouter(include_in_schema=False)


@router.post("/firms/{uscc}/credit")
def credit_page(
    request: Request,
    uscc: str,
    product: str = Form("points_credit", max_length=40),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("credit.decide", target="uscc"),
    s: Session = Depends(db),
) -> Response:
    check_csrf(request, csrf_token_)
    if product != "points_credit":
        raise ValidationError("没有该产品", "unknown product")
    out = decide(s, request.app.state.engine, p, uscc, product)
    firm = s.get(Enterprise, out["uscc"])
    return render(request, "credit.html", {"d": out, "firm": firm, "components": COMPONENTS})
