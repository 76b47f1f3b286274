"""Routes of access: login, the caller, API tokens, consents, users and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kejin.access import accounts, service, sessions
from kejin.access.deps import CSRF_HEADER, TX, csrf_token, end_session, permit
from kejin.access.rules import TOKEN_SCOPES, Principal

router = APIRouter(prefix="/api", tags=["access 权限"])
ID = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[1])]


class LoginIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "demo_bank", "password": "correct-horse-battery"}]
        }
    )
    username: str = Field(max_length=60)
    password: str = Field(max_length=200)


class MeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "demo_bank",
                    "role": "bank_officer",
                    "institution_id": "B001",
                    "uscc": None,
                    "via": "session",
                    "csrf_token": "q3Jx…",
                }
            ]
        }
    )
    username: str
    role: str
    institution_id: str | None
    uscc: str | None
    via: str
    csrf_token: str | None = None
    must_change_password: bool = Field(
        False, description="须先修改密码 / the account may only change its password until it does"
    )


class PasswordIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "issued-by-approver-1",
                    "new_password": "seven-quiet-lanterns-of-haizhou",
                }
            ]
        }
    )
    current_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class TokenIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "信贷系统对接", "scopes": ["firm.read", "loan.list"], "days": 90}]
        }
    )
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(None, description=f"subset of {', '.join(TOKEN_SCOPES)}")
    days: int | None = Field(None, ge=1, le=366)


class TokenOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "信贷系统对接",
                    "scopes": "firm.read loan.list",
                    "created_at": "2026-01-05T08:00:00",
                    "expires_at": "2026-04-05T08:00:00",
                    "revoked_at": None,
                }
            ]
        },
    )
    id: int
    name: str
    scopes: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    secret: str = Field(
        description="只显示一次 / shown once; send as `Authorization: Bearer <secret>`"
    )


class ConsentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "institution_id": "B001",
                    "purpose": "credit_assessment",
                    "scope": "full",
                    "expires_at": "2027-06-30T00:00:00",
                }
            ]
        }
    )
    institution_id: str = Field(max_length=20)
    purpose: str = Field(
        max_length=40, description="credit_assessment | post_loan_monitoring | product_matching"
    )
    scope: str = Field(max_length=20, description="profile | full")
    expires_at: datetime


class ConsentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "uscc": "91320700MA1N2B3C4D",
                    "institution_id": "B001",
                    "purpose": "credit_assessment",
                    "scope": "full",
                    "granted_at": "2026-01-05T08:00:00",
                    "expires_at": "2027-06-30T00:00:00",
                    "revoked_at": None,
                    "active": True,
                }
            ]
        }
    )
    id: int
    uscc: str
    institution_id: str
    purpose: str
    scope: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


class UserIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "officer_li",
                    "role": "bank_officer",
                    "password": "a-long-passphrase-1",
                    "display_name": "李经理",
                    "institution_id": "B001",
                }
            ]
        }
    )
    username: str = Field(max_length=60)
    role: str = Field(max_length=20)
    password: str | None = Field(
        None,
        max_length=200,
        description=(
            "初始密码（首次登录须修改）；特权角色不设，由批准人签发 / first password (changed at "
            "first login); none for privileged roles, whose approver issues it"
        ),
    )
    display_name: str | None = Field(None, max_length=100)
    institution_id: str | None = Field(None, max_length=20)
    uscc: str | None = Field(None, max_length=18)


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "username": "officer_li",
                    "display_name": "李经理",
                    "role": "bank_officer",
                    "institution_id": "B001",
                    "uscc": None,
                    "active": True,
                    "created_by": "demo_gov",
                    "approved_by": "demo_gov",
                    "approved_at": "2026-01-05T08:00:00",
                    "must_change_password": True,
                }
            ]
        },
    )
    id: int
    username: str
    display_name: str
    role: str
    institution_id: str | None
    uscc: str | None
    active: bool
    created_by: str | None
    approved_by: str | None
    approved_at: datetime | None = Field(description="空为待批准 / null while pending approval")
    must_change_password: bool


class ApprovedOut(BaseModel):
    user: UserOut
    password: str = Field(
        description="初始密码，只显示一次，交给本人 / first password, shown once: hand it to the person"
    )


class AuditOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "at": "2026-01-05T08:00:01.123456",
                    "actor": "demo_bank",
                    "actor_role": "bank_officer",
                    "action": "firm.read",
                    "entity_kind": "firm",
                    "entity_id": "91320700MA1N2B3C4D",
                    "before_digest": None,
                    "after_digest": "5e1c…",
                    "detail": '{"level":"full"}',
                    "prev_hash": "9a0b…",
                    "hash": "77fe…",
                }
            ]
        },
    )
    seq: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    entity_kind: str
    entity_id: str
    before_digest: str | None
    after_digest: str | None
    detail: str
    prev_hash: str
    hash: str


def _me(request: Request, p: Principal) -> dict[str, Any]:
    return {
        "username": p.username,
        "role": p.role,
        "institution_id": p.institution_id,
        "uscc": p.uscc,
        "via": p.via,
        "csrf_token": csrf_token(request) if p.via == "session" else None,
        "must_change_password": p.must_change,
    }


@router.post("/auth/login", response_model=MeOut, summary="登录 / log in (session cookie)")
def login(body: LoginIn, request: Request) -> Any:
    """Sets the session cookie; send the returned ``csrf_token`` as ``X-CSRF-Token`` on changes.

    With ``must_change_password`` true, the only thing the session can do is
    ``POST /api/auth/password``."""
    u, sid = sessions.login(
        request.app.state.engine,
        body.username,
        body.password,
        sessions.client_key(request.client.host if request.client else None),
    )
    request.session.clear()
    request.session[sessions.SID] = sid
    return _me(request, service.principal_of(u))


@router.post("/auth/logout", status_code=204, summary="退出 / log out (X-CSRF-Token)")
def logout(request: Request) -> None:
    """Ends the session on the server, so the old cookie no longer works."""
    end_session(request, request.headers.get(CSRF_HEADER))


@router.post("/auth/password", status_code=204, summary="修改密码 / change my password")
def change_password(
    body: PasswordIn,
    request: Request,
    p: Principal = permit("self.password"),
    s: Session = TX,
) -> None:
    """Needs the current password; every other session of the account ends, this one stays."""
    accounts.change_password(
        s,
        p,
        current=body.current_password,
        new=body.new_password,
        keep_session=request.session.get(sessions.SID),
    )


@router.get("/auth/me", response_model=MeOut, summary="当前用户 / who am I")
def me(request: Request, p: Principal = permit("self.read")) -> Any:
    return _me(request, p)


@router.get("/tokens", response_model=list[TokenOut], summary="API 令牌 / list tokens")
def tokens(p: Principal = permit("token.list"), s: Session = TX) -> Any:
    return service.list_tokens(s, p)


@router.post(
    "/tokens", response_model=IssuedTokenOut, status_code=201, summary="签发令牌 / issue a token"
)
def issue_token(body: TokenIn, p: Principal = permit("token.issue"), s: Session = TX) -> Any:
    it = service.issue_token(s, p, name=body.name, scopes=body.scopes, days=body.days)
    return {**TokenOut.model_validate(it.token).model_dump(), "secret": it.secret}


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenOut, summary="撤销令牌 / revoke a token"
)
def revoke_token(
    token_id: ID,
    p: Principal = permit("token.revoke", target="token_id"),
    s: Session = TX,
) -> Any:
    return service.revoke_token(s, p, token_id)


@router.get("/consents", response_model=list[ConsentOut], summary="授权列表 / consents")
def consents(p: Principal = permit("consent.list"), s: Session = TX) -> Any:
    """An enterprise sees its grants, a bank the grants to it, government and auditor all."""
    return [service.consent_view(c) for c in service.list_consents(s, p)]


@router.post(
    "/firms/{uscc}/consents",
    response_model=ConsentOut,
    status_code=201,
    summary="授权 / grant consent",
)
def grant_consent(
    uscc: str,
    body: ConsentIn,
    p: Principal = permit("consent.grant", target="uscc"),
    s: Session = TX,
) -> Any:
    c = service.grant_consent(
        s,
        p,
        uscc=uscc,
        institution_id=body.institution_id,
        purpose=body.purpose,
        scope=body.scope,
        expires_at=body.expires_at.replace(tzinfo=None),
    )
    return service.consent_view(c)


@router.post(
    "/consents/{consent_id}/revoke", response_model=ConsentOut, summary="撤销授权 / revoke consent"
)
def revoke_consent(
    consent_id: ID,
    p: Principal = permit("consent.revoke", target="consent_id"),
    s: Session = TX,
) -> Any:
    return service.consent_view(service.revoke_consent(s, p, consent_id))


@router.get("/users", response_model=list[UserOut], summary="用户 / users")
def users(p: Principal = permit("user.list"), s: Session = TX) -> Any:
    return service.list_users(s, p)


@router.post("/users", response_model=UserOut, status_code=201, summary="创建用户 / create a user")
def create_user(body: UserIn, p: Principal = permit("user.create"), s: Session = TX) -> Any:
    """A privileged account (gov_admin, gov_reviewer, auditor) stays pending until another
    government user approves it; others must change their first password at first login."""
    return accounts.create_user(s, p, **body.model_dump())


@router.post(
    "/users/{user_id}/approve",
    response_model=ApprovedOut,
    summary="批准账户 / approve a pending account (second person)",
)
def approve_user(user_id: ID, p: Principal = permit("user.approve"), s: Session = TX) -> Any:
    """Not by its creator. Returns the account's first password once."""
    issued = accounts.approve_user(s, p, user_id)
    return {"user": issued.user, "password": issued.password}


