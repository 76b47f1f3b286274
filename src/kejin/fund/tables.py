"""The fund's schema: pools, a double-entry journal, persisted commands, enrolments and claims.

The journal is the only place money lives. ``fund_accounts.balance`` is a maintained copy of the
sum of that account's postings, kept so a payout never re-reads the ledger; the audit recomputes it
from postings and refuses to pass if the two differ by a cent. Entries are never updated or
deleted: a correction is a new entry that negates an old one (``reverses_id``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Money, Rate
from kejin.registry.tables import label
from kejin.vocab import LEDGER_PURPOSES

#: Account purposes. ``cash`` is the pool's money; ``capital`` what each funder paid in;
#: ``fee_income`` guarantee fees collected; ``compensation`` what the pool paid one institution;
#: ``recovery`` what came back; ``loss_share`` / ``loss_contra`` are memo (contingent) accounts that
#: show each party's share of a loss the pool did not pay in cash.
PURPOSES = tuple(LEDGER_PURPOSES)
CLAIM_STATES = ("filed", "reviewed", "approved", "rejected", "paid", "closed")
ENROLMENT_STATES = ("active", "claimed", "closed")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class FundPool(Base):
    """A risk-compensation pool run under one scheme (the scheme file is pinned by its hash)."""

    __tablename__ = "fund_pools"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, info=label("资金池", "pool id"))
    name: Mapped[str] = mapped_column(String(200), info=label("名称", "name"))
    scheme_id: Mapped[str] = mapped_column(String(40), info=label("方案", "scheme"))
    scheme_sha256: Mapped[str] = mapped_column(String(64), info=label("方案指纹", "scheme sha256"))
    scheme_text: Mapped[str] = mapped_column(Text, info=label("方案原文", "scheme YAML"))
    created_on: Mapped[date] = mapped_column(Date, info=label("设立日期", "created on"))
    closed_through: Mapped[date | None] = mapped_column(
        Date, info=label("已结账至", "periods closed through")
    )


class FundAccount(Base):
    """One ledger account: a pool, a party (participant or institution) and a purpose."""

    __tablename__ = "fund_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), info=label("资金池", "pool"))
    party: Mapped[str] = mapped_column(String(40), info=label("参与方", "party"))
    purpose: Mapped[str] = mapped_column(String(20), info=label("用途", "purpose"))
    memo: Mapped[bool] = mapped_column(Boolean, info=label("备查", "memo (contingent)"))

    __table_args__ = (
        UniqueConstraint("pool_id", "party", "purpose"),
        CheckConstraint(_in("purpose", PURPOSES), name="purpose_known"),
    )


class FundBalance(Base):
    """The maintained balance of an account, split into shards (their sum is the balance).

    Every payout touches the pool's cash and the same few memo accounts; one row per account
    would make every payout wait for the previous one's commit (and its fsync). With shards, each
    transaction updates the rows of one shard, so payouts in different shards commit in parallel.
    ``nonneg`` rows (the pool's cash) can never go below zero, shard by shard, hence in total.
    The audit checks the sum of the shards of every account against its postings.
    """

    __tablename__ = "fund_balances"

    account_id: Mapped[int] = mapped_column(ForeignKey("fund_accounts.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("分片", "shard"))
    nonneg: Mapped[bool] = mapped_column(Boolean, info=label("不得为负", "never negative"))
    balance: Mapped[Decimal] = mapped_column(
        Money(), info=label("余额(借正贷负)", "balance (debit +)", unit="CNY")
    )

    __table_args__ = (
        # Defence in depth: even a buggy service cannot overdraw a pool.
        CheckConstraint("NOT nonneg OR balance >= 0", name="nonneg"),
    )


class FundCommand(Base):
    """Every money-moving or state-changing command, persisted with who, when, why and result.

    The idempotency key is the primary key: the same key with the same payload returns the stored
    result; with another payload it is refused.
    """

    __tablename__ = "fund_commands"

    key: Mapped[str] = mapped_column(String(80), primary_key=True, info=label("幂等键", "key"))
    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), info=label("资金池", "pool"))
    kind: Mapped[str] = mapped_column(String(30), info=label("命令", "command"))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, info=label("参数", "payload"))
    actor: Mapped[str] = mapped_column(String(60), info=label("操作人", "actor"))
    reason: Mapped[str] = mapped_column(Text, info=label("事由", "reason"))
    business_date: Mapped[date] = mapped_column(Date, info=label("业务日期", "business date"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, info=label("记录时间", "recorded at"))
    result: Mapped[str] = mapped_column(Text, info=label("结果", "result"))


class JournalEntry(Base):
    """An immutable, balanced journal entry; ``memo`` entries hold contingent (off-pool) shares."""

    __tablename__ = "fund_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), info=label("资金池", "pool"))
    kind: Mapped[str] = mapped_column(String(30), info=label("类型", "kind"))
    memo: Mapped[bool] = mapped_column(Boolean, info=label("备查", "memo"))
    business_date: Mapped[date] = mapped_column(Date, info=label("业务日期", "business date"))
    # Deferred: the command row is written at the end of its transaction, with its result.
    command_key: Mapped[str] = mapped_column(
        ForeignKey("fund_commands.key", deferrable=True, initially="DEFERRED"),
        info=label("命令", "command"),
    )
    claim_id: Mapped[int | None] = mapped_column(
        ForeignKey("fund_claims.id"), index=True, info=label("理赔", "claim")
    )
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("fund_entries.id"), unique=True, info=label("冲销", "reverses entry")
    )
    actor: Mapped[str] = mapped_column(String(60), info=label("操作人", "actor"))
    reason: Mapped[str] = mapped_column(Text, info=label("事由", "reason"))


class Posting(Base):
    """One line of an entry: a signed amount on one account (debit positive, credit negative)."""

    __tablename__ = "fund_postings"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("fund_accounts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("金额", "amount", unit="CNY"))

    __table_args__ = (CheckConstraint("amount <> 0", name="nonzero"),)


class PeriodClose(Base):
    """A closed accounting period: no entry may be dated on or before ``period_end`` afterwards."""

    __tablename__ = "fund_periods"

    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), primary_key=True)
    period_end: Mapped[date] = mapped_column(Date, primary_key=True, info=label("期末", "end"))
    command_key: Mapped[str] = mapped_column(
        ForeignKey("fund_commands.key", deferrable=True, initially="DEFERRED")
    )
    trial_balance: Mapped[str] = mapped_column(Text, info=label("试算平衡", "trial balance"))


class Enrolment(Base):
    """A loan brought under a pool's cover, with the category and covered amount fixed then."""

    __tablename__ = "fund_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), info=label("资金池", "pool"))
    contract_no: Mapped[str] = mapped_column(
        ForeignKey("loans.contract_no"), info=label("合同编号", "contract number")
    )
    uscc: Mapped[str] = mapped_column(String(18), index=True, info=label("企业", "USCC"))
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构", "institution")
    )
    category: Mapped[str] = mapped_column(String(40), info=label("类别", "loan category"))
    loan_amount: Mapped[Decimal] = mapped_column(Money(), info=label("贷款金额", "loan amount"))
    covered_amount: Mapped[Decimal] = mapped_column(Money(), info=label("补偿覆盖额", "covered"))
    covered_balance: Mapped[Decimal] = mapped_column(
        Money(), info=label("在保余额", "covered balance")
    )
    enrolled_on: Mapped[date] = mapped_column(Date, info=label("备案日期", "enrolled on"))
    status: Mapped[str] = mapped_column(String(10), info=label("状态", "status"))

    __table_args__ = (
        UniqueConstraint("pool_id", "contract_no"),
        CheckConstraint(_in("status", ENROLMENT_STATES), name="status_known"),
        CheckConstraint("covered_amount > 0 AND covered_amount <= loan_amount", name="covered"),
        CheckConstraint(
            "covered_balance >= 0 AND covered_balance <= covered_amount", name="balance"
        ),
    )


