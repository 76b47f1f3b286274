"""Policy-effect evaluation: matched difference-in-differences for one programme.

For programme P of year Y, the beneficiaries are the firms it paid. Each is matched to the
non-beneficiary nearest to it in (log staff, points percentile) among firms of the same lifecycle
stage and industry chain — size and points taken in year Y, the year before the effect year —
with replacement, among firms founded before year Y (a firm founded during Y has no comparable
"before"). For each outcome (R&D expense, revenue, new loans disbursed in the year), the
estimate is the mean over matched pairs of the difference in log change from Y to Y + 1
(treated − control; loans as log(1 + amount), since most firms borrow nothing in a year):
a two-period difference-in-differences in logs, so exp(δ) − 1 reads as a
proportional effect. Its 95% interval comes from an OLS of the pair differences on a constant with
standard errors clustered on the control firm (a control matched to several firms is one cluster),
via statsmodels — the standard, well-kept implementation; two periods need no panel estimator
(linearmodels would give the same numbers). Firms without a positive outcome in both years are
left out of that outcome, and the report says how many; with fewer than 30 pairs no estimate is
given. The naive difference (beneficiaries
against every non-beneficiary) is shown beside it.

This module reads only what a government analyst has: payments, the registry, points results.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, func, select

from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Loan
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.policy.tables import Application, Programme
from kejin.registry.tables import AnnualIndicator, Enterprise

OUTCOMES = {
    "loans": ("新发放贷款", "new loans disbursed"),
    "rd_expense": ("研发费用", "R&D expense"),
    "revenue": ("营业收入", "revenue"),
}
CONFIDENCE = 0.95
#: Outcomes taken as log(1 + x) rather than log(x) (often zero), and the fewest matched pairs
#: an estimate is given for (below it the report says so rather than print a wild number).
LOG1P = frozenset({"loans"})
MIN_PAIRS = 30


def _frames(engine: Engine, programme_id: str) -> dict[str, Any]:
    with engine.connect() as c:
        prog = c.execute(select(Programme).where(Programme.id == programme_id)).first()
        if prog is None:
            raise NotFoundError(
                "政策项目不存在",
                "no such programme",
                [
                    Problem(
                        "未找到项目", "programme not found", field="programme", value=programme_id
                    )
                ],
            )
        year = prog.year
        paid = pl.DataFrame(
            c.execute(
                select(Application.firm, func.sum(Application.paid_total))
                .where(Application.programme_id == programme_id, Application.paid_total > 0)
                .group_by(Application.firm)
            ).all(),
            schema={"uscc": pl.String, "amount": pl.Float64},
            orient="row",
        )
        # Firms operating before the programme year: one founded during it has no "before"
        # comparable with a beneficiary's (its first year's loans and revenue start from zero).
        firms = read_frame(
            c, Enterprise.__table__, ["uscc", "stage", "industry_chain", "founded_on"]
        ).filter(pl.col("founded_on") < date(year, 1, 1))
        ind = read_frame(
            c,
            AnnualIndicator.__table__,
            ["uscc", "year", "staff", "rd_expense", "revenue"],
            where=f"year IN ({year}, {year + 1})",
        )
        loans = read_frame(c, Loan.__table__, ["uscc", "amount", "disbursed_on"]).filter(
            pl.col("disbursed_on").is_between(date(year, 1, 1), date(year + 1, 12, 31))
        )
        run = c.scalar(select(func.max(ScoreRun.id)).where(ScoreRun.year == year))
        points = (
            pl.DataFrame(
                c.execute(
                    select(ScoreResult.uscc, ScoreResult.pct_region).where(
                        ScoreResult.run_id == run
                    )
                ).all(),
                schema={"uscc": pl.String, "points_pct": pl.Float64},
                orient="row",
            )
            if run is not None
            else None
        )
    return {"year": year, "paid": paid, "firms": firms, "ind": ind, "loans": loans,
            "points": points, "policy_id": prog.policy_id}  # fmt: skip


def panel(d: dict[str, Any]) -> pl.DataFrame:
    """One row per firm: treated flag, matching covariates, each outcome before and after."""
    year = d["year"]
    ind = d["ind"].with_columns(pl.col("rd_expense", "revenue").cast(pl.Float64))
    loans = (
        d["loans"]
        .with_columns(
            year=pl.col("disbursed_on").dt.year(), amount=pl.col("amount").cast(pl.Float64)
        )
        .group_by("uscc", "year")
        .agg(loans=pl.col("amount").sum())
    )
    ind = ind.join(loans, on=["uscc", "year"], how="left").with_columns(
        pl.col("loans").fill_null(0.0)
    )
    pre = ind.filter(pl.col("year") == year).select(
        "uscc", "staff", *[pl.col(o).alias(f"{o}_pre") for o in OUTCOMES]
    )
    post = ind.filter(pl.col("year") == year + 1).select(
        "uscc", *[pl.col(o).alias(f"{o}_post") for o in OUTCOMES]
    )
    out = (
        d["firms"]
        .join(pre, on="uscc", how="inner")
        .join(post, on="uscc", how="inner")
        .join(d["paid"].with_columns(treated=pl.lit(True)), on="uscc", how="left")
        .with_columns(pl.col("treated").fill_null(False), pl.col("amount").fill_null(0.0))
    )
    if d["points"] is not None:
        out = out.join(d["points"], on="uscc", how="left")
    return out.sort("uscc")


def match(p: pl.DataFrame, use_points: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(treated rows, their control rows, treated left without a control in their cell)."""
    staff = np.log1p(p["staff"].cast(pl.Float64).fill_null(0.0).to_numpy())
    cols = [staff / (staff.std() or 1.0)]
    if use_points:
        pts = p["points_pct"].fill_null(0.0).to_numpy()
        cols.append(pts / (pts.std() or 1.0))
    x = np.column_stack(cols)
    treated = p["treated"].to_numpy()
    cell = (p["stage"] + "|" + p["industry_chain"].fill_null("none")).to_numpy()
    t_rows, c_rows, dropped = [], [], 0
    for key in np.unique(cell[treated]):
        t = np.flatnonzero(treated & (cell == key))
        c = np.flatnonzero(~treated & (cell == key))
        if c.size == 0:
            dropped += t.size
            continue
        dist = ((x[t][:, None, :] - x[c][None, :, :]) ** 2).sum(axis=2)
        t_rows.append(t)
        c_rows.append(c[dist.argmin(axis=1)])
    if not t_rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), dropped
    return np.concatenate(t_rows), np.concatenate(c_rows), dropped


