"""The marketplace's schema: product versions (maker-checker), needs and their dated transitions.

A product is edited as a *version*: an officer drafts it, submits it, and a second person of the
bank or of the government approves it; only then does it go live, replacing the previous live
version, and the shared ``products`` row (what loans reference and ``/api/products`` lists) is
updated from it. A live product therefore never changes under a firm that is looking at it, and
every version that was ever live stays readable.

A need's ``state`` is the current state; ``match_need_events`` holds every transition with its
date, person and reason, written in the same transaction as the change (with its audit event).
Taking a need is one conditional UPDATE on ``state = 'published'``, so two banks can never both
hold it (see :func:`kejin.matching.service.take`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base, Money, Rate
from kejin.registry.tables import label, vocab_enum
from kejin.vocab import (
    DECLINE_REASONS,
    EVENT_KINDS,
    INTENT_KINDS,
    INTENT_OUTCOMES,
    INVITE_REPLIES,
    NO_DEAL_REASONS,
    PRODUCT_KINDS,
)

PRODUCT_STATES = ("draft", "pending", "live", "superseded", "rejected")
NEED_STATES = (
    "draft",
    "published",
    "taken",
    "first_review",
    "approved",
    "declined",
    "disbursed",
    "closed",
    "withdrawn",
    "expired",
)
URGENCY = ("normal", "urgent")


def _enum(values: tuple[str, ...], name: str) -> Enum:
    return Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(v) for v in values),
    )


class ProductVersion(Base):
    """One version of a product in the catalogue: terms, eligibility rules and who approved it."""

    __tablename__ = "match_product_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(
        String(30), index=True, info=label("产品编号", "product id")
    )
    version: Mapped[int] = mapped_column(Integer, info=label("版本", "version"))
    state: Mapped[str] = mapped_column(
        _enum(PRODUCT_STATES, "match_product_state"), info=label("状态", "state")
    )
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构编号", "institution id")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("产品名称", "name"))
    kind: Mapped[str] = mapped_column(
        vocab_enum(PRODUCT_KINDS, "product_kind"), info=label("产品类型", "kind")
    )
    min_amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("最低金额", "minimum amount", unit="CNY")
    )
    max_amount: Mapped[Decimal] = mapped_column(
        Money(), info=label("最高金额", "maximum amount", unit="CNY")
    )
    min_term_months: Mapped[int] = mapped_column(
        Integer, info=label("最短期限(月)", "minimum term (months)")
    )
    max_term_months: Mapped[int] = mapped_column(
        Integer, info=label("最长期限(月)", "maximum term (months)")
    )
    spread_min_bp: Mapped[int] = mapped_column(
        Integer, info=label("LPR加点下限(基点)", "spread over LPR, low (bp)")
    )
    spread_max_bp: Mapped[int] = mapped_column(
        Integer, info=label("LPR加点上限(基点)", "spread over LPR, high (bp)")
    )
    guarantee_kinds: Mapped[list[str]] = mapped_column(
        JSON, info=label("担保方式", "guarantee kinds accepted")
    )
    repayment: Mapped[list[str]] = mapped_column(JSON, info=label("还款方式", "repayment options"))
    talent_loan: Mapped[bool] = mapped_column(Boolean, info=label("人才贷", "talent loan"))
    invest_loan_link: Mapped[bool] = mapped_column(
        Boolean, info=label("投贷联动", "investment-loan linkage")
    )
    eligibility: Mapped[str] = mapped_column(
        Text, default="", info=label("准入条件", "eligibility rules")
    )
    credit_model: Mapped[str | None] = mapped_column(
        String(60), info=label("授信模型", "credit model name")
    )
    made_by: Mapped[str] = mapped_column(String(60), info=label("经办人", "maker"))
    made_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved_by: Mapped[str | None] = mapped_column(String(60), info=label("复核人", "checker"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("product_id", "version", name="product_version"),
        CheckConstraint("min_amount > 0 AND min_amount <= max_amount", name="amount_range"),
        CheckConstraint(
            "min_term_months > 0 AND min_term_months <= max_term_months", name="term_range"
        ),
        CheckConstraint("spread_min_bp <= spread_max_bp", name="spread_range"),
        CheckConstraint("approved_by IS NULL OR approved_by <> made_by", name="maker_checker"),
    )


class Need(Base):
    """A firm's financing need and where it stands."""

    __tablename__ = "match_needs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("需求编号", "need id"))
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("需求金额", "amount", unit="CNY"))
    term_months: Mapped[int] = mapped_column(Integer, info=label("期限(月)", "term (months)"))
    purpose: Mapped[str] = mapped_column(String(200), info=label("用途", "purpose"))
    guarantee_offered: Mapped[list[str]] = mapped_column(
        JSON, info=label("可提供增信", "credit enhancement offered")
    )
    max_rate: Mapped[Decimal | None] = mapped_column(
        Rate(), info=label("可接受最高年利率", "highest acceptable rate", unit="1/year")
    )
    urgency: Mapped[str] = mapped_column(_enum(URGENCY, "match_urgency"), default="normal")
    repayment_source: Mapped[str | None] = mapped_column(
        String(200), info=label("还款来源", "repayment source")
    )
    survey: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, info=label("调查表内容", "survey answers")
    )
    state: Mapped[str] = mapped_column(
        _enum(NEED_STATES, "match_need_state"), index=True, info=label("状态", "state")
    )
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_on: Mapped[date | None] = mapped_column(Date, info=label("有效期至", "expires on"))
    institution_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("接单机构", "taken by institution")
    )
    product_id: Mapped[str | None] = mapped_column(
        String(30), info=label("对接产品", "product taken for")
    )
    taken_by: Mapped[str | None] = mapped_column(String(60), info=label("接单人", "taken by"))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    exclusive_until: Mapped[date | None] = mapped_column(
        Date, info=label("独占至", "exclusive until")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decline_reason: Mapped[str | None] = mapped_column(
        vocab_enum(DECLINE_REASONS, "match_decline_reason"),
        info=label("拒绝原因", "decline reason"),
    )
    disbursed_amount: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("放款金额", "disbursed amount", unit="CNY")
    )
    contract_no: Mapped[str | None] = mapped_column(
        ForeignKey("loans.contract_no"), info=label("贷款合同", "loan contract")
    )
    flagged_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("超时标记", "flagged past the service level")
    )
    rating: Mapped[int | None] = mapped_column(
        Integer, info=label("服务评价(1–5)", "service rating (1–5)")
    )
    rating_note: Mapped[str | None] = mapped_column(
        String(500), info=label("评价说明", "rating comment")
    )
    rated_at: Mapped[datetime | None] = mapped_column(DateTime, info=label("评价时间", "rated at"))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_pos"),
        CheckConstraint("term_months > 0", name="term_pos"),
        CheckConstraint(
            "state <> 'declined' OR decline_reason IS NOT NULL", name="decline_has_reason"
        ),
        CheckConstraint(
            "state NOT IN ('taken', 'first_review', 'approved', 'declined', 'disbursed')"
            " OR institution_id IS NOT NULL",
            name="taken_has_holder",
        ),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    )


