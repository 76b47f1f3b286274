"""Post/redirect/get: every page form's POST answers 303 to a GET page, never a page of its own.

A page rendered as the answer to a POST was a dead end: reloading it re-posted the form, and
its language switch (a link to the same address) asked for a GET the address does not serve
(405). Now a POST does its work, then sends the browser to the GET page where the result
belongs, with a short notice (``?notice=…``) or, when it carries more (a refusal with its
problems, the values typed, an import's counts), a *flash*: a row of ``page_flashes`` named by
a random id in the address (``?flash=…``). The row holds every reason in both languages, so
the GET page shows it in whichever language is chosen, and switching language — which keeps the
path and query — shows the same result again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.tables import PageFlash
from kejin.errors import KejinError, Problem
from kejin.web.i18n import lang_of

#: How long a flash can be shown again (reload, language switch) before it is deleted.
KEEP = timedelta(hours=1)


@dataclass
class Flash:
    """A POST's result as its GET page reads it (empty when the address names none)."""

    error: KejinError | None = None
    form: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _owner(request: Request) -> int:
    p = getattr(request.state, "principal", None)
    return p.user_id if p is not None else 0


def put(
    s: Session,
    request: Request,
    *,
    error: KejinError | None = None,
    form: dict[str, str] | None = None,
    **data: Any,
) -> str:
    """Store a result for the caller's next page; its id for the address."""
    now = utcnow()
    s.execute(delete(PageFlash).where(PageFlash.created_at < now - KEEP))
    fid = secrets.token_hex(16)
    payload = {
        "error": error.to_dict() if error is not None else None,
        "form": form or {},
        "data": data,
    }
    s.add(
        PageFlash(
            id=fid,
            user_id=_owner(request),
            created_at=now,
            payload=json.dumps(payload, ensure_ascii=False, default=str),
        )
    )
    s.flush()
    return fid


def read(request: Request, s: Session) -> Flash:
    """The flash the address names, if it is the caller's and fresh; else an empty one."""
    fid = request.query_params.get("flash") or ""
    if not fid or len(fid) > 32:
        return Flash()
    row = s.get(PageFlash, fid)
    if row is None or row.user_id != _owner(request) or row.created_at < utcnow() - KEEP:
        return Flash()
    d = json.loads(row.payload)
    err = None
    if d["error"] is not None:
        e = d["error"]
        err = KejinError(
            e["reason_zh"], e["reason_en"], [Problem(**pr) for pr in e.get("problems", [])]
        )
    return Flash(err, d["form"], d["data"])


def with_query(url: str, **params: Any) -> str:
    """``url`` with ``params`` set in its query (``None`` drops one), fragment kept."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    for k, v in params.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = str(v)
    return urlunsplit(parts._replace(query=urlencode(q)))


def see_other(request: Request, url: str, **params: Any) -> RedirectResponse:
    """303 to the GET page ``url``, in the language the form was posted in when its address
    named one (else the cookie, read again by the GET, keeps it)."""
    lang = lang_of(request) if request.query_params.get("lang") else None
    return RedirectResponse(with_query(url, lang=lang, **params), status_code=303)


def refused(
    request: Request,
    s: Session,
    url: str,
    error: KejinError,
    form: dict[str, str] | None = None,
    **data: Any,
) -> RedirectResponse:
    """A refusal: kept as a flash and shown by the GET page ``url`` next to its form."""
    return see_other(request, url, flash=put(s, request, error=error, form=form, **data))
