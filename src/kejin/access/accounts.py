"""Accounts: creation with a second person for privileged roles, passwords, deactivation.

One government administrator used to satisfy maker-checker alone: create a second government
account with a password of their choosing, then publish and approve as that account. Hence:

* A privileged account (:data:`~kejin.access.tables.PRIVILEGED_ROLES`) is created *pending*, with
  no password anyone knows. It becomes usable only when another government user approves it
  (:func:`approve_user`); the approval issues its first password to the approver, to hand to the
  person — the creator never learns it.
* Every password chosen by someone other than the account's owner (at creation, at approval, at
  a reset) must be changed at first login; until then the account can do nothing but change it
  (:data:`kejin.access.rules.FIRST_LOGIN_ACTIONS`).
* The server's operator (:data:`~kejin.access.service.SYSTEM`, who can reach the database anyway)
  may skip the approval with an explicit, audited exemption: ``bootstrap`` for the first
  administrators of a new installation, ``demo`` for ``kejin demo-accounts`` (whose random
  passwords are printed for the demo, so they need no change either).

Passwords must be at least :data:`MIN_PASSWORD` long and not guessable by zxcvbn (score
:data:`MIN_SCORE`): its shipped lists of common passwords, words and names, and its detection of
repeats, sequences, keyboard patterns and dates, plus the username itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from kejin.access import audit
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.access.service import hasher, log, user_view
from kejin.access.sessions import lock_account, revoke_user_sessions
from kejin.access.settings import get_service_settings
from kejin.access.tables import PRIVILEGED_ROLES, ROLES, User
from kejin.db import transaction
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution
from kejin.registry.tables import Enterprise

MIN_PASSWORD = 12
#: zxcvbn's "safely unguessable" level: about 10^10 guesses (0–4 scale).
MIN_SCORE = 3
#: zxcvbn looks at this many characters (its own bound: it is quadratic in the length).
ZXCVBN_CHARS = 72
#: Reasons the server's operator may create a privileged account without a second person.
EXEMPTIONS = {
    "bootstrap": ("首批管理员（服务器操作员）", "first administrators (server operator)"),
    "demo": ("演示账户", "demo accounts"),
}


def password_problems(password: str, username: str, field: str = "password") -> list[Problem]:
    """Why ``password`` is refused for ``username`` (empty when it is acceptable).

    >>> [p.field for p in password_problems("short", "li")]
    ['password']
    >>> password_problems("correct-horse-battery-staple", "li")
    []
    >>> len(password_problems("li-wei-correct-horse", "li-wei"))
    1
    """
    if len(password) < MIN_PASSWORD:
        return [
            Problem(
                f"密码至少{MIN_PASSWORD}位",
                f"password must have at least {MIN_PASSWORD} characters",
                field=field,
            )
        ]
    if username and username.lower() in password.lower():
        return [
            Problem("密码不能包含用户名", "password must not contain the username", field=field)
        ]
    r = zxcvbn(password[:ZXCVBN_CHARS], user_inputs=[username])
    if r["score"] < MIN_SCORE:
        hint = r["feedback"]["warning"] or "it is easy to guess"
        return [
            Problem(
                "密码太容易被猜到（常见密码、单词、重复或连续字符、键盘序列或日期）",
                f"password is too easy to guess: {hint}",
                field=field,
            )
        ]
    return []


def username_problems(username: str) -> list[Problem]:
    """Why ``username`` cannot name an account (empty when it can).

    >>> username_problems("li-wei_2"), [p.field for p in username_problems("李 伟")]
    ([], ['username'])
    """
    if (
        not username
        or len(username) > 60
        or not username.replace("_", "").replace("-", "").replace(".", "").isascii()
        or not username.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        return [
            Problem(
                "用户名须为1–60位字母、数字、_-.",
                "username must be 1–60 letters, digits or _-.",
                field="username",
                value=username,
            )
        ]
    return []


def _tenant_problems(
    s: Session, role: str, institution_id: str | None, uscc: str | None
) -> list[Problem]:
    problems: list[Problem] = []
    if role == "bank_officer":
        if not institution_id or s.get(Institution, institution_id) is None:
            problems.append(
                Problem(
                    "银行用户须指定已登记的机构",
                    "a bank officer needs a registered institution",
                    field="institution_id",
                    value=institution_id,
                )
            )
    elif role == "investor":
        inst = s.get(Institution, institution_id) if institution_id else None
        if inst is None or inst.kind != "vc_fund":
            problems.append(
                Problem(
                    "投资机构用户须指定已登记的投资机构（创投基金）",
                    "an investor needs a registered investor institution (venture fund)",
                    field="institution_id",
                    value=institution_id,
                )
            )
    elif institution_id is not None:
        problems.append(
            Problem(
                "仅银行与投资机构用户可指定机构",
                "only bank officers and investors have an institution",
                field="institution_id",
                value=institution_id,
            )
        )
    if role == "enterprise_user":
        if not uscc or s.get(Enterprise, uscc) is None:
            problems.append(
                Problem(
                    "企业用户须指定已登记的企业",
                    "an enterprise user needs a registered firm",
                    field="uscc",
                    value=uscc,
                )
            )
    elif uscc is not None:
        problems.append(
            Problem(
                "仅企业用户可指定企业",
                "only enterprise users have a USCC",
                field="uscc",
                value=uscc,
            )
        )
    return problems


def create_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str | None = None,
    institution_id: str | None = None,
    uscc: str | None = None,
    exemption: str | None = None,
) -> User:
    """Create an account: pending approval if privileged, otherwise with a first password.

    Refuses a role without its tenant or a tenant that does not exist, a password for a pending
    account (its first password comes from the approver), and an exemption not claimed by the
    server's operator.
    """
    now = audit.utcnow()
    problems: list[Problem] = []
    if role not in ROLES:
        problems.append(Problem("未知角色", "unknown role", field="role", value=role))
    problems += username_problems(username)
    if exemption is not None and (exemption not in EXEMPTIONS or actor.role != "system"):
        problems.append(
            Problem(
                "仅服务器操作员可免除第二人批准（bootstrap 或 demo）",
                "only the server's operator may skip the second person (bootstrap or demo)",
                field="exemption",
                value=exemption,
            )
        )
    pending = role in PRIVILEGED_ROLES and exemption is None
    if pending and password is not None:
        problems.append(
            Problem(
                "特权账户的初始密码由批准人签发，创建人不设密码",
                "a privileged account gets its first password from its approver, not its creator",
                field="password",
            )
        )
    elif not pending:
        if password is None:
            problems.append(
                Problem("请设置初始密码", "a first password is required", field="password")
            )
        else:
            problems += password_problems(password, username)
    problems += _tenant_problems(session, role, institution_id, uscc)
    if problems:
        raise ValidationError("用户信息有误", "invalid user", problems)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(
            "用户名已存在",
            "username already exists",
            [Problem("用户名已存在", "username already exists", field="username", value=username)],
        )
    u = User(
        username=username,
        display_name=display_name or username,
        role=role,
        institution_id=institution_id,
        uscc=uscc,
        # A pending account's hash is of a secret nobody is told: it cannot be logged into.
        password_hash=hasher().hash(password if password is not None else secrets.token_hex(32)),
        active=True,
        created_at=now,
        failed_logins=0,
        created_by=actor.username,
        approved_by=None if pending else actor.username,
        approved_at=None if pending else now,
        must_change_password=exemption != "demo",
    )
    session.add(u)
    session.flush()
    detail = {"pending": pending} | ({"exemption": exemption} if exemption else {})
    log(session, actor, "user.create", "user", u.username, after=user_view(u), detail=detail)
    return u


def _user(session: Session, user_id: int) -> User:
    u = session.get(User, user_id)
    if u is None:
        raise NotFoundError(
            "用户不存在",
            "no such user",
            [Problem("用户不存在", "no such user", field="user_id", value=user_id)],
        )
    return u


@dataclass(frozen=True)
class IssuedPassword:
    user: User
    password: str  # shown once, to the approver, never stored


def approve_user(
    session: Session, actor: Principal, user_id: int, now: datetime | None = None
) -> IssuedPassword:
    """The second person: make a pending privileged account usable and issue its first password.

    The creator cannot approve (one person would again be two accounts); the password is new,
    so the creator, who never knew one, still does not.
    """
    authorize(session, actor, "user.approve", user_id)
    u = _user(session, user_id)
    if u.approved_at is not None:
        raise ConflictError(
            "该账户无需批准（已批准）",
            "the account is already approved",
            [Problem("已批准", "already approved", field="user_id", value=user_id)],
        )
    if u.created_by == actor.username:
        raise Forbidden(
            "创建人不能批准自己创建的账户，须由另一名政府用户批准",
            "the creator cannot approve the account; another government user must",
            [
                Problem(
                    "须由第二人批准", "a second person must approve", field="user_id", value=user_id
                )
            ],
        )
    now = now or audit.utcnow()
    password = secrets.token_urlsafe(12)
    before = user_view(u)
    u.approved_by, u.approved_at = actor.username, now
    u.password_hash = hasher().hash(password)
    u.must_change_password = True
    log(session, actor, "user.approve", "user", u.username, before=before, after=user_view(u))
    return IssuedPassword(u, password)


def change_password(
    session: Session,
    p: Principal,
    *,
    current: str,
    new: str,
    keep_session: str | None = None,
    now: datetime | None = None,
) -> User:
    """The owner replaces their password; every other session of theirs ends.

    Needs the current password, so that a session left open on someone else's screen is not
    enough to take the account over.
    """
    authorize(session, p, "self.password")
    u = _user(session, p.user_id)
    try:
        current_ok = hasher().verify(u.password_hash, current)
    except (VerificationError, InvalidHashError):
        current_ok = False
    problems = []
    if not current_ok:
        _wrong_current(session, p, now or audit.utcnow())
        problems.append(
            Problem("当前密码不正确", "the current password is wrong", field="current_password")
        )
    problems += password_problems(new, u.username, field="new_password")
    if current_ok and not problems and new == current:
        problems.append(
            Problem("新密码须与当前密码不同", "the new password must differ", field="new_password")
        )
    if problems:
        raise ValidationError("无法修改密码", "password not changed", problems)
    now = now or audit.utcnow()
    u.password_hash = hasher().hash(new)
    u.must_change_password = False
    u.failed_logins = 0
    u.password_changed_at = now
    ended = revoke_user_sessions(session, u.id, now, keep=keep_session)
    log(session, p, "user.password_change", "user", u.username, detail={"sessions_ended": ended})
    return u


def _wrong_current(session: Session, p: Principal, now: datetime) -> None:
    """A wrong current password counts as a failed login of the account, committed on its own.

    Whoever holds a session (a screen left open, a stolen cookie) could otherwise guess the
    current password without limit: the refusal rolls the request back, so the count and its
    audit record are written in a transaction of their own. At the login limit the account is
    locked and every one of its sessions ends, the guesser's included.
    """
    # Our own transaction must not wait on the chain lock the caller's would hold until it ends.
    assert session.info.get(audit.LOCKED) is not session.get_transaction(), "audit lock held"
    with transaction(session.get_bind()) as own:  # type: ignore[arg-type]
        n = own.execute(
            update(User)
            .where(User.id == p.user_id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        log(own, p, "user.password_change_refused", "user", p.username, detail={"failures": n})
        if n >= get_service_settings().login_max_failures:
            lock_account(own, p, now)
            revoke_user_sessions(own, p.user_id, now)


def reset_password(
    session: Session, actor: Principal, u: User, password: str, *, must_change: bool = True
) -> None:
    """Someone other than the owner sets a password (``kejin demo-accounts`` re-runs): the
    owner's sessions end, and unless told otherwise the owner must change it at first login."""
    now = audit.utcnow()
    u.password_hash = hasher().hash(password)
    u.must_change_password = must_change
    u.failed_logins, u.locked_until = 0, None
    ended = revoke_user_sessions(session, u.id, now)
    log(
        session,
        actor,
        "user.reset_password",
        "user",
        u.username,
        detail={"sessions_ended": ended, "must_change": must_change},
    )


def deactivate_user(
    session: Session, actor: Principal, user_id: int, now: datetime | None = None
) -> User:
    """Switch an account off; its sessions end now, its tokens stop with it (they check
    ``active``)."""
    authorize(session, actor, "user.deactivate", user_id)
    u = _user(session, user_id)
    if u.id == actor.user_id:
        # The last administrator switching themself off would leave nobody to switch anyone on.
        raise ConflictError(
            "不能停用自己的账户",
            "you cannot deactivate your own account",
            [Problem("不能停用自己", "not your own account", field="user_id", value=user_id)],
        )
    if u.active:
        now = now or audit.utcnow()
        before = user_view(u)
        u.active = False
        ended = revoke_user_sessions(session, u.id, now)
        log(
            session,
            actor,
            "user.deactivate",
            "user",
            u.username,
            before=before,
            after=user_view(u),
            detail={"sessions_ended": ended},
        )
    return u
