"""Controlled vocabularies shared by every area: stable identifiers with Chinese and English labels.

Identifiers follow GLOSSARY.md; the labels are what people see. Keeping them in one module is what
lets an import accept ``高新技术企业`` or ``hnte`` for the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    id: str
    zh: str
    en: str
    #: Other labels an import accepts for this term (older labels, common synonyms).
    also: tuple[str, ...] = ()


def _terms(*rows: tuple[str, str, str] | tuple[str, str, str, tuple[str, ...]]) -> dict[str, Term]:
    return {r[0]: Term(*r) for r in rows}


#: Lifecycle stages (GLOSSARY: stage).
STAGES = _terms(
    ("seed", "种子期", "seed"),
    ("startup", "初创期", "startup"),
    ("growth", "成长期", "growth"),
    ("mature", "成熟期", "mature"),
)

#: The ten key industry chains of Lianyungang (seed 001 一(三)).
INDUSTRY_CHAINS = _terms(
    ("silicon_materials", "硅材料", "silicon materials"),
    ("petrochemical", "石化", "petrochemicals"),
    ("steel_alloy", "钢铁合金", "steel and alloys"),
    ("new_energy", "新能源", "new energy"),
    ("equipment", "装备制造", "equipment manufacturing"),
    ("information", "信息产业", "information industry"),
    ("biomedicine", "生物医药", "biomedicine"),
    ("fibre_composites", "高性能纤维及复合材料", "high-performance fibres and composites"),
    ("green_food", "绿色食品", "green food"),
    ("new_chemical_materials", "化工新材料", "new chemical materials"),
)

#: Qualification kinds (seed 001 一(三), 004 §8; GLOSSARY).
QUALIFICATION_KINDS = _terms(
    ("hnte", "高新技术企业", "high and new technology enterprise"),
    ("tsme", "科技型中小企业", "technology-based SME"),
    ("innovative_sme", "创新型中小企业", "innovative SME"),
    ("srdi_sme", "专精特新中小企业", "SRDI SME"),
    ("little_giant", '专精特新"小巨人"', 'SRDI "little giant"'),
    ("innovation_demo_firm", "技术创新示范企业", "technology-innovation demonstration firm"),
    ("single_champion", "制造业单项冠军", "manufacturing single-item champion"),
    ("local_little_giant", "科技小巨人企业", "science-tech little giant (local title)"),
)

LISTING_BOARDS = _terms(
    ("none", "未上市", "not listed"),
    ("main", "主板", "main board"),
    ("chinext", "创业板", "ChiNext"),
    ("star", "科创板", "STAR Market"),
    ("bse", "北交所", "Beijing Stock Exchange"),
    ("neeq", "新三板", "NEEQ"),
    ("regional", "区域性股权市场", "regional equity market"),
)

FINANCING_KINDS = _terms(
    ("angel", "天使投资", "angel"),
    ("vc", "创业投资", "venture capital"),
    ("pe", "私募股权", "private equity"),
    ("ipo", "首次公开发行", "IPO"),
    ("bond", "债券", "bond"),
)

INSTITUTION_KINDS = _terms(
    ("bank", "银行", "bank"),
    ("guarantor", "担保机构", "guarantor"),
    ("insurer", "保险机构", "insurer"),
    ("vc_fund", "创投基金", "venture fund"),
)

PRODUCT_KINDS = _terms(
    ("loan", "贷款", "loan"),
    ("guarantee", "担保", "guarantee"),
    ("insurance", "保险", "insurance"),
    ("equity", "股权投资", "equity investment"),
)

#: The one guarantee vocabulary of loans, products, needs and fund schemes: 信用, 保证, 抵押, and
#: 质押 by the pledged asset (seed 000 (四), 001 §12, 004 §5; Anhui's receivable and inventory
#: pledges). ``receivables`` keeps the identifier the marketplace already stores.
GUARANTEE_KINDS = _terms(
    ("credit", "信用", "unsecured (credit)", ("纯信用", "信用贷款")),
    ("guarantee", "保证", "guarantee (surety)", ("保证担保", "担保公司", "担保")),
    ("mortgage", "抵押", "mortgage", ("抵押担保",)),
    ("ip_pledge", "知识产权质押", "IP pledge"),
    ("equity_pledge", "股权质押", "equity pledge"),
    ("receivables", "应收账款质押", "receivables pledge", ("应收账款",)),
    ("inventory_pledge", "存货质押", "inventory pledge", ("存货",)),
    ("order_pledge", "订单质押", "order pledge", ("订单",)),
)

#: The family (信用 / 保证 / 抵押 / 质押) of each guarantee kind; a pledge's label names its asset.
GUARANTEE_FAMILIES = _terms(
    ("credit", "信用", "credit"),
    ("guarantee", "保证", "guarantee"),
    ("mortgage", "抵押", "mortgage"),
    ("pledge", "质押", "pledge"),
)
GUARANTEE_FAMILY = {k: (k if k in GUARANTEE_FAMILIES else "pledge") for k in GUARANTEE_KINDS}

REPAYMENT_OPTIONS = _terms(
    ("on_demand", "随借随还", "draw and repay at any time"),
    ("renewal_without_repayment", "无还本续贷", "renewal without repaying principal"),
    ("instalments", "分期还款", "instalments"),
    ("bullet", "到期一次还本", "principal at maturity"),
)

#: Why a bank declines a need (the code is required; the funnel counts by it).
DECLINE_REASONS = _terms(
    ("revenue", "营业收入不足", "insufficient revenue"),
    ("collateral", "担保或抵押不足", "insufficient collateral or guarantee"),
    ("credit_record", "信用记录不良", "poor credit record"),
    ("outside_policy", "不符合授信政策", "outside the bank's credit policy"),
    ("documents", "材料不全", "documents incomplete"),
    ("firm_declined", "企业放弃", "the firm withdrew"),
    ("other", "其他", "other"),
)

#: 银企对接会 / 路演 / 投贷联动专场: the kinds of a matchmaking event (seed 001 §11, 003 常态化银企对接).
EVENT_KINDS = _terms(
    ("bank_firm", "银企对接会", "bank-firm matchmaking meeting"),
    ("roadshow", "路演", "roadshow"),
    ("invest_loan", "投贷联动专场", "investment-loan linkage session"),
)

#: A firm's answer to an event invitation.
INVITE_REPLIES = _terms(
    ("pending", "待回复", "no answer yet"),
    ("accepted", "已接受", "accepted"),
    ("declined", "已婉拒", "declined"),
)

#: What an institution meant to provide at an event: a loan, equity, or both (投贷联动, 004 §12).
INTENT_KINDS = _terms(
    ("loan", "贷款", "loan"),
    ("equity", "股权投资", "equity investment"),
    ("loan_equity", "投贷联动", "loan plus equity"),
)

#: How an event intent ended (the amount is the signed, disbursed or invested sum).
INTENT_OUTCOMES = _terms(
    ("signed", "已签约", "signed"),
    ("disbursed", "已放款", "disbursed"),
    ("invested", "已投资", "invested"),
    ("none", "未成交", "no deal"),
)

#: Why an event intent came to nothing (required with the outcome ``none``).
NO_DEAL_REASONS = _terms(
    ("not_qualified", "不符合准入条件", "did not meet the conditions"),
    ("price", "价格或利率未谈拢", "no agreement on price or rate"),
    ("valuation", "估值分歧", "no agreement on valuation"),
    ("collateral", "担保或抵押不足", "insufficient collateral or guarantee"),
    ("firm_declined", "企业放弃", "the firm withdrew"),
    ("other", "其他", "other"),
)

#: 五级分类, in order of worsening; the last three are non-performing.
CLASSIFICATIONS = _terms(
    ("normal", "正常", "normal"),
    ("special_mention", "关注", "special mention"),
    ("substandard", "次级", "substandard"),
    ("doubtful", "可疑", "doubtful"),
    ("loss", "损失", "loss"),
)
NON_PERFORMING = frozenset({"substandard", "doubtful", "loss"})

#: 纳税信用等级 (State Taxation Administration).
TAX_CREDIT_GRADES = _terms(
    ("A", "A级", "A"),
    ("B", "B级", "B"),
    ("M", "M级", "M"),
    ("C", "C级", "C"),
    ("D", "D级", "D"),
)

#: Departments that supply data (the provenance of every value).
DEPARTMENTS = _terms(
    ("tax", "税务局", "tax bureau"),
    ("amr", "市场监管局", "market regulation administration"),
    ("ip", "知识产权局", "intellectual property office"),
    ("most", "科技局", "science and technology bureau"),
    ("miit", "工信局", "industry and information technology bureau"),
    ("hrss", "人社局", "human resources and social security bureau"),
    ("stats", "统计局", "statistics bureau"),
    ("pboc", "人民银行", "People's Bank of China branch"),
    ("finance", "金融办", "local financial regulatory bureau"),
    ("institution", "金融机构报送", "reported by the financial institution"),
)


#: What each account of a fund pool's ledger is for (kejin.fund.tables.PURPOSES): the pages show
#: these words, not ``fee_income`` or ``loss_contra``.
LEDGER_PURPOSES = _terms(
    ("cash", "资金池存款", "pool cash"),
    ("capital", "出资", "capital contributed"),
    ("fee_income", "担保费收入", "guarantee fee income"),
    ("compensation", "已付补偿", "compensation paid"),
    ("recovery", "追回款", "recoveries"),
    ("loss_share", "损失分担（备查）", "share of losses (memo)"),
    ("loss_contra", "损失分担对冲（备查）", "share of losses, contra (memo)"),
)

#: The parts a fund scheme's parties play (kejin.fund.scheme.Participant.role), the order a
#: fund statement lists them in.
FUND_ROLES = _terms(
    ("government_pool", "政府出资方", "government funder"),
    ("bank", "合作银行", "partner bank"),
    ("guarantor", "担保机构", "guarantor"),
    ("insurer", "保险机构", "insurer"),
    ("reguarantor", "再担保机构", "re-guarantor"),
)

#: What a credit decision flags about its own basis (kejin.credit.decisions, points_link).
DECISION_FLAGS = _terms(
    (
        "model_unavailable",
        "信用模型不可用，按积分评级",
        "credit model unavailable: graded on points",
    ),
    (
        "points_unavailable",
        "创新积分不可用，按模型评级",
        "innovation points unavailable: graded by the model",
    ),
    (
        "points_missing",
        "该企业尚无创新积分，按模型评级",
        "the firm has no innovation points yet: graded by the model",
    ),
)

#: Actors without an account whose names stand in records a page shows (the synthetic
#: region's programmes name its generator as maker and checker).
SYSTEM_ACTORS = _terms(
    ("synth", "合成数据生成", "synthetic data generator"),
    ("synth_checker", "合成数据复核", "synthetic data checker"),
)

#: What an audit record is about (its ``entity_kind``), as the audit page names it.
AUDIT_ENTITIES = _terms(
    ("enterprise", "企业", "enterprise"),
    ("firm", "企业", "firm"),
    ("institution", "金融机构", "institution"),
    ("user", "用户", "user"),
    ("consent", "数据授权", "consent"),
    ("token", "接口令牌", "API token"),
    ("programme", "政策项目", "programme"),
    ("application", "政策申请", "application"),
    ("credit_decision", "授信决策", "credit decision"),
    ("whitelist_version", "白名单版本", "whitelist version"),
    ("import", "数据导入", "data import"),
    ("need", "融资需求", "financing need"),
    ("need_list", "融资需求清单", "list of financing needs"),
    ("match_event", "对接活动", "matchmaking event"),
    ("event_intent", "对接意向", "event intent"),
    ("product", "金融产品", "financial product"),
    ("product_version", "金融产品版本", "product version"),
    ("region", "区域", "region"),
    ("pool", "资金池", "fund pool"),
    ("claim", "代偿申请", "claim"),
    ("score_run", "积分测算", "points run"),
    ("audit_log", "审计日志", "audit log"),
    ("firm_list", "企业名单", "firm list"),
    ("warning_list", "风险预警名单", "early-warning list"),
    ("registration", "企业注册申请", "registration request"),
    ("relend_quota", "再贷款额度", "relending quota"),
    ("relend_batch", "再贷款申请批次", "relending batch"),
    ("bank_evaluation", "银行服务成效评估", "bank service-effect evaluation"),
    ("stats_month", "月度统计", "monthly statistics"),
    ("login_client", "登录来源地址", "login client address"),
    ("snapshot", "数据快照", "data snapshot"),
)

#: Central-bank structural tools a bank refinances its loans with (kejin.relend).
RELEND_TOOLS = _terms(
    ("relending", "科技创新再贷款", "relending for sci-tech innovation"),
    ("rediscount", "再贴现", "rediscount"),
)

#: Where a relending batch stands (kejin.relend.tables.RelendBatch.state).
RELEND_BATCH_STATES = _terms(
    ("submitted", "待审批", "awaiting approval"),
    ("approved", "已发放", "approved and drawn"),
    ("rejected", "已退回", "rejected"),
    ("repaid", "已归还", "repaid"),
)

#: What a refinanced loan was for (the bank states it per loan in its batch).
LOAN_PURPOSES = _terms(
    ("rd", "研发投入", "research and development"),
    ("tech_transformation", "技术改造", "technical transformation"),
    ("working_capital", "科技成果转化流动资金", "working capital for commercialising technology"),
    ("equipment_upgrade", "设备更新", "equipment upgrade"),
    ("real_estate", "房地产开发", "real-estate development"),
)


def lookup(vocab: dict[str, Term], text: str) -> str | None:
    """Map an identifier or a Chinese/English label to the identifier; None when unknown."""
    t = text.strip()
    if t in vocab:
        return t
    low = t.lower()
    for term in vocab.values():
        if t == term.zh or low == term.en.lower() or low == term.id.lower() or t in term.also:
            return term.id
    return None


#: The areas an audited action belongs to (the first part of ``fund.pay``): the audit page's
#: action filter offers these, and each event's action reads "资金池 · 支付", not a code.
AUDIT_AREAS = _terms(
    ("audit", "审计日志", "audit log"),
    ("auth", "登录", "sign-in"),
    ("consent", "数据授权", "consent"),
    ("credit", "授信", "credit"),
    ("db", "数据库", "database"),
    ("firm", "企业", "firm"),
    ("fund", "风险补偿资金池", "risk-compensation fund"),
    ("ingest", "数据导入", "data import"),
    ("institution", "金融机构", "institution"),
    ("loan", "贷款", "loan"),
    ("match", "融资对接", "financing match"),
    ("page", "页面", "page"),
    ("points", "创新积分", "innovation points"),
    ("policy", "政策兑现", "policy"),
    ("product", "金融产品", "financial product"),
    ("registration", "企业注册", "firm registration"),
    ("registry", "企业库", "registry"),
    ("relend", "再贷款", "relending"),
    ("self", "本人账户", "own account"),
    ("stats", "统计", "statistics"),
    ("token", "接口令牌", "API token"),
    ("user", "用户", "user"),
    ("whitelist", "白名单", "whitelist"),
)

#: What was done (the later parts of an action, ``write_off`` of ``fund.write_off``), labelled
#: once for every area; :func:`audit_action_label` names an action whole.
AUDIT_STEPS = _terms(
    ("logout", "退出登录", "signed out"),
    ("refused_client", "同一地址登录失败过多被拒", "refused: too many failures from one address"),
    ("refused", "被拒绝", "refused"),
    ("firms", "企业名单", "firms"),
    ("draft", "草稿", "draft"),
    ("flags", "首贷标识核查", "first-loan flag check"),
    ("reset_password", "重置密码", "password reset"),
    ("download", "下载", "download"),
    ("push_file", "推送文件", "pushed file"),
    ("act", "处理", "act"),
    ("applications", "申请列表", "applications"),
    ("apply", "申请", "apply"),
    ("approve", "批准", "approve"),
    ("assign", "分派", "assign"),
    ("bank", "本行视图", "bank view"),
    ("bank_card", "银行成效卡片", "bank scorecard"),
    ("banks", "银行成效评估", "bank evaluation"),
    ("batches", "申请批次", "batches"),
    ("claim", "代偿申请", "claim"),
    ("claims", "代偿申请列表", "claims"),
    ("close", "结清", "close"),
    ("correct", "更正", "correct"),
    ("confirm", "法定代表人确认", "legal representative's confirmation"),
    ("corrections", "更正记录", "corrections"),
    ("create", "创建", "create"),
    ("deactivate", "停用", "deactivate"),
    ("decline", "驳回", "decline"),
    ("decide", "决策", "decide"),
    ("deposit", "存入资金", "deposit"),
    ("diff", "版本对比", "compare versions"),
    ("edit", "编辑", "edit"),
    ("eligible", "符合条件的企业", "eligible firms"),
    ("enrol", "备案入池", "enrol"),
    ("enterprise", "本企业视图", "enterprise view"),
    ("evidence", "证据包", "evidence pack"),
    ("export", "导出", "export"),
    ("fee", "担保费", "guarantee fee"),
    ("file", "提交代偿", "file a claim"),
    ("for_need", "为需求匹配产品", "products for a need"),
    ("fit", "适配的银行", "fitting banks"),
    ("event", "对接活动", "matchmaking event"),
    ("intent", "意向", "intent"),
    ("direct", "直投", "direct investment"),
    ("investor", "投资机构", "investor"),
    ("invite", "邀请", "invite"),
    ("outcome", "对接结果", "outcome"),
    ("reply", "答复", "reply"),
    ("signup", "报名", "sign-up"),
    ("for_product", "为产品匹配需求", "needs for a product"),
    ("funnel", "对接漏斗", "funnel"),
    ("grant", "授予", "grant"),
    ("history", "历史记录", "history"),
    ("import", "导入", "import"),
    ("issue", "签发", "issue"),
    ("list", "列表", "list"),
    ("loans", "贷款", "loans"),
    ("letter", "授权书", "authorisation letter"),
    ("locked", "账户锁定", "account locked"),
    ("mark", "定性评分", "qualitative marking"),
    ("login", "登录成功", "signed in"),
    ("login_failed", "登录失败", "sign-in failed"),
    ("matches", "匹配结果", "matches"),
    ("model", "模型", "model"),
    ("monthly", "月度统计", "monthly statistics"),
    ("need", "融资需求", "financing need"),
    ("notify", "通知", "notify"),
    ("open", "开放申报", "open"),
    ("password", "修改密码", "change password"),
    ("password_change", "修改密码", "password changed"),
    ("password_change_refused", "修改密码被拒", "password change refused"),
    ("pay", "支付", "pay"),
    ("pools", "资金池列表", "pools"),
    ("post", "发布", "post"),
    ("product", "金融产品", "product"),
    ("programme", "项目", "programme"),
    ("programmes", "项目列表", "programmes"),
    ("prospect", "潜在客户", "prospect"),
    ("prospects", "潜在客户", "prospects"),
    ("publish", "发布", "publish"),
    ("push", "推送", "push"),
    ("quota", "额度", "quota"),
    ("pushed", "已推送名单", "pushed list"),
    ("queue", "待办队列", "queue"),
    ("rate", "评价", "rate"),
    ("read", "查看", "read"),
    ("record", "综合档案", "full record"),
    ("recover", "追回", "recovery"),
    ("redispatch", "重新分派", "redispatch"),
    ("refresh", "刷新", "refresh"),
    ("refused_locked", "锁定期间拒绝登录", "refused while locked"),
    ("region", "区域概览", "region overview"),
    ("register", "登记", "register"),
    ("reject", "退回", "reject"),
    ("repay", "归还", "repay"),
    ("report", "月度报送", "monthly report"),
    ("reverse", "冲正", "reverse"),
    ("review", "复核", "review"),
    ("revoke", "撤销", "revoke"),
    ("score", "积分测算", "scoring run"),
    ("search", "检索", "search"),
    ("simulate", "测算", "simulate"),
    ("snapshot", "数据快照导出", "snapshot export"),
    ("statement", "对账单", "statement"),
    ("submit", "提交", "submit"),
    ("supermarket", "产品超市", "product supermarket"),
    ("take", "承接", "take"),
    ("tenant", "所属机构变更", "tenant changed"),
    ("upgrade", "升级", "upgrade"),
    ("versions", "版本列表", "versions"),
    ("warnings", "风险预警", "early warnings"),
    ("whitelist", "白名单", "whitelist"),
    ("write_off", "核销", "write off"),
)


def audit_action_label(action: str, lang: str) -> str:
    """``fund.write_off`` → ``风险补偿资金池 · 核销``: an audited action as a reader names it. A
    part without a label (an action newer than this table) reads as "其他操作", never as code;
    ``tests/service/test_service_gov_audit.py`` holds every known action to a full label."""
    area, *steps = action.split(".")
    head = AUDIT_AREAS.get(area)
    parts = [head, *(AUDIT_STEPS.get(s) for s in steps)]
    if any(p is None for p in parts):
        other = Term("", "其他操作", "other action")
        parts = [head, other] if head else [other]
    return " · ".join((p.en if lang == "en" else p.zh) for p in parts if p is not None)


#: Kinds of early-warning signal (kejin.credit.early_warning), as pages, workbooks and the CLI
#: name them; the data class a bank needs consent for before it may see one about a borrower
#: is in :data:`kejin.credit.warning_views.KIND_DATA_CLASS`.
WARNING_KINDS = _terms(
    ("warning.dpd_severe", "严重逾期（90天以上）", "severely past due (90+ days)"),
    ("warning.dpd", "逾期（30天以上）", "past due (30+ days)"),
    ("warning.dpd_watch", "逾期（1天以上）", "past due (1+ days)"),
    ("warning.classification", "五级分类下调", "downgraded loan classification"),
    ("warning.dishonest", "失信被执行人", "listed as a dishonest judgment debtor"),
    ("warning.deregistered", "企业已注销", "firm deregistered"),
    ("warning.abnormal_operation", "列入经营异常名录", "listed for abnormal operation"),
    ("warning.revenue_drop", "营业收入下降", "revenue fell"),
    ("warning.tax_drop", "纳税额下降", "tax paid fell"),
    ("warning.qualification_expiring", "资质即将到期", "qualification expiring"),
    ("warning.qualification_lapsed", "资质已失效", "qualification lapsed"),
    ("warning.points_drop", "创新积分下降", "innovation points fell"),
)

#: Warning levels, 1 watch … 3 severe (0 is no warning).
WARNING_LEVELS = _terms(
    ("1", "关注", "watch"),
    ("2", "预警", "warning"),
    ("3", "严重", "severe"),
)

#: A credit decision's recorded inputs (the evidence pack's snapshot), by their path in the record;
#: ``revenue.YYYY`` reads as the revenue of that year (:func:`decision_input_label`).
DECISION_INPUTS = _terms(
    ("as_of", "决策日", "decision date"),
    ("uscc", "统一社会信用代码", "USCC"),
    ("current_days_past_due", "当前逾期天数", "days past due now"),
    ("tax_credit_grade", "纳税信用等级", "tax credit grade"),
    ("qualifications", "有效资质", "valid qualifications"),
    ("model_id", "模型版本", "model version"),
    ("points_area", "已有创新积分数据", "innovation points available"),
    ("points", "创新积分", "innovation points"),
    ("points.system", "积分体系", "points system"),
    ("points.total", "创新积分", "innovation points"),
    ("points.year", "积分年度", "points year"),
    ("firm.name", "企业名称", "firm name"),
    ("firm.stage", "生命周期阶段", "stage"),
    ("firm.dishonest", "失信被执行人", "dishonest judgment debtor"),
    ("firm.deregistered", "已注销", "deregistered"),
    ("firm.abnormal_operation", "经营异常", "abnormal operation"),
    ("features.age_years", "成立年限（年）", "years in business"),
    ("features.financing_events", "股权融资次数", "equity financing rounds"),
    ("features.high_tech_share", "高新产品收入占比", "high-tech product revenue share"),
    ("features.industry_chain", "重点产业链", "industry chain"),
    ("features.ip_weighted", "知识产权（加权）", "intellectual property (weighted)"),
    ("features.leverage", "资产负债率", "leverage"),
    ("features.log_assets", "总资产（对数）", "total assets (log)"),
    ("features.log_revenue", "营业收入（对数）", "revenue (log)"),
    ("features.margin", "利润率", "profit margin"),
    ("features.max_dpd_ever", "历史最长逾期天数", "longest days past due ever"),
    ("features.points_base", "创新积分（基础分）", "innovation points (base)"),
    ("features.points_bonus", "创新积分（加分）", "innovation points (bonus)"),
    ("features.points_total", "创新积分（总分）", "innovation points (total)"),
    ("features.qualifications", "有效资质数", "valid qualifications (count)"),
    ("features.rd_intensity", "研发投入强度", "R&D intensity"),
    ("features.rd_staff_share", "研发人员占比", "R&D staff share"),
    ("features.revenue_growth", "营业收入增长率", "revenue growth"),
    ("features.stage", "生命周期阶段", "stage"),
    ("features.tax_credit_grade", "纳税信用等级", "tax credit grade"),
    ("features.tax_growth", "纳税额增长率", "tax paid growth"),
)


def decision_input_label(path: str, lang: str) -> str:
    """What a person reads for an input path of a decision record; the path itself if unknown
    (a field a later table version records), so nothing recorded is ever hidden."""
    if path.startswith("revenue."):
        year = path.split(".", 1)[1]
        return f"{year}年营业收入" if lang != "en" else f"revenue {year}"
    term = DECISION_INPUTS.get(path)
    if term is None:
        return path
    return term.en if lang == "en" else term.zh
