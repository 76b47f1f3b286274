"""The marketplace pages' words, Chinese first, and the labels of its codes.

Kept beside the area (not in :mod:`kejin.web.i18n`'s one table) so the marketplace's pages can
grow without every area editing one file; importing this module adds them to the shared tables
that ``t`` and ``term`` read, and refuses a key another area already uses. Every code a page
shows — need states, urgency, product states, guarantee kinds, repayment options, decline
reasons, transition reasons — has a label here or in :mod:`kejin.vocab`, so no raw code reaches
a page.
"""

from __future__ import annotations

from kejin.matching.tables import NEED_STATES, PRODUCT_STATES, URGENCY
from kejin.vocab import (
    DECLINE_REASONS,
    GUARANTEE_KINDS,
    INSTITUTION_KINDS,
    PRODUCT_KINDS,
    REPAYMENT_OPTIONS,
    Term,
)
from kejin.web.i18n import TEXTS, VOCABS

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
}

MARKET_TEXTS: dict[str, tuple[str, str]] = {
    # navigation and titles
    "mk_nav_firm": ("融资对接", "Financing"),
    "mk_nav_bank": ("融资对接", "Financing desk"),
    "mk_nav_gov": ("融资对接监测", "Financing funnel"),
    "mk_firm_title": ("融资对接 · 产品超市", "Financing · product supermarket"),
    "mk_bank_title": ("融资对接 · 本行工作台", "Financing · bank desk"),
    "mk_gov_title": ("融资对接监测", "Financing marketplace monitor"),
    # notices after a POST (post/redirect/get)
    "mk_n_posted": ("融资需求已发布。", "Your financing need is published."),
    "mk_n_withdrawn": (
        "需求已撤回，为其授予的查看授权已一并撤销。",
        "The need is withdrawn; the consents given for it are revoked.",
    ),
    "mk_n_rated": ("感谢评价，已记录。", "Thank you: your rating is recorded."),
    "mk_n_taken": (
        "接单成功，独占期内其他银行不能接单。",
        "Taken: no other bank can take it during the exclusive period.",
    ),
    "mk_n_reviewed": ("已记录初审通过。", "First review recorded."),
    "mk_n_approved": ("已记录审批通过。", "Approval recorded."),
    "mk_n_declined": ("已记录未获批及原因。", "Decline and its reason recorded."),
    "mk_n_disbursed": ("已记录放款。", "Disbursement recorded."),
    "mk_n_drafted": ("产品草稿已保存。", "Product draft saved."),
    "mk_n_submitted": (
        "已提交复核，需由本行另一位人员或政府复核后上线。",
        "Submitted: another person of the bank or the government must approve it before it goes live.",
    ),
    "mk_n_product_approved": ("复核通过，产品已上线。", "Approved: the product is live."),
    "mk_rung_angel": ("天使投资", "angel investment"),
    "mk_rung_vc": ("创业投资", "venture capital"),
    "mk_rung_pe": ("私募股权", "private equity"),
    "mk_rung_loan": ("银行贷款", "bank loans"),
    "mk_rung_listing": ("上市", "listing"),
    "mk_n_assigned": ("已派单给所选银行。", "Assigned to the chosen bank."),
    "mk_n_pushed": (
        "已推送：企业将在其融资对接页看到对接人。",
        "Pushed: the firm sees the contact person on its marketplace page.",
    ),
    "mk_n_redispatched": ("已运行超时派单规则。", "The service-level rule has run."),
    "mk_next": ("下一步", "Next"),
    "mk_refused": ("操作未完成", "Not done"),
    # the firm's page
    "mk_supermarket": (
        "产品超市（按本企业条件筛选）",
        "Product supermarket (checked against your firm)",
    ),
    "mk_supermarket_note": (
        "符合准入条件的产品排在前面；不符合的产品列出未满足的条件。金额、期限和利率在发布需求后逐项核对。",
        "Products you qualify for come first; for the others every unmet condition is listed. Amount, term and rate are checked once you post a need.",
    ),
    "mk_eligible": ("符合条件", "You qualify"),
    "mk_not_eligible": ("暂不符合", "Not yet"),
    "mk_product": ("产品", "Product"),
    "mk_bank": ("银行", "Bank"),
    "mk_amount_range": ("额度", "Amount"),
    "mk_term_range": ("期限", "Term"),
    "mk_rate_band": ("利率区间", "Rate band"),
    "mk_guarantees": ("担保方式", "Guarantee"),
    "mk_repayment": ("还款方式", "Repayment"),
    "mk_why_not": ("未满足的条件", "Conditions not met"),
    "mk_months": ("个月", "months"),
    "mk_my_needs": ("我的融资需求", "My financing needs"),
    "mk_no_needs": ("还没有融资需求。可在下方发布。", "No financing needs yet. Post one below."),
    "mk_post": ("发布融资需求", "Post a financing need"),
    "mk_amount": ("需求金额（元）", "Amount (CNY)"),
    "mk_term": ("期限（月）", "Term (months)"),
    "mk_purpose": ("资金用途", "Purpose"),
    "mk_offered": ("可提供的增信方式", "Credit enhancement offered"),
    "mk_max_rate": ("可接受最高年利率（%）", "Highest acceptable rate (% a year)"),
    "mk_urgency": ("紧急程度", "Urgency"),
    "mk_share": (
        "允许查看本企业画像的银行（仅用于本需求）",
        "Banks that may see your profile (for this need only)",
    ),
    "mk_share_note": (
        "所选银行在本需求有效期内可查看本企业的登记信息和经营数据，用于产品对接；撤回需求即撤销授权。",
        "The banks you choose may see your registry data and figures for product matching while the need is open; withdrawing the need revokes it.",
    ),
    "mk_submit_need": ("发布", "Publish"),
    "mk_state": ("状态", "State"),
    "mk_holder": ("接单银行", "Bank"),
    "mk_exclusive_until": ("独占期至", "Exclusive until"),
    "mk_detail": ("详情", "Details"),
    "mk_need": ("融资需求", "Financing need"),
    "mk_shared_with": ("已授权查看的银行", "Banks you consented to"),
    "mk_matches": ("匹配的产品（排序及原因）", "Matching products (ranked, with reasons)"),
    "mk_rank": ("排名", "Rank"),
    "mk_expected_rate": ("预计利率", "Expected rate"),
    "mk_approval_prob": ("获批概率", "Approval probability"),
    "mk_model_note": ("说明", "Note"),
    "mk_timeline": ("进度", "Progress"),
    "mk_at": ("时间", "When"),
    "mk_by": ("操作人", "By"),
    "mk_from_to": ("变化", "Change"),
    "mk_reason": ("原因", "Reason"),
    "mk_note": ("备注", "Note"),
    "mk_withdraw": ("撤回需求", "Withdraw the need"),
    "mk_rate_service": ("评价银行服务", "Rate the bank's service"),
    "mk_rating": ("评分（1–5）", "Rating (1–5)"),
    "mk_rated": ("您的评价", "Your rating"),
    "mk_rate_submit": ("提交评价", "Submit rating"),
    "mk_back_firm": ("返回融资对接", "Back to financing"),
    "mk_decline_reason": ("未获批原因", "Decline reason"),
    "mk_disbursed_amount": ("放款金额", "Disbursed"),
    "mk_none": ("无", "none"),
    # the bank's desk
    "mk_products": ("本行产品", "Our products"),
    "mk_version": ("版本", "Version"),
    "mk_maker": ("经办", "Maker"),
    "mk_checker": ("复核", "Checker"),
    "mk_new_product": ("新建产品", "New product"),
    "mk_edit": ("修改（生成新版本）", "Edit (new version)"),
    "mk_submit": ("提交复核", "Submit for approval"),
    "mk_approve_product": ("复核上线", "Approve"),
    "mk_queue": ("待接单需求（符合本行产品）", "Needs that fit our products"),
    "mk_queue_total": ("共 {n} 条，匹配度高者在前。", "{n} needs, best fit first."),
    "mk_queue_note": (
        "企业授权本行后显示其经营数据；未授权时只显示白名单字段。",
        "A firm's figures show once it consents to our bank; otherwise only whitelist fields.",
    ),
    "mk_firm": ("企业", "Firm"),
    "mk_fits": ("适配产品", "Fits"),
    "mk_consented": ("已授权本行", "Consented to us"),
    "mk_not_consented": ("未授权（仅白名单字段）", "Not consented (whitelist fields only)"),
    "mk_take": ("接单", "Take"),
    "mk_exclusive_days": ("接单后独占 {n} 个工作日", "exclusive for {n} working days once taken"),
    "mk_held": ("本行已接需求", "Needs we hold"),
    "mk_review": ("初审通过", "Record first review"),
    "mk_approve": ("审批通过", "Approve"),
    "mk_decline": ("不予批准", "Decline"),
    "mk_disburse": ("登记放款", "Record disbursement"),
    "mk_contract": ("贷款合同", "Loan contract"),
    "mk_contract_none": ("（暂未登记合同）", "(no contract registered yet)"),
    "mk_prospects": ("首贷培育名单", "First-loan prospects"),
    "mk_prospects_note": (
        "白名单内、符合本行产品准入条件且从未在本区域贷款的企业；指定对接人并推送后，企业在其融资对接页看到对接人。",
        "Whitelist firms that pass our products' rules and have never borrowed in the region; name a contact person and push: the firm sees the contact on its marketplace page.",
    ),
    "mk_contact": ("对接人", "Contact"),
    "mk_relay": ("接力融资建议", "Relay financing advice"),
    "mk_relay_note": (
        "融资阶梯：天使投资 → 创业投资 → 私募股权 → 银行贷款 → 上市。依据登记的融资事件、贷款和上市情况，以及企业所处阶段。",
        "The ladder: angel → venture capital → private equity → bank loans → listing; from the registered financing events, loans and listing, and the firm's stage.",
    ),
    "mk_relay_reached": ("已到达", "Reached"),
    "mk_relay_none": ("尚无登记的融资", "no financing registered yet"),
    "mk_relay_next": ("下一步", "Next rung"),
    "mk_relay_listed": (
        "企业已上市：可继续使用债券与银行贷款。",
        "The firm is listed: bonds and bank loans remain open to it.",
    ),
    "mk_relay_listing": (
        "下一步为上市：请联系上市培育服务机构。",
        "The next rung is listing: turn to the listing coaching services.",
    ),
    "mk_relay_products": ("适用产品", "Products that serve it"),
    "mk_relay_investors": ("投资机构", "Investors"),
    "mk_relay_link": ("投贷联动", "loan + investment"),
    "mk_relay_no_products": ("暂无在售产品适用于这一步。", "No live product serves this rung yet."),
    "mk_contact_name": ("对接人姓名", "Contact person"),
    "mk_contact_phone": ("联系电话", "Phone"),
    "mk_push": ("推送", "Push"),
    "mk_pushed_on": ("已推送", "Pushed"),
    "mk_first_loan_contacts": ("首贷培育：银行对接人", "First-loan coaching: your bank contacts"),
    "mk_first_loan_contacts_note": (
        "以下银行认为贵企业符合其产品条件，指定了专人与您联系。",
        "These banks find that your firm fits their products and named a person to contact you.",
    ),
    "mk_revenue": ("营业收入", "revenue"),
    "mk_submit_decision": ("提交审批结果", "Record the decision"),
    "mk_product_form": (
        "产品（保存为草稿，提交后由第二人复核上线）",
        "Product (saved as a draft; a second person approves it)",
    ),
    "mk_product_id": ("产品编号", "Product id"),
    "mk_product_name": ("产品名称", "Name"),
    "mk_kind": ("产品类型", "Kind"),
    "mk_min_amount": ("最低金额（元）", "Minimum amount (CNY)"),
    "mk_max_amount": ("最高金额（元）", "Maximum amount (CNY)"),
    "mk_min_term": ("最短期限（月）", "Shortest term (months)"),
    "mk_max_term": ("最长期限（月）", "Longest term (months)"),
    "mk_spread_min": ("LPR加点下限（基点）", "Spread over LPR, low (bp)"),
    "mk_spread_max": ("LPR加点上限（基点）", "Spread over LPR, high (bp)"),
    "mk_eligibility": ("准入条件（每行一条）", "Eligibility rules (one a line)"),
    "mk_eligibility_note": ("例如：", "e.g."),
    "mk_eligibility_fields": ("条件可用的名称", "Names a rule may use"),
    "mk_talent": ("人才贷", "Talent loan"),
    "mk_link": ("投贷联动", "Investment-loan link"),
    "mk_save_draft": ("保存草稿", "Save draft"),
    "mk_save_submit": ("保存并提交复核", "Save and submit"),
    "mk_back_bank": ("返回本行工作台", "Back to the bank desk"),
    "mk_no_rows": ("暂无", "None"),
    # the government's monitor
    "mk_funnel": ("对接漏斗", "Funnel"),
    "mk_group": ("分组", "Group"),
    "mk_posted": ("发布", "Posted"),
    "mk_taken": ("接单", "Taken"),
    "mk_taken_in_sla": ("时限内接单", "Taken in time"),
    "mk_first_review": ("初审通过", "First review"),
    "mk_approved": ("获批", "Approved"),
    "mk_declined": ("未获批", "Declined"),
    "mk_disbursed": ("放款笔数", "Disbursed"),
    "mk_disbursed_sum": ("放款金额（元）", "Disbursed (CNY)"),
    "mk_days": ("平均决策工作日", "Working days to decision"),
    "mk_first_loans": ("首贷户", "First loans"),
    "mk_chart_posted": ("发布需求数", "Needs posted"),
    "mk_chart_disbursed": ("放款金额", "Amount disbursed"),
    "mk_excel": ("下载 Excel", "Download Excel"),
    "mk_overdue": ("超时未接单需求", "Needs nobody took in time"),
    "mk_overdue_note": (
        "发布超过 {n} 个工作日仍未接单的需求；可运行派单规则，或手工指派给银行。",
        "Needs published more than {n} working days ago and still untaken: run the rule or assign by hand.",
    ),
    "mk_published_at": ("发布时间", "Published"),
    "mk_waiting": ("已等待（工作日）", "Waiting (working days)"),
    "mk_assign": ("指派", "Assign"),
    "mk_redispatch": ("运行超时派单规则", "Run the service-level rule"),
    "mk_unknown": ("未分组", "not grouped"),
    "mk_untaken": ("尚未接单", "not taken yet"),
    "mk_no_product": ("未指定产品", "no product named"),
    "mk_show": ("显示", "Show"),
    "mk_pending_products": ("待复核产品", "Products awaiting a checker"),
}


def _register() -> None:
    clash = set(MARKET_TEXTS) & set(TEXTS) or set(MARKET_VOCABS) & set(VOCABS)
    if clash:
        raise RuntimeError(f"marketplace text keys already used elsewhere: {sorted(clash)}")
    TEXTS.update(MARKET_TEXTS)
    VOCABS.update(MARKET_VOCABS)


_register()
