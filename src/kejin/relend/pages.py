"""Relending pages: the branch's ledger (quotas, utilisation, batches to approve) and a bank's own
quotas and batches (submit by Excel, repay), plus the JSON API a bank's system submits through.

Post/redirect/get: each form's step runs in a savepoint of the route's transaction; a refusal
(an ineligible loan, over the quota, the submitter approving) rolls the step back and comes back
to the page as a flash naming every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import KejinError, Problem, ValidationError
from kejin.lending.tables import Institution
from kejin.relend import service as svc
from kejin.vocab import LOAN_PURPOSES, RELEND_TOOLS
from kejin.web import flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import N_
from kejin.web.pages import lang_of, render
from kejin.web.refusal import names_in, refusal_view

router = APIRouter()
BatchId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
NOTICES = ("quota", "submitted", "approved", "rejected", "repaid")
MAX_FILE = 5 * 1024 * 1024


def _dec(text: str, field: str) -> Decimal:
    try:
        v = Decimal(text.replace(",", "").strip())
        if not v.is_finite():
            raise InvalidOperation
        return v
    except InvalidOperation:
        raise ValidationError(
            "数值无效",
            "invalid number",
            [Problem("不是数字", "not a number", field=field, value=text)],
        ) from None


def _step(
    request: Request, s: Session, go: Callable[[], Any], page: str, notice: str,
    form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """Run one ledger step in a savepoint; GET ``page`` with the notice, or with the refusal."""
    try:
        with s.begin_nested():
            go()
    except KejinError as e:
        return refused(request, s, page, e, form)
    return see_other(request, page, notice=notice)


#: The relending forms' fields by their labels (a refusal names these, never the codes).
FIELDS = {
    "bank": N_("ev_bank"),
    "institution_id": N_("ev_bank"),
    "tool": N_("rl_tool"),
    "year": N_("rl_year"),
    "quota": N_("rl_quota"),
    "amount": N_("rl_amount"),
    "amount_fen": N_("rl_amount"),
    "matching_ratio": N_("rl_ratio"),
    "ratio": N_("rl_ratio"),
    "rate_cap": N_("rl_rate_cap"),
    "max_term": N_("rl_max_term"),
    "max_term_months": N_("rl_max_term"),
    "file": N_("rl_file"),
    "batch": N_("rl_batch"),
    "purposes": N_("purpose"),
}


def _error(e: KejinError, lang: str, s: Session) -> dict[str, Any] | None:
    """An error as the page shows it (kejin.web.refusal): fields by their form labels."""
    return refusal_view(e, lang, FIELDS, names=names_in(s))


def _page(request: Request, p: Principal, s: Session, template: str) -> Response:
    lang = lang_of(request)
    f = flash.read(request, s)
    notice = request.query_params.get("notice")
    led = svc.ledger(s, p)
    banks = (
        []
        if p.role == "bank_officer"
        else [(i.id, i.name) for i in s.query(Institution).filter(Institution.kind == "bank").order_by(Institution.id)]
    )  # fmt: skip
    return render(
        request,
        template,
        {
            "ledger": led,
            "notice": notice if notice in NOTICES else None,
            "error": _error(f.error, lang, s),
            "form": f.form,
            "banks": banks,
            "tools": list(RELEND_TOOLS),
            "purposes": list(LOAN_PURPOSES),
        },
    )


@router.get("/relend", include_in_schema=False)
def relend_page(
    request: Request, p: Principal = permit("relend.read"), s: Session = TX
) -> Response:
    return _page(request, p, s, "relend.html")


@router.get("/bank/relend", include_in_schema=False)
def bank_relend_page(
    request: Request, p: Principal = permit("page.bank"), s: Session = TX
) -> Response:
    return _page(request, p, s, "relend_bank.html")


@router.post("/relend/quota", include_in_schema=False)
def quota_submit(
    request: Request,
    bank: str = Form("", max_length=20),
    tool: str = Form("relending", max_length=30),
    year: str = Form("", max_length=4),
    amount: str = Form("", max_length=30),
    ratio: str = Form("1", max_length=10),
    rate_cap: str = Form("0.045", max_length=10),
    max_term: str = Form("36", max_length=4),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("relend.quota"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"bank": bank, "tool": tool, "year": year, "amount": amount, "ratio": ratio,
            "rate_cap": rate_cap, "max_term": max_term}  # fmt: skip
    return _step(
        request, s,
        lambda: svc.set_quota(
            s, p, tool=tool, institution_id=bank, year=int(_dec(year, "year")),
            quota=_dec(amount, "quota"), matching_ratio=_dec(ratio, "ratio"),
            rate_cap=_dec(rate_cap, "rate_cap"), max_term_months=int(_dec(max_term, "max_term")),
            purposes=["rd", "tech_transformation", "working_capital", "equipment_upgrade"],
        ),
        "/relend", "quota", form,
    )  # fmt: skip


@router.post("/relend/batches/{batch_id}/approve", include_in_schema=False)
def approve_submit(
    request: Request,
    batch_id: BatchId,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("relend.approve"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    return _step(request, s, lambda: svc.approve(s, p, batch_id), "/relend", "approved")


@router.post("/relend/batches/{batch_id}/reject", include_in_schema=False)
def reject_submit(
    request: Request,
    batch_id: BatchId,
    reason: str = Form("", max_length=300),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("relend.approve"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    return _step(
        request, s, lambda: svc.reject(s, p, batch_id, reason), "/relend", "rejected",
        {"reason": reason},
    )  # fmt: skip


@router.post("/bank/relend/submit", include_in_schema=False)
def bank_submit(
    request: Request,
    quota: str = Form("", max_length=60),
    file: UploadFile | None = File(None),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    data = b"" if file is None else file.file.read(MAX_FILE + 1)
    name = "batch.xlsx" if file is None or not file.filename else Path(file.filename).name

    def go() -> None:
        if not data or len(data) > MAX_FILE:
            raise ValidationError(
                "请上传不超过5MB的Excel批次文件", "upload an Excel batch file of at most 5 MB",
                [Problem("文件为空或过大", "file empty or too large", file=name)],
            )  # fmt: skip
        with TemporaryDirectory(prefix="kejin-relend-") as d:
            path = Path(d) / name
            path.write_bytes(data)
            lines = svc.read_batch_file(path)
        svc.submit(s, p, quota, lines, channel="excel", file=name)

    return _step(request, s, go, "/bank/relend", "submitted", {"quota": quota})


@router.post("/bank/relend/batches/{batch_id}/repay", include_in_schema=False)
def bank_repay(
    request: Request,
    batch_id: BatchId,
    amount: str = Form("", max_length=30),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    return _step(
        request, s, lambda: svc.repay(s, p, batch_id, _dec(amount, "amount")),
        "/bank/relend", "repaid", {"amount": amount},
    )  # fmt: skip


# ------------------------------------------------------------------ JSON API


class LineIn(BaseModel):
    contract_no: str = Field(min_length=1, max_length=40)
    purpose: str = Field(min_length=1, max_length=40)


class BatchIn(BaseModel):
    quota: str = Field(min_length=1, max_length=60)
    loans: list[LineIn] = Field(min_length=1, max_length=5000)


@router.get("/api/relend/ledger", tags=["relend"], summary="再贷款台账 / relending ledger")
def api_ledger(p: Principal = permit("relend.read"), s: Session = TX) -> dict[str, Any]:
    return svc.ledger(s, p)


@router.post("/api/relend/batches", tags=["relend"], summary="报送再贷款批次 / submit a batch")
def api_submit(
    body: BatchIn, p: Principal = permit("page.bank"), s: Session = TX
) -> dict[str, Any]:
    lines = [svc.Line(x.contract_no, x.purpose, row=n) for n, x in enumerate(body.loans, start=1)]
    b = svc.submit(s, p, body.quota, lines, channel="api")
    return {"batch": b.id, "state": b.state, "amount": b.amount, "loans": len(lines)}


@router.get("/api/relend/batches/{batch_id}", tags=["relend"], summary="批次贷款 / a batch's loans")
def api_batch(
    batch_id: BatchId, p: Principal = permit("relend.read"), s: Session = TX
) -> list[dict[str, Any]]:
    return svc.batch_loans(s, p, batch_id)
