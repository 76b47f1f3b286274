"""Routes of innovation points: a firm's points profile (score, grade, rank, contributions, peer
position, how to raise it) for the firm itself, the government, the auditor, and banks the firm
consented to (a push alone does not open the points detail: it is beyond the whitelist fields)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.audit import utcnow
from kejin.access.deps import TX, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules, require_consent
from kejin.ids import normalize_uscc
from kejin.points.profile import explain

add_rules(
    [
        *(Rule("points.read", r, "region") for r in READERS),
        Rule("points.read", "enterprise_user", "own_firm"),
        Rule("points.read", "bank_officer", "firm_visible"),
    ]
)

router = APIRouter(prefix="/api", tags=["points 创新积分"])


def points_profile(s: Session, engine: Any, p: Principal, uscc: str) -> dict[str, Any]:
    """The profile of the latest run, with the read audited (it is enterprise data).

    The points detail (contributions, peer position) is computed from the annual indicators,
    so a bank reads it only under a consent opening the firm's financial data; the refusal
    names the consent missing (the gate only asked that the firm be visible).
    """
    code = normalize_uscc(uscc)
    ref = require_consent(s, p, code, "financials", utcnow())
    out = explain(engine, code)
    detail = {"run": out["run_id"], **({"consent": ref.id} if ref else {})}
    access.log(s, p, "points.read", "enterprise", uscc, detail=detail)
    return out


@router.get("/firms/{uscc}/points")
def firm_points(
    request: Request,
    uscc: str,
    p: Principal = permit("points.read", target="uscc"),
    s: Session = TX,
) -> dict[str, Any]:
    """Points, grade, ranks, per-indicator contributions and peer percentile, and the cheapest
    ways to reach the next list (``improvements``), from the latest score run."""
    return points_profile(s, request.app.state.engine, p, uscc)
