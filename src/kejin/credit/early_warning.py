"""Monthly early warning (001 §17: 强化对科创金融风险的监测、研判和预警).

For every firm with a loan reported in the month, signals from the loan book (days past due,
five-tier classification), the registry (revenue or tax drop, qualification expiring or lapsed,
status flags) and the points area (points drop) are combined into a level — 0 none, 1 关注 watch,
2 预警 warning, 3 严重 severe — the highest signal's level, with every signal kept as a reason.
Thresholds are a validated config, recorded in the output, not constants in code.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from kejin.credit import features, points_link
from kejin.errors import Problem, ValidationError
from kejin.registry.profiles import QUALIFICATION_EXPIRING_DAYS
from kejin.vocab import CLASSIFICATIONS, QUALIFICATION_KINDS, WARNING_KINDS, Term

LEVELS = {0: ("无", "none"), 1: ("关注", "watch"), 2: ("预警", "warning"), 3: ("严重", "severe")}


class WarningConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    dpd_watch: int = 1
    dpd_warning: int = 30
    dpd_severe: int = 90
    revenue_drop: float = 0.20
    tax_drop: float = 0.30
    points_drop: float = 10.0
    expiring_days: int = QUALIFICATION_EXPIRING_DAYS
    lapsed_days: int = 365


def parse_month(text: str) -> date:
    try:
        y, m = text.split("-")
        return date(int(y), int(m), 1)
    except ValueError:
        raise ValidationError(
            "月份格式应为 YYYY-MM",
            "month must be YYYY-MM",
            [Problem("", "", field="month", value=text)],
        ) from None


def _q(kind: str) -> Term:
    """A qualification kind's label (a kind outside the vocabulary is named as such)."""
    return QUALIFICATION_KINDS.get(kind) or Term(kind, "其他资质", "another qualification")


def _signal(code: str, level: int, zh: str, en: str) -> dict:
    return {"code": code, "level": level, "zh": zh, "en": en}


