"""A firm registers itself: an enterprise account by USCC, confirmed by the firm's legal
representative and approved by the government.

Without SMS (and without the e-business licence 电子营业执照 a production installation would
use), the platform cannot prove who is at the keyboard; what it can do is make each claim a
recorded act of a named person, and put a government officer between the claims and an account:

1. **The applicant applies** (no account needed): the firm's USCC (GB 32100 check character and
   the registry), the firm's name as registered, the legal representative's name as registered,
   the applicant's own name and phone, the username wanted, and the authorisation letter
   (授权委托书, signed by the legal representative and sealed) as a PDF or image. The platform
   answers with the request number and a one-time confirmation code for the legal
   representative, shown once and kept only as a SHA-256 digest, valid for
   :data:`CODE_DAYS` days. The applicant hands code and number to the legal representative.
2. **The legal representative confirms** on the confirmation page with the number, the code and
   their own name as the applicant gave it. A wrong or expired code, or another name, is refused.
3. **A government user reviews** the queue — the letter, the names against the business
   register (国家企业信用信息公示系统: the platform's registry holds no legal representative) —
   and approves, or declines with a reason. Approval is possible only once the legal
   representative has confirmed; it creates the enterprise account through
   :func:`kejin.access.accounts.create_user` with a random first password issued to the
   approver to hand over, which must be changed at first login.

Maker-checker: the applicant makes the request, the legal representative (the firm's second
person) confirms it, and a government user — never a party to the request — decides; a request
is decided once. Every step is audited: the applicant's and the representative's steps under
the actor ``registration#N`` (they have no account yet), the decision under the officer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kejin.access import accounts, audit
from kejin.access.rules import READERS, Principal, Rule, add_rules, authorize
from kejin.access.service import log
from kejin.access.tables import RegistrationRequest, User
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.ids import check_uscc, normalize_uscc
from kejin.registry.tables import Enterprise

add_rules(
    [
        *(Rule("registration.list", r, "region") for r in READERS),
        *(Rule("registration.letter", r, "region") for r in READERS),
        Rule("registration.decide", "gov_admin", "region"),
        Rule("registration.decide", "gov_reviewer", "region"),
    ]
)

#: How long the legal representative's confirmation code stays valid.
CODE_DAYS = 7
#: The authorisation letter: a scan or photo, at most this size.
LETTER_MAX = 5 * 1024 * 1024
LETTER_KINDS = {b"%PDF": ".pdf", b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg"}
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
OPEN = ("awaiting_confirmation", "awaiting_review")


def _actor(request_id: int) -> Principal:
    """Who the applicant's and the representative's steps are recorded as: they have no account."""
    return Principal(user_id=0, username=f"registration#{request_id}", role="applicant", via="web")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def letter_kind(data: bytes) -> str | None:
    return next((ext for magic, ext in LETTER_KINDS.items() if data.startswith(magic)), None)


@dataclass(frozen=True)
class Application:
    uscc: str
    firm_name: str
    legal_rep: str
    applicant: str
    applicant_phone: str
    username: str
    letter_name: str
    letter: bytes


@dataclass(frozen=True)
class Submitted:
    request: RegistrationRequest
    code: str  # shown once, to the applicant, for the legal representative; never stored


def _same_name(a: str, b: str) -> bool:
    """Names compared as a clerk would: spaces and bracket widths do not matter."""

    def norm(x: str) -> str:
        return re.sub(r"\s+", "", x).replace("（", "(").replace("）", ")")

    return norm(a) == norm(b)


def submit(session: Session, app: Application, now: datetime | None = None) -> Submitted:
    """Record an application and issue the legal representative's one-time code.

    Every problem with the form is reported at once (field by field, in both languages); a
    firm with an open request, or already with an account, is refused as a conflict.
    """
    now = now or audit.utcnow()
    problems: list[Problem] = []
    check = check_uscc(app.uscc)
    code = normalize_uscc(app.uscc)
    firm = None
    if not check.valid:
        problems.append(
            Problem(
                f"统一社会信用代码有误：{check.reason_zh}",
                f"invalid USCC: {check.reason_en}",
                field="uscc",
                value=app.uscc,
            )
        )
    else:
        firm = session.get(Enterprise, code)
        if firm is None:
            problems.append(
                Problem(
                    "登记库中没有该统一社会信用代码的企业，请核对，或先由政府部门导入该企业",
                    "no firm with this USCC in the registry: check it, or ask the government to "
                    "import the firm first",
                    field="uscc",
                    value=code,
                )
            )
    if not app.firm_name.strip():
        problems.append(Problem("请填写企业名称", "enter the firm's name", field="firm_name"))
    elif firm is not None and not _same_name(app.firm_name, firm.name):
        problems.append(
            Problem(
                "企业名称与登记名称不一致（请按营业执照上的名称填写）",
                "the firm name differs from the registered name (write it as on the business "
                "licence)",
                field="firm_name",
                value=app.firm_name,
            )
        )
    for field, zh, en in (
        ("legal_rep", "请填写法定代表人姓名（与营业执照一致）", "enter the legal representative's name (as on the business licence)"),
        ("applicant", "请填写经办人姓名", "enter your name"),
    ):  # fmt: skip
        value = getattr(app, field).strip()
        if not value or len(value) > 60:
            problems.append(Problem(zh, en, field=field, value=value or None))
    if not PHONE.match(app.applicant_phone.strip()):
        problems.append(
            Problem(
                "请填写有效的手机号或座机号（如 13812345678、0518-85551234）",
                "enter a valid mobile or landline number (e.g. 13812345678, 0518-85551234)",
                field="applicant_phone",
                value=app.applicant_phone or None,
            )
        )
    if not app.letter:
        problems.append(
            Problem(
                "请上传法定代表人签字并加盖公章的授权委托书（PDF、PNG 或 JPG）",
                "upload the authorisation letter signed by the legal representative and sealed "
                "(PDF, PNG or JPG)",
                field="letter",
            )
        )
    elif len(app.letter) > LETTER_MAX:
        problems.append(
            Problem(
                f"授权委托书不能超过 {LETTER_MAX // 1024 // 1024} MB",
                f"the authorisation letter must be at most {LETTER_MAX // 1024 // 1024} MB",
                field="letter",
                value=app.letter_name,
            )
        )
    elif letter_kind(app.letter) is None:
        problems.append(
            Problem(
                "授权委托书须为 PDF、PNG 或 JPG 文件",
                "the authorisation letter must be a PDF, PNG or JPG file",
                field="letter",
                value=app.letter_name,
            )
        )
    problems += accounts.username_problems(app.username)
    if problems:
        raise ValidationError("注册申请有误", "the registration form has errors", problems)
    if session.scalar(select(User.id).where(User.username == app.username)) is not None:
        raise ConflictError(
            "该用户名已被使用，请换一个",
            "this username is taken: choose another",
            [Problem("用户名已存在", "username taken", field="username", value=app.username)],
        )
    if session.scalar(
        select(User.id).where(User.uscc == code, User.role == "enterprise_user", User.active)
    ):
        raise ConflictError(
            "该企业已有平台账户：请联系本企业的账户使用人，或联系科技局重置",
            "the firm already has an account: ask its holder, or the science bureau to reset it",
            [Problem("已有账户", "already has an account", field="uscc", value=code)],
        )
    pending = session.scalar(
        select(RegistrationRequest.id).where(
            RegistrationRequest.uscc == code, RegistrationRequest.status.in_(OPEN)
        )
    )
    if pending is not None:
        raise _duplicate(code, pending)
    secret = f"{secrets.randbelow(10**8):08d}"
    req = RegistrationRequest(
        uscc=code,
        firm_name=app.firm_name.strip(),
        legal_rep=app.legal_rep.strip(),
        applicant=app.applicant.strip(),
        applicant_phone=app.applicant_phone.strip(),
        username=app.username,
        letter_name=app.letter_name[-200:] or "letter",
        letter_sha256=hashlib.sha256(app.letter).hexdigest(),
        letter=app.letter,
        code_sha256=_digest(secret),
        code_expires_at=now + timedelta(days=CODE_DAYS),
        status="awaiting_confirmation",
        submitted_at=now,
    )
    try:
        with session.begin_nested():
            session.add(req)
            session.flush()
    except IntegrityError:  # another request for the firm won the race
        raise _duplicate(code, None) from None
    log(
        session,
        _actor(req.id),
        "registration.submit",
        "registration",
        req.id,
        after=view(req),
        detail={"uscc": code, "letter_sha256": req.letter_sha256},
    )
    return Submitted(req, secret)


def _duplicate(code: str, pending: int | None) -> ConflictError:
    return ConflictError(
        "该企业已有一份待处理的注册申请，请等待其处理结果（或由法定代表人完成确认）",
        "the firm already has a registration request being processed: wait for its outcome "
        "(or have the legal representative confirm it)",
        [Problem("已有待处理申请", "a request is pending", field="uscc", value=pending or code)],
    )


def _get(session: Session, request_id: int) -> RegistrationRequest:
    req = session.get(RegistrationRequest, request_id)
    if req is None:
        raise NotFoundError(
            "没有该注册申请",
            "no such registration request",
            [Problem("不存在", "not found", field="request_id", value=request_id)],
        )
    return req


def confirm(
    session: Session, request_id: int, code: str, name: str, now: datetime | None = None
) -> RegistrationRequest:
    """The legal representative confirms the application with the one-time code.

    Refused with the same words whether the number or the code is wrong, so the page cannot be
    used to learn which requests exist."""
    now = now or audit.utcnow()
    req = session.get(RegistrationRequest, request_id)
    wrong = ValidationError(
        "申请编号或确认码不正确",
        "the request number or the confirmation code is wrong",
        [Problem("请核对申请编号和确认码", "check the number and the code", field="code")],
    )
    if req is None or not hmac.compare_digest(req.code_sha256, _digest(code.strip())):
        raise wrong
    if req.status != "awaiting_confirmation":
        raise ConflictError(
            "该申请已确认或已处理，无需再次确认",
            "the request is already confirmed or decided",
            [Problem("无需确认", "nothing to confirm", field="request_id", value=request_id)],
        )
    if req.code_expires_at < now:
        raise ValidationError(
            f"确认码已过期（有效期 {CODE_DAYS} 天），请重新提交申请",
            f"the confirmation code has expired ({CODE_DAYS} days): apply again",
            [Problem("已过期", "expired", field="code")],
        )
    if not _same_name(name, req.legal_rep):
        raise ValidationError(
            "确认人姓名与申请中填写的法定代表人不一致：须由法定代表人本人确认",
            "the name differs from the legal representative named in the request: the legal "
            "representative must confirm in person",
            [Problem("姓名不一致", "name differs", field="name", value=name)],
        )
    before = view(req)
    req.status, req.confirmed_at, req.confirmed_as = "awaiting_review", now, name.strip()
    log(session, _actor(req.id), "registration.confirm", "registration", req.id,
        before=before, after=view(req))  # fmt: skip
    return req


@dataclass(frozen=True)
class Decision:
    request: RegistrationRequest
    password: str | None  # the new account's first password, to the approver once; never stored


def decide(
    session: Session,
    p: Principal,
    request_id: int,
    approve: bool,
    reason: str,
    now: datetime | None = None,
) -> Decision:
    """A government user approves (creating the account) or declines with a reason."""
    authorize(session, p, "registration.decide", request_id)
    now = now or audit.utcnow()
    req = _get(session, request_id)
    reason = reason.strip()
    if req.status not in OPEN:
        raise ConflictError(
            "该申请已处理",
            "the request has already been decided",
            [Problem("已处理", "already decided", field="request_id", value=request_id)],
        )
    if not approve and not reason:
        raise ValidationError(
            "驳回须写明理由（申请人会看到）",
            "a decline needs a reason (the applicant sees it)",
            [Problem("请填写理由", "give the reason", field="reason")],
        )
    if approve and req.status == "awaiting_confirmation":
        raise ConflictError(
            "法定代表人尚未确认，不能批准（可驳回）",
            "the legal representative has not confirmed yet: it cannot be approved (it can be "
            "declined)",
            [Problem("待法定代表人确认", "awaiting the legal representative", field="request_id",
                     value=request_id)],
        )  # fmt: skip
    before = view(req)
    password = None
    if approve:
        password = secrets.token_urlsafe(12)
        user = accounts.create_user(
            session,
            p,
            username=req.username,
            role="enterprise_user",
            password=password,
            display_name=req.applicant,
            uscc=req.uscc,
        )
        req.user_id = user.id
    req.status = "approved" if approve else "declined"
    req.decided_at, req.decided_by, req.reason = now, p.username, reason or None
    log(session, p, f"registration.{'approve' if approve else 'decline'}", "registration",
        req.id, before=before, after=view(req))  # fmt: skip
    return Decision(req, password)


def queue(session: Session, p: Principal, status: str | None = None) -> list[RegistrationRequest]:
    """Requests for the government's review, open ones first, newest first within each."""
    authorize(session, p, "registration.list", None)
    q = select(RegistrationRequest)
    if status:
        q = q.where(RegistrationRequest.status == status)
    rows = session.scalars(q.order_by(RegistrationRequest.id.desc()).limit(500)).all()
    return sorted(rows, key=lambda r: r.status not in OPEN)


