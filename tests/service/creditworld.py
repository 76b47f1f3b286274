"""Two recorded credit decisions beside the service world: one by BKA's officer on F1, one by
BKB's officer on F3 (a decision belongs to the institution of the officer who made it).

A bank's decision reads the firm's data for credit assessment, so it needs the firm's live
consent for that purpose with scope ``full``: F1 gave BKA one in the world (``c1``); F3 gave BKB
only a monitoring/profile consent (``c2``), so :func:`credit_consent` adds one before deciding.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from kejin.access import service
from kejin.access.audit import utcnow
from kejin.credit import decisions
from kejin.db import transaction

from .world import F1, F3


def credit_consent(
    engine: Engine,
    uscc: str,
    institution_id: str,
    purpose: str = "credit_assessment",
    scope: str = "full",
) -> int:
    """The firm's user grants ``institution_id`` a consent (a year long); its id."""
    with transaction(engine) as s:
        user = s.scalar(select(service.User).where(service.User.uscc == uscc))
        assert user is not None, f"no enterprise user for {uscc}"
        return service.grant_consent(
            s,
            service.principal_of(user),
            uscc=uscc,
            institution_id=institution_id,
            purpose=purpose,
            scope=scope,
            expires_at=utcnow() + timedelta(days=365),
        ).id


def build_decisions(engine: Engine) -> dict[str, int]:
    table = decisions.load_table("points_credit")
    credit_consent(engine, F3, "BKB")
    return {
        "decision_BKA_own": decisions.decide(engine, F1, table, officer="bank")["decision_id"],
        "decision_BKB_other": decisions.decide(engine, F3, table, officer="bankb")["decision_id"],
    }
