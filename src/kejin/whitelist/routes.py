"""Routes of the whitelist: versions, diff, refresh, push (an xlsx file) and the list pushed to a bank.

Registers the push as a visibility source, so a bank officer sees the members of the latest version
pushed to the institution in search and profiles (level ``whitelist``) without any other change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import TX, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules, add_visibility
from kejin.params import Offset
from kejin.whitelist import service, visibility

router = APIRouter(prefix="/api", tags=["whitelist 白名单"])

add_rules(
    [
        *(Rule("whitelist.versions", r, "region") for r in READERS),
        *(Rule("whitelist.diff", r, "region") for r in READERS),
        Rule("whitelist.refresh", "gov_admin", "region"),
        Rule("whitelist.push", "gov_admin", "region"),
        *(Rule("whitelist.pushed", r, "region") for r in READERS),
        Rule("whitelist.pushed", "bank_officer", "own_institution"),
        *(Rule("page.whitelist", r, "region") for r in READERS),
    ]
)
add_visibility("whitelist", visibility.pushed_usccs)

#: Where pushed files are kept (their path and checksum are in ``whitelist_pushes``).
PUSH_DIR = Path(tempfile.gettempdir()) / "kejin-whitelist-pushes"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/whitelist/versions")
def list_versions(
    p: Principal = permit("whitelist.versions"), s: Session = TX
) -> list[dict[str, Any]]:
    """Whitelist versions, newest first, with members per tier."""
    return visibility.versions(s)


@router.get("/whitelist/diff")
def version_diff(
    request: Request,
    a: int = Query(..., ge=1, le=2**31 - 1, description="older version"),
    b: int = Query(..., ge=1, le=2**31 - 1, description="newer version"),
    p: Principal = permit("whitelist.diff"),
    s: Session = TX,
) -> dict[str, Any]:
    """Firms added, removed or re-tiered from version ``a`` to ``b``, each with the rules that
    caused it."""
    visibility.require_version(s, a)
    visibility.require_version(s, b)
    return service.diff(request.app.state.engine, a, b)


def do_refresh(request: Request, p: Principal, s: Session) -> dict[str, Any]:
    return service.refresh_by(s, request.app.state.engine, p)


def do_push(
    request: Request, p: Principal, s: Session, institution_id: str
) -> tuple[str, bytes, int]:
    """Push the latest version to one institution as xlsx; the file's name, bytes and push id."""
    engine = request.app.state.engine
    rec = service.push_by(s, engine, p, institution_id, "xlsx", PUSH_DIR)[0]
    path = Path(rec["file"])
    return path.name, path.read_bytes(), rec["push"]


@router.post("/whitelist/refresh")
def refresh(
    request: Request,
    p: Principal = permit("whitelist.refresh"),
    s: Session = TX,
) -> dict[str, Any]:
    """Build a new version from the latest points run and the rule set (gov_admin)."""
    return do_refresh(request, p, s)


@router.post(
    "/whitelist/push/{institution_id}",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "the pushed file"}},
)
def push(
    request: Request,
    institution_id: str,
    p: Principal = permit("whitelist.push"),
    s: Session = TX,
) -> Response:
    """Push the latest version's members (push fields only) to a bank; returns the xlsx file."""
    name, data, _ = do_push(request, p, s, institution_id)
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/whitelist/pushed/{institution_id}")
def pushed(
    institution_id: str,
    limit: int | None = Query(None, ge=1, le=100_000),
    offset: Offset = 0,
    q: str = Query("", max_length=60, description="USCC prefix or part of the name"),
    chain: str = Query("", max_length=30, description="industry chain code"),
    tier: str = Query("", max_length=10, description="tier code"),
    p: Principal = permit("whitelist.pushed", target="institution_id"),
    s: Session = TX,
) -> dict[str, Any]:
    """The latest version pushed to the institution: members, push fields only (``total`` of
    them that pass the filters; ``limit``/``offset`` for a slice, by code)."""
    wanted = {"q": q, "chain": chain, "tier": tier}
    out = visibility.pushed_list(s, institution_id, limit, offset, **wanted)
    access.log(
        s,
        p,
        "whitelist.pushed",
        "institution",
        institution_id,
        detail={"rows": len(out["items"]), **{k: v for k, v in wanted.items() if v}},
    )
    return out
