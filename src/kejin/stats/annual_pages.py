"""Pages and API of the yearly figures: the bank evaluation (all banks for the government, its own
scorecard for a bank), the development index with its trend chart, and the policy-effect reports.

The figures are computed by the same services as ``kejin stats banks | index | effect``; a year
without data is shown as such on the page (never zeros). The trend chart is a PNG drawn with
:func:`kejin.plotting.pyplot` (the CJK font), inlined as a data URI.
"""

from __future__ import annotations

import base64
import io
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import KejinError, Problem, ValidationError
from kejin.lending.tables import Institution, LoanStatus
from kejin.policy.tables import Application, Programme
from kejin.stats.effect import effect_report
from kejin.stats.evaluation.service import enter_mark, evaluate, evidence_file
from kejin.stats.index import index_report
from kejin.web import charts, flash
from kejin.web.flash import refused, see_other
from kejin.web.i18n import t
from kejin.web.pages import lang_of, render

router = APIRouter()
Year = Annotated[int | None, Query(ge=2000, le=2100)]
MAX_EVIDENCE = 10 * 1024 * 1024
#: Sensitivity draws on a page (the command's default is 200; a page answers faster).
PAGE_DRAWS = 100


def _year(s: Session, year: int | None) -> int:
    """The year asked, else the latest with loan-status data (else this year)."""
    if year is not None:
        return year
    m = s.scalar(select(func.max(LoanStatus.month)))
    return m.year if m is not None else date.today().year


def _err(e: KejinError, lang: str) -> dict[str, Any]:
    en = lang == "en"
    return {
        "reason": e.reason_en if en else e.reason_zh,
        "problems": [
            {"field": pr.field, "value": pr.value, "reason": pr.reason_en if en else pr.reason_zh}
            for pr in e.problems
        ],
    }


def _evaluation(request: Request, s: Session, p: Principal, year: int | None, tpl: str) -> Response:
    lang = lang_of(request)
    y = _year(s, year)
    f = flash.read(request, s)
    try:
        res = evaluate(request.app.state.engine, y, s, p, draws=PAGE_DRAWS)
    except ValidationError:
        res = None
    chart = None
    if res and len(res["scorecards"]) > 1:
        chart = charts.hbar(
            t("ev_total", lang),
            [(c["bank_name"], c["total"]) for c in res["scorecards"]],
            lang=lang,
        )
    banks = [(i.id, i.name) for i in s.scalars(select(Institution).where(Institution.kind == "bank").order_by(Institution.id))]  # fmt: skip
    return render(
        request,
        tpl,
        {
            "res": res,
            "year": y,
            "chart": chart,
            "banks": banks,
            "notice": request.query_params.get("notice") == "marked",
            "error": None if f.error is None else _err(f.error, lang),
            "form": f.form,
            "label": lambda ind: (
                res["indicators"][ind]["label_en" if lang == "en" else "label_zh"] if res else ind
            ),
        },
    )


@router.get("/stats/banks", include_in_schema=False)
def banks_page(
    request: Request, year: Year = None, p: Principal = permit("stats.banks"), s: Session = TX
) -> Response:
    return _evaluation(request, s, p, year, "evaluation.html")


@router.get("/bank/evaluation", include_in_schema=False)
def bank_evaluation_page(
    request: Request, year: Year = None, p: Principal = permit("page.bank"), s: Session = TX
) -> Response:
    return _evaluation(request, s, p, year, "evaluation_bank.html")


@router.post("/stats/banks/mark", include_in_schema=False)
def mark_submit(
    request: Request,
    year: str = Form("", max_length=4),
    bank: str = Form("", max_length=20),
    item: str = Form("", max_length=40),
    points: str = Form("", max_length=10),
    reason: str = Form("", max_length=500),
    evidence: UploadFile | None = File(None),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("stats.mark"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"year": year, "bank": bank, "item": item, "points": points, "reason": reason}
    page = f"/stats/banks?year={year}" if year.isdigit() else "/stats/banks"
    try:
        with s.begin_nested():
            try:
                pts = Decimal(points.strip())
                y = int(year)
            except (InvalidOperation, ValueError):
                raise ValidationError(
                    "年度或得分无效", "invalid year or points",
                    [Problem("不是数字", "not a number", field="points", value=points)],
                ) from None  # fmt: skip
            data = b"" if evidence is None else evidence.file.read(MAX_EVIDENCE + 1)
            name = "" if evidence is None or not evidence.filename else evidence.filename
            enter_mark(s, p, year=y, bank=bank, item=item, points=pts, reason=reason,
                       evidence_name=name.rsplit("/", 1)[-1], evidence=data)  # fmt: skip
    except KejinError as e:
        return refused(request, s, page, e, form)
    return see_other(request, page, notice="marked")


@router.get("/stats/banks/{institution_id}/evidence", include_in_schema=False)
def evidence_download(
    institution_id: str,
    year: int = Query(..., ge=2000, le=2100),
    item: str = Query(..., max_length=40),
    p: Principal = permit("stats.bank_card", target="institution_id"),
    s: Session = TX,
) -> Response:
    """A qualitative mark's evidence file: the government's readers for every bank, a bank's
    officers for their own (the service checks the tenancy again and audits the read)."""
    m = evidence_file(s, p, year, institution_id, item)
    return Response(
        m.evidence,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(m.evidence_name)}",
            "X-Content-SHA256": m.evidence_sha256,
        },
    )


