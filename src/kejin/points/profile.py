"""The firm profile (精准画像): contributions, peer percentiles, strengths, weaknesses, missing
values, and the smallest single-indicator changes that reach the next list or grade.

"Smallest change" holds every other firm's total fixed. Overtaking peers lowers their percentile
scores and so their totals, so the true change needed is never larger than the one reported:
the advice is conservative.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from kejin.db import transaction
from kejin.errors import NotFoundError, Problem
from kejin.ids import normalize_uscc
from kejin.points.service import latest_run, run_results
from kejin.points.system import Indicator, System, load_system
from kejin.registry.tables import Enterprise


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _peer_position(value: float | None, peers: np.ndarray, ind: Indicator) -> float | None:
    """Share of peers (excluding the firm) with a worse raw value, ties counted half."""
    if value is None or peers.size == 0:
        return None
    sign = 1.0 if ind.direction == "positive" else -1.0
    v, p = sign * value, sign * peers
    return float(((p < v).sum() + 0.5 * (p == v).sum()) / peers.size)


#: The smallest change worth advising per unit: advice such as "raise VC funding from 0 to
#: 0.000001 yuan" is arithmetically right for a percentile rank and useless to a firm.
_GRANULARITY = {"CNY": 10_000.0, "item": 1.0, "person": 1.0, "ratio": 0.001}


def _beyond(peer_raw: float, sign: float, unit: str) -> float:
    """The first meaningful raw value strictly better than ``peer_raw`` in the indicator's unit.

    >>> _beyond(0.0, 1.0, "CNY"), _beyond(3.0, 1.0, "item"), _beyond(0.5, -1.0, "ratio")
    (10000.0, 4.0, 0.499)
    """
    g = _GRANULARITY.get(unit)
    if g is None:
        return peer_raw + sign * max(abs(peer_raw) * 1e-6, 1e-6)
    if sign > 0:
        return round(math.floor(peer_raw / g + 1e-9) * g + g, 6)
    return round(math.ceil(peer_raw / g - 1e-9) * g - g, 6)


def _needed_raw(
    ind: Indicator, target_score: float, others: np.ndarray, all_raw: np.ndarray
) -> float | None:
    """The raw value at which the indicator's score reaches ``target_score``; None if unreachable."""
    if target_score > 1 + 1e-9:
        return None
    sign = 1.0 if ind.direction == "positive" else -1.0
    if ind.normalisation == "banded":
        bands = ind.bands or ()
        ok = [
            b.lower for b in bands if (b.score if sign > 0 else 1 - b.score) >= target_score - 1e-9
        ]
        if not ok:
            return None
        return min(ok) if sign > 0 else max(ok)
    finite = all_raw[np.isfinite(all_raw)]
    if finite.size == 0:
        return None
    if ind.normalisation == "percentile":
        v = np.sort(sign * others[np.isfinite(others)])
        n1 = v.size  # peers other than the firm
        if n1 == 0:
            return None
        m = math.ceil(target_score * n1 - 1e-9)
        if m > n1:
            return None
        if m == 0:
            return float(sign * v[0])
        return _beyond(float(sign * v[m - 1]), sign, ind.unit)
    t = sign * finite
    if ind.normalisation == "log_minmax":
        t = np.sign(t) * np.log1p(np.abs(t))
    if ind.normalisation == "zscore":
        mu, sd = float(t.mean()), float(t.std())
        x = mu + (6 * target_score - 3) * sd
    else:
        lo, hi = float(t.min()), float(t.max())
        x = lo + target_score * (hi - lo)
    if ind.normalisation == "log_minmax":
        x = math.copysign(math.expm1(abs(x)), x)
    return float(sign * x)


