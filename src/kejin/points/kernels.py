"""Scoring kernels: pure numpy/Polars functions from frames (or arrays) to a frame, no database.

**Exact published figures.** A firm's rank decides whether it is on a published list, so totals,
percentiles and ranks are computed in integer arithmetic, identical on every engine:

* a percentile is the rational ``(2·less + ties − 1) / (2·(n − 1))`` and is carried as its integer
  numerator over the group's denominator — never as a float that rounding could reorder;
* a contribution is percentile (or band score) × weight, all exact decimals, so the total is an
  exact integer number of ``1 / (2·(n − 1)·10^k)`` points; it is rounded half-up to the displayed
  cents (0.01 point) in integers, and **ranks are taken on the displayed cents**;
* **tie rule**: firms with equal displayed totals share a rank, the best one (``min`` method:
  1 + the number of peers strictly ahead); percentiles average tied positions. Nothing depends on
  row order or summation order.

Only min-max / z-score normalisations (irrational scores) enter the sum as float64 values rounded
to the same integer unit.

**The kernel.** The hot path is the rank of every indicator within every peer group. Each column
is ranked with **one** sort of a packed 64-bit key ``(group, value, row)``. Whole amounts (money
in yuan or cents, totals in cents) whose range fits the value bits (39 at 1M rows, 36 at 5M)
carry ``value − min`` exactly; other values are mapped to an unsigned 32-bit integer with the same
order (their float32 bits; rounding to float32 is monotone, so when it merges two distinct values
only those tie runs are re-ordered by the exact value afterwards). ``row`` makes the key unique,
so the sorted key also says where each row went. Ties are runs of equal ``(group, value)`` in the
sorted keys. Columns of small integers (patent counts, awards…) skip the sort: a ``bincount`` over
``(group, value)`` and a cumulative sum give the same counts.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

import numpy as np
import polars as pl

from kejin.points.system import REVENUE_BANDS, Indicator, System

_COUNT_LIMIT = 1 << 22  # bins for the counting path (groups × distinct integer values)
WEIGHT_DECIMALS = 6  # weights are exact up to 10⁻⁶ point (sensitivity draws are quantised to it)
CENTS = 100  # totals are displayed and ranked in 0.01 point


def order_key(v: np.ndarray) -> np.ndarray:
    """Map float32 values to uint32 with the same order (NaN must be removed before).

    >>> order_key(np.array([-2.0, -0.0, 0.0, 1.5], dtype=np.float32)).tolist() == sorted(
    ...     order_key(np.array([-2.0, -0.0, 0.0, 1.5], dtype=np.float32)).tolist())
    True
    """
    b = (np.ascontiguousarray(v, dtype=np.float32) + np.float32(0.0)).view(np.uint32)  # -0.0 → +0.0
    mask = (b >> np.uint32(31)) * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000)
    return b ^ mask


def sort_keys(key: np.ndarray) -> np.ndarray:
    """The packed uint64 keys in ascending order, by Polars' single-threaded sort.

    Measured on the 2-core bench machine (CPU time per key, 1M → 5M keys): numpy's ``ndarray.sort``
    53 → 64 ns (its vectorised x86-simd-sort is not used there, and the comparison sort slows as
    the keys leave the caches), Polars' sort 16 → 17 ns single-threaded and 27 → 35 ns with its
    thread pool (the second thread costs more CPU than it saves on a shared machine). The keys
    are unique, so any correct sort gives the same array.
    """
    return pl.Series(key, dtype=pl.UInt64).sort(multithreaded=False).to_numpy()


class DescCells(NamedTuple):
    """A counting table of integer values ranked from the top within peer groups."""

    top: np.ndarray  #: per row: the largest value minus the row's (its column in the table)
    code: np.ndarray  #: per row: its cell, group · k + top
    vmax: int  #: the largest value
    cnt: np.ndarray  #: (groups, k): rows per cell, the tie run's size
    ahead: np.ndarray  #: (groups, k): peers strictly ahead of the cell's value
    pct: np.ndarray  #: (groups, k): percentile with 1 = best (average of the tie run)


def _pct_desc(cnt: np.ndarray, ahead: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per cell ``(den − twice) / den``: ``den = 2·(n − 1)`` of the group (a row of the table),
    ``twice`` twice the run's average 0-based position; 1 in a group of one (its best). One IEEE
    division of exact integers."""
    den = 2 * np.maximum(sizes - 1, 1)[:, None]
    twice = 2 * ahead + cnt - 1
    return np.where((sizes > 1)[:, None], (den - twice) / den, 1.0)


