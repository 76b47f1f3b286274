"""Transactional operations of access: API tokens, consents and the audit log.

Accounts are in :mod:`kejin.access.accounts`, logging in and sessions in
:mod:`kejin.access.sessions`.

Every change writes its audit event in the same transaction; every refusal is a
:class:`~kejin.errors.KejinError` with Chinese and English reasons, so the CLI and the API report
it the same way.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.rules import (
    CONSENT_MEMO,
    TOKEN_SCOPES,
    Principal,
    Unauthenticated,
    authorize,
    rule_for,
)
from kejin.access.settings import get_service_settings
from kejin.access.tables import (
    CONSENT_PURPOSES,
    CONSENT_SCOPES,
    ApiToken,
    AuditEvent,
    Consent,
    User,
)
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution
from kejin.times import day_start_utc

TOKEN_PREFIX = "kj_"
#: The identity used by commands run on the server (migrations, demo accounts).
SYSTEM = Principal(user_id=0, username="system", role="system", via="cli")


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher() -> PasswordHasher:
    s = get_service_settings()
    return _hasher(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)


def log(session: Session, p: Principal, action: str, kind: str, entity: Any, **kw: Any) -> None:
    audit.record(
        session,
        actor=p.username,
        actor_role=p.role,
        action=action,
        entity_kind=kind,
        entity_id=str(entity),
        **kw,
    )


def principal_of(
    user: User, via: str = "session", scopes: frozenset[str] | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        institution_id=user.institution_id,
        uscc=user.uscc,
        via=via,
        scopes=scopes,
        must_change=user.must_change_password,
    )


def named_principal(session: Session, username: str, option: str = "--who") -> Principal:
    """The principal of an active platform user named on the command line: the CLI acts as a
    person (``--who``) through the same services, permissions and audit as the web."""
    u = session.scalar(select(User).where(User.username == username))
    if u is None or not u.active:
        raise Unauthenticated(
            "没有该平台用户（或已停用）",
            "no such active platform user",
            [Problem("用户不存在或已停用", "no such active user", field=option, value=username)],
        )
    return principal_of(u, via="cli")


def user_view(u: User) -> dict[str, Any]:
    """What an account's audit events and the user list show (never the password hash)."""
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "institution_id": u.institution_id,
        "uscc": u.uscc,
        "active": u.active,
        "created_by": u.created_by,
        "approved_by": u.approved_by,
        "approved_at": u.approved_at,
        "must_change_password": u.must_change_password,
    }


# --- API tokens -----------------------------------------------------------------------------


