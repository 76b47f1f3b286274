"""The access schema: who may log in, with what role and tenant; tokens; consents; the audit chain.

A user's tenant is part of the row (a bank officer belongs to one institution, an enterprise user
to one USCC) and the database refuses a bank officer without an institution, so tenancy can never
be "forgotten" by a form. Tokens are stored as SHA-256 digests only: they are 256-bit random
strings, so a slow password hash would add latency on every bank call without adding security.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# ``consents.need_id`` names ``match_needs``: every path that writes a consent (a CLI command, a
# test) must have that table in the metadata.
import kejin.matching.tables  # noqa: F401
from kejin.db import Base
from kejin.registry.tables import label, vocab_enum
from kejin.vocab import Term

#: Roles of the platform (GLOSSARY additions recorded in docs/service.md).
ROLES: dict[str, Term] = {
    t.id: t
    for t in (
        Term("gov_admin", "政府管理员", "government administrator"),
        Term("gov_reviewer", "政府复核员", "government reviewer"),
        Term("bank_officer", "银行客户经理", "bank officer"),
        Term("enterprise_user", "企业用户", "enterprise user"),
        Term("auditor", "审计员", "auditor"),
        Term("investor", "投资机构用户", "investor"),
    )
}

#: Roles that act for an institution (a bank, or an investor institution of kind ``vc_fund``):
#: they see firms through the consents given to their institution and act for it only.
INSTITUTION_ROLES = ("bank_officer", "investor")

#: Roles whose accounts can approve, publish, pay or read everything: creating one needs a second
#: person (see :func:`kejin.access.accounts.approve_user`), or one person could act as two.
PRIVILEGED_ROLES = frozenset({"gov_admin", "gov_reviewer", "auditor"})

#: Why an enterprise lets an institution see its data (seed 001 §16, §18: scoped sharing).
CONSENT_PURPOSES: dict[str, Term] = {
    t.id: t
    for t in (
        Term("credit_assessment", "授信评估", "credit assessment"),
        Term("post_loan_monitoring", "贷后监测", "post-loan monitoring"),
        Term("product_matching", "产品对接", "product matching"),
    )
}

#: What the consent opens: ``profile`` = registry fields and qualifications; ``full`` adds annual
#: indicators and financing events.
CONSENT_SCOPES: dict[str, Term] = {
    t.id: t
    for t in (
        Term("profile", "基本画像", "profile"),
        Term("full", "完整数据", "full data"),
    )
}


class User(Base):
    """A person (or, through tokens, a bank system) acting on the platform."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True, info=label("用户名", "username"))
    display_name: Mapped[str] = mapped_column(String(100), info=label("姓名", "display name"))
    role: Mapped[str] = mapped_column(vocab_enum(ROLES, "role"), info=label("角色", "role"))
    institution_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.id"), info=label("所属机构", "institution")
    )
    uscc: Mapped[str | None] = mapped_column(
        ForeignKey("enterprises.uscc"), info=label("所属企业", "enterprise")
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    #: Who created the account (a username, or ``system``) and who approved it: a privileged
    #: account stays unusable (``approved_at`` NULL) until a second person approves it.
    created_by: Mapped[str | None] = mapped_column(String(60), info=label("创建人", "created by"))
    approved_by: Mapped[str | None] = mapped_column(String(60), info=label("批准人", "approved by"))
    approved_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("批准时间", "approved at")
    )
    #: Set on every password someone else chose: until the owner changes it, the account can do
    #: nothing but change it (checked by :func:`kejin.access.rules.authorize`).
    must_change_password: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        info=label("须改密码", "must change password"),
    )
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint(
            "(role IN ('bank_officer', 'investor')) = (institution_id IS NOT NULL)",
            name="bank_has_institution",
        ),
        CheckConstraint(
            "(role = 'enterprise_user') = (uscc IS NOT NULL)", name="enterprise_has_uscc"
        ),
    )


class UserSession(Base):
    """A person's login, held on the server so that logout, a password change or deactivation
    ends it at once (a signed cookie alone lives until it expires).

    The cookie carries a random id; the table keeps only its SHA-256, like API tokens, so a read
    of the table does not hand out live sessions. ``last_seen_at`` is refreshed at most once a
    minute, and only by requests that write anyway (see :mod:`kejin.access.sessions`).
    """

    __tablename__ = "user_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, info=label("登录时间", "created at"))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, info=label("最近活动", "last seen"))
    expires_at: Mapped[datetime] = mapped_column(DateTime, info=label("到期时间", "expires at"))
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("注销时间", "revoked at")
    )


