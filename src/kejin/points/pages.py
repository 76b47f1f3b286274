"""The firm's points page: score, grade, ranks, radar against the peer median, contributions and
how to raise the score — same gate as the API (``points.read``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.errors import NotFoundError
from kejin.ids import normalize_uscc
from kejin.points.labels import list_name, peer_name, target_name
from kejin.points.routes import points_profile
from kejin.points.system import load_system
from kejin.registry.tables import Enterprise
from kejin.web import charts
from kejin.web.i18n import t
from kejin.web.pages import lang_of, render

router = APIRouter(include_in_schema=False)


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
