"""access: the investor role (users of an investor institution, like a bank officer's tenancy)

Revision ID: access_0005
Revises: access_0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "access_0005"
down_revision: str | Sequence[str] | None = "access_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("gov_admin", "gov_reviewer", "bank_officer", "enterprise_user", "auditor")
NEW = (*OLD, "investor")


def _role(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="role", native_enum=False, create_constraint=True, length=15)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_bank_has_institution"), type_="check")
        batch_op.alter_column("role", existing_type=_role(OLD), type_=_role(NEW))
        batch_op.create_check_constraint(
            batch_op.f("ck_users_bank_has_institution"),
            "(role IN ('bank_officer', 'investor')) = (institution_id IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_bank_has_institution"), type_="check")
        batch_op.alter_column("role", existing_type=_role(NEW), type_=_role(OLD))
        batch_op.create_check_constraint(
            batch_op.f("ck_users_bank_has_institution"),
            "(role = 'bank_officer') = (institution_id IS NOT NULL)",
        )
