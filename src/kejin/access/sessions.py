"""Logging in and staying logged in: the login throttles and server-side sessions.

Two throttles guard the password check, both counted in the database so that every worker
process sees the same counts, and both counted *before* the password is checked, by one atomic
statement each (an upsert or an UPDATE … RETURNING, on SQLite and PostgreSQL alike). Reading a
counter, checking the password and writing the counter back let 40 parallel guesses all be
checked against a counter that never reached the limit.

* Per client address: more than ``login_client_max_failures`` attempts in a window and the
  address is refused until the window ends. A correct password gives its own attempt back.
* Per account: more than ``login_max_failures`` attempts in a row and the account is locked for
  ``login_lock_seconds``. The client limit is below it, so one address alone cannot lock someone
  else's account; many addresses together still can — the price of stopping a distributed guess.

The password is checked between two short transactions, never inside one: on SQLite a write
transaction held through Argon2 would stop every other writer, on PostgreSQL it would queue
parallel logins on the row lock.

A session is a row of ``user_sessions``; the signed cookie carries only its random id. Logout,
a password change and deactivation revoke rows, so an old cookie stops working at once.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, bindparam, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kejin.access import audit
from kejin.access.rules import Principal, Throttled, Unauthenticated
from kejin.access.service import _sha, hasher, log
from kejin.access.settings import get_service_settings
from kejin.access.tables import LoginClient, User, UserSession
from kejin.db import transaction
from kejin.errors import KejinError, Problem

#: Key of the session id in the signed cookie.
SID = "sid"
#: ``last_seen_at`` is written at most this often per session (a write per request would cost
#: more than the lookup it accompanies).
TOUCH = timedelta(minutes=1)
BAD_LOGIN = ("用户名或密码错误", "wrong username or password")
ANONYMOUS = Principal(user_id=0, username="anonymous", role="anonymous")


@dataclass(frozen=True)
class _Attempt:
    """A counted attempt: whose, which of the account's attempts in a row, the stored hash."""

    user_id: int | None
    username: str
    role: str
    password_hash: str | None
    count: int


def client_key(host: str | None) -> str:
    """The throttle's key for a client address (as the server believes it: see trusted_proxies)."""
    return (host or "unknown")[:64]


def login(
    engine: Engine, username: str, password: str, client: str, now: datetime | None = None
) -> tuple[User, str]:
    """Check a password under both throttles; return the user and a new session's id.

    Each step commits before it answers: a refused or failed attempt stays counted and audited
    although the caller sees an error.
    """
    now = now or audit.utcnow()
    with transaction(engine) as s:
        attempt = _count(s, username, client, now)
    if isinstance(attempt, KejinError):
        raise attempt
    ok = _verify(attempt.password_hash, password)
    with transaction(engine) as s:
        result = _record(s, attempt, ok, password, client, now)
    if isinstance(result, KejinError):
        raise result
    return result


def _throttled(zh: str, en: str, field: str, until: datetime) -> Throttled:
    return Throttled(
        zh,
        en,
        [
            Problem(
                "请稍后再试", "try again later", field=field, value=until.isoformat("T", "seconds")
            )
        ],
    )