def trend_png(res: dict[str, Any], lang: str) -> str:
    """The index and its sensitivity band by month, as a PNG data URI (CJK labels)."""
    from kejin.plotting import pyplot

    plt = pyplot()
    xs = [x["month"] for x in res["series"]]
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=110)
    try:
        if res["series"][0]["p5"] is not None:
            ax.fill_between(xs, [x["p5"] for x in res["series"]], [x["p95"] for x in res["series"]],
                            alpha=0.2, label=t("ix_range", lang))  # fmt: skip
        ax.plot(xs, [x["index"] for x in res["series"]], marker="o", label=t("ix_value", lang))
        ax.axhline(100, color="grey", lw=0.8, ls="--")
        ax.set_title(t("ix_trend", lang))
        ax.set_xlabel(t("ix_month", lang))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@router.get("/stats/index", include_in_schema=False)
def index_page(
    request: Request, year: Year = None, p: Principal = permit("stats.region"), s: Session = TX
) -> Response:
    lang = lang_of(request)
    y = _year(s, year)
    try:
        res = index_report(request.app.state.engine, y, draws=PAGE_DRAWS)
    except ValidationError:
        res = None
    return render(
        request,
        "stats_index.html",
        {"res": res, "year": y, "trend": trend_png(res, lang) if res else None},
    )


def _programmes(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(
        select(Programme.id, Programme.policy_id, Programme.year,
               func.count(Application.id), func.sum(Application.paid_total))
        .join(Application, Application.programme_id == Programme.id)
        .where(Application.paid_total > 0)
        .group_by(Programme.id, Programme.policy_id, Programme.year)
        .order_by(Programme.year, Programme.id)
    ).all()  # fmt: skip
    return [{"id": r[0], "policy": r[1], "year": r[2], "firms": r[3], "paid": r[4]} for r in rows]


def _policy_name(policy_id: str, lang: str) -> str:
    from kejin.policy import library

    try:
        pol = library.get(policy_id)
    except KejinError:
        return policy_id
    return pol.title_en if lang == "en" else pol.title_zh


@router.get("/stats/effects", include_in_schema=False)
def effects_page(
    request: Request,
    programme: Annotated[str | None, Query(max_length=60)] = None,
    p: Principal = permit("stats.region"),
    s: Session = TX,
) -> Response:
    lang = lang_of(request)
    progs = _programmes(s)
    chosen = programme or (progs[0]["id"] if progs else None)
    res = None
    error = None
    if chosen is not None:
        try:
            res = effect_report(request.app.state.engine, chosen)
        except KejinError as e:
            error = _err(e, lang)
    return render(
        request,
        "stats_effect.html",
        {"programmes": progs, "chosen": chosen, "res": res, "error": error,
         "policy_name": lambda pid: _policy_name(pid, lang)},
    )  # fmt: skip


# ------------------------------------------------------------------ JSON API


@router.get("/api/stats/banks", tags=["stats"], summary="银行服务成效评估 / bank evaluation")
def api_banks(
    request: Request, year: Year = None, p: Principal = permit("stats.banks"), s: Session = TX
) -> dict[str, Any]:
    return evaluate(request.app.state.engine, _year(s, year), s, p, draws=PAGE_DRAWS)


@router.get("/api/stats/index", tags=["stats"], summary="科技金融发展指数 / development index")
def api_index(
    request: Request, year: Year = None, p: Principal = permit("stats.region"), s: Session = TX
) -> dict[str, Any]:
    return index_report(request.app.state.engine, _year(s, year), draws=PAGE_DRAWS)


@router.get("/api/stats/effects/{programme_id}", tags=["stats"], summary="政策效果 / policy effect")
def api_effect(
    request: Request, programme_id: str, p: Principal = permit("stats.region"), s: Session = TX
) -> dict[str, Any]:
    return effect_report(request.app.state.engine, programme_id)
