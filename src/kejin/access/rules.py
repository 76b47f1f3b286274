"""Who may do what to whom: the permission rule table and the tenancy predicates.

A rule is (action, role, tenant condition). The table is the only place permissions live: routes
name their action, the service calls :func:`authorize`, templates merely hide links. An area that
lands later adds its actions with :func:`add_rules` (in its ``routes.py``) and, if it makes firms
visible to banks (the whitelist push), a visibility source with :func:`add_visibility`.

Tenant conditions:

``region``
    no tenant restriction (government, auditor).
``own_institution``
    the target institution is the officer's own.
``own_firm``
    the target USCC is the enterprise user's own.
``firm_visible``
    the firm consented to the officer's institution or was pushed to it.
``own_consent``
    the consent belongs to the enterprise user's firm.
``own_token``
    the token was issued to the acting user.
``scoped``
    a list: allowed, and the query itself is restricted to the tenant (see :func:`firm_scope`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, exists, literal, or_, select, true, union_all
from sqlalchemy.orm import Session

from kejin.access.tables import CONSENT_PURPOSES, CONSENT_SCOPES, ApiToken, Consent
from kejin.errors import KejinError, Problem


class Unauthenticated(KejinError):
    """No valid session or token (HTTP 401)."""


class Forbidden(KejinError):
    """Authenticated, but the rule table does not allow this action on this target (HTTP 403)."""


class Throttled(KejinError):
    """Too many failed logins; the account is locked for a while (HTTP 429)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The acting user as the service sees it; ``scopes`` narrows a token to some actions."""

    user_id: int
    username: str
    role: str
    institution_id: str | None = None
    uscc: str | None = None
    via: str = "session"
    scopes: frozenset[str] | None = None
    #: The account still has a password someone else chose: it may only change it.
    must_change: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    role: str
    tenant: str


GOV = ("gov_admin", "gov_reviewer")
READERS = (*GOV, "auditor")
ALL_ROLES = (*READERS, "bank_officer", "enterprise_user")


def _rules(action: str, tenants: dict[str, tuple[str, ...]]) -> list[Rule]:
    return [Rule(action, role, tenant) for tenant, roles in tenants.items() for role in roles]


#: The rule table of the core service (registry, lending, access).
RULES: list[Rule] = [
    *_rules("self.read", {"region": ALL_ROLES}),
    *_rules("firm.search", {"scoped": ALL_ROLES}),
    *_rules("firm.export", {"scoped": (*READERS, "bank_officer")}),
    *_rules(
        "firm.read",
        {"region": READERS, "firm_visible": ("bank_officer",), "own_firm": ("enterprise_user",)},
    ),
    *_rules("stats.region", {"region": READERS}),
    *_rules("institution.list", {"region": ALL_ROLES}),
    *_rules("product.list", {"region": ALL_ROLES}),
    *_rules("loan.list", {"region": READERS, "own_institution": ("bank_officer",)}),
    *_rules("firm.loans", {"region": READERS, "own_firm": ("enterprise_user",)}),
    *_rules("consent.list", {"scoped": ALL_ROLES}),
    *_rules("consent.grant", {"own_firm": ("enterprise_user",)}),
    *_rules("consent.revoke", {"own_consent": ("enterprise_user",)}),
    *_rules("token.list", {"scoped": ("bank_officer", "gov_admin")}),
    *_rules("token.issue", {"region": ("bank_officer",)}),
    *_rules("token.revoke", {"own_token": ("bank_officer",), "region": ("gov_admin",)}),
    *_rules("user.list", {"region": ("gov_admin", "auditor")}),
    *_rules("self.password", {"region": ALL_ROLES}),
    *_rules("user.create", {"region": ("gov_admin",)}),
    # The second person of a privileged account's creation (the service refuses the creator).
    *_rules("user.approve", {"region": GOV}),
    *_rules("user.deactivate", {"region": ("gov_admin",)}),
    *_rules("audit.read", {"region": ("gov_admin", "auditor")}),
    *_rules("audit.export", {"region": ("gov_admin", "auditor")}),
    # An investor (a user of a ``vc_fund`` institution) reads its own account, the catalogue and
    # the firms that consented to its institution; its marketplace rules are the matching area's.
    *_rules("self.read", {"region": ("investor",)}),
    *_rules("self.password", {"region": ("investor",)}),
    *_rules("institution.list", {"region": ("investor",)}),
    *_rules("product.list", {"region": ("investor",)}),
    *_rules("firm.read", {"firm_visible": ("investor",)}),
    *_rules("consent.list", {"scoped": ("investor",)}),
]

#: Actions a bank token may carry (what a bank's system needs; never consent or user actions):
#: the registry reads, the firms the whitelist pushed to it, its fund claims (enrol, month-end
#: status, file, follow) and its credit decisions (request, history, evidence, officer action).
#: A token is issued with a subset; the rule table still applies (its own institution only).
TOKEN_SCOPES = (
    "firm.search",
    "firm.read",
    "firm.export",
    "loan.list",
    "product.list",
    "whitelist.pushed",
    "fund.claims",
    "fund.claim",
    "fund.enrol",
    "fund.report",
    "fund.file",
    "credit.decide",
    "credit.history",
    "credit.evidence",
    "credit.act",
    "relend.read",
    "relend.batches",
)

#: All an account with a password chosen by someone else may do until it changes it.
FIRST_LOGIN_ACTIONS = frozenset({"self.read", "self.password"})

_index: dict[tuple[str, str], Rule] = {}

#: Sources of firms visible to an institution: name -> f(institution_id, now) -> SELECT uscc.
VisibilitySource = Callable[[str, datetime], Select[Any]]
_visibility: dict[str, VisibilitySource] = {}


def add_rules(rules: list[Rule]) -> None:
    """Register an area's rules; a (role, action) pair may have one rule only."""
    for r in rules:
        key = (r.role, r.action)
        if key in _index and _index[key] != r:
            raise ValueError(f"conflicting rule for {key}")
        if r.tenant not in TENANT_CHECKS and r.tenant not in ("scoped", "region"):
            raise ValueError(f"unknown tenant condition {r.tenant!r}")
        _index[key] = r


