"""The labels of the marketplace's codes (its page texts are in the gettext catalogs).

Kept beside the area so its vocabularies can grow without every area editing one file;
importing this module adds them to the shared table that ``term`` reads, and refuses a
vocabulary name another area already uses. Every code a page
shows — need states, urgency, product states, guarantee kinds, repayment options, decline
reasons, transition reasons — has a label here or in :mod:`kejin.vocab`, so no raw code reaches
a page.
"""

from __future__ import annotations

from kejin.matching.tables import NEED_STATES, PRODUCT_STATES, URGENCY
from kejin.vocab import (
    DECLINE_REASONS,
    EVENT_KINDS,
    GUARANTEE_KINDS,
    INSTITUTION_KINDS,
    INTENT_KINDS,
    INTENT_OUTCOMES,
    INVITE_REPLIES,
    NO_DEAL_REASONS,
    PRODUCT_KINDS,
    REPAYMENT_OPTIONS,
    Term,
)
from kejin.web.i18n import VOCABS

NEED_STATE_TERMS: dict[str, Term] = {
    k: Term(k, zh, en)
    for k, zh, en in (
        ("draft", "草稿", "draft"),
        ("published", "已发布·待接单", "published, awaiting a bank"),
        ("taken", "已接单", "taken by a bank"),
        ("first_review", "初审通过", "first review passed"),
        ("approved", "审批通过", "approved"),
        ("declined", "未获批", "declined"),
        ("disbursed", "已放款", "disbursed"),
        ("closed", "已办结", "closed"),
        ("withdrawn", "已撤回", "withdrawn"),
        ("expired", "已过期", "expired"),
    )
}
assert set(NEED_STATE_TERMS) == set(NEED_STATES)

PRODUCT_STATE_TERMS: dict[str, Term] = {
    k: Term(k, zh, en)
    for k, zh, en in (
        ("draft", "草稿", "draft"),
        ("pending", "待复核", "awaiting approval"),
        ("live", "在售", "live"),
        ("superseded", "已被新版本替代", "superseded"),
        ("rejected", "复核未通过", "rejected"),
    )
}
assert set(PRODUCT_STATE_TERMS) == set(PRODUCT_STATES)

URGENCY_TERMS: dict[str, Term] = {
    "normal": Term("normal", "一般", "normal"),
    "urgent": Term("urgent", "紧急", "urgent"),
}
assert set(URGENCY_TERMS) == set(URGENCY)

#: Why a transition happened, beyond a decline reason (``match_need_events.reason``).
EVENT_REASONS: dict[str, Term] = {
    "assigned": Term("assigned", "政府派单", "assigned by the government"),
    "sla_exceeded": Term(
        "sla_exceeded", "超过服务时限未接单", "not taken within the service level"
    ),
    "exclusive_lapsed": Term(
        "exclusive_lapsed",
        "独占期满未初审，退回市场",
        "exclusive period lapsed, back on the market",
    ),
    **DECLINE_REASONS,
}

FUNNEL_GROUPS: dict[str, Term] = {
    k: Term(k, zh, en)
    for k, zh, en in (
        ("bank", "按银行", "by bank"),
        ("kind", "按产品类型", "by product kind"),
        ("chain", "按产业链", "by industry chain"),
        ("tier", "按白名单层级", "by whitelist tier"),
        ("month", "按发布月份", "by month posted"),
    )
}

#: The whitelist tiers (ids fixed by :class:`kejin.whitelist.rules.Tier`; labels as in its rules).
TIERS: dict[str, Term] = {
    k: Term(k, zh, en)
    for k, zh, en in (
        ("core", "核心层", "core"),
        ("selected", "精选层", "selected"),
        ("base", "基础层", "base"),
    )
}

MARKET_VOCABS: dict[str, dict[str, Term]] = {
    "need_state": NEED_STATE_TERMS,
    "product_state": PRODUCT_STATE_TERMS,
    "urgency": URGENCY_TERMS,
    "guarantee": GUARANTEE_KINDS,
    "repayment": REPAYMENT_OPTIONS,
    "decline": DECLINE_REASONS,
    "event_reason": EVENT_REASONS,
    "product_kind": PRODUCT_KINDS,
    "institution_kind": INSTITUTION_KINDS,
    "funnel_by": FUNNEL_GROUPS,
    "tier": TIERS,
    "event_kind": EVENT_KINDS,
    "invite_reply": INVITE_REPLIES,
    "intent_kind": INTENT_KINDS,
    "intent_outcome": INTENT_OUTCOMES,
    "no_deal_reason": NO_DEAL_REASONS,
}


def _register() -> None:
    clash = set(MARKET_VOCABS) & set(VOCABS)
    if clash:
        raise RuntimeError(f"marketplace vocabularies already named elsewhere: {sorted(clash)}")
    VOCABS.update(MARKET_VOCABS)


_register()
