"""Routes of the risk-compensation fund: each pool's position for the government and the
auditor; a bank's own claims (never another bank's, never the per-bank table)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import db, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules
from kejin.fund import service
from kejin.fund.tables import Claim, Enrolment, FundPool

add_rules(
    [
        *(Rule("fund.pools", r, "region") for r in READERS),
        *(Rule("fund.claims", r, "region") for r in READERS),
        Rule("fund.claims", "bank_officer", "own_institution"),
    ]
)

router = APIRouter(prefix="/api", tags=["fund 风险补偿资金池"])


def pools(s: Session, engine: Any, on: date) -> list[dict[str, Any]]:
    """Every pool's summary (balance, leverage, enrolled balance, claims by status, banks)."""
    ids = s.scalars(select(FundPool.id).order_by(FundPool.id)).all()
    names = dict(s.execute(select(FundPool.id, FundPool.name)).all())
    return [{"name": names[i], **service.summary(engine, i, on)} for i in ids]


def institution_claims(s: Session, institution_id: str) -> list[dict[str, Any]]:
    """The institution's claims in every pool, newest first."""
    rows = s.execute(
        select(Claim, Enrolment.contract_no)
        .join(Enrolment, Enrolment.id == Claim.enrolment_id)
        .where(Claim.institution_id == institution_id)
        .order_by(Claim.id.desc())
    ).all()
    return [
        {
            "claim": c.id,
            "pool": c.pool_id,
            "contract_no": contract,
            "status": c.status,
            "filed_on": c.filed_on,
            "loss_base": c.loss_base,
            "pool_amount": c.pool_amount,
            "recovered_to_pool": c.recovered_to_pool,
            "trigger": c.trigger,
        }
        for c, contract in rows
    ]


@router.get("/fund/pools")
def list_pools(
    request: Request, p: Principal = permit("fund.pools"), s: Session = Depends(db)
) -> list[dict[str, Any]]:
    """Each pool as of today: balance, leverage and its limit, enrolled balance, claims by
    status, paid and recovered, per-bank compensation rates, overdue deadlines."""
    return pools(s, request.app.state.engine, date.today())


@router.get("/fund/claims/{institution_id}")
def list_claims(
    institution_id: str,
    p: Principal = permit("fund.claims", target="institution_id"),
    s: Session = Depends(db),
) -> list[dict[str, Any]]:
    """The institution's compensation claims (a bank officer: only its own institution)."""
    out = institution_claims(s, institution_id)
    access.log(s, p, "fund.claims", "institution", institution_id, detail={"rows": len(out)})
    return out