def rule_for(role: str, action: str) -> Rule | None:
    return _index.get((role, action))


def known_actions() -> set[str]:
    return {a for (_, a) in _index}


def add_visibility(name: str, source: VisibilitySource) -> None:
    """Let an area (the whitelist push) make firms visible to an institution's officers."""
    _visibility[name] = source


def remove_visibility(name: str) -> None:
    _visibility.pop(name, None)


def active_consents(institution_id: str, now: datetime) -> Select[Any]:
    return select(Consent.uscc).where(
        Consent.institution_id == institution_id,
        Consent.revoked_at.is_(None),
        Consent.expires_at > now,
    )


@dataclass(frozen=True, slots=True)
class ConsentRef:
    """A live consent under which firm data is read: named in the audit log and on every
    credit decision, so each value a bank saw can be traced to the firm's own grant."""

    id: int
    purpose: str
    scope: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DataClass:
    """A class of firm data beyond the whitelist fields and the consents that open it."""

    label_zh: str
    label_en: str
    scopes: frozenset[str]
    purposes: frozenset[str]


_ANY_PURPOSE = frozenset(CONSENT_PURPOSES)

#: Which consents open which data (docs/service.md, "Consent and data classes"). The whitelist
#: fields need none. A firm states a purpose when it grants: a decision on credit uses its data
#: for credit assessment, so only that purpose opens a new decision; the stored decision may be
#: read again under that purpose or under post-loan monitoring (the loan it led to).
DATA_CLASSES: dict[str, DataClass] = {
    "profile": DataClass(
        "基本画像（登记信息与资质）",
        "profile (registry fields and qualifications)",
        frozenset({"profile", "full"}),
        _ANY_PURPOSE,
    ),
    "financials": DataClass(
        "经营数据（年度指标、融资、创新积分明细）",
        "financial data (annual indicators, financing, points detail)",
        frozenset({"full"}),
        _ANY_PURPOSE,
    ),
    "credit_decision": DataClass(
        "授信评估（新的授信决策）",
        "credit assessment (a new credit decision)",
        frozenset({"full"}),
        frozenset({"credit_assessment"}),
    ),
    "credit_record": DataClass(
        "授信决策记录（决策结果与证据包）",
        "credit decision record (outcomes and evidence pack)",
        frozenset({"full"}),
        frozenset({"credit_assessment", "post_loan_monitoring"}),
    ),
}

CONSENT_MEMO = "kejin.consents"