def letter(session: Session, p: Principal, request_id: int) -> bytes:
    """The uploaded authorisation letter, read under audit."""
    authorize(session, p, "registration.letter", request_id)
    req = _get(session, request_id)
    log(session, p, "registration.letter", "registration", req.id,
        detail={"sha256": req.letter_sha256})  # fmt: skip
    return req.letter


def status_of(session: Session, request_id: int, code: str) -> RegistrationRequest:
    """The applicant's view of their request (number and confirmation code)."""
    req = session.get(RegistrationRequest, request_id)
    if req is None or not hmac.compare_digest(req.code_sha256, _digest(code.strip())):
        raise ValidationError(
            "申请编号或确认码不正确",
            "the request number or the confirmation code is wrong",
            [Problem("请核对申请编号和确认码", "check the number and the code", field="code")],
        )
    return req


def view(r: RegistrationRequest) -> dict[str, Any]:
    """What the audit record keeps of a request (never the letter's bytes or the code)."""
    return {
        "uscc": r.uscc,
        "firm_name": r.firm_name,
        "legal_rep": r.legal_rep,
        "applicant": r.applicant,
        "username": r.username,
        "status": r.status,
        "confirmed_as": r.confirmed_as,
        "decided_by": r.decided_by,
        "reason": r.reason,
        "user_id": r.user_id,
    }