class LoginClient(Base):
    """Failed logins per client address, shared by every worker process.

    One address guessing passwords is refused before it reaches an account's lock threshold, so
    one client alone cannot lock someone else's account (see :func:`kejin.access.sessions.login`).
    """

    __tablename__ = "login_clients"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    #: Failures count within a fixed window from here; a new window starts the count again.
    window_start: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for a bank's system: scoped, expiring, revocable, stored as a digest."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), info=label("名称", "name"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(500), info=label("权限范围", "scopes"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, info=label("到期时间", "expires at"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Consent(Base):
    """An enterprise's grant to one institution, for a purpose and scope, until an expiry."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"), info=label("企业", "USCC"))
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.id"), index=True, info=label("机构", "institution")
    )
    purpose: Mapped[str] = mapped_column(
        vocab_enum(CONSENT_PURPOSES, "consent_purpose"), info=label("用途", "purpose")
    )
    scope: Mapped[str] = mapped_column(
        vocab_enum(CONSENT_SCOPES, "consent_scope"), info=label("范围", "scope")
    )
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(DateTime, info=label("授权时间", "granted at"))
    expires_at: Mapped[datetime] = mapped_column(DateTime, info=label("到期时间", "expires at"))
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("撤销时间", "revoked at")
    )
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Set when the firm granted the consent for one financing need (the marketplace's "banks
    #: that may see my profile for this need"); it is revoked when the need is withdrawn.
    need_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_needs.id"), index=True, info=label("融资需求", "financing need")
    )

    __table_args__ = (
        CheckConstraint("expires_at > granted_at", name="expiry_after_grant"),
        Index("ix_consents_uscc_institution", "uscc", "institution_id"),
    )


class AuditEvent(Base):
    """One link of the append-only, hash-chained audit log.

    ``seq`` is assigned by the writer under a lock (not by a sequence) so that the hash can cover
    it: a deleted row then shows as a gap, an edited row as a hash mismatch.
    """

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime, index=True, info=label("时间", "at"))
    actor: Mapped[str] = mapped_column(String(60), index=True, info=label("操作人", "actor"))
    actor_role: Mapped[str] = mapped_column(String(20), info=label("角色", "role"))
    action: Mapped[str] = mapped_column(String(60), index=True, info=label("操作", "action"))
    entity_kind: Mapped[str] = mapped_column(String(40), info=label("对象类型", "entity kind"))
    entity_id: Mapped[str] = mapped_column(String(80), info=label("对象", "entity"))
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}", info=label("详情", "detail"))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``<key id>:<HMAC-SHA256 of hash>`` under the audit key (:mod:`kejin.access.auditkey`);
    #: ``None`` when written without a key. Outside the hash, so adding it changed no hash.
    mac: Mapped[str | None] = mapped_column(String(81))

    __table_args__ = (Index("ix_audit_events_entity", "entity_kind", "entity_id"),)


class PageFlash(Base):
    """What a page form's POST produced, for the GET page it redirects to (post/redirect/get).

    After a POST the browser is sent on to a GET page, so a reload, the back button or the
    language switch never repeats the POST (the switch on a POST's answer asked for a GET of
    the POST's address: 405). A refusal and the values typed travel to that page as a row here,
    named by a random id in the page's address and readable by its owner only; the row keeps
    both languages of every reason, so the switch shows the same result in the other language.
    The id is random (128 bits), not a counter, so one person cannot read another's by guessing.
    Rows older than :data:`kejin.web.flash.KEEP` are deleted when the next one is written.
    """

    __tablename__ = "page_flashes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The user who posted (0: not signed in, e.g. a refused login).
    user_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    payload: Mapped[str] = mapped_column(Text, info=label("页面结果", "page result JSON"))


#: Where a firm's self-registration stands (kejin.access.registration).
REGISTRATION_STATUSES: dict[str, Term] = {
    t.id: t
    for t in (
        Term("awaiting_confirmation", "待法定代表人确认", "awaiting the legal representative"),
        Term("awaiting_review", "待政府审核", "awaiting government review"),
        Term("approved", "已批准", "approved"),
        Term("declined", "已驳回", "declined"),
    )
}


class RegistrationRequest(Base):
    """A firm's request for an enterprise account: who applies, the legal representative they
    name, the authorisation letter (授权委托书) they upload, the representative's confirmation
    by one-time code, and the government's decision. Codes are kept as SHA-256 digests only."""

    __tablename__ = "registration_requests"
    __table_args__ = (
        # One open request per firm: a second is refused while the first is pending.
        Index(
            "uq_registration_open_uscc",
            "uscc",
            unique=True,
            sqlite_where=text("status IN ('awaiting_confirmation', 'awaiting_review')"),
            postgresql_where=text("status IN ('awaiting_confirmation', 'awaiting_review')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("企业", "USCC")
    )
    firm_name: Mapped[str] = mapped_column(String(200), info=label("企业名称", "firm name"))
    legal_rep: Mapped[str] = mapped_column(
        String(60), info=label("法定代表人", "legal representative")
    )
    applicant: Mapped[str] = mapped_column(String(60), info=label("经办人", "applicant"))
    applicant_phone: Mapped[str] = mapped_column(String(20), info=label("联系电话", "phone"))
    username: Mapped[str] = mapped_column(String(60), info=label("申请用户名", "username"))
    letter_name: Mapped[str] = mapped_column(
        String(200), info=label("授权委托书文件", "authorisation letter file")
    )
    letter_sha256: Mapped[str] = mapped_column(String(64))
    letter: Mapped[bytes] = mapped_column(LargeBinary)
    code_sha256: Mapped[str] = mapped_column(String(64))
    code_expires_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(
        vocab_enum(REGISTRATION_STATUSES, "registration_status"), info=label("状态", "status")
    )
    submitted_at: Mapped[datetime] = mapped_column(DateTime, info=label("提交时间", "submitted"))
    confirmed_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("法定代表人确认时间", "confirmed")
    )
    confirmed_as: Mapped[str | None] = mapped_column(
        String(60), info=label("确认人", "confirmed as")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, info=label("审核时间", "decided"))
    decided_by: Mapped[str | None] = mapped_column(String(60), info=label("审核人", "decided by"))
    reason: Mapped[str | None] = mapped_column(Text, info=label("审核意见", "reason"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