def signals(
    r: features.RegistryFrames, month: date, cfg: WarningConfig, points: pl.DataFrame | None
) -> list[dict]:
    """Pure: one dict per firm with a loan status in ``month``: level, reasons, contracts."""
    st = r.statuses.filter(pl.col("month") == month).join(
        r.loans.select("contract_no", "uscc"), on="contract_no"
    )
    if st.height == 0:
        return []
    book = st.group_by("uscc").agg(
        pl.col("days_past_due").max().alias("dpd"),
        pl.col("classification").alias("classes"),
        pl.col("contract_no").sort().alias("contracts"),
        pl.col("balance").sum().alias("balance"),
    )
    ind = r.indicators
    y1, y2 = month.year - 1, month.year - 2
    rev = (
        ind.filter(pl.col("year").is_in([y1, y2])).pivot(
            on="year", index="uscc", values=["revenue", "tax_paid"], aggregate_function="first"
        )
        if ind.height
        else None
    )
    firms = {row["uscc"]: row for row in r.enterprises.iter_rows(named=True)}
    rev_map = {row["uscc"]: row for row in rev.iter_rows(named=True)} if rev is not None else {}
    quals = r.qualifications
    pts_map: dict[str, list[float]] = {}
    if points is not None:
        for row in points.sort("year").iter_rows(named=True):
            pts_map.setdefault(row["uscc"], []).append(float(row["total"]))
    horizon = month + timedelta(days=cfg.expiring_days)
    out = []
    for b in book.sort("uscc").iter_rows(named=True):
        u = b["uscc"]
        sig = []
        dpd = b["dpd"]
        if dpd >= cfg.dpd_severe:
            sig.append(_signal("warning.dpd_severe", 3, f"逾期 {dpd} 天", f"{dpd} days past due"))
        elif dpd >= cfg.dpd_warning:
            sig.append(_signal("warning.dpd", 2, f"逾期 {dpd} 天", f"{dpd} days past due"))
        elif dpd >= cfg.dpd_watch:
            sig.append(_signal("warning.dpd_watch", 1, f"逾期 {dpd} 天", f"{dpd} days past due"))
        bad_classes = sorted(set(b["classes"]) - {"normal"}, key=list(CLASSIFICATIONS).index)
        if bad_classes:
            lvl = 3 if set(bad_classes) & {"substandard", "doubtful", "loss"} else 2
            sig.append(
                _signal(
                    "warning.classification",
                    lvl,
                    f"五级分类：{'、'.join(CLASSIFICATIONS[c].zh for c in bad_classes)}",
                    f"classified {', '.join(CLASSIFICATIONS[c].en for c in bad_classes)}",
                )
            )
        f = firms.get(u, {})
        for flag in ("dishonest", "deregistered", "abnormal_operation"):
            if f.get(flag):
                k = WARNING_KINDS[f"warning.{flag}"]
                sig.append(_signal(k.id, 3, f"企业状态：{k.zh}", f"firm status: {k.en}"))
        rr = rev_map.get(u, {})
        for field, thr, code, zh in (
            ("revenue", cfg.revenue_drop, "warning.revenue_drop", "营业收入"),
            ("tax_paid", cfg.tax_drop, "warning.tax_drop", "纳税额"),
        ):
            now, before = rr.get(f"{field}_{y1}"), rr.get(f"{field}_{y2}")
            if now is not None and before is not None and before > 0:
                # Decimal, so that a drop of exactly the threshold is a drop (no float wobble).
                change = Decimal(now) / Decimal(before) - 1
                if change <= -Decimal(str(thr)):
                    sig.append(
                        _signal(
                            code,
                            2,
                            f"{y1}年{zh}同比下降 {-change:.0%}",
                            f"{field} down {-change:.0%} in {y1}",
                        )
                    )
        fq = quals.filter(pl.col("uscc") == u)
        for kind in sorted(set(fq["kind"].to_list())):
            k = fq.filter(pl.col("kind") == kind)
            valid_now = k.filter((pl.col("valid_from") <= month) & (pl.col("valid_to") >= month))
            if valid_now.height:
                end = valid_now["valid_to"].max()
                if end < horizon:
                    sig.append(
                        _signal(
                            "warning.qualification_expiring",
                            1,
                            f"资质“{_q(kind).zh}”将于 {end} 到期",
                            f"{_q(kind).en} expires on {end}",
                        )
                    )
            else:
                last_end = k["valid_to"].max()
                if last_end < month and (month - last_end).days <= cfg.lapsed_days:
                    sig.append(
                        _signal(
                            "warning.qualification_lapsed",
                            2,
                            f"资质“{_q(kind).zh}”已于 {last_end} 失效",
                            f"{_q(kind).en} lapsed on {last_end}",
                        )
                    )
        if len(pts_map.get(u, [])) >= 2:
            drop = pts_map[u][-2] - pts_map[u][-1]
            if drop >= cfg.points_drop:
                sig.append(
                    _signal(
                        "warning.points_drop",
                        1,
                        f"创新积分下降 {drop:g} 分",
                        f"innovation points down {drop:g}",
                    )
                )
        level = max((s["level"] for s in sig), default=0)
        out.append(
            {
                "uscc": u,
                "name": f.get("name"),
                "level": level,
                "level_zh": LEVELS[level][0],
                "level_en": LEVELS[level][1],
                "contracts": b["contracts"],
                "days_past_due": dpd,
                "reasons": sorted(sig, key=lambda s: (-s["level"], s["code"])),
            }
        )
    return sorted(out, key=lambda o: (-o["level"], o["uscc"]))


def monthly(engine: Engine, month_text: str, cfg: WarningConfig | None = None) -> dict:
    """The month's warning list (firms with signals only) and its context."""
    cfg = cfg or WarningConfig()
    month = parse_month(month_text)
    with engine.connect() as conn:
        r = features.load(conn)
        pts = points_link.points_frame(conn)
    rows = signals(r, month, cfg, pts)
    flags = [] if pts is not None else [points_link.UNAVAILABLE]
    return {
        "month": month_text,
        "config": cfg.model_dump(),
        "flags": flags,
        "firms_with_loans": len(rows),
        "by_level": {LEVELS[k][1]: sum(1 for o in rows if o["level"] == k) for k in LEVELS},
        "warnings": [o for o in rows if o["level"] > 0],
    }
