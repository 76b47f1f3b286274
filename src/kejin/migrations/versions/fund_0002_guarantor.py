"""fund: a loan's guarantor and guarantee contract; one guarantee vocabulary; who a claim pays

Revision ID: fund_0002
Revises: fund_0001

Loans and products take the full guarantee vocabulary (信用, 保证, 抵押, 质押 by pledged asset):
the four old identifiers keep their meaning, so existing values stay as they are and only the
column's width and check widen. A claim records the institution its payout goes to; claims filed
before this revision paid the lending bank.

On SQLite the altered tables are rebuilt (batch mode); a database whose loans or claims are
already referenced by other rows must be migrated with foreign keys off, as SQLite requires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fund_0002"
down_revision: str | Sequence[str] | None = "fund_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("credit", "ip_pledge", "guarantee", "mortgage")
NEW = (
    "credit",
    "guarantee",
    "mortgage",
    "ip_pledge",
    "equity_pledge",
    "receivables",
    "inventory_pledge",
    "order_pledge",
)


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values,
        name="guarantee_type",
        native_enum=False,
        create_constraint=True,
        length=max(len(v) for v in values),
    )


def upgrade() -> None:
    for table in ("loans", "products"):
        with op.batch_alter_table(table) as b:
            b.alter_column(
                "guarantee_type",
                existing_type=_kind(OLD),
                type_=_kind(NEW),
                existing_nullable=table == "products",
            )
            if table == "loans":
                b.add_column(sa.Column("guarantor_id", sa.String(length=20), nullable=True))
                b.add_column(sa.Column("guarantee_contract", sa.String(length=60), nullable=True))
                b.create_foreign_key(
                    "fk_loans_guarantor_id_institutions", "institutions", ["guarantor_id"], ["id"]
                )
    with op.batch_alter_table("fund_claims") as b:
        b.add_column(sa.Column("paid_to", sa.String(length=20), nullable=True))
    op.execute("UPDATE fund_claims SET paid_to = institution_id")
    with op.batch_alter_table("fund_claims") as b:
        b.alter_column("paid_to", existing_type=sa.String(length=20), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("fund_claims") as b:
        b.drop_column("paid_to")
    for table in ("loans", "products"):
        with op.batch_alter_table(table) as b:
            if table == "loans":
                b.drop_constraint("fk_loans_guarantor_id_institutions", type_="foreignkey")
                b.drop_column("guarantee_contract")
                b.drop_column("guarantor_id")
            b.alter_column(
                "guarantee_type",
                existing_type=_kind(NEW),
                type_=_kind(OLD),
                existing_nullable=table == "products",
            )
