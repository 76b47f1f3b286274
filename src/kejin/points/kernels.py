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

import numpy as np
import polars as pl

from kejin.points.system import REVENUE_BANDS, Indicator, System

_COUNT_LIMIT = 1 << 22  # bins for the counting path (groups × distinct integer values)


def order_key(v: np.ndarray) -> np.ndarray:
    """Map float32 values to uint32 with the same order (NaN must be removed before).

    >>> order_key(np.array([-2.0, -0.0, 0.0, 1.5], dtype=np.float32)).tolist() == sorted(
    ...     order_key(np.array([-2.0, -0.0, 0.0, 1.5], dtype=np.float32)).tolist())
    True
    """
    b = (np.ascontiguousarray(v, dtype=np.float32) + np.float32(0.0)).view(np.uint32)  # -0.0 → +0.0
    mask = (b >> np.uint32(31)) * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000)
    return b ^ mask


class PeerLayout:
    """Everything about the peer groups that does not depend on the column being ranked.

    Sorted by ``(group, value, row)``, group ``g`` always occupies positions
    ``[start[g], start[g] + size[g])``, so each position's rank within its group and the
    percentile denominator are the same for every column: computed once here, reused per column.
    """

    def __init__(self, groups: np.ndarray, n_groups: int) -> None:
        self.groups = np.ascontiguousarray(groups, dtype=np.int32)
        self.n = int(self.groups.shape[0])
        self.n_groups = n_groups
        self.sizes = np.bincount(self.groups, minlength=n_groups).astype(np.int64)
        self.start = np.cumsum(self.sizes) - self.sizes
        self.row_bits = max(1, math.ceil(math.log2(max(self.n, 2))))
        self.packable = n_groups <= (1 << (64 - 32 - self.row_bits))
        self.pos_in_group = np.arange(self.n, dtype=np.int64) - np.repeat(self.start, self.sizes)
        den = np.maximum(self.sizes - 1, 1).astype(np.float64)
        self.inv_den = np.repeat(1.0 / den, self.sizes)
        self.single = np.repeat(self.sizes <= 1, self.sizes)
        self.start_of_pos = np.repeat(self.start, self.sizes)
        # percentile of each sorted position when values are distinct (1 for a group of one)
        self.p_distinct = np.where(self.single, 1.0, self.pos_in_group * self.inv_den).astype(
            np.float32
        )
        # the constant part of every packed key: group bits above the value, row bits below
        self._base = (self.groups.astype(np.uint64) << np.uint64(32 + self.row_bits)) | np.arange(
            self.n, dtype=np.uint64
        )

    # -- the one sort per column --------------------------------------------------------------
    def _sorted(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows in (group, value, row) order, and the value-bits of the sorted keys."""
        key = order_key(v).astype(np.uint64)
        if self.packable:
            key <<= np.uint64(self.row_bits)
            key |= self._base
            s = pl.Series(key).sort().to_numpy()
            rows = (s & np.uint64((1 << self.row_bits) - 1)).astype(np.intp)
            vg = s >> np.uint64(self.row_bits)
        else:  # more groups than the packed key holds: lexicographic sort instead
            rows = np.lexsort((np.arange(self.n), key, self.groups))
            vg = key[rows] | (self.groups[rows].astype(np.uint64) << np.uint64(32))
        return rows, vg

    @staticmethod
    def _ties(vg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Sorted positions inside tie runs with their run's first and last position.

        Real data has few exact ties, so only the tied positions are touched: None when there
        are none at all.
        """
        eq = vg[1:] == vg[:-1]
        if not eq.any():
            return None
        tied = np.zeros(vg.shape[0], dtype=bool)
        tied[:-1] = eq
        tied[1:] |= eq
        pos = np.flatnonzero(tied)
        new_run = np.ones(pos.size, dtype=bool)
        new_run[1:] = (np.diff(pos) != 1) | (vg[pos[1:]] != vg[pos[:-1]])
        run = np.cumsum(new_run) - 1
        first = pos[new_run]
        last = np.append(pos[np.flatnonzero(new_run)[1:] - 1], pos[-1])
        return pos, first[run], last[run]

    def _counting(self, v: np.ndarray, group_scale: np.ndarray | None = None) -> np.ndarray | None:
        """Percentiles of a small-integer column by counting (one bincount), or None.

        The percentile depends only on (group, value), so it is computed once per distinct pair
        and gathered: one pass over the rows instead of a sort.
        """
        vmin, vmax = v.min(), v.max()
        if not (np.isfinite(vmin) and np.isfinite(vmax)):
            return None
        k = int(vmax - vmin) + 1
        if k * self.n_groups > _COUNT_LIMIT:
            return None
        iv = (v - vmin).astype(np.int32)
        if not np.array_equal(iv + vmin, v):  # not integer-valued
            return None
        code = self.groups * np.int32(k) + iv
        cnt = np.bincount(code, minlength=self.n_groups * k).reshape(self.n_groups, k)
        less = np.cumsum(cnt, axis=1) - cnt
        den = np.maximum(self.sizes - 1, 1)[:, None]
        table = np.where((self.sizes > 1)[:, None], (less + (cnt - 1) * 0.5) / den, 1.0)
        if group_scale is not None:
            table = table * np.asarray(group_scale, dtype=np.float64)[:, None]
        return table.astype(np.float32).ravel()[code]

    # -- what callers use ---------------------------------------------------------------------
    def percentile(self, v: np.ndarray, group_scale: np.ndarray | None = None) -> np.ndarray:
        """Average-rank percentile of ``v`` within each group, in [0, 1] (float32, row order).

        A group of one scores 1: it is its group's best. With ``group_scale`` (one factor per
        group, e.g. the indicator's weight in the group's weight vector) the result is
        percentile × factor, computed before the scatter back to row order so that weighting
        costs no extra pass over the rows.
        """
        if self.n == 0:
            return np.zeros(0, dtype=np.float32)
        vf = np.asarray(v, dtype=np.float32)
        counted = self._counting(vf, group_scale)
        if counted is not None:
            return counted
        rows, vg = self._sorted(vf)
        ties = self._ties(vg)
        p_sorted = self.p_distinct
        if ties is not None:
            pos, first, last = ties
            p_sorted = p_sorted.copy()
            p_sorted[pos] = ((first + last) * 0.5 - self.start_of_pos[pos]) * self.inv_den[pos]
        if group_scale is not None:
            p_sorted = p_sorted * np.repeat(np.asarray(group_scale, dtype=np.float32), self.sizes)
        out = np.empty(self.n, dtype=np.float32)
        out[rows] = p_sorted
        return out

    def rank_desc(
        self, v: np.ndarray, ahead: bool = True, pct: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(ordinal rank from the best, peers strictly better, percentile with 1 = best) per row.

        Ordinal ranks are a permutation of 1..size within each group; equal values rank in row
        order (rows are sorted by USCC, so ties rank the same way every run). ``ahead=False`` /
        ``pct=False`` skip outputs a caller does not need (None is returned in their place).
        """
        if self.n == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0, dtype=np.float32)
        neg = -np.asarray(v, dtype=np.float32)
        rows, vg = self._sorted(neg)  # ascending in -v: best first, ties by row
        ties = self._ties(vg)
        ordinal = np.empty(self.n, dtype=np.int64)
        ordinal[rows] = self.pos_in_group + 1
        ahead_out = pct_out = None
        if ahead:
            ahead_sorted = self.pos_in_group
            if ties is not None:
                pos, first, _ = ties
                ahead_sorted = ahead_sorted.copy()
                ahead_sorted[pos] = first - self.start_of_pos[pos]
            ahead_out = np.empty(self.n, dtype=np.int64)
            ahead_out[rows] = ahead_sorted
        if pct:
            p_sorted = self.p_distinct
            if ties is not None:
                pos, first, last = ties
                p_sorted = p_sorted.copy()
                p_sorted[pos] = ((first + last) * 0.5 - self.start_of_pos[pos]) * self.inv_den[pos]
            pct_out = np.empty(self.n, dtype=np.float32)
            pct_out[rows] = np.where(self.single, 1.0, 1.0 - p_sorted)
        return ordinal, ahead_out, pct_out


# ---------------------------------------------------------------- normalisation of one indicator


def _group_quantile(x: pl.Series, groups: np.ndarray, q: float) -> np.ndarray:
    df = pl.DataFrame({"g": groups, "x": x})
    return (
        df.select(pl.col("x").quantile(q, interpolation="linear").over("g")).to_series().to_numpy()
    )


def normalise(raw: pl.Series, ind: Indicator, layout: PeerLayout) -> tuple[np.ndarray, np.ndarray]:
    """Score of one indicator in [0, 1] per row (direction applied) and the row's missing flag.

    Order of operations: missing-value rule → winsorisation at group quantiles → direction →
    normalisation within the peer group. ``worst`` fills missing values with the group's worst
    value for ranking and then scores them 0.
    """
    groups = layout.groups
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
        score = layout.percentile(finite)
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
    layout = PeerLayout(groups, len(group_names))
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
        score, missing = normalise(raw[ind.id], ind, layout)
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
        .hstack(rank_frame(total, layout, system))
    )


def rank_frame(total: np.ndarray, layout: PeerLayout, system: System) -> pl.DataFrame:
    """Ranks, percentiles, grade and list membership from the totals."""
    n = total.shape[0]
    rank_g, ahead, pct_g = layout.rank_desc(total)
    rank_r, _, pct_r = PeerLayout(np.zeros(n, dtype=np.int32), 1).rank_desc(total)
    size = layout.sizes[layout.groups]
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
    values: list[np.ndarray], groups: np.ndarray, n_groups: int, group_weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Percentile per indicator within groups, contributions, totals and ranks — arrays only.

    ``values[i]`` is indicator i (float32, positive direction, no missing); ``group_weights`` is
    (groups × indicators): each peer group's weight vector (peer groups nest inside the stage that
    picks the weight vector, so a weight is a function of the group). This is what
    :func:`score_system` does after formulas and missing-value rules, without them, so the
    benchmark measures the kernel itself.
    """
    layout = PeerLayout(groups, n_groups)
    n = layout.n
    contrib = np.empty((len(values), n), dtype=np.float32)
    total = np.zeros(n, dtype=np.float32)
    for i, v in enumerate(values):
        contrib[i] = layout.percentile(v, group_weights[:, i])
        total += contrib[i]
    rank_g, _, pct_g = layout.rank_desc(total, ahead=False)
    rank_r, _, _ = PeerLayout(np.zeros(n, dtype=np.int32), 1).rank_desc(
        total, ahead=False, pct=False
    )
    return {
        "contrib": contrib,
        "total": total,
        "rank_group": rank_g,
        "rank_region": rank_r,
        "pct_group": pct_g,
    }
