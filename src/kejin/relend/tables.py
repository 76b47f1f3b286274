"""The relending ledger (再贷款/再贴现台账): quotas per tool and bank, batches, refinanced loans.

A quota is the most the central-bank branch lends one bank under one tool; ``outstanding`` (drawn
and not yet repaid) can never exceed it. The CHECK constraint says so, and the service draws with
one conditional UPDATE (``outstanding + amount <= quota``), so two batches approved at the same
moment cannot both pass on the same headroom (seed 001 §13; Ji'an: 10亿 for tech firms, 100%
matching of the banks' loans).
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
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Money, Rate
from kejin.registry.tables import label, vocab_enum
from kejin.vocab import LOAN_PURPOSES, RELEND_BATCH_STATES, RELEND_TOOLS


class RelendQuota(Base):
    """One tool's quota for one bank in one year, with the eligibility terms of its loans."""

    __tablename__ = "relend_quotas"

    id: Mapped[str] = mapped_column(
        String(60), primary_key=True, info=label("额度编号", "quota id")
    )
    tool: Mapped[str] = mapped_column(
        vocab_enum(RELEND_TOOLS, "relend_tool"), info=label("工具", "tool")
    )
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("银行", "bank")
    )
    year: Mapped[int] = mapped_column(Integer, info=label("年度", "year"))
    quota: Mapped[Decimal] = mapped_column(Money(), info=label("额度", "quota", unit="CNY"))
    outstanding: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("已用余额", "outstanding", unit="CNY")
    )
    drawn_total: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("累计发放", "drawn to date", unit="CNY")
    )
    repaid_total: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("累计归还", "repaid to date", unit="CNY")
    )
    #: Share of each eligible loan's principal the tool lends (1 = 100% matching).
    matching_ratio: Mapped[Decimal] = mapped_column(
        Numeric(5, 4), info=label("配套比例", "matching ratio")
    )
    rate_cap: Mapped[Decimal] = mapped_column(
        Rate(), info=label("贷款利率上限", "loan rate cap", unit="1/year")
    )
    max_term_months: Mapped[int] = mapped_column(
        Integer, info=label("贷款最长期限(月)", "longest loan term (months)")
    )
    term_months: Mapped[int] = mapped_column(
        Integer, info=label("再贷款期限(月)", "relending term (months)")
    )
    purposes: Mapped[list[str]] = mapped_column(JSON, info=label("允许用途", "allowed purposes"))
    valid_from: Mapped[date] = mapped_column(Date, info=label("起始日", "loans disbursed from"))
    valid_to: Mapped[date] = mapped_column(Date, info=label("截止日", "loans disbursed to"))
    set_by: Mapped[str] = mapped_column(String(60), info=label("设定人", "set by"))
    set_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("tool", "institution_id", "year"),
        CheckConstraint("quota > 0", name="quota_pos"),
        CheckConstraint("outstanding >= 0 AND outstanding <= quota", name="within_quota"),
        CheckConstraint("matching_ratio > 0 AND matching_ratio <= 1", name="ratio_range"),
        CheckConstraint("valid_from <= valid_to", name="window_order"),
    )


class RelendBatch(Base):
    """A bank's batch of loans submitted for refinancing; drawn in full on approval, or not at all."""

    __tablename__ = "relend_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("批次号", "batch"))
    quota_id: Mapped[str] = mapped_column(ForeignKey("relend_quotas.id"), index=True)
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("银行", "bank")
    )
    state: Mapped[str] = mapped_column(
        vocab_enum(RELEND_BATCH_STATES, "relend_batch_state"), info=label("状态", "state")
    )
    channel: Mapped[str] = mapped_column(String(10), info=label("报送方式", "channel"))
    amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("申请再贷款金额", "relending asked", unit="CNY")
    )
    repaid: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0"), info=label("已归还", "repaid", unit="CNY")
    )
    submitted_by: Mapped[str] = mapped_column(String(60), info=label("报送人", "submitted by"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(60), info=label("审批人", "decided by"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    drawn_on: Mapped[date | None] = mapped_column(Date, info=label("发放日", "drawn on"))
    matures_on: Mapped[date | None] = mapped_column(Date, info=label("到期日", "matures on"))
    note: Mapped[str | None] = mapped_column(String(300), info=label("说明", "note"))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_pos"),
        CheckConstraint("repaid >= 0 AND repaid <= amount", name="repaid_within"),
        CheckConstraint("decided_by IS NULL OR decided_by <> submitted_by", name="maker_checker"),
    )


class RelendLoan(Base):
    """One loan of a batch, with what the tool lends on it; a loan is refinanced once per tool."""

    __tablename__ = "relend_loans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("relend_batches.id"), index=True)
    tool: Mapped[str] = mapped_column(vocab_enum(RELEND_TOOLS, "relend_tool"))
    contract_no: Mapped[str] = mapped_column(
        ForeignKey("loans.contract_no"), info=label("合同编号", "contract number")
    )
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    purpose: Mapped[str] = mapped_column(
        vocab_enum(LOAN_PURPOSES, "loan_purpose"), info=label("用途", "purpose")
    )
    loan_amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("贷款金额", "loan amount", unit="CNY")
    )
    relend_amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("再贷款金额", "relending", unit="CNY")
    )
    #: Why the loan qualified: the directory entry and the terms checked (explainable).
    basis: Mapped[dict[str, Any]] = mapped_column(JSON, info=label("合规依据", "eligibility basis"))

    __table_args__ = (
        UniqueConstraint("tool", "contract_no"),
        CheckConstraint("relend_amount > 0 AND relend_amount <= loan_amount", name="amount_order"),
    )
