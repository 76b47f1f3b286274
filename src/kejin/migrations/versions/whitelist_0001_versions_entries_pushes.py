"""whitelist: versions, entries, pushes

Revision ID: whitelist_0001
Revises: points_0001 (a version records the points run it used, so it chains after points)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "whitelist_0001"
down_revision: str | Sequence[str] | None = "points_0001"
branch_labels: str | Sequence[str] | None = ("whitelist",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whitelist_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rules_id", sa.String(length=40), nullable=False),
        sa.Column("rules_version", sa.String(length=20), nullable=False),
        sa.Column("rules_sha256", sa.String(length=64), nullable=False),
        sa.Column("score_run_id", sa.Integer(), nullable=True),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("entries_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["score_run_id"],
            ["points_runs.id"],
            name=op.f("fk_whitelist_versions_score_run_id_points_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_versions")),
    )
    op.create_table(
        "whitelist_entries",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("industry_chain", sa.String(length=30), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=True),
        sa.Column("tier_rule", sa.String(length=40), nullable=True),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("list_id", sa.String(length=20), nullable=True),
        sa.Column("entry_rules", sa.Text(), nullable=False),
        sa.Column("exclusion_rules", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["whitelist_versions.id"],
            name=op.f("fk_whitelist_entries_version_id_whitelist_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "uscc", name=op.f("pk_whitelist_entries")),
    )
    op.create_table(
        "whitelist_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=5), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.Column("pushed_by", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_whitelist_pushes_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["whitelist_versions.id"],
            name=op.f("fk_whitelist_pushes_version_id_whitelist_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_pushes")),
    )
    op.create_index(
        op.f("ix_whitelist_pushes_institution_id"),
        "whitelist_pushes",
        ["institution_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_whitelist_pushes_version_id"), "whitelist_pushes", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_whitelist_pushes_version_id"), table_name="whitelist_pushes")
    op.drop_index(op.f("ix_whitelist_pushes_institution_id"), table_name="whitelist_pushes")
    op.drop_table("whitelist_pushes")
    op.drop_table("whitelist_entries")
    op.drop_table("whitelist_versions")
