"""Pages of a firm's self-registration: the application, the legal representative's
confirmation and the applicant's status check (no account needed), and the government's
review queue. The steps and their reasons are in :mod:`kejin.access.registration`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access import registration
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.access.tables import REGISTRATION_STATUSES, PageFlash
from kejin.errors import KejinError, Problem, ValidationError
from kejin.ingest.upload import CappedUpload, safe_name
from kejin.web import flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import term
from kejin.web.pages import lang_of, problem_texts, render

router = APIRouter(include_in_schema=False, route_class=CappedUpload)

RequestId = PathParam(ge=1, le=2**31 - 1)


def _once(request: Request, s: Session, key: str) -> tuple[flash.Flash, Any]:
    """The flash, and a secret it carries shown this once: it is removed from the stored row
    as it is read, so neither a reload nor the database keeps it."""
    f = flash.read(request, s)
    secret = f.data.get(key)
    if secret is not None:
        row = s.get(PageFlash, request.query_params.get("flash", ""))
        if row is not None:
            payload = json.loads(row.payload)
            payload["data"].pop(key, None)
            row.payload = json.dumps(payload, ensure_ascii=False, default=str)
    return f, secret


def _error(e: KejinError | None, lang: str) -> str | None:
    return None if e is None else e.reason_en if lang == "en" else e.reason_zh


@router.get("/register")
def register_page(request: Request, s: Session = TX) -> Response:
    """The application form; after a submission, its number and the one-time code."""
    lang = lang_of(request)
    f, code = _once(request, s, "code")
    return render(
        request,
        "register.html",
        {
            "error": _error(f.error, lang),
            "problems": problem_texts(f.error, lang),
            "form": f.form,
            "submitted": f.data.get("submitted"),
            "code": code,
            "code_days": registration.CODE_DAYS,
        },
    )


@router.post("/register")
def register_submit(
    request: Request,
    uscc: str = Form("", max_length=40),
    firm_name: str = Form("", max_length=200),
    legal_rep: str = Form("", max_length=60),
    applicant: str = Form("", max_length=60),
    applicant_phone: str = Form("", max_length=20),
    username: str = Form("", max_length=60),
    letter: UploadFile | None = File(None),
    csrf_token_: str = Form("", alias="csrf_token"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"uscc": uscc, "firm_name": firm_name, "legal_rep": legal_rep,
            "applicant": applicant, "applicant_phone": applicant_phone, "username": username}  # fmt: skip
    data = letter.file.read(registration.LETTER_MAX + 1) if letter and letter.filename else b""
    app = registration.Application(
        uscc=uscc, firm_name=firm_name, legal_rep=legal_rep, applicant=applicant,
        applicant_phone=applicant_phone, username=username.strip(),
        letter_name=safe_name(letter.filename if letter else None), letter=data,
    )  # fmt: skip
    try:
        with s.begin_nested():
            out = registration.submit(s, app)
    except KejinError as e:
        return refused(request, s, "/register", e, form)
    fid = flash.put(s, request, submitted=out.request.id, code=out.code)
    return see_other(request, "/register", flash=fid)


@router.get("/register/confirm")
def confirm_page(
    request: Request,
    request_id: int | None = Query(None, alias="request", ge=1, le=2**31 - 1),
    s: Session = TX,
) -> Response:
    """The legal representative's page: number, code, own name."""
    lang = lang_of(request)
    f = flash.read(request, s)
    return render(
        request,
        "register_confirm.html",
        {
            "error": _error(f.error, lang),
            "problems": problem_texts(f.error, lang),
            "form": f.form or {"request_id": str(request_id or "")},
            "confirmed": f.data.get("confirmed"),
        },
    )


def _request_no(value: str) -> int:
    if not value.strip().isdigit() or not 0 < int(value) < 2**31:
        raise ValidationError(
            "请填写申请编号（数字）",
            "enter the request number (digits)",
            [Problem("须为数字", "digits only", field="request_id", value=value)],
        )
    return int(value)