def explain(engine: Engine, uscc: str, system_id: str | None = None) -> dict[str, Any]:
    """Profile of one firm in the latest run of ``system_id`` (or the latest run of any system)."""
    code = normalize_uscc(uscc)
    run = latest_run(engine, system_id)
    mine = run_results(engine, run.id, f"uscc = {_quote(code)}")
    if mine.height == 0:
        raise NotFoundError(
            "该企业不在评分结果中",
            "the firm is not in the score run",
            [Problem("未评分", "not scored", field="uscc", value=code)],
        )
    me = mine.row(0, named=True)
    peers = run_results(engine, run.id, f"peer_group = {_quote(me['peer_group'])}")
    loaded = load_system(run.system_id)
    system = loaded.system
    with transaction(engine) as s:
        stage = s.scalar(select(Enterprise.stage).where(Enterprise.uscc == code))
    wkey = system.peer_groups.stage_map[stage]
    details = [json.loads(d) for d in peers["detail"]]
    my_detail = json.loads(me["detail"])
    is_me = (peers["uscc"] == code).to_numpy()
    indicators = []
    for ind in system.indicators:
        raw_all = np.array(
            [np.nan if d[ind.id][0] is None else d[ind.id][0] for d in details], dtype=float
        )
        score_all = np.array([d[ind.id][1] for d in details], dtype=float)
        raw, score, contrib, missing = my_detail[ind.id]
        weight = ind.bonus_points if ind.bonus_points is not None else system.weights[wkey][ind.id]
        others = raw_all[~is_me]
        indicators.append(
            {
                "id": ind.id,
                "zh": ind.zh,
                "en": ind.en,
                "group": ind.group,
                "unit": ind.unit,
                "bonus": ind.bonus_points is not None,
                "raw": raw,
                "missing": bool(missing),
                "score": score,
                "weight": weight,
                "contribution": contrib,
                "peer_percentile": _peer_position(raw, others[np.isfinite(others)], ind),
                "peer_median_raw": float(np.nanmedian(raw_all))
                if np.isfinite(raw_all).any()
                else None,
                "peer_median_score": float(np.median(score_all)),
                "_others": others,
                "_all": raw_all,
            }
        )
    base = [i for i in indicators if not i["bonus"]]
    ranked = sorted(base, key=lambda i: (-i["score"], i["id"]))
    targets = _targets(me, peers, system)
    improvements = []
    for target in targets:
        need = target["total_needed"] - me["total"]
        for i in indicators:
            ind = system.indicator(i["id"])
            room = i["weight"] * (1 - i["score"])
            if need <= 0 or need > room + 1e-9:
                continue
            new_score = i["score"] + need / i["weight"]
            raw_needed = _needed_raw(ind, new_score, i["_others"], i["_all"])
            if raw_needed is None:
                continue
            current = i["raw"]
            improvements.append(
                {
                    "target": target["id"],
                    "indicator": i["id"],
                    "zh": i["zh"],
                    "current": current,
                    "needed": raw_needed,
                    "change": None if current is None else raw_needed - current,
                    "score_gain": new_score - i["score"],
                }
            )
    improvements.sort(key=lambda r: (r["target"], r["score_gain"], r["indicator"]))
    steps = _steps(indicators, system, me["total"], targets)
    for i in indicators:
        del i["_others"], i["_all"]
    return {
        "uscc": code,
        "run_id": run.id,
        "system": system.id,
        "version": run.system_version,
        "system_matches_run": loaded.sha256 == run.system_sha256,
        "year": run.year,
        "results_sha256": run.results_sha256,
        "peer_group": me["peer_group"],
        "group_size": me["group_size"],
        "total": me["total"],
        "base": me["base"],
        "bonus": me["bonus"],
        "rank_group": me["rank_group"],
        "pct_group": me["pct_group"],
        "rank_region": me["rank_region"],
        "pct_region": me["pct_region"],
        "grade": me["grade"],
        "list_id": me["list_id"],
        "indicators": indicators,
        "strengths": [i["id"] for i in ranked[:3]],
        "weaknesses": [i["id"] for i in ranked[::-1][:3]],
        "missing": [i["id"] for i in indicators if i["missing"]],
        "targets": targets,
        "improvements": improvements,
        "steps": steps,
    }


def _next_score(ind: Indicator, score: float) -> float | None:
    """The next score worth a step: a banded indicator's next band, otherwise the next quarter of
    the scale (for percentile scoring: overtaking the next quarter of the peer group)."""
    if ind.normalisation == "banded":
        sign = 1.0 if ind.direction == "positive" else -1.0
        higher = sorted(
            s for b in ind.bands or () if (s := b.score if sign > 0 else 1 - b.score) > score + 1e-9
        )
        return higher[0] if higher else None
    return min(1.0, (math.floor(score * 4 + 1e-9) + 1) / 4)


