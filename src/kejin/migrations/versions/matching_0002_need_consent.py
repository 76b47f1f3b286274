"""matching: a consent scoped to a need; the firm's rating of the bank's service

Revision ID: matching_0002
Revises: matching_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "matching_0002"
down_revision: str | Sequence[str] | None = "matching_0001"
branch_labels: str | Sequence[str] | None = None
#: The consents table comes from the access branch.
depends_on: str | Sequence[str] | None = "access_0001"


def upgrade() -> None:
    with op.batch_alter_table("consents") as b:
        b.add_column(sa.Column("need_id", sa.Integer(), nullable=True))
        b.create_foreign_key(
            op.f("fk_consents_need_id_match_needs"), "match_needs", ["need_id"], ["id"]
        )
        b.create_index(op.f("ix_consents_need_id"), ["need_id"])
    with op.batch_alter_table("match_needs") as b:
        b.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        b.add_column(sa.Column("rating_note", sa.String(length=500), nullable=True))
        b.add_column(sa.Column("rated_at", sa.DateTime(), nullable=True))
        b.create_check_constraint(
            op.f("ck_match_needs_rating_range"), "rating IS NULL OR rating BETWEEN 1 AND 5"
        )


def downgrade() -> None:
    with op.batch_alter_table("match_needs") as b:
        b.drop_constraint(op.f("ck_match_needs_rating_range"), type_="check")
        b.drop_column("rated_at")
        b.drop_column("rating_note")
        b.drop_column("rating")
    with op.batch_alter_table("consents") as b:
        b.drop_index(op.f("ix_consents_need_id"))
        b.drop_constraint(op.f("fk_consents_need_id_match_needs"), type_="foreignkey")
        b.drop_column("need_id")
