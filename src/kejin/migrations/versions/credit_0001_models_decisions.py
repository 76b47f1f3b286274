"""credit: model registry and decision records

Revision ID: credit_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "credit_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("credit",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_models",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("schema", sa.String(length=60), nullable=False),
        sa.Column("training_sha256", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("artefact", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_models")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_credit_models_name_version")),
    )
    op.create_table(
        "credit_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("table_version", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("as_of", sa.String(length=10), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("table", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("officer", sa.String(length=60), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=True),
        sa.Column("action_note", sa.Text(), nullable=True),
        sa.Column("action_at", sa.DateTime(), nullable=True),
        sa.Column("contract_no", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["credit_models.id"],
            name=op.f("fk_credit_decisions_model_id_credit_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_decisions")),
    )
    op.create_index(
        op.f("ix_credit_decisions_contract_no"), "credit_decisions", ["contract_no"], unique=False
    )
    op.create_index(op.f("ix_credit_decisions_uscc"), "credit_decisions", ["uscc"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_credit_decisions_uscc"), table_name="credit_decisions")
    op.drop_index(op.f("ix_credit_decisions_contract_no"), table_name="credit_decisions")
    op.drop_table("credit_decisions")
    op.drop_table("credit_models")
