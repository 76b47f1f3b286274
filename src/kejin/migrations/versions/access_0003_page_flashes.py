"""access: page flashes (post/redirect/get carries a form's result to the GET page)

Revision ID: access_0003
Revises: access_0002
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "access_0003"
down_revision: str | Sequence[str] | None = "access_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_flashes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_flashes")),
    )
    with op.batch_alter_table("page_flashes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_page_flashes_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("page_flashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_page_flashes_created_at"))
    op.drop_table("page_flashes")
