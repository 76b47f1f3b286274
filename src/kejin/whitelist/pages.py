"""Whitelist pages: the government's versions / diff / refresh / push, and the bank's own list."""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.lending.tables import Institution
from kejin.web.pages import lang_of, page_count, render
from kejin.whitelist import service, visibility
from kejin.whitelist.routes import XLSX, do_push, do_refresh
from kejin.whitelist.rules import load_rules

router = APIRouter(include_in_schema=False)


REASON_KINDS = {
    "entry": ("符合入库规则", "meets entry rules"),
    "lifted": ("排除情形已消除", "exclusions lifted"),
    "exclusion": ("触发排除规则", "hit exclusion rules"),
    "lapsed": ("原入库依据不再成立", "no longer meets"),
    "tier": ("调整至层级", "moved to tier"),
}


def reason_text(reason: str | None, rules: dict[str, dict[str, str]], lang: str) -> str:
    """``entry:r1,r2;lifted:x`` → readable text with each rule's name in the page language."""
    if not reason:
        return "—"
    parts = []
    for part in reason.split(";"):
        kind, _, ids = part.partition(":")
        zh, en = REASON_KINDS.get(kind, (kind, kind))
        names = [rules.get(i, {}).get(lang, i) for i in ids.split(",") if i]
        parts.append(f"{en if lang == 'en' else zh}: {', '.join(names)}")
    return "; ".join(parts)


@router.get("/whitelist")
def whitelist_page(
    request: Request,
    a: int | None = Query(None, ge=1, le=2**31 - 1),
    b: int | None = Query(None, ge=1, le=2**31 - 1),
    notice: str | None = Query(None, max_length=40),
    p: Principal = permit("page.whitelist"),
    s: Session = TX,
) -> Response:
    vs = visibility.versions(s)
    ids = [v["version"] for v in vs]
    if a is None and b is None and len(ids) >= 2:
        a, b = ids[1], ids[0]
    lang = lang_of(request)
    d, changes = None, []
    if a in ids and b in ids and a is not None and b is not None:
        d = service.diff(request.app.state.engine, a, b)
        changes = [
            {**c, "reason_text": reason_text(c["reason"], d["rules"], lang)}
            for c in d["changes"][:500]
        ]
    rules, _ = load_rules(vs[0]["rules"] if vs else "default")
    tier_names = {x.id: (x.en if lang == "en" else x.zh) for x in rules.tiers}
    banks = s.execute(
        select(Institution.id, Institution.name)
        .where(Institution.partner_bank.is_(True))
        .order_by(Institution.id)
    ).all()
    return render(
        request,
        "whitelist.html",
        {
            "versions": vs,
            "diff": d,
            "changes": changes,
            "tier_names": tier_names,
            "a": a,
            "b": b,
            "banks": banks,
            "pushes": service.push_log(request.app.state.engine, 20),
            "notice": notice,
        },
    )


@router.post("/whitelist/refresh")
def whitelist_refresh(
    request: Request,
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("whitelist.refresh"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    out = do_refresh(request, p, s)
    return RedirectResponse(
        f"/whitelist?notice=refreshed_{out['version']}&lang={lang_of(request)}", status_code=303
    )


@router.post("/whitelist/push")
def whitelist_push(
    request: Request,
    institution_id: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("whitelist.push"),
    s: Session = TX,
) -> Response:
    """Push the latest version to the chosen bank and hand the file to the browser."""
    check_csrf(request, csrf_token_)
    name, data = do_push(request, p, s, institution_id)
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


WL_PAGE = 100


@router.get("/bank/whitelist")
def bank_whitelist(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    """The pushed list a screen at a time: a region's list runs to tens of thousands of firms."""
    assert p.institution_id is not None
    out = visibility.pushed_list(s, p.institution_id, WL_PAGE, (page - 1) * WL_PAGE)
    pages = page_count(out["total"], WL_PAGE)
    access.log(
        s,
        p,
        "whitelist.pushed",
        "institution",
        p.institution_id,
        detail={"rows": len(out["items"])},
    )
    lang = lang_of(request)
    rules, _ = load_rules("default")
    names = {
        x.id: (x.en if lang == "en" else x.zh)
        for x in (*rules.tiers, *rules.entry, *rules.exclusions)
    }
    return render(
        request,
        "bank_whitelist.html",
        {"wl": out, "names": names, "page": min(page, pages), "pages": pages},
    )