class PeerLayout:
    """Everything about the peer groups that does not depend on the column being ranked.

    Sorted by ``(group, value, row)``, group ``g`` always occupies positions
    ``[start[g], start[g] + size[g])``, so each position's place within its group and the
    percentile denominator are the same for every column: computed once here, reused per column.
    """

    def __init__(self, groups: np.ndarray, n_groups: int) -> None:
        self.groups = np.ascontiguousarray(groups, dtype=np.int32)
        self.n = int(self.groups.shape[0])
        self.n_groups = n_groups
        self.sizes = np.bincount(self.groups, minlength=n_groups).astype(np.int64)
        self.start = np.cumsum(self.sizes) - self.sizes
        self.row_bits = max(1, math.ceil(math.log2(max(self.n, 2))))
        # key layout, high to low: group | value (value_bits) | row (row_bits)
        self.value_bits = 64 - max(1, (n_groups - 1).bit_length()) - self.row_bits
        self.packable = self.value_bits >= 32  # a float32 order key always fits
        # percentile denominator 2·(n − 1) per group (2 for a group of one, whose share is 1)
        self.den_group = 2 * np.maximum(self.sizes - 1, 1)

    # Per-row arrays of the layout, each computed the first time a path needs it (the counting
    # paths need few of them; the region's one-group layout only ``den``).
    @cached_property
    def den(self) -> np.ndarray:
        return self.den_group[self.groups]

    @cached_property
    def start_of_pos(self) -> np.ndarray:
        return np.repeat(self.start, self.sizes)

    @cached_property
    def pos_in_group(self) -> np.ndarray:
        return np.arange(self.n, dtype=np.int64) - self.start_of_pos

    @cached_property
    def single(self) -> np.ndarray:
        return np.repeat(self.sizes <= 1, self.sizes)

    @cached_property
    def den_sorted(self) -> np.ndarray:
        return np.repeat(self.den_group, self.sizes)

    @cached_property
    def twice_distinct(self) -> np.ndarray:
        """Numerator of each sorted position when values are distinct: 2·position in group."""
        return np.where(self.single, 2, 2 * self.pos_in_group)

    @cached_property
    def _base(self) -> np.ndarray:
        """The constant part of every packed key: group bits above the value, row bits below."""
        return (
            self.groups.astype(np.uint64) << np.uint64(self.value_bits + self.row_bits)
        ) | np.arange(self.n, dtype=np.uint64)

    # -- the one sort per column --------------------------------------------------------------
    def _exact_key(self, v: np.ndarray) -> np.ndarray | None:
        """``v − min`` as uint64 when ``v`` is integer-valued and its range fits the key's value
        bits (money in yuan or cents, counts, totals in cents), else None.

        Such a key is the value itself: no two distinct amounts can share it, so the sorted
        column needs no check against the exact values (a random gather of the whole column)
        and no repair of merged runs, which money above 2^24 needs with float32 keys.
        """
        if v.dtype.kind in "iu":
            lo, hi = int(v.min()), int(v.max())
            if hi - lo >= 1 << self.value_bits:
                return None
            return (v.astype(np.int64, copy=False) - np.int64(lo)).astype(np.uint64)
        lo, hi = float(v.min()), float(v.max())
        bound = float(1 << min(self.value_bits, 53))
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo >= bound or -lo >= bound:
            return None  # |v| < 2^53 too: every integer is a float64, so v − lo is exact
        head = v[:4096]  # a ratio column shows it is not integer-valued in its first rows
        if not (np.array_equal(np.rint(head), head) and np.array_equal(np.rint(v), v)):
            return None
        return (v - lo).astype(np.uint64)

    def _sorted(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows in (group, value, row) order, and for each sorted position but the last whether
        the next one has the same (group, value)."""
        v = np.asarray(v)
        if not self.packable:  # more groups than the packed key holds: lexicographic sort
            rows = np.lexsort((np.arange(self.n), v, self.groups))
            vs, gs = v[rows], self.groups[rows]
            return rows, (vs[1:] == vs[:-1]) & (gs[1:] == gs[:-1])
        key = self._exact_key(v)
        exact = key is not None
        if key is None:
            exact = v.dtype == np.float32
            key = order_key(v.astype(np.float32)).astype(np.uint64)
        key <<= np.uint64(self.row_bits)
        key |= self._base
        key = sort_keys(key)
        rows = (key & np.uint64((1 << self.row_bits) - 1)).astype(np.intp)
        vg = key >> np.uint64(self.row_bits)
        same = vg[1:] == vg[:-1]
        if exact:
            return rows, same
        # float32 is coarser than the data: two distinct values may share float32 bits, and only
        # where neighbours' keys are equal. When under half the positions are tied (a registry's
        # ratios: zeros and missing values), compare the exact values there only; otherwise
        # gather the whole column once.
        at = np.flatnonzero(same)
        if 2 * at.size < self.n:
            clash = at[v[rows[at]] != v[rows[at + 1]]]
        else:
            vs = v[rows]
            clash = np.flatnonzero(same & (vs[1:] != vs[:-1]))
        if clash.size:
            self._repair(v, rows, same, clash)
        return rows, same

    @staticmethod
    def _repair(v: np.ndarray, rows: np.ndarray, same: np.ndarray, clash: np.ndarray) -> None:
        """Re-order, in place, the float32 tie runs that hold distinct exact values (``clash``:
        positions whose next neighbour shares the key but not the value) by the exact value.

        Rounding is monotone, so the runs stay where they are; only their rows are re-ordered
        (stably: exact ties stay in row order) and their ``same`` flags re-set.
        """
        new_run = np.ones(rows.shape[0], dtype=bool)
        new_run[1:] = ~same
        starts = np.flatnonzero(new_run)
        bad = np.unique(np.searchsorted(starts, clash, side="right") - 1)
        lo, hi = starts[bad], np.append(starts, rows.shape[0])[bad + 1]
        lens = hi - lo
        pos = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        run = np.repeat(np.arange(bad.size), lens)
        vals = v[rows[pos]]
        order = np.lexsort((vals, run))
        rows[pos] = rows[pos][order]
        vals = vals[order]
        inner = run[1:] == run[:-1]  # neighbours within one run
        same[pos[:-1][inner]] = vals[1:][inner] == vals[:-1][inner]

    @staticmethod
    def _ties(
        same: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Sorted positions inside tie runs, the run of each, and each run's first and last
        position (None when nothing is tied). A run never spans two groups, so what callers
        derive from a run is computed once per run and gathered."""
        if not same.any():
            return None
        tied = np.zeros(same.shape[0] + 1, dtype=bool)
        tied[:-1] = same
        tied[1:] |= same
        pos = np.flatnonzero(tied)
        new_run = np.ones(pos.size, dtype=bool)
        new_run[1:] = ~same[pos[1:] - 1]  # not tied to the position before it
        starts = np.flatnonzero(new_run)
        first = pos[starts]
        last = np.append(pos[starts[1:] - 1], pos[-1])
        return pos, np.cumsum(new_run) - 1, first, last

    def _counting(self, v: np.ndarray) -> np.ndarray | None:
        """Percentile numerators of a small-integer column by counting (one bincount), or None.

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
        table = np.where((self.sizes > 1)[:, None], 2 * less + cnt - 1, 2)
        return table.astype(np.int64).ravel()[code]

    def _desc_cells(self, v: np.ndarray) -> DescCells | None:
        """Integers in a small range (totals in cents) counted by (group, value from the top), or
        None: what :meth:`rank_desc` and :func:`rank_frame` read per cell instead of per row."""
        if v.dtype.kind not in "iu":
            return None
        vmax = int(v.max())
        k = vmax - int(v.min()) + 1
        if k * self.n_groups > _COUNT_LIMIT:
            return None
        top = np.int64(vmax) - v.astype(np.int64, copy=False)
        code = self.groups.astype(np.int64) * k
        code += top
        cnt = np.bincount(code, minlength=self.n_groups * k).reshape(self.n_groups, k)
        ahead = np.cumsum(cnt, axis=1) - cnt
        return DescCells(top, code, vmax, cnt, ahead, _pct_desc(cnt, ahead, self.sizes))

    def _counting_desc(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`rank_desc` of integers in a small range (totals in cents) by counting, or None.

        One ``bincount`` over (group, value from the top): the running count of a group's row of
        the table is the number of peers strictly ahead, the cell the tie run's size."""
        cells = self._desc_cells(v)
        if cells is None:
            return None
        ahead = cells.ahead.ravel()[cells.code]
        return ahead + 1, ahead, cells.pct.ravel()[cells.code]

    # -- what callers use ---------------------------------------------------------------------
    def twice_position(self, v: np.ndarray) -> np.ndarray:
        """Numerator of the average-rank percentile of ``v`` in its group, over :attr:`den`.

        ``2·(peers strictly below) + (peers equal, self included) − 1`` — twice the average
        0-based position of the row's tie run, an exact integer (row order).
        """
        if self.n == 0:
            return np.zeros(0, dtype=np.int64)
        v = np.asarray(v)
        counted = self._counting(v)
        if counted is not None:
            return counted
        rows, same = self._sorted(v)
        ties = self._ties(same)
        t_sorted = self.twice_distinct
        if ties is not None:
            pos, run, first, last = ties
            t_sorted = t_sorted.copy()
            t_sorted[pos] = (first + last - 2 * self.start_of_pos[first])[run]
        out = np.empty(self.n, dtype=np.int64)
        out[rows] = t_sorted
        return out

    def percentile(self, v: np.ndarray) -> np.ndarray:
        """Average-rank percentile of ``v`` within each group in [0, 1] (float64, row order).

        One IEEE division of two exact integers: the correctly rounded value of the exact
        fraction, the same on every engine. A group of one scores 1: it is its group's best.
        """
        return self.twice_position(v) / self.den

    def rank_desc(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rank from the best, peers strictly better, percentile with 1 = best) per row.

        Tie rule: equal values share the best rank of their run (``min``: 1 + peers strictly
        ahead); the percentile averages the run. Pass exact values (e.g. integer cents).
        """
        if self.n == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0, dtype=np.float64)
        v = np.asarray(v)
        counted = self._counting_desc(v)
        if counted is not None:
            return counted
        neg = -v if v.dtype.kind != "u" else -v.astype(np.int64)
        rows, same = self._sorted(neg)  # ascending in -v: best first
        ties = self._ties(same)
        ahead_sorted = self.pos_in_group
        t_sorted = 2 * self.pos_in_group
        if ties is not None:
            pos, run, first, last = ties
            start = self.start_of_pos[first]
            ahead_sorted = ahead_sorted.copy()
            ahead_sorted[pos] = (first - start)[run]
            t_sorted = t_sorted.copy()
            t_sorted[pos] = (first + last - 2 * start)[run]
        ahead = np.empty(self.n, dtype=np.int64)
        ahead[rows] = ahead_sorted
        pct = np.empty(self.n, dtype=np.float64)
        pct[rows] = np.where(self.single, 1.0, (self.den_sorted - t_sorted) / self.den_sorted)
        return ahead + 1, ahead, pct


# ---------------------------------------------------------------- normalisation of one indicator


def _group_quantile(x: pl.Series, groups: np.ndarray, q: float) -> np.ndarray:
    df = pl.DataFrame({"g": groups, "x": x})
    return (
        df.select(pl.col("x").quantile(q, interpolation="linear").over("g")).to_series().to_numpy()
    )


def normalise(
    raw: pl.Series, ind: Indicator, layout: PeerLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Score of one indicator in [0, 1] per row (direction applied), the row's missing flag, and
    for a percentile its exact numerator over ``layout.den`` (None for other normalisations).

    Order of operations: missing-value rule → winsorisation at group quantiles → direction →
    normalisation within the peer group. ``worst`` fills missing values with the group's worst
    value for ranking and then scores them 0.
    """
    groups = layout.groups
    # numpy from here (a null is NaN): per-indicator Series methods each cost a Polars query
    xv = np.asarray(raw.cast(pl.Float64).to_numpy(), dtype=np.float64)
    missing = ~np.isfinite(xv)
    if ind.missing == "zero":
        xv = np.where(np.isnan(xv), 0.0, xv)
    elif ind.missing == "group_median":
        x = pl.Series(xv, nan_to_null=True)
        med = pl.DataFrame({"g": groups, "x": x}).select(pl.col("x").median().over("g")).to_series()
        xv = x.fill_null(med).fill_null(0.0).to_numpy()
    if ind.winsor is not None and xv.shape[0] > 0:
        x = pl.Series(xv, nan_to_null=True)
        lo = _group_quantile(x, groups, ind.winsor[0])
        hi = _group_quantile(x, groups, ind.winsor[1])
        xv = np.where(
            np.isnan(xv),
            xv,
            np.clip(xv, np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf)),
        )
    sign = 1.0 if ind.direction == "positive" else -1.0
    if ind.normalisation == "percentile":  # the hot path: as few passes over the rows as it takes
        v = xv if sign > 0 else -xv
        fin = np.isfinite(v)
        if fin.all():  # nothing missing (or filled with zero)
            twice = layout.twice_position(v)
        else:  # missing (worst) and ±inf rank below every finite value; missing scores 0
            twice = layout.twice_position(np.where(fin, v, np.finfo(np.float32).min))
            twice[np.isnan(v)] = 0
        return (twice / layout.den if layout.n else np.zeros(0)), missing, twice
    worst = np.isnan(xv)
    v = np.where(worst, -np.inf, sign * xv)
    twice = None
    if ind.normalisation == "banded":
        lowers = np.array([b.lower for b in ind.bands or ()], dtype=np.float64)
        scores = np.array([b.score for b in ind.bands or ()], dtype=np.float64)
        at = np.searchsorted(lowers, np.where(worst, -np.inf, xv), side="right") - 1
        score = np.where(at >= 0, scores[np.clip(at, 0, None)], 0.0)
        if ind.direction == "negative":
            score = 1 - score
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
        score = np.clip(np.where(np.isfinite(score), score, 0.0), 0.0, 1.0)
    score = np.where(worst, 0.0, score)
    return score, missing, twice


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


