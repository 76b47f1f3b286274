"""The government's statistics page: pick a month, a population and a breakdown; every figure
with its definition, population and dates; the trend of any indicator over the months with data;
the first-loan flag check; the monthly statistics book as Excel.

Reads only (GET): nothing here changes data, so there is no form to post.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.errors import KejinError
from kejin.stats import kernels, service
from kejin.stats.book import build
from kejin.stats.definitions import MEASURES
from kejin.stats.labels import (
    BREAKDOWN_LABELS,
    POPULATION_LABELS,
    UNIT_LABELS,
    group_label,
    in_unit,
    institution_names,
    pick,
    shown,
)
from kejin.stats.routes import engine_of
from kejin.web import charts
from kejin.web.pages import lang_of, problem_texts, render

router = APIRouter(include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def formula_text(ind: str, defs: dict[str, Any], lang: str) -> str:
    """An indicator's formula in words: the measures' and indicators' labels, never their ids."""
    f = defs[ind]["formula"]

    def name(x: str) -> str:
        if x in MEASURES:
            return pick(MEASURES[x], lang)
        return defs[x]["label_en" if lang == "en" else "label_zh"]

    num, den = name(f["numerator"]), name(f["denominator"]) if "denominator" in f else ""
    return {
        "measure": num,
        "ratio": f"{num} ÷ {den}",
        "growth": f"{num} ÷ {den} − 1",
        "gap_pp": f"({num} − {den}) × 100",
    }[f["kind"]]


def _month_or_latest(month: str | None, have: list[str]) -> str | None:
    return month if month else (have[-1] if have else None)


@router.get("/stats")
def stats_page(
    request: Request,
    month: str | None = Query(None, max_length=7),
    by: str = Query("bank", pattern="^(bank|chain|region|stage|tier|qualification|product-kind)$"),
    population: str = Query("list", pattern="^(list|whitelist)$"),
    ind: str = Query("tech_loan_balance", max_length=40),
    p: Principal = permit("stats.monthly"),
    s: Session = TX,
) -> Response:
    lang = lang_of(request)
    eng = engine_of(s)
    have = [f"{m:%Y-%m}" for m in service.months_with_data(eng)]
    chosen = _month_or_latest(month, have)
    ctx: dict[str, Any] = {
        "months": have,
        "month": chosen,
        "by": by,
        "population": population,
        "ind": ind,
        "breakdowns": [(k, pick(v, lang)) for k, v in BREAKDOWN_LABELS.items()],
        "populations": [(k, pick(v, lang)) for k, v in POPULATION_LABELS.items()],
        "error": None,
        "report": None,
    }
    if chosen is None:
        return render(request, "stats.html", ctx)
    try:  # the definitions in effect on the month's end (a bad month is refused below)
        on = kernels.month_end(service.parse_month(chosen))
    except KejinError:
        on = None
    defs = service.definitions(on)
    if ind not in defs:
        ind = "tech_loan_balance"
    try:
        reports = service.month_reports(eng, chosen, [None, by], population)
        trend = service.series(eng, chosen, 13, None, population)
    except KejinError as e:
        details = "；".join(problem_texts(e, lang).values())
        ctx["error"] = (e.reason_en if lang == "en" else e.reason_zh) + (
            f"（{details}）" if details else ""
        )
        return render(request, "stats.html", ctx, status=400)
    overall, part = reports[None], reports[by]
    service.log_flag_read(s, p, overall)
    names = institution_names(eng)
    key = "label_en" if lang == "en" else "label_zh"
    rows = [
        {
            "id": i,
            "label": d[key],
            "value": shown(d["unit"], overall["indicators"][i]),
            "unit": pick(UNIT_LABELS[d["unit"]], lang),
            "formula": formula_text(i, defs, lang),
            "basis": pick(POPULATION_LABELS[population], lang)
            if d["population"] == "list"
            else ("all loans" if lang == "en" else "全部贷款"),
            "source": f"{d['source']['document']} {d['source']['article']}",
            "effective": d["effective_from"],
        }
        for i, d in defs.items()
    ]
    groups = [
        {
            "label": group_label(by, g["group"], names, lang),
            "cells": [shown(defs[i]["unit"], g["indicators"][i]) for i in defs],
        }
        for g in part["groups"]
    ]
    unit = defs[ind]["unit"]
    pts = [(r["month"], in_unit(unit, r["indicators"][ind])) for r in trend["rows"]]
    fmt = (lambda v: f"{v * 100:.2f}%") if unit in ("fraction", "rate") else (lambda v: f"{v:,.2f}")
    title = f"{defs[ind][key]}（{pick(UNIT_LABELS[unit], lang)}）"
    svgs = [
        charts.line(title, [(m, None if v is None else float(v)) for m, v in pts], fmt),
        charts.hbar(
            f"{defs['tech_loan_balance'][key]} · {pick(BREAKDOWN_LABELS[by], lang)}",
            [
                (
                    group_label(by, g["group"], names, lang),
                    in_unit("yuan", g["indicators"]["tech_loan_balance"]) or 0,
                )
                for g in part["groups"]
                if g["group"] != kernels.NONE
            ],
            1,
            lang=lang,
        ),
    ]
    ctx.update(
        report=overall,
        ind=ind,
        rows=rows,
        heads=[(i, d[key], pick(UNIT_LABELS[d["unit"]], lang)) for i, d in defs.items()],
        groups=groups,
        charts=svgs,
        flags=overall["first_time_flag_disagreements"],
        names=names,
        population_text=overall["population"]["en" if lang == "en" else "zh"],
    )
    return render(request, "stats.html", ctx)


@router.get("/stats/book.xlsx")
def stats_book(
    month: str = Query(..., pattern=r"^\d{4}-\d{2}$"),
    population: str = Query("list", pattern="^(list|whitelist)$"),
    p: Principal = permit("stats.monthly"),
    s: Session = TX,
) -> Response:
    """The month's statistics book as a download (charts embedded in its last sheet)."""
    with tempfile.TemporaryDirectory(prefix="kejin-book-") as tmp:
        out = Path(tmp) / f"stats-{month}.xlsx"
        made = build(engine_of(s), month, out, population, Path(tmp) / "charts")
        body = out.read_bytes()
    service.log_flag_read(s, p, made)
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="kejin-stats-{month}.xlsx"'},
    )