@router.post("/users/{user_id}/deactivate", response_model=UserOut, summary="停用账户 / deactivate")
def deactivate_user(user_id: ID, p: Principal = permit("user.deactivate"), s: Session = TX) -> Any:
    """Its sessions end at once; its API tokens stop working too."""
    return accounts.deactivate_user(s, p, user_id)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/audit", response_model=list[AuditOut], summary="审计日志 / audit log")
def audit_log(
    actor: str | None = Query(None, max_length=60),
    action: str | None = Query(None, max_length=60, examples=["firm.read"]),
    action_prefix: str | None = Query(
        None, max_length=60, examples=["fund."], description="操作前缀 / action prefix"
    ),
    entity_kind: str | None = Query(None, max_length=40),
    entity_id: str | None = Query(None, max_length=80),
    since: date | None = Query(None, description="起始日（含，UTC）/ from day (UTC, included)"),
    until: date | None = Query(None, description="截止日（含，UTC）/ to day (UTC, included)"),
    before_seq: int | None = Query(None, ge=1, le=2_000_000_000),
    limit: int = Query(100, ge=1, le=500),
    p: Principal = permit("audit.read"),
    s: Session = TX,
) -> Any:
    return service.query_audit(
        s,
        p,
        actor=actor,
        action=action,
        action_prefix=action_prefix,
        entity_kind=entity_kind,
        entity_id=entity_id,
        since=since,
        until=until,
        before_seq=before_seq,
        limit=limit,
    )


@router.get(
    "/exports/audit.xlsx",
    summary="下载审计日志 / download the audit log (Excel)",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX: {}}, "description": "Excel workbook"}},
)
def audit_export(
    request: Request,
    actor: str | None = Query(None, max_length=60),
    action_prefix: str | None = Query(None, max_length=60, examples=["fund."]),
    since: date | None = Query(None),
    until: date | None = Query(None),
    p: Principal = permit("audit.export"),
    s: Session = TX,
) -> StreamingResponse:
    """Every event matching the filters, oldest first, actions and entities as labels; the
    download is itself recorded in the log (``audit.export``)."""
    from kejin.access import auditview
    from kejin.exports import chunks
    from kejin.web.i18n import lang_of

    book, rows = auditview.workbook(
        s, p, lang_of(request), actor=actor, action_prefix=action_prefix, since=since, until=until
    )
    return StreamingResponse(
        chunks(book),
        media_type=XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="audit.xlsx"',
            "X-Kejin-Rows": str(rows),
        },
    )
