"""Early-warning pages and API: the government's list of the region (filter by level, kind of
signal and bank; numbered pages; Excel of every matching firm) and a bank's own borrowers.

Thin: parse, gate, call :mod:`kejin.credit.warning_views` (which holds tenancy and consent),
render. Kinds and levels are shown by their labels (:data:`kejin.vocab.WARNING_KINDS`).
"""

from __future__ import annotations

from datetime import date
from typing import IO, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.credit import early_warning, warning_views
from kejin.errors import ValidationError
from kejin.exports import Book, chunks
from kejin.lending.tables import Institution
from kejin.vocab import WARNING_KINDS, WARNING_LEVELS
from kejin.web.i18n import lang_of
from kejin.web.pages import problem_texts, render
from kejin.web.paging import PAGE_Q, clamp, pager

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["credit 授信"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE = 50

MONTH_Q = Query(None, max_length=7, description="月份 YYYY-MM（默认：最新数据月份）/ month")
LEVEL_Q = Query(None, ge=1, le=3, description="等级 1 关注 2 预警 3 严重 / level")
KIND_Q = Query(None, max_length=40, description="预警类型 / kind of signal")
BANK_Q = Query(None, max_length=20, description="贷款机构 / lending institution id")


def _month(text: str | None) -> date | None:
    return early_warning.parse_month(text) if text else None


def label(vocab: dict[str, Any], key: str, lang: str) -> str:
    tm = vocab[key]
    return tm.en if lang == "en" else tm.zh


def _page(request: Request, p: Principal, s: Session, bank_view: bool, **f: Any) -> Response:
    lang = lang_of(request)
    page = f.pop("page")
    errors: dict[str, str] = {}
    res: dict[str, Any] = {"total": 0, "items": [], "by_level": {}, "by_kind": {}, "month": None}
    try:
        args = {**f, "month": _month(f["month"])}
        res = warning_views.warning_list(s, p, **args, limit=PAGE, offset=(page - 1) * PAGE)
        if not res["items"] and page > 1 and res["total"]:
            page = clamp(page, res["total"], PAGE)
            res = warning_views.warning_list(s, p, **args, limit=PAGE, offset=(page - 1) * PAGE)
    except ValidationError as e:
        errors = problem_texts(e, lang)
    banks = (
        []
        if bank_view
        else s.execute(
            select(Institution.id, Institution.name)
            .where(Institution.kind == "bank")
            .order_by(Institution.id)
        ).all()
    )
    export = request.url.path.rstrip("/") + "/export.xlsx"
    return render(
        request,
        "warnings.html",
        {
            "res": res,
            "f": f,
            "errors": errors,
            "pg": pager(request, page, res["total"], PAGE),
            "kinds": WARNING_KINDS,
            "levels": WARNING_LEVELS,
            "banks": banks,
            "bank_view": bank_view,
            "export": f"{export}?{request.url.query}",
            "kind_label": lambda k: label(WARNING_KINDS, k, lang),
            "level_label": lambda n: label(WARNING_LEVELS, str(n), lang) if n else "—",
        },
        422 if errors else 200,
    )


@router.get("/warnings")
def warnings_page(
    request: Request,
    month: str | None = MONTH_Q,
    level: int | None = LEVEL_Q,
    kind: str | None = KIND_Q,
    bank: str | None = BANK_Q,
    page: int = PAGE_Q,
    p: Principal = permit("credit.warnings"),
    s: Session = TX,
) -> Response:
    """The region's flagged firms (government, auditor)."""
    if p.role == "bank_officer":
        from kejin.web.flash import see_other

        return see_other(request, "/bank/warnings")
    return _page(
        request, p, s, False, month=month, level=level, kind=kind or None, bank=bank or None,
        page=page,
    )  # fmt: skip


@router.get("/bank/warnings")
def bank_warnings_page(
    request: Request,
    month: str | None = MONTH_Q,
    level: int | None = LEVEL_Q,
    kind: str | None = KIND_Q,
    page: int = PAGE_Q,
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    """A bank's own borrowers with warnings (the service cuts the list to them)."""
    return _page(
        request, p, s, True, month=month, level=level, kind=kind or None, bank=None, page=page
    )


def workbook(s: Session, p: Principal, lang: str, **f: Any) -> tuple[IO[bytes], int]:
    """Every matching flagged firm, one row per signal, labels only; audited as one export."""
    res = warning_views.warning_list(
        s, p, **f, limit=100_000_000, offset=0, action="credit.warnings.export"
    )
    book = Book(streaming=True)
    ws = book.sheet("风险预警 warnings")
    ws.widths([22, 34, 10, 22, 50, 30])
    ws.freeze("A2")
    ws.row(
        [
            "统一社会信用代码 / USCC",
            "企业名称 / firm",
            "等级 / level",
            "预警类型 / kind",
            "说明 / detail",
            "涉及合同 / contracts",
        ]
    )
    for w in res["items"]:
        for x in w["reasons"]:
            ws.row(
                [
                    w["uscc"],
                    w["name"] or "",
                    label(WARNING_LEVELS, str(w["level"]), lang),
                    label(WARNING_KINDS, x["code"], lang),
                    x["en"] if lang == "en" else x["zh"],
                    "、".join(w["contracts"]),
                ]
            )
    about = book.sheet("说明 about")
    about.row(["项目 / item", "值 / value"])
    about.row(["预警月份 / month", res["month"].strftime("%Y-%m") if res["month"] else "—"])
    about.row(["企业数 / firms", res["total"]])
    return book.spooled(), res["total"]


def _download(request: Request, p: Principal, s: Session, **f: Any) -> StreamingResponse:
    book, n = workbook(s, p, lang_of(request), **{**f, "month": _month(f["month"])})
    return StreamingResponse(
        chunks(book),
        media_type=XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="warnings.xlsx"',
            "X-Kejin-Rows": str(n),
        },
    )


@router.get("/warnings/export.xlsx")
def warnings_export(
    request: Request,
    month: str | None = MONTH_Q,
    level: int | None = LEVEL_Q,
    kind: str | None = KIND_Q,
    bank: str | None = BANK_Q,
    p: Principal = permit("credit.warnings"),
    s: Session = TX,
) -> StreamingResponse:
    return _download(request, p, s, month=month, level=level, kind=kind or None, bank=bank or None)


@router.get("/bank/warnings/export.xlsx")
def bank_warnings_export(
    request: Request,
    month: str | None = MONTH_Q,
    level: int | None = LEVEL_Q,
    kind: str | None = KIND_Q,
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> StreamingResponse:
    return _download(request, p, s, month=month, level=level, kind=kind or None, bank=None)


@api.get("/credit/warnings", summary="风险预警名单 / early-warning list")
def warnings_api(
    month: str | None = MONTH_Q,
    level: int | None = LEVEL_Q,
    kind: str | None = KIND_Q,
    bank: str | None = BANK_Q,
    limit: int = Query(50, ge=1, le=warning_views.MAX_PAGE),
    offset: int = Query(0, ge=0, le=10_000_000),
    p: Principal = permit("credit.warnings"),
    s: Session = TX,
) -> dict[str, Any]:
    """Flagged firms of the month, most severe first (a bank: its own borrowers, the signals its
    consents allow)."""
    return warning_views.warning_list(
        s, p, month=_month(month), level=level, kind=kind, bank=bank, limit=limit, offset=offset
    )


router.include_router(api)
