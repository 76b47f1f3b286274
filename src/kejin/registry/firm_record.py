"""What the government reads about one firm beyond its registry profile: its innovation points
(grade and rank), whitelist tier, loans with their latest status, this month's early-warning
signals, and the credit decisions banks took on it — each with the run, version or month it
comes from, so a figure on the page can be traced.

For the government and the auditor only (``firm.record``): a bank reads a firm's points and
decisions through the consent-checked paths of its own pages.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access.rules import READERS, Principal, Rule, add_rules, authorize
from kejin.access.service import log
from kejin.access.tables import User
from kejin.lending import portfolio
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

add_rules([Rule("firm.record", role, "region") for role in READERS])

LOANS_SHOWN = 50
DECISIONS_SHOWN = 50


def _points(session: Session, uscc: str) -> dict[str, Any] | None:
    row = session.execute(
        select(ScoreResult, ScoreRun.year, ScoreRun.system_id, ScoreRun.firms)
        .join(ScoreRun, ScoreRun.id == ScoreResult.run_id)
        .where(ScoreResult.uscc == uscc)
        .order_by(ScoreRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    r, year, system, firms = row
    return {
        "run_id": r.run_id,
        "year": year,
        "system": system,
        "total": r.total,
        "grade": r.grade,
        "rank_region": r.rank_region,
        "region_firms": firms,
        "pct_region": r.pct_region,
        "rank_group": r.rank_group,
        "group_size": r.group_size,
    }


def _tier(session: Session, uscc: str) -> dict[str, Any] | None:
    v = session.execute(
        select(WhitelistVersion.id, WhitelistVersion.as_of, WhitelistVersion.rules_id)
        .order_by(WhitelistVersion.id.desc())
        .limit(1)
    ).first()
    if v is None:
        return None
    e = session.execute(
        select(WhitelistEntry.status, WhitelistEntry.tier).where(
            WhitelistEntry.version_id == v.id, WhitelistEntry.uscc == uscc
        )
    ).first()
    return {
        "version": v.id,
        "as_of": v.as_of,
        "rules_id": v.rules_id,
        "status": e.status if e else None,
        "tier": e.tier if e else None,
    }


def _warnings(session: Session, uscc: str) -> dict[str, Any]:
    """This firm's signals in the region's latest data month (computed for this firm alone)."""
    from kejin.credit import early_warning, features, points_link
    from kejin.credit.warning_views import data_month

    month = data_month(session)
    if month is None:
        return {"month": None, "level": 0, "reasons": []}
    conn = session.connection()
    rows = early_warning.signals(
        features.load(conn, uscc),
        month,
        early_warning.WarningConfig(),
        points_link.points_frame(conn, [uscc]),
    )
    w = rows[0] if rows else {"level": 0, "reasons": []}
    return {"month": month, "level": w["level"], "reasons": w["reasons"]}


def _decisions(session: Session, uscc: str) -> list[dict[str, Any]]:
    from kejin.credit.tables import CreditDecision

    out = []
    for d, inst in session.execute(
        select(CreditDecision, User.institution_id)
        .outerjoin(User, User.username == CreditDecision.officer)
        .where(CreditDecision.uscc == uscc)
        .order_by(CreditDecision.id.desc())
        .limit(DECISIONS_SHOWN)
    ):
        o = json.loads(d.outputs or "{}")

        def v(key: str, o: dict[str, Any] = o) -> Any:
            item = o.get(key)
            return item.get("value") if isinstance(item, dict) else None

        out.append(
            {
                "decision_id": d.id,
                "decided_at": d.decided_at,
                "as_of": d.as_of,
                "product": d.product,
                "institution_id": inst,
                "officer": d.officer,
                "grade": v("grade"),
                "credit_allowed": v("decision.credit_allowed"),
                "limit": v("decision.limit"),
                "rate": v("decision.rate"),
                "action": d.action,
                "contract_no": d.contract_no,
            }
        )
    return out


def firm_record(session: Session, p: Principal, uscc: str) -> dict[str, Any]:
    """Points, tier, loans, warnings and credit decisions of one firm, read as one audited act."""
    authorize(session, p, "firm.record", uscc)
    loans = portfolio.firm_loans(session, p, uscc, limit=LOANS_SHOWN)
    out = {
        "points": _points(session, uscc),
        "tier": _tier(session, uscc),
        "loans": loans,
        "warnings": _warnings(session, uscc),
        "decisions": _decisions(session, uscc),
    }
    log(
        session,
        p,
        "firm.record",
        "firm",
        uscc,
        detail={"loans": loans["total"], "decisions": len(out["decisions"])},
        durable=False,
    )
    return out
