"""Routes of the policy engine: the policies a firm qualifies for (``kejin policy matches`` as a
service) and the government's programme list with budget used and remaining."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import db, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules
from kejin.errors import NotFoundError, Problem
from kejin.ids import normalize_uscc
from kejin.policy.tables import Programme

add_rules(
    [
        *(Rule("policy.matches", r, "region") for r in READERS),
        Rule("policy.matches", "enterprise_user", "own_firm"),
        *(Rule("policy.programmes", r, "region") for r in READERS),
    ]
)

router = APIRouter(prefix="/api", tags=["policy 政策"])


def firm_matches(s: Session, engine: Any, p: Principal, uscc: str) -> dict[str, Any]:
    """Every policy in force the firm qualifies for, with the estimated amount and the reason;
    the read is audited (it evaluates the firm's data)."""
    from kejin.policy import library
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import matches

    code = normalize_uscc(uscc)
    frames = registry_frames(engine, code)
    if frames["firm"].height == 0:
        raise NotFoundError(
            f"登记库中没有企业{code}",
            f"no firm {code} in the registry",
            [Problem("未找到", "not found", field="uscc", value=code)],
        )
    out = matches(library.all_policies(), frames, as_of=date.today())
    found = out["matches"]
    assert isinstance(found, list)
    eligible = [m for m in found if m["status"] == "eligible"]
    access.log(s, p, "policy.matches", "enterprise", code, detail={"eligible": len(eligible)})
    return {
        "uscc": code,
        "name": frames["firm"]["name"][0],
        "total": sum((m["amount"] for m in eligible), Decimal("0")),
        "matches": found,
    }


def programmes(s: Session) -> list[dict[str, Any]]:
    """Programmes with budget, reserved (owed + paid), paid, remaining, state."""
    rows = s.scalars(select(Programme).order_by(Programme.year.desc(), Programme.id)).all()
    return [
        {
            "id": r.id,
            "policy": r.policy_id,
            "year": r.year,
            "budget": r.budget,
            "reserved": r.reserved,
            "paid": r.paid,
            "remaining": r.budget - r.reserved,
            "allocation": r.allocation,
            "state": r.state,
            "made_by": r.made_by,
            "approved_by": r.approved_by,
        }
        for r in rows
    ]


@router.get("/firms/{uscc}/policies")
def policies_for_firm(
    request: Request,
    uscc: str,
    p: Principal = permit("policy.matches", target="uscc"),
    s: Session = Depends(db),
) -> dict[str, Any]:
    """政策精准推送: each policy the firm qualifies for, with amount and reason (zh/en); policies
    needing data the registry lacks are listed as ``needs_data`` with their inputs."""
    return firm_matches(s, request.app.state.engine, p, uscc)


@router.get("/policy/programmes")
def list_programmes(
    p: Principal = permit("policy.programmes"), s: Session = Depends(db)
) -> list[dict[str, Any]]:
    """Programmes with budget used and remaining, and their state (draft / published / …)."""
    return programmes(s)