class Claim(Base):
    """A compensation claim on one enrolled loan, with its computed shares and review trail."""

    __tablename__ = "fund_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("fund_pools.id"), info=label("资金池", "pool"))
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("fund_enrolments.id"), unique=True, info=label("备案", "enrolment")
    )
    institution_id: Mapped[str] = mapped_column(String(20), index=True)
    #: Who the payout goes to: the party the category compensates (the bank, or the guarantor).
    paid_to: Mapped[str] = mapped_column(String(20), info=label("受偿机构", "paid to"))
    status: Mapped[str] = mapped_column(String(10), index=True, info=label("状态", "status"))
    trigger: Mapped[str] = mapped_column(Text, info=label("触发依据", "trigger evidence"))
    loss_base: Mapped[Decimal] = mapped_column(Money(), info=label("损失本金", "principal loss"))
    pool_rate: Mapped[Decimal] = mapped_column(Rate(), info=label("资金池比例", "pool share"))
    pool_amount: Mapped[Decimal] = mapped_column(Money(), info=label("补偿金额", "pool amount"))
    cap_note: Mapped[str] = mapped_column(Text, info=label("限额说明", "caps applied"))
    filed_by: Mapped[str] = mapped_column(String(60))
    filed_on: Mapped[date] = mapped_column(Date)
    review_due: Mapped[date] = mapped_column(Date, info=label("初审时限", "first review due"))
    approval_due: Mapped[date] = mapped_column(Date, info=label("审批时限", "approval due"))
    reviewed_by: Mapped[str | None] = mapped_column(String(60))
    reviewed_on: Mapped[date | None] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(String(60))
    approved_on: Mapped[date | None] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)
    recovered_total: Mapped[Decimal] = mapped_column(Money(), info=label("已追回", "recovered"))
    recovered_to_pool: Mapped[Decimal] = mapped_column(
        Money(), info=label("返还资金池", "returned to pool")
    )
    closed_on: Mapped[date | None] = mapped_column(Date, info=label("核销结案", "written off"))
    #: The payout's ledger lines, fixed when the claim is filed (JSON: cash and compensation
    #: account ids, memo lines), so paying needs no lookups; the audit re-derives the amounts.
    payout_lines: Mapped[str] = mapped_column(Text, info=label("支付分录", "payout lines"))

    __table_args__ = (
        CheckConstraint(_in("status", CLAIM_STATES), name="status_known"),
        CheckConstraint("pool_amount >= 0 AND pool_amount <= loss_base", name="amount"),
        CheckConstraint("recovered_to_pool <= pool_amount", name="recovery_le_paid"),
        Index("ix_fund_claims_pool_status", "pool_id", "status"),
    )


class ClaimShare(Base):
    """Each participant's share of one claim's loss: the explanation of the payout."""

    __tablename__ = "fund_claim_shares"

    claim_id: Mapped[int] = mapped_column(ForeignKey("fund_claims.id"), primary_key=True)
    party: Mapped[str] = mapped_column(String(40), primary_key=True, info=label("参与方", "party"))
    role: Mapped[str] = mapped_column(String(20), info=label("角色", "role"))
    rate: Mapped[Decimal] = mapped_column(Rate(), info=label("比例", "share"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("金额", "amount"))
    recovered: Mapped[Decimal] = mapped_column(Money(), info=label("分回", "recovered"))
