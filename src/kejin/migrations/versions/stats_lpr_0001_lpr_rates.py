"""stats: the monthly loan prime rate (LPR) table

Revision ID: stats_lpr_0001
Revises: 0001
Create Date: 2026-12-07 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kejin.db

revision: str = "stats_lpr_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("stats_lpr",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lpr_rates",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("lpr_1y", kejin.db.FixedDecimal(9, 6), nullable=False),
        sa.Column("lpr_5y", kejin.db.FixedDecimal(9, 6), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("lpr_1y > 0 AND lpr_5y > 0", name=op.f("ck_lpr_rates_lpr_pos")),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_lpr_rates")),
    )


def downgrade() -> None:
    op.drop_table("lpr_rates")
