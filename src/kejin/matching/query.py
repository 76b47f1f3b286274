"""Matching as people ask for it: products for a need, needs and prospects for a product, the funnel.

This module reads the tables into frames (the analytic path, :mod:`kejin.frames`), hands them to
the pure kernels, and shapes the answer — including what a bank may see of a firm: the whitelist
fields always, the firm's figures only under a live consent to that bank
(:func:`kejin.access.rules.live_consent` for the ``financials`` data class, the function the
registry's profiles use).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, authorize, live_consent, require_consent
from kejin.access.service import log
from kejin.credit import features, models, points_link, tech_model
from kejin.credit.artefact import loads
from kejin.credit.tables import CreditModel
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import table_schema
from kejin.lending.tables import Institution, Loan
from kejin.matching import approval, kernels, params
from kejin.matching.service import get as get_need
from kejin.matching.tables import Need, ProductVersion
from kejin.registry.profiles import WHITELIST_FIELDS
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.vocab import GUARANTEE_KINDS
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

PRODUCT_COLUMNS = [
    "product_id",
    "institution_id",
    "kind",
    "name",
    "min_amount",
    "max_amount",
    "min_term_months",
    "max_term_months",
    "spread_min_bp",
    "spread_max_bp",
    "guarantee_kinds",
    "eligibility",
    "credit_model",
]
NEED_COLUMNS = ["id", "uscc", "amount", "term_months", "max_rate", "guarantee_offered"]
FIRM_DETAIL = (
    "revenue",
    "revenue_2y",
    "rd_expense",
    "staff",
    "points",
    "tier",
    "years_in_business",
)


def _in(col: Any, values: list[str] | None) -> Any:
    return None if values is None else col.in_(values)


def firms(conn: Connection, usccs: list[str] | None, as_of: date) -> pl.DataFrame:
    """The firm frame of :func:`kernels.firm_frame` for ``usccs`` (every firm when None)."""

    def q(table: Any, cols: list[str]) -> pl.DataFrame:
        stmt = select(*[table.c[c] for c in cols])
        if usccs is not None:
            stmt = stmt.where(table.c.uscc.in_(usccs))
        rows = conn.execute(stmt).all()
        return pl.DataFrame(
            [tuple(r) for r in rows], schema=table_schema(table, cols), orient="row", strict=False
        )

    ent = q(
        Enterprise.__table__,
        [
            "uscc",
            "name",
            "region_code",
            "industry_chain",
            "stage",
            "founded_on",
            "staff",
            "dishonest",
            "abnormal_operation",
        ],
    )
    ind = q(
        AnnualIndicator.__table__,
        [
            "uscc",
            "year",
            "revenue",
            "rd_expense",
            "profit",
            "invention_patents",
            "tax_credit_grade",
        ],
    )
    quals = q(Qualification.__table__, ["uscc", "kind", "valid_from", "valid_to"])
    borrowers = q(Loan.__table__, ["uscc"]).unique()
    latest = conn.execute(select(func.max(WhitelistVersion.id))).scalar()
    wl = q(WhitelistEntry.__table__, ["version_id", "uscc", "status", "tier"])
    wl = (
        wl.filter((pl.col("version_id") == latest) & (pl.col("status") == "member"))
        if wl.height
        else wl
    )
    pts = points_link.points_frame(conn, usccs)
    points = (
        points_link.latest(pts).select("uscc", pl.col("total").alias("points"))
        if pts is not None and pts.height
        else pl.DataFrame(schema={"uscc": pl.String, "points": pl.Float64})
    )
    return kernels.firm_frame(ent, ind, quals, borrowers, wl.select("uscc", "tier"), points, as_of)


def products_frame(s: Session, product_id: str | None = None) -> pl.DataFrame:
    q = select(ProductVersion).where(ProductVersion.state == "live")
    if product_id is not None:
        q = q.where(ProductVersion.product_id == product_id)
    rows = [
        {c: getattr(v, c) for c in PRODUCT_COLUMNS}
        for v in s.scalars(q.order_by(ProductVersion.product_id))
    ]
    schema = {c: pl.String for c in PRODUCT_COLUMNS} | {
        "min_amount": pl.Float64,
        "max_amount": pl.Float64,
        "min_term_months": pl.Int64,
        "max_term_months": pl.Int64,
        "spread_min_bp": pl.Int64,
        "spread_max_bp": pl.Int64,
        "guarantee_kinds": pl.List(pl.String),
    }
    for r in rows:
        r["min_amount"], r["max_amount"] = float(r["min_amount"]), float(r["max_amount"])
    return pl.DataFrame(rows, schema=schema)


def needs_frame(needs: list[Need]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "need_id": n.id,
                "uscc": n.uscc,
                "amount": float(n.amount),
                "term_months": n.term_months,
                "max_rate": None if n.max_rate is None else float(n.max_rate),
                "guarantee_offered": list(n.guarantee_offered),
            }
            for n in needs
        ],
        schema={
            "need_id": pl.Int64,
            "uscc": pl.String,
            "amount": pl.Float64,
            "term_months": pl.Int64,
            "max_rate": pl.Float64,
            "guarantee_offered": pl.List(pl.String),
        },
    )


def approvals(
    conn: Connection, prods: pl.DataFrame, usccs: list[str], as_of: date
) -> tuple[pl.DataFrame | None, dict[str, str]]:
    """Approval probability ``1 − PD`` per firm under each product's named credit model.

    Returns the frame (uscc, credit_model, approval_prob, model_id) and, per model name, the
    sentence that explains it (which registered version, or that none is registered).
    """
    names = sorted(set(prods["credit_model"].drop_nulls().to_list()))
    notes: dict[str, str] = {}
    parts = []
    for name in names:
        row = conn.execute(
            select(CreditModel.id, CreditModel.artefact)
            .where(CreditModel.name == name)
            .order_by(CreditModel.version.desc())
            .limit(1)
        ).first()
        if row is None:
            notes[name] = (
                f"产品指定的授信模型 {name} 未登记，未计算获批概率 / credit model {name} is not registered; no approval probability"
            )
            continue
        art = loads(row.artefact, f"credit_models/{row.id}")
        r = features.load(conn, usccs[0] if len(usccs) == 1 else None)
        frame = tech_model.model_frame(r, as_of, points_link.points_frame(conn, usccs))
        frame = frame.filter(pl.col("uscc").is_in(usccs))
        pd_ = models.score(art, frame.drop("uscc"))["pd"]
        parts.append(
            frame.select("uscc").with_columns(
                pl.lit(name).alias("credit_model"),
                (1 - pd_).alias("approval_prob"),
                pl.lit(row.id).alias("model_id"),
            )
        )
        notes[name] = (
            f"获批概率来自授信模型 {name}（{row.id[:12]}）/ approval probability from credit model {name} ({row.id[:12]})"
        )
    return (pl.concat(parts) if parts else None), notes


NO_MODEL = "该产品未指定授信模型，排序未使用获批概率 / no credit model for this product; the rank does not use an approval probability"
#: With the per-pair approval model the rank does use a probability: only the PD is missing.
NO_MODEL_PD = "该产品未指定授信模型，获批概率未计入企业违约概率 / no credit model for this product; the approval probability leaves out the firm's default probability"


def rank_note(r: dict[str, Any], note: str | None) -> str:
    """Why a product ranks where it does, "zh / en": its score and parts, and — with the
    per-pair approval model — what raises or lowers its approval probability; ``note`` is the
    credit model's sentence (which version, not registered, or none named)."""
    if r["rank"] is None:
        return note or NO_MODEL
    head_zh = f"第 {r['rank']} 位：得分 {r['score']:.2f}（匹配度 {r['fit']:.2f}，预期利率 {kernels.show_rate(r['expected_rate'])}"
    head_en = f"rank {r['rank']}: score {r['score']:.2f} (fit {r['fit']:.2f}, expected rate {kernels.show_rate(r['expected_rate'])}"
    if r.get("kind_used") is None:
        zh, en = head_zh + "）", head_en + ")"
    else:
        why = {k[4:]: v for k, v in r.items() if k.startswith("why_") and v is not None}
        zh_p, en_p = approval.explain(r["approval_prob"], why, r["kind_used"])
        zh, en = head_zh + "）；" + zh_p, head_en + "); " + en_p
        note = note or NO_MODEL_PD
    nz, _, ne = (note or NO_MODEL).partition(" / ")
    return f"{zh}；{nz} / {en}; {ne}"