@router.post("/register/confirm")
def confirm_submit(
    request: Request,
    request_id: str = Form("", max_length=12),
    code: str = Form("", max_length=20),
    name: str = Form("", max_length=60),
    agree: str = Form("", max_length=3),
    csrf_token_: str = Form("", alias="csrf_token"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"request_id": request_id, "name": name}
    try:
        if agree != "yes":
            raise ValidationError(
                "请勾选确认声明",
                "tick the statement to confirm",
                [Problem("未勾选", "not ticked", field="agree")],
            )
        with s.begin_nested():
            req = registration.confirm(s, _request_no(request_id), code, name)
    except KejinError as e:
        return refused(request, s, "/register/confirm", e, form)
    return see_other(request, "/register/confirm", flash=flash.put(s, request, confirmed=req.id))


@router.get("/register/status")
def status_page(request: Request, s: Session = TX) -> Response:
    """The applicant's view: where the request stands, and the reason if declined."""
    lang = lang_of(request)
    f = flash.read(request, s)
    return render(
        request,
        "register_status.html",
        {
            "error": _error(f.error, lang),
            "problems": problem_texts(f.error, lang),
            "form": f.form,
            "found": f.data.get("found"),
        },
    )


@router.post("/register/status")
def status_submit(
    request: Request,
    request_id: str = Form("", max_length=12),
    code: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    try:
        req = registration.status_of(s, _request_no(request_id), code)
    except KejinError as e:
        return refused(request, s, "/register/status", e, {"request_id": request_id})
    found = {"id": req.id, "firm": req.firm_name, "status": req.status, "reason": req.reason,
             "username": req.username, "decided_at": req.decided_at}  # fmt: skip
    return see_other(request, "/register/status", flash=flash.put(s, request, found=found))


@router.get("/registrations")
def queue_page(
    request: Request,
    status: str = Query("", max_length=30),
    p: Principal = permit("registration.list"),
    s: Session = TX,
) -> Response:
    """The government's review queue: open requests first, each with its letter and names."""
    lang = lang_of(request)
    f, password = _once(request, s, "password")
    rows = registration.queue(s, p, status if status in REGISTRATION_STATUSES else None)
    return render(
        request,
        "registrations.html",
        {
            "rows": rows,
            "status": status,
            "statuses": [(k, term(REGISTRATION_STATUSES, k, lang)) for k in REGISTRATION_STATUSES],
            "status_name": lambda k: term(REGISTRATION_STATUSES, k, lang),
            "error": _error(f.error, lang),
            "failed": f.form.get("request_id"),
            "decided": f.data.get("decided"),
            "password": password,
            "may_decide": p.role in ("gov_admin", "gov_reviewer"),
        },
    )


@router.get("/registrations/{request_id}/letter")
def letter_file(
    request: Request,
    request_id: int = RequestId,
    p: Principal = permit("registration.letter"),
    s: Session = TX,
) -> Response:
    data = registration.letter(s, p, request_id)
    kind = registration.letter_kind(data) or ".pdf"
    media = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg"}[kind]
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="registration-{request_id}{kind}"'},
    )


@router.post("/registrations/{request_id}/decide")
def decide_submit(
    request: Request,
    request_id: int = RequestId,
    decision: str = Form("", max_length=10),
    reason: str = Form("", max_length=1000),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("registration.decide"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"request_id": str(request_id), "reason": reason}
    try:
        if decision not in ("approve", "decline"):
            raise ValidationError(
                "请选择批准或驳回",
                "choose approve or decline",
                [Problem("未选择", "not chosen", field="decision")],
            )
        with s.begin_nested():
            out = registration.decide(s, p, request_id, decision == "approve", reason)
    except KejinError as e:
        return refused(request, s, "/registrations", e, form)
    data = {"decided": {"id": out.request.id, "status": out.request.status,
                        "username": out.request.username}}  # fmt: skip
    if out.password is not None:
        data["password"] = out.password
    return see_other(request, "/registrations", flash=flash.put(s, request, **data))
