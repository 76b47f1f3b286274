"""The policy area's schema: programmes with yearly budgets, applications and payments.

A programme is one policy funded for one year. Its ``reserved`` total (approved amounts still
owed plus what was paid) can never exceed its budget: a CHECK constraint says so, and every
service operation that reserves money locks the programme row first. Maker-checker is enforced
twice, in the service (with a readable reason) and by CHECK constraints (so no code path can
skip it). A payment carries an idempotency key and a digest of what it paid, so a retried request
returns the first payment and a different request under the same key is refused.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Money
from kejin.registry.tables import label

PROGRAMME_STATES = ("draft", "published")
ALLOCATIONS = ("fcfs", "pro_rata")
APPLICATION_STATES = ("applied", "reviewed", "approved", "paid", "rejected")
PAYMENT_KINDS = ("payment", "top_up", "claw_back")


def _enum(values: tuple[str, ...], name: str) -> Enum:
    return Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(v) for v in values),
    )


class Programme(Base):
    """One policy funded for one budget year."""

    __tablename__ = "policy_programmes"

    id: Mapped[str] = mapped_column(
        String(60), primary_key=True, info=label("项目编号", "programme id")
    )
    policy_id: Mapped[str] = mapped_column(String(40), index=True, info=label("政策", "policy"))
    year: Mapped[int] = mapped_column(Integer, info=label("预算年度", "budget year"))
    budget: Mapped[Decimal] = mapped_column(Money(), info=label("年度预算", "budget", unit="CNY"))
    reserved: Mapped[Decimal] = mapped_column(
        Money(),
        default=Decimal("0"),
        info=label("已占用预算", "reserved (owed + paid)", unit="CNY"),
    )
    paid: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("已支付", "paid", unit="CNY")
    )
    allocation: Mapped[str] = mapped_column(
        _enum(ALLOCATIONS, "policy_allocation"), info=label("分配方式", "allocation")
    )
    state: Mapped[str] = mapped_column(
        _enum(PROGRAMME_STATES, "policy_programme_state"), default="draft"
    )
    params_as_of: Mapped[date | None] = mapped_column(
        Date, info=label("参数认知日", "parameters as known on")
    )
    made_by: Mapped[str] = mapped_column(String(60), info=label("经办人", "maker"))
    made_at: Mapped[datetime] = mapped_column(DateTime)
    approved_by: Mapped[str | None] = mapped_column(String(60), info=label("审批人", "checker"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("policy_id", "year"),
        CheckConstraint("budget >= 0", name="budget_nonneg"),
        CheckConstraint("reserved >= 0 AND reserved <= budget", name="reserved_within_budget"),
        CheckConstraint("paid >= 0 AND paid <= reserved", name="paid_within_reserved"),
        CheckConstraint(
            "approved_by IS NULL OR approved_by <> made_by", name="publish_maker_checker"
        ),
    )


class Application(Base):
    """A firm's application for one entity (a loan-year, an investment …) under a programme."""

    __tablename__ = "policy_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[str] = mapped_column(ForeignKey("policy_programmes.id"), index=True)
    firm: Mapped[str] = mapped_column(
        String(40), index=True, info=label("申请主体", "applicant (USCC or investor)")
    )
    entity: Mapped[str] = mapped_column(String(120), info=label("对象", "entity key"))
    cost_item: Mapped[str | None] = mapped_column(
        String(160), index=True, info=label("费用项", "cost item")
    )
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, info=label("计算输入", "inputs used"))
    state: Mapped[str] = mapped_column(
        _enum(APPLICATION_STATES, "policy_application_state"), default="applied"
    )
    claimed: Mapped[Decimal] = mapped_column(
        Money(), info=label("测算金额", "computed amount", unit="CNY")
    )
    approved_amount: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("核定金额", "approved amount", unit="CNY")
    )
    paid_total: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("已支付", "paid", unit="CNY")
    )
    note: Mapped[str | None] = mapped_column(String(300))
    applied_at: Mapped[datetime] = mapped_column(DateTime, info=label("申请时间", "applied at"))
    applied_by: Mapped[str] = mapped_column(String(60))
    reviewed_by: Mapped[str | None] = mapped_column(
        String(60), info=label("审核人", "reviewer (maker)")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved_by: Mapped[str | None] = mapped_column(
        String(60), info=label("审批人", "approver (checker)")
    )
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("programme_id", "entity"),
        CheckConstraint("claimed >= 0", name="claimed_nonneg"),
        CheckConstraint("approved_amount IS NULL OR approved_amount >= 0", name="approved_nonneg"),
        CheckConstraint("paid_total >= 0", name="paid_nonneg"),
        CheckConstraint(
            "approved_by IS NULL OR approved_by <> reviewed_by", name="approve_maker_checker"
        ),
    )


class Payment(Base):
    """Money paid (or clawed back) on an application; ``seq`` 0 is the original payment."""

    __tablename__ = "policy_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("policy_applications.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, info=label("序号", "sequence (0 = original)"))
    kind: Mapped[str] = mapped_column(_enum(PAYMENT_KINDS, "policy_payment_kind"))
    amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("金额（追回为负）", "amount (negative = claw-back)", unit="CNY")
    )
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    paid_by: Mapped[str] = mapped_column(String(60))
    paid_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("application_id", "seq"),)