def _client_upsert(
    s: Session, client: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """Count one attempt of ``client`` atomically; a window older than ``window`` starts anew."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stale = LoginClient.window_start <= now - window
    stmt = (
        dialect.insert(LoginClient)
        .values(client=client, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[LoginClient.client],
            set_={
                "failures": case((stale, 1), else_=LoginClient.failures + 1),
                "window_start": case((stale, now), else_=LoginClient.window_start),
            },
        )
        .returning(LoginClient.failures, LoginClient.window_start)
    )
    row = s.execute(stmt).one()
    return row.failures, row.window_start


def _count(s: Session, username: str, client: str, now: datetime) -> _Attempt | KejinError:
    cfg = get_service_settings()
    window = timedelta(seconds=cfg.login_client_window_seconds)
    tries, since = _client_upsert(s, client, now, window)
    if tries > cfg.login_client_max_failures:
        log(
            s,
            ANONYMOUS,
            "auth.refused_client",
            "login_client",
            client,
            detail={"username": username},
        )
        return _throttled(
            "此地址登录失败次数过多，请稍后再试",
            "too many failed logins from this address; try again later",
            "client",
            since + window,
        )
    u = s.execute(
        select(User.id, User.role, User.password_hash, User.active, User.approved_at).where(
            User.username == username
        )
    ).first()
    if u is None or not u.active or u.approved_at is None:
        return _Attempt(None, username, "anonymous", None, 0)
    who = Principal(user_id=u.id, username=username, role=u.role)
    n = s.execute(
        update(User)
        .where(User.id == u.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()
    if n is None or n > cfg.login_max_failures:
        if n is None:
            log(s, who, "auth.refused_locked", "user", username)
        else:  # parallel attempts went past the limit before any of them failed
            lock_account(s, who, now)
        until = s.scalar(select(User.locked_until).where(User.id == u.id))
        assert until is not None
        return _throttled(
            "登录失败次数过多，账户暂时锁定",
            "too many failed logins; the account is locked for a while",
            "locked_until",
            until,
        )
    return _Attempt(u.id, username, u.role, u.password_hash, n)


def lock_account(s: Session, who: Principal, now: datetime) -> None:
    """Lock the account for ``login_lock_seconds`` (too many wrong passwords, at login or at a
    password change)."""
    until = now + timedelta(seconds=get_service_settings().login_lock_seconds)
    s.execute(
        update(User)
        .where(User.id == who.user_id)
        .values(locked_until=until, failed_logins=0)
        .execution_options(synchronize_session=False)
    )
    log(s, who, "auth.locked", "user", who.username)


_DUMMY_HASH: str | None = None


def _verify(password_hash: str | None, password: str) -> bool:
    """Argon2 check; an unknown user costs the same time as a wrong password (no enumeration)."""
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hasher().hash(secrets.token_hex(16))
        with contextlib.suppress(VerificationError):
            hasher().verify(_DUMMY_HASH, password)
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _record(
    s: Session, a: _Attempt, ok: bool, password: str, client: str, now: datetime
) -> tuple[User, str] | KejinError:
    if a.user_id is None:
        return Unauthenticated(*BAD_LOGIN)
    who = Principal(user_id=a.user_id, username=a.username, role=a.role)
    if not ok:
        if a.count >= get_service_settings().login_max_failures:
            lock_account(s, who, now)
        else:
            log(s, who, "auth.login_failed", "user", a.username)
        return Unauthenticated(*BAD_LOGIN)
    u = s.get(User, a.user_id)
    assert u is not None
    if hasher().check_needs_rehash(u.password_hash):
        u.password_hash = hasher().hash(password)
    u.failed_logins = 0  # the lock, if a parallel attempt set one meanwhile, stays
    # The correct password gives its own counted attempt back to the client.
    s.execute(
        update(LoginClient)
        .where(LoginClient.client == client, LoginClient.failures > 0)
        .values(failures=LoginClient.failures - 1)
        .execution_options(synchronize_session=False)
    )
    log(s, who, "auth.login", "user", a.username)
    return u, open_session(s, u.id, now)


def open_session(s: Session, user_id: int, now: datetime) -> str:
    """A new session row; returns its id, which only the cookie keeps."""
    raw = secrets.token_urlsafe(32)
    hours = get_service_settings().session_hours
    s.add(
        UserSession(
            id_sha256=_sha(raw),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    s.flush()
    return raw


#: Built once: every request of a person resolves its session (one indexed lookup).
_SESSION = (
    select(
        UserSession.expires_at,
        UserSession.revoked_at,
        UserSession.last_seen_at,
        User.id,
        User.username,
        User.role,
        User.institution_id,
        User.uscc,
        User.active,
        User.must_change_password,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id_sha256 == bindparam("sha"))
)


def session_principal(
    s: Session, raw: str, *, touch: bool = True, now: datetime | None = None
) -> Principal:
    """The person of a live session; revoked, expired and deactivated ones are refused alike.

    ``touch`` refreshes ``last_seen_at`` when it is over a minute old; read-only connections
    (request units on PostgreSQL) pass False.
    """
    now = now or audit.utcnow()
    sha = _sha(raw)
    r = s.connection().execute(_SESSION, {"sha": sha}).first()
    if r is None or r.revoked_at is not None or r.expires_at <= now or not r.active:
        raise Unauthenticated("会话无效，请重新登录", "session no longer valid; log in again")
    if touch and now - r.last_seen_at > TOUCH:
        s.connection().execute(
            update(UserSession.__table__)
            .where(UserSession.id_sha256 == sha)
            .values(last_seen_at=now)
        )
    return Principal(
        user_id=r.id,
        username=r.username,
        role=r.role,
        institution_id=r.institution_id,
        uscc=r.uscc,
        via="session",
        must_change=r.must_change_password,
    )


def logout(s: Session, raw: str, now: datetime | None = None) -> None:
    """End one session and record it; a session already ended is left as it is."""
    uid = s.execute(
        update(UserSession)
        .where(UserSession.id_sha256 == _sha(raw), UserSession.revoked_at.is_(None))
        .values(revoked_at=now or audit.utcnow())
        .returning(UserSession.user_id)
        .execution_options(synchronize_session=False)
    ).scalar()
    u = s.get(User, uid) if uid is not None else None
    if u is not None:
        log(
            s,
            Principal(user_id=u.id, username=u.username, role=u.role),
            "auth.logout",
            "user",
            u.username,
        )


def revoke_user_sessions(
    s: Session, user_id: int, now: datetime | None = None, keep: str | None = None
) -> int:
    """End every live session of a user but ``keep`` (a raw id); returns how many ended."""
    q = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        q = q.where(UserSession.id_sha256 != _sha(keep))
    res = s.execute(
        q.values(revoked_at=now or audit.utcnow()).execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