def _sha(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def issue_token(
    session: Session,
    p: Principal,
    *,
    name: str,
    scopes: list[str] | None = None,
    days: int | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Issue a bearer token for the officer's bank system; the secret is returned only here."""
    authorize(session, p, "token.issue")
    now = now or audit.utcnow()
    # Default: every scope the officer's role has a rule for (areas register theirs on import).
    scopes = list(scopes or [sc for sc in TOKEN_SCOPES if rule_for(p.role, sc) is not None])
    days = get_service_settings().token_days if days is None else days
    problems = [
        Problem("令牌不能包含该权限", "a token may not carry this scope", field="scopes", value=sc)
        for sc in scopes
        if sc not in TOKEN_SCOPES or rule_for(p.role, sc) is None
    ]
    if not 1 <= days <= 366:
        problems.append(
            Problem("有效期须为1–366天", "lifetime must be 1–366 days", field="days", value=days)
        )
    if not name.strip() or len(name) > 100:
        problems.append(
            Problem("名称须为1–100字", "name must have 1–100 characters", field="name", value=name)
        )
    if problems:
        raise ValidationError("令牌参数有误", "invalid token request", problems)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    t = ApiToken(
        user_id=p.user_id,
        name=name,
        token_sha256=_sha(secret),
        scopes=" ".join(sorted(set(scopes))),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(t)
    session.flush()
    log(
        session,
        p,
        "token.issue",
        "token",
        t.id,
        after={"name": name, "scopes": t.scopes, "expires_at": t.expires_at},
    )
    return IssuedToken(t, secret)


#: Built once: every bank-system request resolves its token (see registry.profiles on why).
_TOKEN = (
    select(
        ApiToken.scopes,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        User.id,
        User.username,
        User.role,
        User.institution_id,
        User.uscc,
        User.active,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_sha256 == bindparam("sha"))
)


def token_principal(session: Session, raw: str, now: datetime | None = None) -> Principal:
    """Resolve a bearer token; unknown, expired and revoked tokens are refused alike."""
    now = now or audit.utcnow()
    r = session.connection().execute(_TOKEN, {"sha": _sha(raw)}).first()
    if r is None or r.revoked_at is not None or r.expires_at <= now or not r.active:
        raise Unauthenticated("令牌无效、已过期或已撤销", "token unknown, expired or revoked")
    return Principal(
        user_id=r.id,
        username=r.username,
        role=r.role,
        institution_id=r.institution_id,
        uscc=r.uscc,
        via="token",
        scopes=frozenset(r.scopes.split()),
    )


def list_tokens(session: Session, p: Principal) -> list[ApiToken]:
    authorize(session, p, "token.list")
    q = select(ApiToken).order_by(ApiToken.id)
    if p.role != "gov_admin":
        q = q.where(ApiToken.user_id == p.user_id)
    return list(session.scalars(q))


def revoke_token(
    session: Session, p: Principal, token_id: int, now: datetime | None = None
) -> ApiToken:
    authorize(session, p, "token.revoke", token_id)
    t = session.get(ApiToken, token_id)
    if t is None:
        raise NotFoundError(
            "令牌不存在",
            "no such token",
            [Problem("令牌不存在", "no such token", field="token_id", value=token_id)],
        )
    if t.revoked_at is None:
        t.revoked_at = now or audit.utcnow()
        log(
            session,
            p,
            "token.revoke",
            "token",
            t.id,
            before={"revoked_at": None},
            after={"revoked_at": t.revoked_at},
        )
    return t


# --- consents -------------------------------------------------------------------------------


def consent_view(c: Consent, now: datetime | None = None) -> dict[str, Any]:
    now = now or audit.utcnow()
    return {
        "id": c.id,
        "uscc": c.uscc,
        "institution_id": c.institution_id,
        "purpose": c.purpose,
        "scope": c.scope,
        "granted_at": c.granted_at,
        "expires_at": c.expires_at,
        "revoked_at": c.revoked_at,
        "need_id": c.need_id,
        "active": c.revoked_at is None and c.expires_at > now,
    }


def grant_consent(
    session: Session,
    p: Principal,
    *,
    uscc: str,
    institution_id: str,
    purpose: str,
    scope: str,
    expires_at: datetime,
    now: datetime | None = None,
    need_id: int | None = None,
) -> Consent:
    """The enterprise opens its data to one institution for a purpose, a scope and a period
    (``need_id``: for one financing need, revoked with it — :mod:`kejin.matching.service`)."""
    authorize(session, p, "consent.grant", uscc)
    session.info.pop(CONSENT_MEMO, None)
    now = now or audit.utcnow()
    problems: list[Problem] = []
    if session.get(Institution, institution_id) is None:
        problems.append(
            Problem(
                "机构不存在", "no such institution", field="institution_id", value=institution_id
            )
        )
    if purpose not in CONSENT_PURPOSES:
        problems.append(Problem("未知用途", "unknown purpose", field="purpose", value=purpose))
    if scope not in CONSENT_SCOPES:
        problems.append(Problem("未知范围", "unknown scope", field="scope", value=scope))
    if expires_at <= now:
        problems.append(
            Problem(
                "到期时间须晚于现在",
                "expiry must be in the future",
                field="expires_at",
                value=expires_at.isoformat(),
            )
        )
    elif expires_at > now + timedelta(days=3 * 366):
        problems.append(
            Problem(
                "授权期限最长3年",
                "a consent lasts at most 3 years",
                field="expires_at",
                value=expires_at.isoformat(),
            )
        )
    if problems:
        raise ValidationError("授权信息有误", "invalid consent", problems)
    c = Consent(
        uscc=uscc,
        institution_id=institution_id,
        purpose=purpose,
        scope=scope,
        granted_by=p.user_id,
        granted_at=now,
        expires_at=expires_at,
        need_id=need_id,
    )
    session.add(c)
    session.flush()
    log(session, p, "consent.grant", "consent", c.id, after=consent_view(c, now))
    return c


def revoke_consent(
    session: Session, p: Principal, consent_id: int, now: datetime | None = None
) -> Consent:
    authorize(session, p, "consent.revoke", consent_id)
    c = session.get(Consent, consent_id)
    if c is None:
        raise NotFoundError(
            "授权不存在",
            "no such consent",
            [Problem("授权不存在", "no such consent", field="consent_id", value=consent_id)],
        )
    now = now or audit.utcnow()
    session.info.pop(CONSENT_MEMO, None)
    if c.revoked_at is None:
        before = consent_view(c, now)
        c.revoked_at = now
        c.revoked_by = p.user_id
        log(
            session, p, "consent.revoke", "consent", c.id, before=before, after=consent_view(c, now)
        )
    return c


def list_consents(session: Session, p: Principal) -> list[Consent]:
    authorize(session, p, "consent.list")
    q = select(Consent).order_by(Consent.id.desc())
    if p.role == "enterprise_user":
        q = q.where(Consent.uscc == p.uscc)
    elif p.role in ("bank_officer", "investor"):
        q = q.where(Consent.institution_id == p.institution_id)
    return list(session.scalars(q))


def _audit_where(
    actor: str | None,
    action: str | None,
    action_prefix: str | None,
    entity_kind: str | None,
    entity_id: str | None,
    since: date | None,
    until: date | None,
) -> list[Any]:
    """The WHERE of an audit query: exact fields, an action prefix (``fund.`` for every fund
    act), and a date range of whole days, both ends included."""
    if since is not None and until is not None and since > until:
        raise ValidationError(
            "起始日期晚于截止日期",
            "the start date is after the end date",
            [Problem("起始日期晚于截止日期", "start after end", field="since", value=str(since))],
        )
    conds: list[Any] = []
    for col, val in (
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.entity_kind, entity_kind),
        (AuditEvent.entity_id, entity_id),
    ):
        if val is not None:
            conds.append(col == val)
    if action_prefix:
        esc = action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(AuditEvent.action.like(esc + "%", escape="\\"))
    if since is not None:
        conds.append(AuditEvent.at >= day_start_utc(since))
    if until is not None:
        conds.append(AuditEvent.at < day_start_utc(until + timedelta(days=1)))
    return conds


def query_audit(
    session: Session,
    p: Principal,
    *,
    actor: str | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    entity_kind: str | None = None,
    entity_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest events first, filtered; reading the log is itself an audited act."""
    authorize(session, p, "audit.read")
    if not 1 <= limit <= 500:
        raise ValidationError(
            "每页1–500条",
            "limit must be 1–500",
            [Problem("每页1–500条", "limit must be 1–500", field="limit", value=limit)],
        )
    conds = _audit_where(actor, action, action_prefix, entity_kind, entity_id, since, until)
    q = select(AuditEvent).where(*conds).order_by(AuditEvent.seq.desc()).limit(limit)
    if before_seq is not None:
        q = q.where(AuditEvent.seq < before_seq)
    rows = list(session.scalars(q))
    filters = {
        "actor": actor,
        "action": action,
        "action_prefix": action_prefix,
        "entity_kind": entity_kind,
        "entity_id": entity_id,
        "since": since and since.isoformat(),
        "until": until and until.isoformat(),
    }
    log(
        session,
        p,
        "audit.read",
        "audit_log",
        "query",
        detail={k: v for k, v in filters.items() if v},
    )
    return rows


def export_audit(
    session: Session,
    p: Principal,
    write: Callable[[AuditEvent], None],
    *,
    actor: str | None = None,
    action_prefix: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> int:
    """Every event matching the filters, oldest first, into ``write``; the export is itself
    audited (one event naming the filters, the rows and the last sequence number it held)."""
    authorize(session, p, "audit.export")
    conds = _audit_where(actor, None, action_prefix, None, None, since, until)
    n, last = 0, None
    for e in session.scalars(
        select(AuditEvent).where(*conds).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    ):
        write(e)
        n, last = n + 1, e.seq
    filters = {
        "actor": actor,
        "action_prefix": action_prefix,
        "since": since and since.isoformat(),
        "until": until and until.isoformat(),
    }
    log(
        session,
        p,
        "audit.export",
        "audit_log",
        "export",
        detail={**{k: v for k, v in filters.items() if v}, "rows": n, "last_seq": last},
    )
    return n


def list_users(session: Session, p: Principal) -> list[User]:
    authorize(session, p, "user.list")
    return list(session.scalars(select(User).order_by(User.id)))
