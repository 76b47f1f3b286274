"""Financial institutions, their products, loans and the monthly status of each loan.

Loans are read by credit, policy, fund and statistics alike, so they live in this shared area
rather than in any one of those.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Money, Rate
from kejin.registry.tables import label, vocab_enum
from kejin.vocab import CLASSIFICATIONS, GUARANTEE_KINDS, INSTITUTION_KINDS, PRODUCT_KINDS


class Institution(Base):
    """A bank, guarantor, insurer or venture fund that serves tech firms."""

    __tablename__ = "institutions"

    id: Mapped[str] = mapped_column(
        String(20), primary_key=True, info=label("机构编号", "institution id")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("机构名称", "name"))
    kind: Mapped[str] = mapped_column(
        vocab_enum(INSTITUTION_KINDS, "institution_kind"), info=label("机构类型", "kind")
    )
    region_code: Mapped[str] = mapped_column(String(6), info=label("行政区划代码", "region code"))
    partner_bank: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("科技金融合作银行", "partner bank")
    )
    tech_branch: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("科技支行", "tech sub-branch")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))


class Product(Base):
    """A financial product offered to tech firms (basic fields; matching extends them)."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(
        String(30), primary_key=True, info=label("产品编号", "product id")
    )
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构编号", "institution id")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("产品名称", "name"))
    kind: Mapped[str] = mapped_column(
        vocab_enum(PRODUCT_KINDS, "product_kind"), info=label("产品类型", "kind")
    )
    guarantee_type: Mapped[str | None] = mapped_column(
        vocab_enum(GUARANTEE_KINDS, "guarantee_type"), info=label("担保方式", "guarantee type")
    )
    min_amount: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("最低金额", "minimum amount", unit="CNY")
    )
    max_amount: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("最高金额", "maximum amount", unit="CNY")
    )
    rate_floor: Mapped[Decimal | None] = mapped_column(
        Rate(), info=label("利率下限", "rate floor", unit="1/year")
    )
    rate_ceiling: Mapped[Decimal | None] = mapped_column(
        Rate(), info=label("利率上限", "rate ceiling", unit="1/year")
    )
    max_term_months: Mapped[int | None] = mapped_column(
        Integer, info=label("最长期限(月)", "maximum term (months)")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (
        CheckConstraint(
            "min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount",
            name="amount_order",
        ),
        CheckConstraint(
            "rate_floor IS NULL OR rate_ceiling IS NULL OR rate_floor <= rate_ceiling",
            name="rate_order",
        ),
    )


class Loan(Base):
    """One loan contract to a firm."""

    __tablename__ = "loans"

    contract_no: Mapped[str] = mapped_column(
        String(40), primary_key=True, info=label("合同编号", "contract number")
    )
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构编号", "institution id")
    )
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("products.id"), info=label("产品编号", "product id")
    )
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("贷款金额", "amount", unit="CNY"))
    credit_line: Mapped[Decimal] = mapped_column(
        Money(), info=label("单户授信", "credit line", unit="CNY")
    )
    rate: Mapped[Decimal] = mapped_column(
        Rate(), info=label("年利率", "annual rate", unit="1/year")
    )
    disbursed_on: Mapped[date] = mapped_column(Date, info=label("放款日期", "disbursed on"))
    maturity_on: Mapped[date] = mapped_column(Date, info=label("到期日期", "maturity"))
    guarantee_type: Mapped[str] = mapped_column(
        vocab_enum(GUARANTEE_KINDS, "guarantee_type"), info=label("担保方式", "guarantee type")
    )
    first_time_borrower: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("首贷户", "first-time borrower")
    )
    #: The institution (kind guarantor) that guarantees the loan, when one does: a risk-sharing
    #: scheme pays or books its share to it (Anhui pays guaranteed loans to the guarantor).
    guarantor_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.id"), info=label("担保机构编号", "guarantor id")
    )
    guarantee_contract: Mapped[str | None] = mapped_column(
        String(60), info=label("担保合同编号", "guarantee contract")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_pos"),
        CheckConstraint("credit_line >= amount", name="line_covers_amount"),
        CheckConstraint("rate >= 0", name="rate_nonneg"),
        CheckConstraint("maturity_on > disbursed_on", name="term_order"),
    )


class LoanStatus(Base):
    """Month-end status of a loan: balance, days past due and the 五级分类."""

    __tablename__ = "loan_statuses"

    contract_no: Mapped[str] = mapped_column(
        ForeignKey("loans.contract_no"), primary_key=True, info=label("合同编号", "contract number")
    )
    month: Mapped[date] = mapped_column(
        Date, primary_key=True, info=label("月份", "month (first day)")
    )
    balance: Mapped[Decimal] = mapped_column(Money(), info=label("贷款余额", "balance", unit="CNY"))
    days_past_due: Mapped[int] = mapped_column(
        Integer, default=0, info=label("逾期天数", "days past due")
    )
    classification: Mapped[str] = mapped_column(
        vocab_enum(CLASSIFICATIONS, "classification"), info=label("五级分类", "classification")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_nonneg"),
        CheckConstraint("days_past_due >= 0", name="dpd_nonneg"),
    )
