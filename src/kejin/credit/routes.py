"""Routes of credit decisions: a bank officer asks for a decision on a firm it may see (consented
or pushed) for one of the bundled products, and gets every component with its reason codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import db, permit
from kejin.access.rules import Principal, Rule, add_rules
from kejin.ids import normalize_uscc

add_rules([Rule("credit.decide", "bank_officer", "firm_visible")])

router = APIRouter(prefix="/api", tags=["credit 授信决策"])

#: Only bundled decision tables by id: the credit CLI also takes a TOML path, the API never does.
PRODUCT_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
COMPONENTS = (
    "eligible",
    "grade",
    "decision.credit_allowed",
    "decision.limit",
    "decision.rate",
    "decision.term_months",
)


def decide(s: Session, engine: Any, p: Principal, uscc: str, product: str) -> dict[str, Any]:
    """Evaluate, record (officer = the acting user) and audit one decision."""
    from kejin.credit import decisions

    out = decisions.decide(
        engine, normalize_uscc(uscc), decisions.load_table(product), officer=p.username
    )
    access.log(
        s,
        p,
        "credit.decide",
        "enterprise",
        out["uscc"],
        after={"decision": out["decision_id"], "product": product},
    )
    return out


@router.post("/firms/{uscc}/credit-decisions")
def request_decision(
    request: Request,
    uscc: str,
    product: str = Query("points_credit", pattern=PRODUCT_PATTERN),
    p: Principal = permit("credit.decide", target="uscc"),
    s: Session = Depends(db),
) -> dict[str, Any]:
    """Eligibility, grade, credit allowed, limit, rate and term, each with reason codes (zh/en),
    and the flags; the decision is stored with its inputs and table for replay."""
    return decide(s, request.app.state.engine, p, uscc, product)
