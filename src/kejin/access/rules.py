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

from sqlalchemy import Select, bindparam, literal, select, true, union
from sqlalchemy.orm import Session

from kejin.access.tables import ApiToken, Consent
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


def consent_scope(session: Session, institution_id: str, uscc: str, now: datetime) -> str | None:
    """The widest scope of the firm's live consents to the institution, or None.

    Remembered for the rest of the session (one request), since the gate, the service and the
    level of detail all ask; granting or revoking a consent clears the memo.
    """
    memo = session.info.setdefault(CONSENT_MEMO, {})
    key = (institution_id, uscc)
    if key not in memo:
        memo[key] = _consent_scope(session, institution_id, uscc, now)
    return memo[key]


CONSENT_MEMO = "kejin.consent_scope"


_CONSENT_SCOPES = select(Consent.scope).where(
    Consent.institution_id == bindparam("institution_id"),
    Consent.uscc == bindparam("uscc"),
    Consent.revoked_at.is_(None),
    Consent.expires_at > bindparam("now"),
)


def _consent_scope(session: Session, institution_id: str, uscc: str, now: datetime) -> str | None:
    scopes = set(
        session.connection()
        .execute(_CONSENT_SCOPES, {"institution_id": institution_id, "uscc": uscc, "now": now})
        .scalars()
    )
    if "full" in scopes:
        return "full"
    return "profile" if scopes else None


def pushed_visible(session: Session, institution_id: str, uscc: str, now: datetime) -> bool:
    """Whether any registered source other than consent (the whitelist push) shows the firm."""
    for source in _visibility.values():
        q = source(institution_id, now).subquery()
        col = next(iter(q.c))
        if session.execute(select(literal(1)).where(col == uscc).limit(1)).first():
            return True
    return False


def visible_usccs(institution_id: str, now: datetime) -> Select[Any]:
    """SELECT of every USCC an institution's officers may see (consents ∪ pushes)."""
    parts = [active_consents(institution_id, now)] + [
        src(institution_id, now) for src in _visibility.values()
    ]
    if len(parts) == 1:
        return parts[0]
    u = union(*parts).subquery()
    return select(next(iter(u.c)))


def _firm_visible(session: Session, p: Principal, target: Any, now: datetime) -> bool:
    if p.institution_id is None:
        return False
    return consent_scope(session, p.institution_id, target, now) is not None or pushed_visible(
        session, p.institution_id, target, now
    )


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


def firm_scope(p: Principal, now: datetime) -> Any:
    """A WHERE clause on ``enterprises.uscc`` restricting lists to the principal's tenant."""
    from kejin.registry.tables import Enterprise

    if p.role == "bank_officer":
        assert p.institution_id is not None
        return Enterprise.uscc.in_(visible_usccs(p.institution_id, now))
    if p.role == "enterprise_user":
        return Enterprise.uscc == p.uscc
    return true()
