"""Qualitative marks of the bank evaluation, entered by the government with evidence files.

The evidence is stored with the mark (bytes and SHA-256), so the scorecard can always show what a
mark rests on; a later mark for the same bank, year and item replaces the earlier one, and both
acts are in the audit chain.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base
from kejin.registry.tables import label


class EvaluationMark(Base):
    """One qualitative item's points for one bank and year, with its evidence."""

    __tablename__ = "evaluation_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, info=label("评估年度", "year"))
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("银行", "bank")
    )
    item: Mapped[str] = mapped_column(String(40), info=label("定性项目", "qualitative item"))
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2), info=label("得分", "points"))
    reason: Mapped[str] = mapped_column(String(500), info=label("评分理由", "reason"))
    evidence_name: Mapped[str] = mapped_column(String(200), info=label("佐证材料", "evidence"))
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[bytes] = mapped_column(LargeBinary)
    entered_by: Mapped[str] = mapped_column(String(60), info=label("录入人", "entered by"))
    entered_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("year", "institution_id", "item"),)