def _dense(s: pl.Series, values: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Codes of a string column (no nulls) in sorted value order, and the sorted values
    (``values``: its distinct values when the caller has them). A cast to an Enum of the sorted
    values, whose physical codes are those indices: half the CPU of ``replace_strict``."""
    uniq = sorted(s.unique().to_list() if values is None else values)
    return s.cast(pl.Enum(uniq)).to_physical().to_numpy().astype(np.int32), uniq


def peer_codes(
    frame: pl.DataFrame, system: System, extra: str | None = None
) -> tuple[pl.Series, np.ndarray, list[str], np.ndarray, list[str]]:
    """:func:`peer_labels` with the codes :func:`score_system` needs, built on the few distinct
    stages and chains instead of a million concatenated strings.

    Returns the labels, their :func:`codes` (group code per row, group names), and the codes of
    the mapped stage (the weight vector's key). Equal to ``codes(peer_labels(...))`` and
    ``codes(mapped stage)``; the label strings are a gather from the group names. (Building
    and hashing ``stage|chain`` per row took 160 ms of CPU per million firms; this, about 40.)
    """
    extra = extra or system.peer_groups.extra
    stage_map = system.peer_groups.stage_map
    st = frame["stage"]
    st_values = st.unique().to_list()
    if frame.height == 0 or st.null_count() or not set(st_values) <= set(stage_map):
        labels = peer_labels(frame, system, extra)  # the general path (and its errors)
        wkey = st.replace_strict(stage_map, return_dtype=pl.String)
        empty: tuple[np.ndarray, list[str]] = (np.zeros(0, dtype=np.int32), [])
        return labels, *codes(labels), *(codes(wkey) if frame.height else empty)
    st_code, st_names = _dense(st, st_values)
    keys = sorted({stage_map[x] for x in st_names})
    w_of_st = np.array([keys.index(stage_map[x]) for x in st_names], dtype=np.int32)
    if extra in ("chain", "revenue_band"):
        if extra == "chain":
            ex_code, ex_names = _dense(frame["industry_chain"].fill_null("none"))
        else:
            rev = frame["revenue"].cast(pl.Float64).fill_null(0.0).to_numpy()
            ex_code = np.searchsorted(np.array(REVENUE_BANDS), rev, side="right").astype(np.int32)
            ex_names = ["<1M", "1-5M", "5-20M", "20-100M", ">=100M"]
        k = len(ex_names)
        combo = st_code.astype(np.int64) * k + ex_code
        present = np.flatnonzero(np.bincount(combo, minlength=len(st_names) * k))
        name_of = {c: f"{stage_map[st_names[c // k]]}|{ex_names[c % k]}" for c in present}
    else:
        combo = st_code.astype(np.int64)
        present = np.flatnonzero(np.bincount(combo, minlength=len(st_names)))
        name_of = {c: stage_map[st_names[c]] for c in present}
    names = sorted(set(name_of.values()))
    table = np.zeros(int(present.max()) + 1, dtype=np.int32)
    for c, label in name_of.items():
        table[c] = names.index(label)
    groups = table[combo]
    labels = pl.Series("peer_group", names, dtype=pl.String).gather(groups)
    return labels, groups, names, w_of_st[st_code], keys


def codes(labels: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Dense integer codes in sorted label order (deterministic across runs)."""
    uniq = sorted(labels.unique().to_list())
    lookup = {u: i for i, u in enumerate(uniq)}
    return labels.replace_strict(lookup, return_dtype=pl.Int32).to_numpy(), uniq


def raw_values(frame: pl.DataFrame, system: System) -> pl.DataFrame:
    """Evaluate every indicator's formula on the firm-year frame (fields and ``<field>__lag``)."""
    return frame.select(ind.compiled.expr.alias(ind.id) for ind in system.indicators)


def decimals(x: float) -> int:
    """Decimal places of a number as written (``7`` → 0, ``0.05`` → 2), at most
    :data:`WEIGHT_DECIMALS`."""
    exp = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return min(max(-int(exp), 0), WEIGHT_DECIMALS)  # type: ignore[arg-type]


def scaled(x: float, k: int) -> int:
    """``x × 10^k`` as an exact integer (``x`` as written, rounded half-even past k decimals)."""
    return int((Decimal(repr(float(x))) * 10**k).to_integral_value())


def round_units(num: np.ndarray, den: np.ndarray, unit: int = CENTS) -> np.ndarray:
    """``num / den`` rounded half-up to ``1/unit``, as an integer count of ``1/unit`` — in
    integers (``num·unit`` is never formed, so it cannot overflow)."""
    q = num // den  # floor, as divmod; written out so object (Python int) arrays work too
    r = num - q * den
    return q * unit + (2 * r * unit + den) // (2 * den)


class ExactSum:
    """Per-row sums of contributions as exact integers over a per-row denominator.

    Denominator ``Q = den·10^(kw+ks)``: ``den = 2·(n − 1)`` of the row's peer group (percentile
    numerators), ``10^kw`` the weights' decimals, ``10^ks`` the band scores' decimals. int64 when
    the largest possible sum fits, Python integers (object arrays: slower, still exact) otherwise.
    """

    def __init__(self, layout: PeerLayout, kw: int, ks: int, max_total_scaled: int) -> None:
        self.kw, self.ks = kw, ks
        den_max = int(layout.den_group.max()) if layout.n else 2
        q_max = den_max * 10 ** (kw + ks)
        big = max(q_max * 2 * CENTS, den_max * 10**ks * max_total_scaled) >= 1 << 62
        self.dtype: type | np.dtype = object if big else np.dtype(np.int64)
        self.den = layout.den.astype(self.dtype)
        self.q = self.den * 10 ** (kw + ks)

    def term(self, score: np.ndarray, twice: np.ndarray | None, w: np.ndarray, kind: str):
        """Exact numerator of score × weight (``w`` scaled by 10^kw, per row) over ``Q``."""
        w = w.astype(self.dtype, copy=False)
        if twice is not None:  # percentile: twice / den
            t = twice.astype(self.dtype, copy=False) * w  # a new array: scaled in place
            if self.ks:
                t *= 10**self.ks
            return t
        if kind == "banded":  # band scores are exact decimals with ≤ ks places
            s = np.rint(score * 10**self.ks).astype(np.int64).astype(self.dtype)
            return s * w * self.den
        # min-max / z-score: a float64 score, rounded once to the integer unit
        f = np.rint(score * w.astype(np.float64) * self.den.astype(np.float64) * 10**self.ks)
        return f.astype(np.int64).astype(self.dtype)

    def zeros(self):
        return np.zeros(self.den.shape[0], dtype=self.dtype)

    def value(self, num) -> np.ndarray:
        """The exact fraction as float64 (correctly rounded when it fits 53 bits)."""
        return (num / self.q).astype(np.float64, copy=False)


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

    At millions of firms a batch process should call :func:`kejin.heap.keep_large_blocks`
    first (``kejin points score`` and the bench do): see there why.
    """
    n = frame.height
    labels, groups, group_names, wcodes, wnames = peer_codes(frame, system, peer)
    layout = PeerLayout(groups, len(group_names))
    if not n:
        wcodes, wnames = np.zeros(0, dtype=np.int32), []
    weights = weights or system.weights
    raw = raw if raw is not None else raw_values(frame, system)
    inds = [
        ind.model_copy(update={"normalisation": normalisation})
        if normalisation is not None and ind.normalisation != "banded"
        else ind
        for ind in system.indicators
    ]
    bonus_ids = {ind.id for ind in inds if ind.bonus_points is not None}
    kw = max(
        [decimals(w) for k in wnames for i, w in weights[k].items() if i not in bonus_ids]
        + [decimals(ind.bonus_points) for ind in inds if ind.bonus_points is not None]
        + [0]
    )
    ks = max([decimals(b.score) for ind in inds for b in ind.bands or ()] + [0])
    wtab = {
        ind.id: np.array(
            [scaled(ind.bonus_points, kw)]
            if ind.id in bonus_ids
            else [scaled(weights[k][ind.id], kw) for k in wnames],
            dtype=np.int64,
        )
        for ind in inds
    }
    max_total = sum(int(t.max()) for t in wtab.values() if t.size)
    acc = ExactSum(layout, kw, ks, max_total)
    base, bonus = acc.zeros(), acc.zeros()
    cols: dict[str, object] = {"uscc": frame["uscc"], "peer_group": labels}
    for ind in inds:
        score, missing, twice = normalise(raw[ind.id], ind, layout)
        w = wtab[ind.id]
        w_row = np.broadcast_to(w, (n,)) if ind.id in bonus_ids else w[wcodes] if n else w[:0]
        term = acc.term(score, twice, w_row, ind.normalisation)
        if ind.id in bonus_ids:
            bonus += term
        else:
            base += term
        cols[f"{ind.id}__raw"] = raw[ind.id]
        cols[f"{ind.id}__score"] = score
        cols[f"{ind.id}__contrib"] = acc.value(term) if n else np.zeros(0)
        cols[f"{ind.id}__missing"] = missing
    total_cents = round_units(base + bonus, acc.q).astype(np.int64)
    return (
        pl.DataFrame(cols)
        .with_columns(
            pl.Series("base", round_units(base, acc.q).astype(np.int64) / CENTS),
            pl.Series("bonus", round_units(bonus, acc.q).astype(np.int64) / CENTS),
            pl.Series("total", total_cents / CENTS),
        )
        .hstack(rank_frame(total_cents, layout, system))
    )


def _ratio(x: float) -> tuple[int, int]:
    """A share as written (0.05 → 1/20), so list cut-offs compare in integers."""
    return Decimal(repr(float(x))).as_integer_ratio()


def _grades_and_lists(
    cents: np.ndarray, ahead: np.ndarray, size: np.ndarray, system: System
) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``system.grades`` and into ``system.lists`` (its length: on no list) of each
    total in cents with its peers ahead and group size (arrays that broadcast together)."""
    shape = np.broadcast_shapes(cents.shape, ahead.shape, size.shape)
    grade = np.full(shape, len(system.grades) - 1, dtype=np.int32)
    for k in range(len(system.grades) - 1, -1, -1):
        need = math.ceil(Decimal(repr(float(system.grades[k].min_total))) * CENTS)
        grade[np.broadcast_to(cents >= need, shape)] = k
    lst = np.full(shape, len(system.lists), dtype=np.int32)
    for k in range(len(system.lists) - 1, -1, -1):
        (ap, aq), (up, uq) = _ratio(system.lists[k].above), _ratio(system.lists[k].upto)
        lst[np.broadcast_to((ahead * aq >= ap * size) & (ahead * uq < up * size), shape)] = k
    return grade, lst


def rank_frame(total_cents: np.ndarray, layout: PeerLayout, system: System) -> pl.DataFrame:
    """Ranks, percentiles, grade and list membership from the displayed totals in integer cents.

    Equal displayed totals share the best rank of their run (``min``); grades and lists compare
    in integers, so a cut-off like 10% of 30 peers (3.0000000000000004 in floats) is exactly 3.
    Totals in a small range (any points scale in cents) are counted per (group, total) cell:
    everything is computed per cell and gathered once per output column; the region's counts
    are the table's columns summed over groups.
    """
    n = total_cents.shape[0]
    size = layout.sizes[layout.groups]
    cells = layout._desc_cells(total_cents)
    if cells is None:
        rank_g, ahead, pct_g = layout.rank_desc(total_cents)
        rank_r, _, pct_r = PeerLayout(np.zeros(n, dtype=np.int32), 1).rank_desc(total_cents)
        grade, lst = _grades_and_lists(total_cents, ahead, size, system)
    else:
        code = cells.code
        cents = cells.vmax - np.arange(cells.cnt.shape[1], dtype=np.int64)
        cell_grade, cell_list = _grades_and_lists(
            cents[None, :], cells.ahead, layout.sizes[:, None], system
        )
        rank_g = (cells.ahead + 1).ravel()[code]
        pct_g = cells.pct.ravel()[code]
        grade, lst = cell_grade.ravel()[code], cell_list.ravel()[code]
        cnt_r = cells.cnt.sum(axis=0, keepdims=True)
        ahead_r = np.cumsum(cnt_r, axis=1) - cnt_r
        rank_r = (ahead_r[0] + 1)[cells.top]
        pct_r = _pct_desc(cnt_r, ahead_r, np.array([n], dtype=np.int64))[0][cells.top]
    grade_ids = pl.Series([g.id for g in system.grades], dtype=pl.String)
    list_ids = pl.Series([li.id for li in system.lists] + [None], dtype=pl.String)
    return pl.DataFrame(
        {
            "group_size": size.astype(np.int64),
            "rank_group": rank_g,
            "pct_group": pct_g,
            "rank_region": rank_r,
            "pct_region": pct_r,
            "grade": grade_ids.gather(grade),
            "list_id": list_ids.gather(lst),
        }
    )