def _rank_frame(
    s: Session, needs: list[Need], prods: pl.DataFrame, as_of: date
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    conn = s.connection()
    usccs = sorted({n.uscc for n in needs})
    firm = firms(conn, usccs, as_of)
    appr, notes = approvals(conn, prods, usccs, as_of)
    rules = kernels.compile_products(prods)
    model = approval.load()
    pairs = kernels.match(
        needs_frame(needs), firm, prods, params.pricing(as_of), appr, rules, model=model
    )
    return pairs, kernels.reasons(pairs, rules), notes


def for_need(s: Session, p: Principal, need_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Every live product for a need: eligible or not, rank, expected rate, probability, reasons."""
    n = get_need(s, need_id)
    authorize(s, p, "match.for_need")
    if p.role == "enterprise_user" and p.uscc != n.uscc:
        raise Forbidden("只能查看本企业需求的匹配", "a firm sees the matches of its own needs only")
    require_consent(s, p, n.uscc, "financials", now or utcnow())
    as_of = (now or utcnow()).date()
    prods = products_frame(s)
    pairs, why, notes = _rank_frame(s, [n], prods, as_of)
    names = dict(zip(prods["product_id"], prods["name"], strict=True))
    model_of = dict(zip(prods["product_id"], prods["credit_model"], strict=True))
    grouped = {pid: g for (pid,), g in why.group_by("product_id")} if why.height else {}
    out = []
    for r in pairs.sort(pl.col("rank").is_null(), "rank", "product_id").iter_rows(named=True):
        g = grouped.get(r["product_id"])
        m = model_of[r["product_id"]]
        out.append(
            {
                "product_id": r["product_id"],
                "name": names[r["product_id"]],
                "institution_id": r["institution_id"],
                "eligible": r["eligible"],
                "rank": r["rank"],
                "score": None if r["score"] is None else round(r["score"], 4),
                "expected_rate": round(r["expected_rate"], 6),
                "approval_prob": None
                if r["approval_prob"] is None
                else round(r["approval_prob"], 4),
                "model_id": r["model_id"],
                "model_note": rank_note(r, notes.get(m) if m else None),
                "approval_kind": r.get("kind_used"),
                "reasons": []
                if g is None
                else g.select("code", "reason_zh", "reason_en").to_dicts(),
            }
        )
    log(s, p, "match.for_need", "need", need_id, detail={"products": len(out)})
    return {
        "need": need_id,
        "uscc": n.uscc,
        "as_of": as_of,
        "lpr": params.pricing(as_of).lpr,
        "products": out,
    }


def _firm_view(s: Session, p: Principal, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Whitelist fields always; the firm's figures only under a live consent to the bank."""
    out = {k: row.get(k) for k in WHITELIST_FIELDS}
    if (
        p.role != "bank_officer"
        or live_consent(s, p.institution_id or "", row["uscc"], "financials", now) is not None
    ):
        out.update({k: row.get(k) for k in FIRM_DETAIL})
        out["detail"] = "consent" if p.role == "bank_officer" else "region"
    else:
        out["detail"] = "whitelist_only"
    return out


def for_product(
    s: Session, p: Principal, product_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """Published needs that fit a live product (ranked) and prospects: whitelist firms that fit
    and never borrowed (首贷培育)."""
    authorize(s, p, "match.for_product")
    now = now or utcnow()
    prods = products_frame(s, product_id)
    if prods.height == 0:
        raise NotFoundError(
            "没有在售的该产品",
            "no live product with this id",
            [Problem("", "", field="product_id", value=product_id)],
        )
    if p.role == "bank_officer" and prods["institution_id"][0] != p.institution_id:
        raise Forbidden(
            "只能查看本机构产品的匹配", "an officer sees matches for its own products only"
        )
    open_needs = list(s.scalars(select(Need).where(Need.state == "published").order_by(Need.id)))
    conn = s.connection()
    needs_out: list[dict[str, Any]] = []
    if open_needs:
        pairs, _, _ = _rank_frame(s, open_needs, prods, now.date())
        fit = pairs.filter(pl.col("eligible")).sort("score", "need_id", descending=[True, False])
        firm = firms(conn, fit["uscc"].unique().to_list(), now.date())
        by_uscc = {r["uscc"]: r for r in firm.iter_rows(named=True)}
        for r in fit.iter_rows(named=True):
            needs_out.append(
                {
                    "need_id": r["need_id"],
                    "amount": r["amount"],
                    "term_months": r["term_months"],
                    "score": round(r["score"], 4),
                    "expected_rate": round(r["expected_rate"], 6),
                    "firm": _firm_view(s, p, by_uscc[r["uscc"]], now),
                }
            )
    allf = firms(conn, None, now.date())
    pros = kernels.prospects(allf, prods)
    by = {
        r["uscc"]: r
        for r in allf.filter(pl.col("uscc").is_in(pros["uscc"].implode())).iter_rows(named=True)
    }
    prospects_out = [_firm_view(s, p, by[u], now) for u in pros["uscc"].to_list()]
    log(
        s,
        p,
        "match.for_product",
        "product",
        product_id,
        detail={"needs": len(needs_out), "prospects": len(prospects_out)},
    )
    return {"product_id": product_id, "needs": needs_out, "prospects": prospects_out}


FUNNEL_BY = {
    "bank": "institution_id",
    "kind": "kind",
    "chain": "industry_chain",
    "tier": "tier",
    "month": "month",
}


def funnel(
    s: Session, p: Principal, by: str = "bank", now: datetime | None = None
) -> list[dict[str, Any]]:
    """The government's funnel by bank, product kind, chain, whitelist tier or month posted."""
    authorize(s, p, "match.funnel")
    if by not in FUNNEL_BY:
        raise ValidationError(
            "分组方式无效",
            "invalid grouping",
            [
                Problem(
                    f"可选：{', '.join(FUNNEL_BY)}",
                    f"one of: {', '.join(FUNNEL_BY)}",
                    field="by",
                    value=by,
                )
            ],
        )
    now = now or utcnow()
    conn = s.connection()
    cols = ["id", "uscc", "state", "institution_id", "product_id", "published_at", "taken_at",
            "decided_at", "disbursed_amount"]  # fmt: skip
    table = Need.__table__
    rows = conn.execute(select(*[table.c[c] for c in cols])).all()
    needs = pl.DataFrame(
        [tuple(r) for r in rows], schema=table_schema(table, cols), orient="row", strict=False
    )
    if needs.height == 0:
        return []
    wd = lambda a, b: pl.struct(a, b).map_elements(  # noqa: E731
        lambda x: (
            None if x[a] is None or x[b] is None else params.working_days(x[a].date(), x[b].date())
        ),
        return_dtype=pl.Int64,
    )
    kinds = pl.DataFrame(
        [
            tuple(r)
            for r in s.execute(select(ProductVersion.product_id, ProductVersion.kind).distinct())
        ],
        schema={"product_id": pl.String, "kind": pl.String},
        orient="row",
    ).unique("product_id")
    firm = firms(conn, needs["uscc"].unique().to_list(), now.date()).select(
        "uscc", "industry_chain", "tier"
    )
    first = conn.execute(select(Loan.uscc, func.min(Loan.disbursed_on)).group_by(Loan.uscc)).all()
    first_loan = pl.DataFrame(
        [tuple(r) for r in first],
        schema={"uscc": pl.String, "first_loan_on": pl.Date},
        orient="row",
    )
    frame = (
        needs.join(kinds, on="product_id", how="left")
        .join(firm, on="uscc", how="left")
        .join(first_loan, on="uscc", how="left")
        .with_columns(
            wd("published_at", "taken_at").alias("taken_days"),
            wd("published_at", "decided_at").alias("decision_days"),
            pl.col("published_at").dt.strftime("%Y-%m").alias("month"),
            (
                pl.col("first_loan_on").is_null()
                | (pl.col("first_loan_on") >= pl.col("published_at").dt.date())
            ).alias("first_loan"),
        )
    )
    sla = int(params.value("sla_working_days", now.date()))
    out = kernels.funnel_frame(frame, [FUNNEL_BY[by]], sla).rename({FUNNEL_BY[by]: by})
    # the whole region was read; how it was grouped is a detail, not the entity
    log(s, p, "match.funnel", "region", "*", detail={"by": by})
    names = dict(s.execute(select(Institution.id, Institution.name)).all())
    res = out.to_dicts()
    if by == "bank":
        for r in res:
            r["name"] = names.get(r["bank"])
    return res


def supermarket(
    s: Session, p: Principal, uscc: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every live product checked against the firm's own conditions (its eligibility rules),
    products it qualifies for first; each other product with its failed conditions in words.

    A firm has no need yet when it browses, so the pair checks (amount, term, rate, credit
    enhancement) are left to :func:`for_need`: the kernel runs on a probe need that passes them
    and only the rule reasons are kept.
    """
    authorize(s, p, "match.need.list", uscc)
    as_of = (now or utcnow()).date()
    prods = products_frame(s)
    if prods.height == 0:
        return []
    probe = pl.DataFrame(
        {
            "need_id": [0],
            "uscc": [uscc],
            "amount": [1.0],
            "term_months": [1],
            "max_rate": [None],
            "guarantee_offered": [sorted(GUARANTEE_KINDS)],
        },
        schema={
            "need_id": pl.Int64,
            "uscc": pl.String,
            "amount": pl.Float64,
            "term_months": pl.Int64,
            "max_rate": pl.Float64,
            "guarantee_offered": pl.List(pl.String),
        },
    )
    rules = kernels.compile_products(prods)
    firm = firms(s.connection(), [uscc], as_of)
    pairs = kernels.match(probe, firm, prods, params.pricing(as_of), None, rules)
    why = kernels.reasons(pairs, rules).filter(pl.col("code").str.starts_with("rule:"))
    failed: dict[str, list[dict[str, str]]] = {}
    for r in why.iter_rows(named=True):
        failed.setdefault(r["product_id"], []).append({"zh": r["reason_zh"], "en": r["reason_en"]})
    out = [
        {"product_id": pid, "eligible": pid not in failed, "reasons": failed.get(pid, [])}
        for pid in prods["product_id"].to_list()
    ]
    log(s, p, "match.supermarket", "enterprise", uscc, detail={"products": len(out)})
    return sorted(out, key=lambda r: (not r["eligible"], r["product_id"]))


def fitting_banks(
    s: Session, p: Principal, need_ids: list[int], now: datetime | None = None
) -> dict[int, list[str]]:
    """For each need, the banks with a live product it fits, best fit first: the choices the
    government offers first when it assigns a need by hand (a bank whose products cannot take the
    need is a re-dispatch that comes back). One kernel run over the needs × every live product."""
    authorize(s, p, "match.assign")
    now = now or utcnow()
    needs = list(s.scalars(select(Need).where(Need.id.in_(need_ids)).order_by(Need.id)))
    prods = products_frame(s)
    if not needs or prods.height == 0:
        return {}
    pairs, _, _ = _rank_frame(s, needs, prods, now.date())
    fit = pairs.filter(pl.col("eligible")).sort("need_id", "score", descending=[False, True])
    out: dict[int, list[str]] = {}
    for r in fit.select("need_id", "institution_id").iter_rows(named=True):
        banks = out.setdefault(r["need_id"], [])
        if r["institution_id"] not in banks:
            banks.append(r["institution_id"])
    # The firms' data was read to judge the fit: one record for the list (each need and the banks
    # it fits in the record's digest), as other list reads are, not one per need per page view.
    log(
        s,
        p,
        "match.assign.fit",
        "need_list",
        ",".join(str(n.id) for n in needs),
        after=[[n.id, out.get(n.id, [])] for n in needs],
        detail={"needs": len(needs)},
    )
    return out


def bank_queue(
    s: Session, p: Principal, now: datetime | None = None, page: int = 1, size: int = 50
) -> dict[str, Any]:
    """Published needs that fit at least one live product of the officer's bank, best first,
    a page of ``size`` at a time: ``{"rows": […], "total": n, "page": k, "pages": m}``.

    One kernel run over the open needs × the bank's products (the order needs them all); each
    need once, with the products it fits (best first). The firm as the bank may see it
    (:func:`_firm_view`, a consent check per firm) is built for the page's needs only.
    """
    authorize(s, p, "match.for_product")
    now = now or utcnow()
    prods = products_frame(s)
    if p.role == "bank_officer":
        prods = prods.filter(pl.col("institution_id") == p.institution_id)
    open_needs = list(s.scalars(select(Need).where(Need.state == "published").order_by(Need.id)))
    empty = {"rows": [], "total": 0, "page": 1, "pages": 1}
    if not open_needs or prods.height == 0:
        return empty
    pairs, _, _ = _rank_frame(s, open_needs, prods, now.date())
    fit = pairs.filter(pl.col("eligible")).sort("score", "need_id", descending=[True, False])
    order = fit["need_id"].unique(maintain_order=True).to_list()
    pages = max(1, -(-len(order) // size))
    page = min(max(page, 1), pages)
    shown = set(order[(page - 1) * size : page * size])
    fit = fit.filter(pl.col("need_id").is_in(list(shown)))
    by_need = {n.id: n for n in open_needs}
    firm = firms(s.connection(), fit["uscc"].unique().to_list(), now.date())
    by_uscc = {r["uscc"]: r for r in firm.iter_rows(named=True)}
    names = dict(zip(prods["product_id"], prods["name"], strict=True))
    out: dict[int, dict[str, Any]] = {}
    for r in fit.iter_rows(named=True):
        row = out.get(r["need_id"])
        if row is None:
            n = by_need[r["need_id"]]
            row = out[r["need_id"]] = {
                "need_id": n.id,
                "amount": n.amount,
                "term_months": n.term_months,
                "purpose": n.purpose,
                "guarantee_offered": list(n.guarantee_offered),
                "urgency": n.urgency,
                "published_at": n.published_at,
                "score": round(r["score"], 4),
                "expected_rate": round(r["expected_rate"], 6),
                "products": [],
                "firm": _firm_view(s, p, by_uscc[r["uscc"]], now),
            }
        row["products"].append({"product_id": r["product_id"], "name": names[r["product_id"]]})
    log(
        s,
        p,
        "match.queue",
        "institution",
        p.institution_id or "*",
        detail={"needs": len(out), "total": len(order), "page": page},
    )
    return {"rows": list(out.values()), "total": len(order), "page": page, "pages": pages}


def bank_prospects(s: Session, p: Principal, now: datetime | None = None) -> list[dict[str, Any]]:
    """首贷培育 for the officer's bank: whitelist firms that pass one of its live products'
    rules and never borrowed, each with the products it fits."""
    authorize(s, p, "match.for_product")
    now = now or utcnow()
    prods = products_frame(s)
    if p.role == "bank_officer":
        prods = prods.filter(pl.col("institution_id") == p.institution_id)
    if prods.height == 0:
        return []
    allf = firms(s.connection(), None, now.date())
    pros = kernels.prospects(allf, prods)
    fits: dict[str, list[str]] = {}
    for u, pid in pros.iter_rows():
        fits.setdefault(u, []).append(pid)
    by = {r["uscc"]: r for r in allf.filter(pl.col("uscc").is_in(list(fits))).iter_rows(named=True)}
    out = [{**_firm_view(s, p, by[u], now), "products": fits[u]} for u in sorted(fits)]
    log(s, p, "match.prospects", "institution", p.institution_id or "*", detail={"firms": len(out)})
    return out