_LIVE_CONSENTS = (
    select(Consent.id, Consent.purpose, Consent.scope, Consent.expires_at)
    .where(
        Consent.institution_id == bindparam("institution_id"),
        Consent.uscc == bindparam("uscc"),
        Consent.revoked_at.is_(None),
        Consent.expires_at > bindparam("now"),
    )
    .order_by(Consent.id)
)


def live_consent(
    session: Session, institution_id: str, uscc: str, data_class: str, now: datetime
) -> ConsentRef | None:
    """May ``institution_id`` see ``data_class`` of firm ``uscc`` now, and under which consent?

    The one answer every bank-reachable path asks (gate, profile, points, credit decisions,
    their evidence and history, the CLI through the same services). Among several fitting
    consents the one lasting longest (then the newest) is named. The live consents are
    remembered for the rest of the session (one request), since the gate, the service and the
    level of detail all ask; granting or revoking a consent clears the memo.
    """
    need = DATA_CLASSES[data_class]
    memo = session.info.setdefault(CONSENT_MEMO, {})
    key = (institution_id, uscc)
    if key not in memo:
        rows = session.connection().execute(
            _LIVE_CONSENTS, {"institution_id": institution_id, "uscc": uscc, "now": now}
        )
        memo[key] = tuple(ConsentRef(*r) for r in rows)
    fitting = [
        c
        for c in memo[key]
        if c.scope in need.scopes and c.purpose in need.purposes and c.expires_at > now
    ]
    return max(fitting, key=lambda c: (c.expires_at, c.id), default=None)


class ConsentRequired(Forbidden):
    """The firm has no live consent to the institution covering the data asked for (HTTP 403)."""


def require_consent(
    session: Session, p: Principal, uscc: str, data_class: str, now: datetime
) -> ConsentRef | None:
    """The consent under which a bank officer reads ``data_class`` of the firm, or a refusal
    naming the consent that is missing and, if there was one, why it no longer counts.

    Only a bank reads another party's firm data under consent: for the government, the
    auditor and the firm itself (whom the rule table has already held to their tenant) the
    answer is ``None``, no consent involved.
    """
    if p.role not in ("bank_officer", "investor"):
        return None
    assert p.institution_id is not None
    ref = live_consent(session, p.institution_id, uscc, data_class, now)
    if ref is not None:
        return ref
    need = DATA_CLASSES[data_class]
    purposes_zh = "或".join(f"「{CONSENT_PURPOSES[x].zh}」" for x in sorted(need.purposes))
    purposes_en = " or ".join(x for x in sorted(need.purposes))
    scope = "full" if need.scopes == {"full"} else "profile"
    past = session.execute(
        select(Consent.id, Consent.revoked_at, Consent.expires_at)
        .where(
            Consent.institution_id == p.institution_id,
            Consent.uscc == uscc,
            Consent.purpose.in_(need.purposes),
            Consent.scope.in_(need.scopes),
        )
        .order_by(Consent.id.desc())
        .limit(1)
    ).first()
    why_zh, why_en = "企业未授权", "the firm has not consented"
    if past is not None:
        if past.revoked_at is not None:
            why_zh = f"授权 #{past.id} 已于 {past.revoked_at:%Y-%m-%d %H:%M} 撤销"
            why_en = f"consent #{past.id} was revoked on {past.revoked_at:%Y-%m-%d %H:%M}"
        else:
            why_zh = f"授权 #{past.id} 已于 {past.expires_at:%Y-%m-%d %H:%M} 到期"
            why_en = f"consent #{past.id} expired on {past.expires_at:%Y-%m-%d %H:%M}"
    zh = (
        f"读取{need.label_zh}需要企业 {uscc} 向 {p.institution_id} 授予有效的{purposes_zh}"
        f"授权（范围「{CONSENT_SCOPES[scope].zh}」）：{why_zh}"
    )
    en = (
        f"{need.label_en} needs a live consent of firm {uscc} to {p.institution_id} for "
        f"purpose {purposes_en} with scope {scope}: {why_en}"
    )
    raise ConsentRequired(zh, en, [Problem(zh, en, field="consent", value=uscc)])