def did(p: pl.DataFrame, tr: np.ndarray, c: np.ndarray, outcome: str) -> dict[str, Any]:
    """The matched DiD in logs for one outcome, with its clustered 95% interval and the naive one."""
    from statsmodels.regression.linear_model import (
        OLS,  # not statsmodels.api (imports far less)
    )

    pre = p[f"{outcome}_pre"].cast(pl.Float64).to_numpy()
    post = p[f"{outcome}_post"].cast(pl.Float64).to_numpy()
    if outcome in LOG1P:  # most firms borrow nothing in a given year: log(1 + amount) keeps them
        ok = (pre >= 0) & (post >= 0)
        delta = np.where(
            ok, np.log1p(np.where(ok, post, 0.0)) - np.log1p(np.where(ok, pre, 0.0)), np.nan
        )
    else:
        ok = (pre > 0) & (post > 0)
        delta = np.where(
            ok, np.log(np.where(ok, post, 1.0)) - np.log(np.where(ok, pre, 1.0)), np.nan
        )
    keep = ok[tr] & ok[c]
    diff = delta[tr[keep]] - delta[c[keep]]
    treated = p["treated"].to_numpy()
    naive = (
        float(np.nanmean(delta[treated & ok]) - np.nanmean(delta[~treated & ok]))
        if (treated & ok).any() and (~treated & ok).any()
        else None
    )
    res: dict[str, Any] = {
        "label_zh": OUTCOMES[outcome][0],
        "label_en": OUTCOMES[outcome][1],
        "pairs": int(keep.sum()),
        "left_out": int((~keep).sum()),
        "naive": None if naive is None else round(naive, 6),
    }
    if diff.size < MIN_PAIRS or len(np.unique(c[keep])) < 2:
        return {**res, "estimate": None, "ci_low": None, "ci_high": None, "std_error": None}
    fit = OLS(diff, np.ones((diff.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": c[keep]})
    lo, hi = fit.conf_int(alpha=1 - CONFIDENCE)[0]
    est = float(fit.params[0])
    return {
        **res,
        "estimate": round(est, 6),
        "std_error": round(float(fit.bse[0]), 6),
        "ci_low": round(float(lo), 6),
        "ci_high": round(float(hi), 6),
        "pct": round(math.expm1(est), 6),
        "pct_ci": [round(math.expm1(float(lo)), 6), round(math.expm1(float(hi)), 6)],
        "p_value": round(float(fit.pvalues[0]), 6),
    }


def effect_report(engine: Engine, programme_id: str) -> dict[str, Any]:
    """The programme's beneficiaries, amounts and effects on loans, R&D and revenue."""
    d = _frames(engine, programme_id)
    p = panel(d)
    n_treated = int(p["treated"].sum())
    if n_treated == 0 or n_treated == p.height:
        raise ValidationError(
            "无法评估：没有受益企业或没有可比企业",
            "nothing to evaluate: no beneficiaries or no comparable firms",
            [Problem("受益企业数", "beneficiaries", field="programme", value=n_treated)],
        )
    use_points = "points_pct" in p.columns and p["points_pct"].is_not_null().any()
    t, c, dropped = match(p, use_points)
    covs = ["staff"] + (["points_pct"] if use_points else [])
    balance = {
        v: {
            "treated": float(p[v].cast(pl.Float64).gather(t).mean() or 0.0),
            "matched": float(p[v].cast(pl.Float64).gather(c).mean() or 0.0),
            "all_others": float(p.filter(~pl.col("treated"))[v].cast(pl.Float64).mean() or 0.0),
        }
        for v in covs
    }
    return {
        "programme": programme_id,
        "policy": d["policy_id"],
        "year": d["year"],
        "before": d["year"],
        "after": d["year"] + 1,
        "beneficiaries": n_treated,
        "amount_paid": round(float(p["amount"].sum()), 2),
        "matched": int(t.size),
        "unmatched": dropped,
        "controls_used": int(np.unique(c).size),
        "matched_on": ["stage", "industry_chain", "staff"] + (["points"] if use_points else []),
        "balance": balance,
        "confidence": CONFIDENCE,
        "outcomes": {o: did(p, t, c, o) for o in OUTCOMES},
        "method": {
            "zh": "同阶段同产业链内按（从业人数对数、创新积分百分位）最近邻匹配（有放回），"
            "受益前一年与次年对数变化之差的差分（DiD），按对照企业聚类的稳健标准误",
            "en": "nearest-neighbour matching (with replacement) on log staff and points "
            "percentile within stage × chain; difference in log change from the programme "
            "year to the next (DiD), standard errors clustered on the control firm",
        },
    }