def _steps(
    indicators: list[dict[str, Any]], system: System, total: float, targets: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every indicator the firm can still raise, one step each: the raw value that lifts it to
    its next score (:func:`_next_score`), the points that step gains with every other firm held
    fixed, and the grade or list the step alone reaches — most points first, so a firm sees
    all its options and which pays most (a single cheapest change often existed for none)."""
    out = []
    for i in indicators:
        ind = system.indicator(i["id"])
        target = _next_score(ind, i["score"]) if i["score"] < 1 - 1e-9 else None
        if target is None:
            continue
        needed = _needed_raw(ind, target, i["_others"], i["_all"])
        if needed is None or (i["raw"] is not None and needed == i["raw"]):
            continue
        gain = i["weight"] * (target - i["score"])
        if gain < 0.005:  # below the published precision of a total: no step a firm can see
            continue
        out.append(
            {
                "indicator": i["id"],
                "zh": i["zh"],
                "en": i["en"],
                "unit": i["unit"],
                "direction": ind.direction,
                "current": i["raw"],
                "needed": needed,
                "points_gained": round(gain, 2),
                "reaches": [tg["id"] for tg in targets if total + gain >= tg["total_needed"]],
            }
        )
    out.sort(key=lambda r: (-r["points_gained"], r["indicator"]))
    return out


def _targets(me: dict, peers: Any, system: System) -> list[dict[str, Any]]:
    """The next grade up and the next list up, with the total each needs."""
    out = []
    better = [g for g in system.grades if g.min_total > me["total"]]
    if better:
        g = better[-1]
        out.append({"id": f"grade:{g.id}", "total_needed": g.min_total})
    order = [li.id for li in system.lists]
    current = order.index(me["list_id"]) if me["list_id"] in order else len(order)
    if current > 0:
        li = system.lists[current - 1]
        m = math.ceil(li.upto * me["group_size"] - 1e-9) - 1  # peers allowed strictly ahead
        others = peers.filter(peers["uscc"] != me["uscc"]).sort("total", descending=True)["total"]
        if 0 <= m < others.len():
            out.append({"id": f"list:{li.id}", "total_needed": float(others[m]) + 1e-4})
    return out


def radar_figure(profile: dict[str, Any]) -> Any:
    """The radar of the firm's indicator scores against its peer-group median, laid out so
    every label, the title and the legend lie inside the figure (nothing cut when saved)."""
    from kejin.plotting import pyplot
    from kejin.points.labels import peer_name
    from kejin.web.charts import wrap_label

    plt = pyplot()
    system = load_system(profile["system"]).system
    inds = [i for i in profile["indicators"] if not i["bonus"]]
    labels = ["\n".join(wrap_label(i["zh"], 96, 12)) for i in inds]
    mine = [i["score"] for i in inds]
    median = [i["peer_median_score"] for i in inds]
    angles = np.linspace(0, 2 * np.pi, len(inds), endpoint=False).tolist()
    fig = plt.figure(figsize=(9, 9.4))
    # the polar axes sit low and narrow: room above for the title and legend, around for labels
    ax = fig.add_axes((0.16, 0.07, 0.68, 0.68), polar=True)
    for vals, name, colour in (
        (median, "同业中位数 peer median", "#999999"),
        (mine, "本企业 this firm", "#c0392b"),
    ):
        ax.plot([*angles, angles[0]], [*vals, vals[0]], color=colour, linewidth=2, label=name)
        ax.fill([*angles, angles[0]], [*vals, vals[0]], color=colour, alpha=0.15)
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.set_xticks(angles)
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_rlabel_position(360 / len(inds) / 2)
    ax.tick_params(axis="y", labelsize=7, colors="#777777")
    ax.tick_params(axis="x", pad=10)
    fig.suptitle(
        f"{profile['uscc']} · {system.zh} v{profile['version']}\n"
        f"创新积分 {profile['total']:.1f} · 组内排名 {profile['rank_group']}/{profile['group_size']}"
        f" · 同组 {peer_name(profile['peer_group'], 'zh')}",
        fontsize=11,
        y=0.975,
    )
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.92), ncol=2, fontsize=9, frameon=False)
    return fig


def radar_chart(profile: dict[str, Any], out_dir: Path) -> list[Path]:
    """The radar (:func:`radar_figure`) written as PNG and SVG."""
    from kejin.plotting import pyplot

    fig = radar_figure(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{profile['uscc']}-{profile['system']}"
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=110)
    pyplot().close(fig)
    return paths
