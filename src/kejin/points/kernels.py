"""Scoring kernels: pure numpy/Polars functions from frames (or arrays) to a frame, no database.

The hot path is the percentile rank of every indicator within every peer group. A generic
``groupby().rank()`` sorts each group separately and pays per-group overhead; here each column is
ranked with **one** sort of a packed 64-bit key ``(group, value, row)``:

* ``value`` is a float32 mapped to an unsigned integer with the same order (flip all bits of a
  negative number, set the sign bit of a positive one), so integer order = numeric order;
* ``row`` (the low bits) makes the key unique, so the sorted key also says where each row went —
  no argsort, no gather of values, and Polars' parallel radix-capable sort does the work;
* ties are runs of equal ``(group, value)`` in the sorted keys: their first and last positions
  give average ranks (percentiles) and the count of strictly better peers (list cut-offs).

Columns of small integers (patent counts, awards…) skip the sort: a ``bincount`` over
``(group, value)`` and a cumulative sum give the same statistics in one pass.

Values are ranked at float32 precision (about 7 significant digits): two amounts that differ by
less than that tie, which is the honest resolution of department data anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from kejin.points.system import REVENUE_BANDS, Indicator, System

_COUNT_LIMIT = 1 << 22  # bins for the counting path (groups × distinct integer values)


@dataclass(frozen=True)
class RankStats:
    """Per-row statistics of a value within its group (all int64 arrays in row order).

    ``less`` = peers with a strictly lower value, ``ties`` = peers with an equal value (itself
    included), so ``less + ties`` ≤ group size and ``size - less - ties`` are strictly higher.
    """

    less: np.ndarray
    ties: np.ndarray
    size: np.ndarray

    def percentile(self) -> np.ndarray:
        """Average-rank percentile in [0, 1]; a group of one scores 1 (it is its group's best)."""
        denom = self.size - 1
        avg = self.less + (self.ties - 1) * 0.5
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(denom > 0, avg / np.maximum(denom, 1), 1.0)
        return p.astype(np.float32)

    def higher(self) -> np.ndarray:
        return self.size - self.less - self.ties


def order_key(v: np.ndarray) -> np.ndarray:
    """Map float32 values to uint64 with the same order (NaN must be removed before)."""
    v = np.ascontiguousarray(v, dtype=np.float32) + np.float32(0.0)  # -0.0 → +0.0
    b = v.view(np.uint32).astype(np.uint64)
    neg = (b >> np.uint64(31)).astype(bool)
    return np.where(neg, b ^ np.uint64(0xFFFFFFFF), b | np.uint64(0x80000000))


def _counting_stats(
    v: np.ndarray, groups: np.ndarray, n_groups: int, sizes: np.ndarray
) -> RankStats | None:
    vmin, vmax = v.min(), v.max()
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        return None
    k = int(vmax - vmin) + 1
    if k * n_groups > _COUNT_LIMIT:
        return None
    iv = (v - vmin).astype(np.int64)
    if not np.array_equal(iv + vmin, v):  # not integer-valued
        return None
    code = groups.astype(np.int64) * k + iv
    cnt = np.bincount(code, minlength=n_groups * k)
    cum = np.cumsum(cnt.reshape(n_groups, k), axis=1).ravel()
    less = (cum - cnt)[code]
    ties = cnt[code]
    return RankStats(less, ties, sizes[groups])


def rank_stats(
    v: np.ndarray, groups: np.ndarray, n_groups: int, sizes: np.ndarray | None = None
) -> RankStats:
    """Within-group rank statistics of ``v`` (finite float values, int group codes 0..n_groups-1)."""
    n = v.shape[0]
    if sizes is None:
        sizes = np.bincount(groups, minlength=n_groups)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return RankStats(e, e, e)
    vf = np.asarray(v, dtype=np.float32)
    fast = _counting_stats(vf, groups, n_groups, sizes)
    if fast is not None:
        return fast
    ib = max(1, math.ceil(math.log2(n)))
    gb = 64 - 32 - ib
    if n_groups > (1 << gb):  # too many groups to pack: fall back to a lexicographic sort
        order = np.lexsort((order_key(vf), groups))
        skey = order_key(vf)[order] | (groups[order].astype(np.uint64) << np.uint64(32))
        idx = order
        vg = skey
    else:
        key = (groups.astype(np.uint64) << np.uint64(32 + ib)) | (order_key(vf) << np.uint64(ib))
        key |= np.arange(n, dtype=np.uint64)
        s = pl.Series(key).sort().to_numpy()
        idx = (s & np.uint64((1 << ib) - 1)).astype(np.int64)
        vg = s >> np.uint64(ib)
    pos = np.arange(n, dtype=np.int64)
    start = np.empty(n, dtype=bool)
    start[0] = True
    np.not_equal(vg[1:], vg[:-1], out=start[1:])
    g_sorted = (vg >> np.uint64(32)).astype(np.int64)
    gstart = np.cumsum(sizes) - sizes
    if start.all():
        less_s = pos - gstart[g_sorted]
        ties_s = np.ones(n, dtype=np.int64)
    else:
        first = np.maximum.accumulate(np.where(start, pos, 0))
        end = np.empty(n, dtype=bool)
        end[-1] = True
        end[:-1] = start[1:]
        last = np.minimum.accumulate(np.where(end, pos, n)[::-1])[::-1]
        less_s = first - gstart[g_sorted]
        ties_s = last - first + 1
    less = np.empty(n, dtype=np.int64)
    ties = np.empty(n, dtype=np.int64)
    less[idx] = less_s
    ties[idx] = ties_s
    return RankStats(less, ties, sizes[groups])


def ordinal_rank_desc(
    v: np.ndarray, groups: np.ndarray, n_groups: int, sizes: np.ndarray | None = None
) -> tuple[np.ndarray, RankStats]:
    """1-based rank from the best within each group, ties broken by row order (a permutation).

    Rows should be in a stable order (by USCC) so that equal totals rank the same way every run.
    """
    if sizes is None:
        sizes = np.bincount(groups, minlength=n_groups)
    st = rank_stats(-np.asarray(v, dtype=np.float32), groups, n_groups, sizes)
    # Within a tie run, earlier rows rank first: count earlier equal rows per (group, value).
    if (st.ties > 1).any():
        frame = pl.DataFrame({"g": groups, "v": np.asarray(v, dtype=np.float32)})
        within = frame.select(pl.int_range(pl.len()).over(["g", "v"])).to_series().to_numpy()
    else:
        within = 0
    return (st.less + within + 1).astype(np.int64), st


# ---------------------------------------------------------------- normalisation of one indicator


def _group_quantile(x: pl.Series, groups: np.ndarray, q: float) -> np.ndarray:
    df = pl.DataFrame({"g": groups, "x": x})
    return (
        df.select(pl.col("x").quantile(q, interpolation="linear").over("g")).to_series().to_numpy()
    )


def normalise(
    raw: pl.Series, ind: Indicator, groups: np.ndarray, n_groups: int, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Score of one indicator in [0, 1] per row (direction applied) and the row's missing flag.

    Order of operations: missing-value rule → winsorisation at group quantiles → direction →
    normalisation within the peer group. ``worst`` fills missing values with the group's worst
    value for ranking and then scores them 0.
    """
    missing = raw.is_null().to_numpy() | ~np.isfinite(raw.fill_null(0.0).to_numpy())
    x = raw.fill_nan(None).cast(pl.Float64)
    if ind.missing == "zero":
        x = x.fill_null(0.0)
    elif ind.missing == "group_median":
        med = pl.DataFrame({"g": groups, "x": x}).select(pl.col("x").median().over("g")).to_series()
        x = x.fill_null(med).fill_null(0.0)
    if ind.winsor is not None and x.len() > 0:
        lo = _group_quantile(x, groups, ind.winsor[0])
        hi = _group_quantile(x, groups, ind.winsor[1])
        xv = x.to_numpy()
        xv = np.where(
            np.isnan(xv),
            xv,
            np.clip(xv, np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf)),
        )
    else:
        xv = x.to_numpy().astype(np.float64)
    sign = 1.0 if ind.direction == "positive" else -1.0
    worst = np.isnan(xv)
    v = np.where(worst, -np.inf, sign * xv)
    if ind.normalisation == "percentile":
        finite = np.where(np.isinf(v), np.finfo(np.float32).min, v)
        score = rank_stats(finite, groups, n_groups, sizes).percentile()
    elif ind.normalisation == "banded":
        lowers = np.array([b.lower for b in ind.bands or ()], dtype=np.float64)
        scores = np.array([b.score for b in ind.bands or ()], dtype=np.float32)
        at = np.searchsorted(lowers, np.where(worst, -np.inf, xv), side="right") - 1
        score = np.where(at >= 0, scores[np.clip(at, 0, None)], np.float32(0.0)).astype(np.float32)
        if ind.direction == "negative":
            score = (1 - score).astype(np.float32)
    else:
        t = v.copy()
        if ind.normalisation == "log_minmax":
            t = np.where(np.isinf(t), t, np.sign(t) * np.log1p(np.abs(t)))
        frame = pl.DataFrame(
            {"g": groups, "t": pl.Series(np.where(np.isinf(t), np.nan, t), nan_to_null=True)}
        )
        if ind.normalisation == "zscore":
            stats = frame.select(
                pl.col("t").mean().over("g").alias("m"),
                pl.col("t").std(ddof=0).over("g").alias("s"),
            )
            m = stats["m"].fill_null(0.0).to_numpy()
            s = stats["s"].fill_null(0.0).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                z = np.where(s > 0, (t - m) / s, 0.0)
            score = np.clip((z + 3.0) / 6.0, 0.0, 1.0)  # ±3σ onto [0, 1]
        else:
            stats = frame.select(
                pl.col("t").min().over("g").alias("lo"), pl.col("t").max().over("g").alias("hi")
            )
            lo = stats["lo"].fill_null(0.0).to_numpy()
            hi = stats["hi"].fill_null(0.0).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                score = np.where(hi > lo, (t - lo) / (hi - lo), 1.0)
        score = np.clip(np.where(np.isfinite(score), score, 0.0), 0.0, 1.0).astype(np.float32)
    score = np.where(worst, np.float32(0.0), score).astype(np.float32)
    return score, missing


# ---------------------------------------------------------------- the whole system


def peer_labels(frame: pl.DataFrame, system: System, extra: str | None = None) -> pl.Series:
    """Peer-group label per firm: mapped stage, optionally ``|chain`` or ``|revenue band``."""
    extra = extra or system.peer_groups.extra
    stage = frame["stage"].replace_strict(system.peer_groups.stage_map, return_dtype=pl.String)
    if extra == "chain":
        return (stage + "|" + frame["industry_chain"].fill_null("none")).alias("peer_group")
    if extra == "revenue_band":
        rev = frame["revenue"].cast(pl.Float64).fill_null(0.0).to_numpy()
        band = np.searchsorted(np.array(REVENUE_BANDS), rev, side="right")
        names = np.array(["<1M", "1-5M", "5-20M", "20-100M", ">=100M"])
        return (stage + "|" + pl.Series(names[band])).alias("peer_group")
    return stage.alias("peer_group")


def codes(labels: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Dense integer codes in sorted label order (deterministic across runs)."""
    uniq = sorted(labels.unique().to_list())
    lookup = {u: i for i, u in enumerate(uniq)}
    return labels.replace_strict(lookup, return_dtype=pl.Int32).to_numpy(), uniq


def raw_values(frame: pl.DataFrame, system: System) -> pl.DataFrame:
    """Evaluate every indicator's formula on the firm-year frame (fields and ``<field>__lag``)."""
    return frame.select(ind.compiled.expr.alias(ind.id) for ind in system.indicators)


def score_system(
    frame: pl.DataFrame,
    system: System,
    *,
    peer: str | None = None,
    weights: dict[str, dict[str, float]] | None = None,
    normalisation: str | None = None,
    raw: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Score every firm in ``frame`` (sorted by USCC) under ``system``; pure.

    ``frame`` holds ``uscc, stage, industry_chain`` and the fields (and lags) the formulas read.
    ``weights`` and ``normalisation`` override the system's (sensitivity analysis uses them).
    Returns one row per firm: peer group, per-indicator raw value / score / contribution /
    missing flag, base, bonus and total points, ranks and percentiles within group and region,
    grade and list.
    """
    n = frame.height
    labels = peer_labels(frame, system, peer)
    groups, group_names = codes(labels)
    n_groups = len(group_names)
    sizes = np.bincount(groups, minlength=n_groups) if n else np.zeros(n_groups, dtype=np.int64)
    wkey = frame["stage"].replace_strict(system.peer_groups.stage_map, return_dtype=pl.String)
    wcodes, wnames = codes(wkey) if n else (np.zeros(0, dtype=np.int32), [])
    weights = weights or system.weights
    raw = raw if raw is not None else raw_values(frame, system)
    cols: dict[str, object] = {"uscc": frame["uscc"], "peer_group": labels}
    base = np.zeros(n, dtype=np.float32)
    bonus = np.zeros(n, dtype=np.float32)
    for ind in system.indicators:
        if normalisation is not None and ind.normalisation != "banded":
            ind = ind.model_copy(update={"normalisation": normalisation})
        score, missing = normalise(raw[ind.id], ind, groups, n_groups, sizes)
        if ind.bonus_points is not None:
            contrib = (score * np.float32(ind.bonus_points)).astype(np.float32)
            bonus += contrib
        else:
            w = np.array([weights[k][ind.id] for k in wnames], dtype=np.float32)
            contrib = (score * w[wcodes]).astype(np.float32) if n else np.zeros(0, dtype=np.float32)
            base += contrib
        cols[f"{ind.id}__raw"] = raw[ind.id]
        cols[f"{ind.id}__score"] = score
        cols[f"{ind.id}__contrib"] = contrib
        cols[f"{ind.id}__missing"] = missing
    total = base + bonus
    return (
        pl.DataFrame(cols)
        .with_columns(pl.Series("base", base), pl.Series("bonus", bonus), pl.Series("total", total))
        .hstack(rank_frame(total, groups, n_groups, sizes, system))
    )


def rank_frame(
    total: np.ndarray, groups: np.ndarray, n_groups: int, sizes: np.ndarray, system: System
) -> pl.DataFrame:
    """Ranks, percentiles, grade and list membership from the totals."""
    n = total.shape[0]
    rank_g, st_g = ordinal_rank_desc(total, groups, n_groups, sizes)
    region = np.zeros(n, dtype=np.int32)
    rank_r, st_r = ordinal_rank_desc(total, region, 1, np.array([n]))
    # percentile: share of peers a firm beats, ties averaged (1 = best)
    pct_g = 1 - st_g.percentile() if n else np.zeros(0, dtype=np.float32)
    pct_r = 1 - st_r.percentile() if n else np.zeros(0, dtype=np.float32)
    pct_g = np.where(st_g.size > 1, pct_g, 1.0).astype(np.float32)
    pct_r = np.where(st_r.size > 1, pct_r, 1.0).astype(np.float32)
    ahead = st_g.less  # strictly higher totals (values were negated)
    size = st_g.size
    grade = np.full(n, system.grades[-1].id, dtype=object)
    for g in reversed(system.grades):
        grade = np.where(total >= np.float32(g.min_total), g.id, grade)
    lst = np.full(n, None, dtype=object)
    for li in system.lists:
        inside = (ahead >= li.above * size) & (ahead < li.upto * size)
        lst = np.where(inside & (lst == None), li.id, lst)  # noqa: E711 (elementwise)
    return pl.DataFrame(
        {
            "group_size": size.astype(np.int64),
            "rank_group": rank_g,
            "pct_group": pct_g,
            "rank_region": rank_r,
            "pct_region": pct_r,
            "grade": pl.Series(grade.tolist(), dtype=pl.String),
            "list_id": pl.Series(lst.tolist(), dtype=pl.String),
        }
    )


# ---------------------------------------------------------------- the benchmark's core


def score_core(
    values: list[np.ndarray],
    groups: np.ndarray,
    n_groups: int,
    weight_rows: np.ndarray,
    w: np.ndarray,
) -> dict[str, np.ndarray]:
    """Percentile per indicator within groups, contributions, totals and ranks — arrays only.

    ``values[i]`` is indicator i (float32, positive direction, no missing), ``w`` is
    (weight vectors × indicators) and ``weight_rows`` picks a vector per firm. This is what
    :func:`score_system` does after formulas and missing-value rules, without them, so the
    benchmark measures the kernel itself.
    """
    sizes = np.bincount(groups, minlength=n_groups)
    n = groups.shape[0]
    contrib = np.empty((len(values), n), dtype=np.float32)
    total = np.zeros(n, dtype=np.float32)
    for i, v in enumerate(values):
        p = rank_stats(v, groups, n_groups, sizes).percentile()
        np.multiply(p, w[weight_rows, i], out=contrib[i])
        total += contrib[i]
    rank_g, st_g = ordinal_rank_desc(total, groups, n_groups, sizes)
    rank_r, _ = ordinal_rank_desc(total, np.zeros(n, dtype=np.int32), 1, np.array([n]))
    return {
        "contrib": contrib,
        "total": total,
        "rank_group": rank_g,
        "rank_region": rank_r,
        "pct_group": 1 - st_g.percentile(),
    }
