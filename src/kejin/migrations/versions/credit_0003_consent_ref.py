"""credit: the consent under which a bank's decision read the firm's data

Revision ID: credit_0003
Revises: credit_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "credit_0003"
down_revision: str | Sequence[str] | None = "credit_0002"
branch_labels: str | Sequence[str] | None = None
#: The consents table comes from the access branch.
depends_on: str | Sequence[str] | None = "access_0001"


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as b:
        b.add_column(sa.Column("consent_id", sa.Integer(), nullable=True))
        b.create_foreign_key(
            "fk_credit_decisions_consent_id_consents", "consents", ["consent_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_decisions") as b:
        b.drop_constraint("fk_credit_decisions_consent_id_consents", type_="foreignkey")
        b.drop_column("consent_id")
