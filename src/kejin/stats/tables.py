"""The statistics area's own table: the loan prime rate (LPR) published each month.

The spread of new loans' rates over the LPR needs the LPR *of the month*, both tenors: a table
of published values, imported from a file (``kejin stats lpr import``), not a constant.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Rate
from kejin.registry.tables import label


class LprRate(Base):
    """The 1-year and over-5-year LPR published in a month (by CFETS, on the 20th or next
    working day); ``month`` is the month's first day."""

    __tablename__ = "lpr_rates"

    month: Mapped[date] = mapped_column(
        Date, primary_key=True, info=label("月份", "month (first day)")
    )
    lpr_1y: Mapped[Decimal] = mapped_column(
        Rate(), info=label("一年期LPR", "1-year LPR", unit="1/year")
    )
    lpr_5y: Mapped[Decimal] = mapped_column(
        Rate(), info=label("五年期以上LPR", "over-5-year LPR", unit="1/year")
    )
    source: Mapped[str] = mapped_column(String(200), info=label("来源", "source"))

    __table_args__ = (CheckConstraint("lpr_1y > 0 AND lpr_5y > 0", name="lpr_pos"),)
