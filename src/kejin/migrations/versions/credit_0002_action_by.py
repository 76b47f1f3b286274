"""credit: who acted on a decision, kept apart from who requested it

Revision ID: credit_0002
Revises: credit_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "credit_0002"
down_revision: str | Sequence[str] | None = "credit_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as b:
        b.add_column(sa.Column("action_by", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_decisions") as b:
        b.drop_column("action_by")
