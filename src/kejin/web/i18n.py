"""Page texts in Chinese and English. Chinese is the default; ``?lang=en`` or the cookie switches.

Vocabulary labels (stages, chains, qualifications) come from :mod:`kejin.vocab`, so the pages
and the data speak the same words.
"""

from __future__ import annotations

from kejin.access.tables import CONSENT_PURPOSES, CONSENT_SCOPES, ROLES
from kejin.vocab import FINANCING_KINDS, INDUSTRY_CHAINS, QUALIFICATION_KINDS, STAGES, Term

TEXTS: dict[str, tuple[str, str]] = {
    "app": ("科金 · 科技金融服务平台", "kejin · sci-tech finance platform"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "dashboard": ("区域概览", "Region dashboard"),
    "firms": ("企业检索", "Firm search"),
    "bank": ("本行视图", "My bank"),
    "enterprise": ("本企业", "My firm"),
    "audit": ("审计日志", "Audit log"),
    "search": ("检索", "Search"),
    "keyword": ("名称或信用代码", "Name or USCC"),
    "all": ("全部", "All"),
    "chain": ("产业链", "Industry chain"),
    "stage": ("阶段", "Stage"),
    "qualification": ("资质", "Qualification"),
    "download": ("下载 Excel", "Download Excel"),
    "total": ("共", "Total"),
    "uscc": ("统一社会信用代码", "USCC"),
    "name": ("企业名称", "Name"),
    "region": ("区划", "Region"),
    "level": ("可见范围", "Visible level"),
    "level_whitelist": ("白名单字段", "whitelist fields"),
    "level_profile": ("基本画像（已授权）", "profile (consented)"),
    "level_full": ("完整数据", "full data"),
    "indicators": ("年度指标", "Annual indicators"),
    "year": ("年度", "Year"),
    "financing": ("融资记录", "Financing"),
    "qualifications": ("资质认定", "Qualifications"),
    "valid": ("有效期", "Valid"),
    "loans": ("贷款", "Loans"),
    "contract": ("合同编号", "Contract"),
    "amount": ("金额", "Amount"),
    "balance": ("余额", "Balance"),
    "classification": ("五级分类", "Classification"),
    "consents": ("授权", "Consents"),
    "consented_firms": ("已授权本行的企业", "Firms that consented to us"),
    "institution": ("机构", "Institution"),
    "purpose": ("用途", "Purpose"),
    "scope": ("范围", "Scope"),
    "expires": ("到期", "Expires"),
    "status": ("状态", "Status"),
    "active": ("有效", "active"),
    "inactive": ("已失效", "ended"),
    "grant": ("授权", "Grant"),
    "revoke": ("撤销", "Revoke"),
    "grant_title": ("授权金融机构查看本企业数据", "Let an institution see our data"),
    "granted": ("已授权", "Consent granted"),
    "revoked": ("已撤销", "Consent revoked"),
    "by_stage": ("按生命周期阶段的企业数", "Firms by stage"),
    "by_chain": ("按重点产业链的企业数", "Firms by industry chain"),
    "by_qual": ("按有效资质的企业数", "Firms by valid qualification"),
    "loans_by_bank": ("各机构贷款余额（元）", "Loan balance by institution (CNY)"),
    "firm_count": ("企业总数", "Firms"),
    "actor": ("操作人", "Actor"),
    "action": ("操作", "Action"),
    "entity": ("对象", "Entity"),
    "time": ("时间", "Time"),
    "verify": ("校验审计链", "Verify the chain"),
    "chain_ok": ("审计链完好", "Audit chain intact"),
    "chain_broken": ("审计链被篡改", "Audit chain BROKEN"),
    "events": ("条记录", "events"),
    "prev": ("更早", "Older"),
    "no_rows": ("暂无数据", "Nothing to show"),
    "error": ("出错了", "Something went wrong"),
    "back": ("返回", "Back"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "dishonest": ("失信", "Dishonest"),
    "founded": ("成立日期", "Founded"),
    "staff": ("从业人数", "Staff"),
    "role": ("角色", "Role"),
    "not_visible": (
        "（该企业未向本行授权，仅显示白名单字段）",
        "(not consented to us: whitelist fields only)",
    ),
    "whitelist": ("白名单管理", "Whitelist"),
    "bank_whitelist": ("本行收到的白名单", "Our whitelist"),
    "wl_refresh": ("重新生成白名单", "Refresh the whitelist"),
    "wl_refreshed": ("已生成新版本", "New version built:"),
    "wl_push": ("推送最新版本（下载 Excel）", "Push the latest version (download Excel)"),
    "wl_push_note": ("仅推送规则集允许的字段", "only the rule set's push fields are sent"),
    "wl_versions": ("版本", "Versions"),
    "wl_diff": ("版本对比", "Compare versions"),
    "wl_pushes": ("推送记录", "Push log"),
    "wl_none": ("尚未收到白名单推送", "No whitelist has been pushed to us yet"),
    "version": ("版本", "Version"),
    "as_of": ("基准日", "As of"),
    "rules": ("规则集", "Rule set"),
    "members": ("入库企业", "Members"),
    "tiers": ("层级", "Tier"),
    "created": ("生成", "Built"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "compare": ("对比", "Compare"),
    "change": ("变化", "Change"),
    "reason": ("原因", "Reason"),
    "chg_added": ("新增", "added"),
    "chg_removed": ("移出", "removed"),
    "chg_tier_changed": ("层级变化", "tier changed"),
    "no_change": ("无变化", "no changes"),
    "first_n": ("仅显示前", "showing first"),
    "rows": ("行数", "Rows"),
    "pushed_at": ("推送时间", "pushed at"),
    "wlf_uscc": ("统一社会信用代码", "USCC"),
    "wlf_name": ("企业名称", "Name"),
    "wlf_tier": ("层级", "Tier"),
    "wlf_stage": ("阶段", "Stage"),
    "wlf_industry_chain": ("产业链", "Industry chain"),
    "wlf_region_code": ("区划", "Region"),
    "wlf_points": ("创新积分", "Points"),
    "wlf_list_id": ("积分名单", "Points list"),
    "wlf_entry_rules": ("入库规则", "Entry rules"),
    "wlf_exclusion_rules": ("排除规则", "Exclusion rules"),
    "wlf_status": ("状态", "Status"),
    "wlf_tier_rule": ("层级规则", "Tier rule"),
}


def t(key: str, lang: str) -> str:
    zh, en = TEXTS[key]
    return en if lang == "en" else zh


def term(vocab: dict[str, Term], key: str | None, lang: str) -> str:
    if key is None:
        return "—"
    tm = vocab.get(key)
    if tm is None:
        return key
    return tm.en if lang == "en" else tm.zh


VOCABS = {
    "stage": STAGES,
    "chain": INDUSTRY_CHAINS,
    "qualification": QUALIFICATION_KINDS,
    "role": ROLES,
    "purpose": CONSENT_PURPOSES,
    "scope": CONSENT_SCOPES,
    "financing": FINANCING_KINDS,
}
