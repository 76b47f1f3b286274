"""Routes of innovation points: a firm's points profile (score, grade, rank, contributions, peer
position, how to raise it) for the firm itself, the government, the auditor, and banks the firm
consented to (a push alone does not open the points detail: it is beyond the whitelist fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import db, permit
from kejin.access.rules import (
    READERS,
    TENANT_CHECKS,
    Principal,
    Rule,
    add_rules,
    consent_scope,
)
from kejin.ids import normalize_uscc
from kejin.points.profile import explain


def _firm_consented(s: Session, p: Principal, target: Any, now: datetime) -> bool:
    """The firm has a live consent (any scope) to the officer's institution."""
    return (
        p.institution_id is not None
        and target is not None
        and consent_scope(s, p.institution_id, target, now) is not None
    )


TENANT_CHECKS.setdefault("firm_consented", _firm_consented)
add_rules(
    [
        *(Rule("points.read", r, "region") for r in READERS),
        Rule("points.read", "enterprise_user", "own_firm"),
        Rule("points.read", "bank_officer", "firm_consented"),
    ]
)

router = APIRouter(prefix="/api", tags=["points 创新积分"])


def points_profile(s: Session, engine: Any, p: Principal, uscc: str) -> dict[str, Any]:
    """The profile of the latest run, with the read audited (it is enterprise data)."""
    out = explain(engine, normalize_uscc(uscc))
    access.log(s, p, "points.read", "enterprise", uscc, detail={"run": out["run_id"]})
    return out


@router.get("/firms/{uscc}/points")
def firm_points(
    request: Request,
    uscc: str,
    p: Principal = permit("points.read", target="uscc"),
    s: Session = Depends(db, scope="function"),
) -> dict[str, Any]:
    """Points, grade, ranks, per-indicator contributions and peer percentile, and the cheapest
    ways to reach the next list (``improvements``), from the latest score run."""
    return points_profile(s, request.app.state.engine, p, uscc)
