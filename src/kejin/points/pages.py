"""The firm's points page: score, grade, ranks, radar against the peer median, contributions and
how to raise the score — same gate as the API (``points.read``)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.errors import NotFoundError
from kejin.ids import normalize_uscc
from kejin.points.routes import points_profile
from kejin.points.system import System, load_system
from kejin.registry.tables import Enterprise
from kejin.vocab import INDUSTRY_CHAINS, STAGES
from kejin.web import charts
from kejin.web.i18n import t, term
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)


def list_name(system: System, list_id: str | None, lang: str) -> str:
    """A points list band by its name in the system (``top5_10`` → 5%–10%)."""
    hit = next((x for x in system.lists if x.id == list_id), None)
    return (
        "—" if list_id is None else list_id if hit is None else (hit.en if lang == "en" else hit.zh)
    )


def target_name(system: System, target: str, lang: str) -> str:
    """An improvement target in words (``grade:A`` → 等级 A, ``list:top5`` → 名单 前5%)."""
    kind, _, code = target.partition(":")
    if kind == "grade":
        return f"{t('pt_grade', lang)} {code}"
    if kind == "list":
        return f"{t('pt_list', lang)} {list_name(system, code, lang)}"
    return target


def peer_name(group: str, lang: str) -> str:
    """A peer group in words: its parts are a lifecycle stage and, by the system, an industry
    chain (``growth`` → 成长期; the page said "同组 growth")."""
    parts = re.split(r"[:|/]", group)
    return " · ".join(
        term(STAGES, x, lang) if x in STAGES else term(INDUSTRY_CHAINS, x, lang) for x in parts
    )


@router.get("/firms/{uscc}/points")
def points_page(
    request: Request,
    uscc: str,
    p: Principal = permit("points.read", target="uscc"),
    s: Session = TX,
) -> Response:
    lang = lang_of(request)
    try:
        prof = points_profile(s, request.app.state.engine, p, uscc)
    except NotFoundError:
        # A firm the latest run has not scored (new, or no run yet): the profile links here,
        # so the page says so instead of an error page that tells a person to run a command.
        firm = s.get(Enterprise, normalize_uscc(uscc))
        if firm is None:
            raise
        return render(request, "points.html", {"pr": None, "firm": firm})
    firm = s.get(Enterprise, prof["uscc"])
    base = [i for i in prof["indicators"] if not i["bonus"]]
    radar = charts.radar(
        t("pt_radar", lang),
        [
            (i["en"] if lang == "en" else i["zh"], float(i["score"]), i["peer_median_score"])
            for i in base
        ],
    )
    names = {i["id"]: (i["en"] if lang == "en" else i["zh"]) for i in prof["indicators"]}
    system = load_system(prof["system"]).system
    return render(
        request,
        "points.html",
        {
            "pr": prof,
            "firm": firm,
            "radar": radar,
            "names": names,
            "units": {i["id"]: i["unit"] for i in prof["indicators"]},
            "system_name": system.en if lang == "en" else system.zh,
            "list_name": list_name(system, prof["list_id"], lang),
            "grade_scale": system.grade_scale(lang),
            "peer_name": peer_name(prof["peer_group"], lang),
            "target_name": lambda tid: target_name(system, tid, lang),
        },
    )