class NeedEvent(Base):
    """One dated transition of a need: from, to, who, for which institution and why."""

    __tablename__ = "match_need_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("match_needs.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(12), info=label("原状态", "from"))
    to_state: Mapped[str] = mapped_column(String(12), info=label("新状态", "to"))
    at: Mapped[datetime] = mapped_column(DateTime, info=label("时间", "at"))
    by: Mapped[str] = mapped_column(String(60), info=label("操作人", "by"))
    institution_id: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40), info=label("原因代码", "reason code"))
    note: Mapped[str | None] = mapped_column(String(500), info=label("说明", "note"))


class ProspectPush(Base):
    """首贷培育: a bank names the person who will contact a prospect (a whitelist firm that fits
    its products and never borrowed). One push per bank and firm; the firm sees it on its page.
    """

    __tablename__ = "match_prospect_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), info=label("机构", "institution")
    )
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("products.id"), info=label("推荐产品", "product offered")
    )
    contact_name: Mapped[str] = mapped_column(String(40), info=label("对接人", "contact person"))
    contact_phone: Mapped[str] = mapped_column(String(20), info=label("联系电话", "contact phone"))
    pushed_by: Mapped[str] = mapped_column(String(60), info=label("推送人", "pushed by"))
    pushed_at: Mapped[datetime] = mapped_column(DateTime, info=label("推送时间", "pushed at"))

    __table_args__ = (UniqueConstraint("institution_id", "uscc"),)


