"""Whitelist pages: the government's versions / diff / refresh / push, and the bank's own list."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin import exports
from kejin.access import service as access
from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import KejinError, NotFoundError
from kejin.lending.tables import Institution
from kejin.points.system import load_system
from kejin.vocab import INDUSTRY_CHAINS, STAGES
from kejin.web import flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import t, term
from kejin.web.pages import lang_of, page_count, render
from kejin.whitelist import service, visibility
from kejin.whitelist.routes import XLSX, do_push, do_refresh
from kejin.whitelist.rules import load_rules
from kejin.whitelist.tables import WhitelistPush

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
    f = flash.read(request, s)
    d, changes = None, []
    if a in ids and b in ids and a is not None and b is not None:
        d = service.diff(request.app.state.engine, a, b)
        changes = [
            {**c, "reason_text": reason_text(c["reason"], d["rules"], lang)}
            for c in d["changes"][:500]
        ]
    rules, _ = load_rules(vs[0]["rules"] if vs else "default")
    tier_names = {x.id: (x.en if lang == "en" else x.zh) for x in rules.tiers}
    rule_sets = {}
    for v in vs:
        if v["rules"] not in rule_sets:
            r = load_rules(v["rules"])[0]
            rule_sets[v["rules"]] = r.en if lang == "en" else r.zh
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
            "rule_sets": rule_sets,
            "a": a,
            "b": b,
            "banks": banks,
            "bank_names": dict(s.execute(select(Institution.id, Institution.name)).all()),
            "pushes": service.push_log(request.app.state.engine, 20),
            "notice": notice,
            "error": f.error and (f.error.reason_en if lang == "en" else f.error.reason_zh),
            "pushed": request.query_params.get("push") if notice == "pushed" else None,
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
    try:
        with s.begin_nested():
            out = do_refresh(request, p, s)
    except KejinError as e:  # e.g. no points run yet: said on the page, beside the button
        return refused(request, s, "/whitelist", e)
    return see_other(request, "/whitelist", notice=f"refreshed_{out['version']}")


@router.post("/whitelist/push")
def whitelist_push(
    request: Request,
    institution_id: str = Form("", max_length=20),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("whitelist.push"),
    s: Session = TX,
) -> Response:
    """Push the latest version to the chosen bank, then show the push on the whitelist page
    with a link to the file sent (a download as the POST's answer left the page unchanged, with
    no word that the push had happened)."""
    check_csrf(request, csrf_token_)
    try:
        with s.begin_nested():
            push_id = do_push(request, p, s, institution_id)[2]
    except KejinError as e:  # no version yet, an unknown bank …
        return refused(request, s, "/whitelist", e, {"institution_id": institution_id})
    return see_other(request, "/whitelist", notice="pushed", push=push_id)


@router.get("/whitelist/pushes/{push_id}/file")
def pushed_file(
    request: Request,
    push_id: int = PathParam(ge=1, le=2**31 - 1),
    p: Principal = permit("whitelist.push"),
    s: Session = TX,
) -> Response:
    """The file one push sent, as it was sent (its checksum is verified before it is served)."""
    row = s.get(WhitelistPush, push_id)
    path = Path(row.file_name) if row is not None else None
    data = path.read_bytes() if path is not None and path.is_file() else None
    if row is None or data is None or hashlib.sha256(data).hexdigest() != row.sha256:
        raise NotFoundError(
            f"推送 {push_id} 的文件已不在服务器上，请重新推送",
            f"the file of push {push_id} is no longer on the server: push again",
        )
    access.log(
        s, p, "whitelist.push_file", "institution", row.institution_id, detail={"push": push_id}
    )
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )


WL_PAGE = 100


def _names(lang: str) -> dict[str, str]:
    """Tier, rule and points-list band names in the page language (the codes a list holds)."""
    rules, _ = load_rules("default")
    bands = load_system(rules.points_system).system.lists  # the list_id column's bands
    return {
        x.id: (x.en if lang == "en" else x.zh)
        for x in (*rules.tiers, *rules.entry, *rules.exclusions, *bands)
    }


def labelled(field: str, value: Any, names: dict[str, str], lang: str) -> Any:
    """One pushed field as a person reads it: tiers, stages, chains, bands and rules by name."""
    if value is None:
        return "—"
    if field == "stage":
        return term(STAGES, value, lang)
    if field == "industry_chain":
        return term(INDUSTRY_CHAINS, value, lang)
    if field in ("tier", "list_id"):
        return names.get(value, value)
    if field == "entry_rules":
        return "；".join(names.get(i, i) for i in value.split(",") if i)
    return value


@router.get("/bank/whitelist")
def bank_whitelist(
    request: Request,
    page: int = Query(1, ge=1, le=100_000),
    q: str = Query("", max_length=60),
    chain: str = Query("", max_length=30),
    tier: str = Query("", max_length=10),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    """The pushed list a screen at a time (a region's list runs to tens of thousands of firms),
    searched by USCC or name, chain and tier; the same search downloads as Excel or CSV."""
    assert p.institution_id is not None
    lang = lang_of(request)
    wanted = {"q": q, "chain": chain, "tier": tier}
    try:
        out = visibility.pushed_list(s, p.institution_id, WL_PAGE, (page - 1) * WL_PAGE, **wanted)
        error = None
    except KejinError as e:  # a filter on a field the rule set does not push
        out = visibility.pushed_list(s, p.institution_id, WL_PAGE, (page - 1) * WL_PAGE)
        error = e.reason_en if lang == "en" else e.reason_zh
    pages = page_count(out["total"], WL_PAGE)
    access.log(
        s,
        p,
        "whitelist.pushed",
        "institution",
        p.institution_id,
        detail={"rows": len(out["items"]), **{k: v for k, v in wanted.items() if v}},
    )
    rules, _ = load_rules("default")
    return render(
        request,
        "bank_whitelist.html",
        {
            "wl": out,
            "names": _names(lang),
            "page": min(page, pages),
            "pages": pages,
            "filters": wanted,
            "query": urlencode({k: v for k, v in wanted.items() if v}),
            "tiers": [(x.id, x.en if lang == "en" else x.zh) for x in rules.tiers],
            "chains": [(k, term(INDUSTRY_CHAINS, k, lang)) for k in INDUSTRY_CHAINS],
            "error": error,
        },
    )


@router.get("/bank/whitelist/download")
def bank_whitelist_download(
    request: Request,
    fmt: Literal["xlsx", "csv"] = Query("xlsx"),
    q: str = Query("", max_length=60),
    chain: str = Query("", max_length=30),
    tier: str = Query("", max_length=10),
    p: Principal = permit("page.bank"),
    s: Session = TX,
) -> Response:
    """Every row of the search (not the screen) as Excel or CSV, headed and labelled in the
    page language, through :mod:`kejin.exports`; the download is audited with its filters."""
    assert p.institution_id is not None
    lang = lang_of(request)
    wanted = {"q": q, "chain": chain, "tier": tier}
    out = visibility.pushed_list(s, p.institution_id, **wanted)
    if out["version"] is None:
        raise NotFoundError("尚未收到白名单推送", "no whitelist has been pushed to your bank yet")
    names = _names(lang)
    fields = out["fields"]
    head = [t(f"wlf_{f}", lang) for f in fields]
    rows = [[labelled(f, r[f], names, lang) for f in fields] for r in out["items"]]
    access.log(
        s,
        p,
        "whitelist.download",
        "institution",
        p.institution_id,
        detail={"rows": len(rows), "format": fmt, **{k: v for k, v in wanted.items() if v}},
    )
    stem = f"whitelist-{p.institution_id}-v{out['version']}"
    if fmt == "csv":
        frame = pl.DataFrame(
            {h: [str(r[j]) for r in rows] for j, h in enumerate(head)},
            schema={h: pl.String for h in head},
        )
        data, media = exports.csv_bytes(frame), "text/csv; charset=utf-8"
    else:
        book = exports.Book()
        sheet = book.sheet(f"v{out['version']}")
        sheet.row(head)
        sheet.rows(rows)
        sheet.freeze("A2")
        data, media = book.to_bytes(), XLSX
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )
