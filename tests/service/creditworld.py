"""Two recorded credit decisions beside the service world: one by BKA's officer on F1, one by
BKB's officer on F3 (a decision belongs to the institution of the officer who made it)."""

from __future__ import annotations

from sqlalchemy import Engine

from kejin.credit import decisions

from .world import F1, F3


def build_decisions(engine: Engine) -> dict[str, int]:
    table = decisions.load_table("points_credit")
    return {
        "decision_BKA_own": decisions.decide(engine, F1, table, officer="bank")["decision_id"],
        "decision_BKB_other": decisions.decide(engine, F3, table, officer="bankb")["decision_id"],
    }