def pushed_visible(session: Session, institution_id: str, uscc: str, now: datetime) -> bool:
    """Whether any registered source other than consent (the whitelist push) shows the firm."""
    for source in _visibility.values():
        q = source(institution_id, now).subquery()
        col = next(iter(q.c))
        if session.execute(select(literal(1)).where(col == uscc).limit(1)).first():
            return True
    return False


def visibility_sources(institution_id: str, now: datetime) -> list[Select[Any]]:
    """One SELECT of USCCs per source an institution's officers see by (consents, pushes)."""
    return [active_consents(institution_id, now)] + [
        src(institution_id, now) for src in _visibility.values()
    ]


def _firm_visible(session: Session, p: Principal, target: Any, now: datetime) -> bool:
    if p.institution_id is None:
        return False
    return live_consent(
        session, p.institution_id, target, "profile", now
    ) is not None or pushed_visible(session, p.institution_id, target, now)


def _int(target: Any) -> int | None:
    """A surrogate key from a path, or None if it cannot be one (not a number, out of range)."""
    try:
        v = int(target)
    except (TypeError, ValueError):
        return None
    return v if 0 < v < 2**31 else None


def _own_consent(session: Session, p: Principal, target: Any, now: datetime) -> bool:
    key = _int(target)
    c = session.get(Consent, key) if key is not None else None
    return c is not None and p.uscc is not None and c.uscc == p.uscc


def _own_token(session: Session, p: Principal, target: Any, now: datetime) -> bool:
    key = _int(target)
    t = session.get(ApiToken, key) if key is not None else None
    return t is not None and t.user_id == p.user_id


TenantCheck = Callable[[Session, Principal, Any, datetime], bool]
TENANT_CHECKS: dict[str, TenantCheck] = {
    "own_institution": lambda s, p, t, now: t is not None and t == p.institution_id,
    "own_firm": lambda s, p, t, now: t is not None and t == p.uscc,
    "firm_visible": _firm_visible,
    "own_consent": _own_consent,
    "own_token": _own_token,
}

add_rules(RULES)


def authorize(
    session: Session, p: Principal, action: str, target: Any = None, now: datetime | None = None
) -> Rule:
    """Return the rule that allows ``action`` on ``target``, or raise :class:`Forbidden`."""
    from kejin.access.audit import utcnow

    if p.must_change and action not in FIRST_LOGIN_ACTIONS:
        raise Forbidden(
            "请先修改初始密码",
            "change your initial password first",
            [Problem("须先修改密码", "password change required", field="password")],
        )
    if p.scopes is not None and action not in p.scopes:
        raise Forbidden(
            f"令牌权限范围不含操作 {action}",
            f"the token's scopes do not include {action}",
        )
    r = rule_for(p.role, action)
    if r is None:
        raise Forbidden(
            f"角色 {p.role} 无权执行 {action}", f"role {p.role} may not perform {action}"
        )
    if r.tenant in ("region", "scoped"):
        return r
    if not TENANT_CHECKS[r.tenant](session, p, target, now or utcnow()):
        raise Forbidden(
            f"无权访问该对象（{action} {target}）",
            f"not allowed on this target ({action} {target})",
        )
    return r


def firm_scope(p: Principal, now: datetime, *, whole: bool = False) -> Any:
    """A WHERE clause on ``enterprises.uscc`` restricting lists to the principal's tenant.

    A bank's visible set is the union of its consents and pushes, often tens of thousands of
    firms, and each of the two jobs a list has is fast in a different shape. A page (``whole``
    false) walks the firms in key order and probes each against the sources (EXISTS over a
    UNION ALL, which PostgreSQL cannot hash), so it costs offset + limit index probes
    whatever the size of the set; the count of the whole set (``whole``) hashes each source once,
    which is cheaper than a probe per firm. Both come from the same sources, so they cannot
    disagree on who is visible.
    """
    from kejin.registry.tables import Enterprise

    if p.role in ("bank_officer", "investor"):
        assert p.institution_id is not None
        parts = visibility_sources(p.institution_id, now)
        if whole:
            return or_(*(Enterprise.uscc.in_(q) for q in parts))
        probes = [
            q.where(q.selected_columns[0] == Enterprise.uscc).correlate(Enterprise) for q in parts
        ]
        return (
            exists(union_all(*probes).subquery().select()) if len(probes) > 1 else exists(probes[0])
        )
    if p.role == "enterprise_user":
        return Enterprise.uscc == p.uscc
    return true()
