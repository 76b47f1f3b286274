"""access: each audit event carries a MAC under a key kept outside the database

Revision ID: audit_0002
Revises: access_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0002"
down_revision: str | Sequence[str] | None = "access_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): recreating the table on SQLite would drop the
    # append-only triggers. Existing events keep NULL: they were written without a key.
    op.add_column("audit_events", sa.Column("mac", sa.String(length=81), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite >= 3.35), again without copying the table.
    op.drop_column("audit_events", "mac")
