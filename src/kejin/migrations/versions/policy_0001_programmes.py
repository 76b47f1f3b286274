"""policy programmes, applications, payments

Revision ID: policy_0001
Revises: 0001
Create Date: 2026-11-29 08:58:36.199830
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kejin.db

revision: str = "policy_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("policy",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_programmes",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("budget", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("reserved", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("paid", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column(
            "allocation",
            sa.Enum(
                "fcfs",
                "pro_rata",
                name="policy_allocation",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "published",
                name="policy_programme_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("params_as_of", sa.Date(), nullable=True),
        sa.Column("made_by", sa.String(length=60), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=60), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> made_by",
            name=op.f("ck_policy_programmes_publish_maker_checker"),
        ),
        sa.CheckConstraint("budget >= 0", name=op.f("ck_policy_programmes_budget_nonneg")),
        sa.CheckConstraint(
            "paid >= 0 AND paid <= reserved", name=op.f("ck_policy_programmes_paid_within_reserved")
        ),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= budget",
            name=op.f("ck_policy_programmes_reserved_within_budget"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_programmes")),
        sa.UniqueConstraint("policy_id", "year", name=op.f("uq_policy_programmes_policy_id_year")),
    )
    with op.batch_alter_table("policy_programmes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_programmes_policy_id"), ["policy_id"], unique=False
        )

    op.create_table(
        "policy_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.String(length=60), nullable=False),
        sa.Column("firm", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=120), nullable=False),
        sa.Column("cost_item", sa.String(length=160), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "applied",
                "reviewed",
                "approved",
                "paid",
                "rejected",
                name="policy_application_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("claimed", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("approved_amount", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("paid_total", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("applied_by", sa.String(length=60), nullable=False),
        sa.Column("reviewed_by", sa.String(length=60), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("approved_by", sa.String(length=60), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "approved_amount IS NULL OR approved_amount >= 0",
            name=op.f("ck_policy_applications_approved_nonneg"),
        ),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> reviewed_by",
            name=op.f("ck_policy_applications_approve_maker_checker"),
        ),
        sa.CheckConstraint("claimed >= 0", name=op.f("ck_policy_applications_claimed_nonneg")),
        sa.CheckConstraint("paid_total >= 0", name=op.f("ck_policy_applications_paid_nonneg")),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["policy_programmes.id"],
            name=op.f("fk_policy_applications_programme_id_policy_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_applications")),
        sa.UniqueConstraint(
            "programme_id", "entity", name=op.f("uq_policy_applications_programme_id_entity")
        ),
    )
    with op.batch_alter_table("policy_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_applications_cost_item"), ["cost_item"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_policy_applications_firm"), ["firm"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_policy_applications_programme_id"), ["programme_id"], unique=False
        )

    op.create_table(
        "policy_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "payment",
                "top_up",
                "claw_back",
                name="policy_payment_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("amount", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("paid_by", sa.String(length=60), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["policy_applications.id"],
            name=op.f("fk_policy_payments_application_id_policy_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_payments")),
        sa.UniqueConstraint(
            "application_id", "seq", name=op.f("uq_policy_payments_application_id_seq")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_policy_payments_idempotency_key")),
    )
    with op.batch_alter_table("policy_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_payments_application_id"), ["application_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_payments_application_id"))

    op.drop_table("policy_payments")
    with op.batch_alter_table("policy_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_applications_programme_id"))
        batch_op.drop_index(batch_op.f("ix_policy_applications_firm"))
        batch_op.drop_index(batch_op.f("ix_policy_applications_cost_item"))

    op.drop_table("policy_applications")
    with op.batch_alter_table("policy_programmes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_programmes_policy_id"))

    op.drop_table("policy_programmes")
