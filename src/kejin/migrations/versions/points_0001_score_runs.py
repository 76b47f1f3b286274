"""points: score runs and per-firm results

Revision ID: points_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "points_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("points",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.String(length=40), nullable=False),
        sa.Column("system_version", sa.String(length=20), nullable=False),
        sa.Column("system_sha256", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("snapshot_pull_id", sa.Integer(), nullable=True),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("firms", sa.Integer(), nullable=False),
        sa.Column("results_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_runs")),
    )
    op.create_index(op.f("ix_points_runs_system_id"), "points_runs", ["system_id"], unique=False)
    op.create_table(
        "points_results",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("peer_group", sa.String(length=60), nullable=False),
        sa.Column("base", sa.Float(), nullable=False),
        sa.Column("bonus", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("rank_group", sa.Integer(), nullable=False),
        sa.Column("pct_group", sa.Float(), nullable=False),
        sa.Column("rank_region", sa.Integer(), nullable=False),
        sa.Column("pct_region", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("list_id", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["points_runs.id"], name=op.f("fk_points_results_run_id_points_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "uscc", name=op.f("pk_points_results")),
    )


def downgrade() -> None:
    op.drop_table("points_results")
    op.drop_index(op.f("ix_points_runs_system_id"), table_name="points_runs")
    op.drop_table("points_runs")
