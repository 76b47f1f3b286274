"""matching: 首贷培育 pushes — a bank names the contact person for a prospect firm

Revision ID: matching_0003
Revises: matching_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "matching_0003"
down_revision: str | Sequence[str] | None = "matching_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_prospect_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.String(length=20), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("product_id", sa.String(length=30), nullable=True),
        sa.Column("contact_name", sa.String(length=40), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("pushed_by", sa.String(length=60), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_match_prospect_pushes_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_match_prospect_pushes_uscc_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_match_prospect_pushes_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_prospect_pushes")),
        sa.UniqueConstraint(
            "institution_id", "uscc", name=op.f("uq_match_prospect_pushes_institution_id_uscc")
        ),
    )
    op.create_index(
        op.f("ix_match_prospect_pushes_uscc"), "match_prospect_pushes", ["uscc"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_match_prospect_pushes_uscc"), table_name="match_prospect_pushes")
    op.drop_table("match_prospect_pushes")
