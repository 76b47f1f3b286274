"""The auditor's page: the audit log filtered by action area (a prefix such as ``fund.``),
person and date range, read a hundred events at a time, verified, and downloaded as Excel."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from kejin.access import auditview, service
from kejin.access.audit import utcnow, verify
from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.errors import ValidationError
from kejin.exports import chunks
from kejin.vocab import AUDIT_AREAS, audit_action_label
from kejin.web.flash import with_query
from kejin.web.i18n import lang_of
from kejin.web.pages import problem_texts, render

router = APIRouter(include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AUDIT_PAGE = 100

ACTOR_Q = Query(None, max_length=60)
ACTION_Q = Query(None, max_length=60)
DAY_Q = Query(None, max_length=10)


def institution_names(s: Session) -> dict[str, str]:
    from sqlalchemy import select

    from kejin.lending.tables import Institution

    return dict(s.execute(select(Institution.id, Institution.name)).all())


@router.get("/audit")
def audit_page(
    request: Request,
    actor: str | None = ACTOR_Q,
    action: str | None = ACTION_Q,
    since: str | None = DAY_Q,
    until: str | None = DAY_Q,
    before_seq: int | None = Query(None, ge=1, le=2_000_000_000),
    check: bool = Query(False),
    p: Principal = permit("audit.read"),
    s: Session = TX,
) -> Response:
    lang = lang_of(request)
    errors: dict[str, str] = {}
    rows = []
    try:
        f = auditview.filters_of(actor, action, since, until)
        rows = service.query_audit(s, p, **f, before_seq=before_seq, limit=AUDIT_PAGE)
    except ValidationError as e:
        errors = problem_texts(e, lang)
    rep = verify(request.app.state.engine) if check else None
    here = f"{request.url.path}?{request.url.query}"
    names = institution_names(s)
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "rep": rep,
            "actor": actor or "",
            "action": action or "",
            "since": since or "",
            "until": until or "",
            "errors": errors,
            "areas": [(f"{k}.", a.en if lang == "en" else a.zh) for k, a in AUDIT_AREAS.items()],
            "label": lambda a: audit_action_label(a, lang),
            # a bank's system (its token) acts under the institution's id: named as the bank
            "who": lambda e: (
                names.get(e.actor) or auditview.actor_text(e.actor, e.actor_role, lang)
            ),
            "role": lambda e: auditview.role_label(e.actor_role, lang),
            "entity": lambda e: auditview.entity_text(e.entity_kind, e.entity_id, lang, names),
            "older": with_query(here, before_seq=rows[-1].seq, check=None)
            if len(rows) == AUDIT_PAGE
            else None,
            "newest": with_query(here, before_seq=None, check=None) if before_seq else None,
            "export": with_query(
                "/audit/export.xlsx",
                actor=actor or None,
                action=action or None,
                since=since or None,
                until=until or None,
            ),
            "now": utcnow(),
        },
        422 if errors else 200,
    )


@router.get("/audit/export.xlsx")
def audit_export(
    request: Request,
    actor: str | None = ACTOR_Q,
    action: str | None = ACTION_Q,
    since: str | None = DAY_Q,
    until: str | None = DAY_Q,
    p: Principal = permit("audit.export"),
    s: Session = TX,
) -> StreamingResponse:
    """Every event the filters match (oldest first), the download itself an audited event."""
    f = auditview.filters_of(actor, action, since, until)
    book, rows = auditview.workbook(s, p, lang_of(request), **f)
    return StreamingResponse(
        chunks(book),
        media_type=XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="audit.xlsx"',
            "X-Kejin-Rows": str(rows),
        },
    )