class MatchEvent(Base):
    """A matchmaking event (银企对接会 / 路演 / 投贷联动专场) the government holds.

    The invitation list is frozen: ``invite_filter`` keeps the whitelist filter and the version
    it was applied to, and ``match_event_invites`` the firms it chose, so the list stays what it
    was when the whitelist moves on.
    """

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("活动编号", "event id"))
    title: Mapped[str] = mapped_column(String(200), info=label("活动名称", "title"))
    kind: Mapped[str] = mapped_column(
        vocab_enum(EVENT_KINDS, "match_event_kind"), info=label("活动类型", "kind")
    )
    held_on: Mapped[date] = mapped_column(Date, info=label("举办日期", "date"))
    place: Mapped[str] = mapped_column(String(200), info=label("地点", "place"))
    chain: Mapped[str | None] = mapped_column(String(30), info=label("产业链", "industry chain"))
    theme: Mapped[str | None] = mapped_column(String(200), info=label("主题", "theme"))
    invite_filter: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, info=label("邀请条件", "invitation filter")
    )
    whitelist_version: Mapped[int | None] = mapped_column(
        ForeignKey("whitelist_versions.id"), info=label("白名单版本", "whitelist version")
    )
    invited_by: Mapped[str | None] = mapped_column(String(60), info=label("邀请人", "invited by"))
    invited_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("邀请时间", "invited at")
    )
    created_by: Mapped[str] = mapped_column(String(60), info=label("创建人", "created by"))
    created_at: Mapped[datetime] = mapped_column(DateTime, info=label("创建时间", "created at"))


class EventInvite(Base):
    """A firm invited to an event, and its answer."""

    __tablename__ = "match_event_invites"

    event_id: Mapped[int] = mapped_column(ForeignKey("match_events.id"), primary_key=True)
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), primary_key=True, info=label("统一社会信用代码", "USCC")
    )
    tier: Mapped[str | None] = mapped_column(String(10), info=label("层级", "tier"))
    points: Mapped[float | None] = mapped_column(Float, info=label("创新积分", "points"))
    reply: Mapped[str] = mapped_column(
        vocab_enum(INVITE_REPLIES, "match_invite_reply"), info=label("回复", "reply")
    )
    replied_by: Mapped[str | None] = mapped_column(String(60))
    replied_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("回复时间", "replied at")
    )


class EventSignup(Base):
    """A bank or investor institution that signed up for an event."""

    __tablename__ = "match_event_signups"

    event_id: Mapped[int] = mapped_column(ForeignKey("match_events.id"), primary_key=True)
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True, info=label("机构", "institution")
    )
    signed_by: Mapped[str] = mapped_column(String(60), info=label("报名人", "signed up by"))
    signed_at: Mapped[datetime] = mapped_column(DateTime, info=label("报名时间", "signed up at"))


class EventIntent(Base):
    """An intent (firm × institution × kind × amount) and how it ended: met at an event, or
    registered by an investor for a firm that consented to it (or for one of its needs)."""

    __tablename__ = "match_event_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("意向编号", "intent id"))
    #: The event it was met at; none for an investor's intent registered for a firm or a need.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("match_events.id"), index=True)
    need_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_needs.id"), info=label("融资需求", "need")
    )
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构", "institution")
    )
    partner_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.id"), info=label("联动机构", "partner institution")
    )
    kind: Mapped[str] = mapped_column(
        vocab_enum(INTENT_KINDS, "match_intent_kind"), info=label("意向类型", "kind")
    )
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("意向金额", "amount", unit="CNY"))
    recorded_by: Mapped[str] = mapped_column(String(60), info=label("登记人", "recorded by"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, info=label("登记时间", "recorded at"))
    outcome: Mapped[str | None] = mapped_column(
        vocab_enum(INTENT_OUTCOMES, "match_intent_outcome"), info=label("结果", "outcome")
    )
    outcome_amount: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("成交金额", "amount concluded", unit="CNY")
    )
    outcome_reason: Mapped[str | None] = mapped_column(
        vocab_enum(NO_DEAL_REASONS, "match_no_deal_reason"), info=label("未成交原因", "reason")
    )
    outcome_by: Mapped[str | None] = mapped_column(String(60))
    outcome_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("结果时间", "outcome at")
    )

    __table_args__ = (
        CheckConstraint("amount > 0", name="intent_amount_pos"),
        CheckConstraint(
            "outcome IS NULL OR outcome = 'none' OR outcome_amount > 0", name="outcome_amount"
        ),
        CheckConstraint(
            "outcome IS NULL OR outcome <> 'none' OR outcome_reason IS NOT NULL",
            name="no_deal_reason",
        ),
    )
