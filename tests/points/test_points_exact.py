"""Published totals, percentiles and ranks equal an independent exact computation (issue 20).

The reference below knows nothing of the kernel: Python ``Fraction`` arithmetic on the indicator
values, percentiles by counting peers, the total rounded half-up to the displayed 0.01 point, and
the documented tie rule (equal displayed totals share the best rank). Data are tie-heavy like a
real registry: Poisson counts, 3-decimal ratios, money in cents, missing values, 30 uneven peer
groups.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.points.kernels import raw_values, score_system
from kejin.points.system import FORMULA_FIELDS, System, load_system

CHAINS = [f"chain{i}" for i in range(10)]
STAGES = ["seed", "startup", "growth", "mature"]


def system() -> System:
    """most-v1 without winsorisation (whose group quantiles are not the point here), peer groups
    by stage × chain: 3 weight vectors × 10 chains = 30 groups."""
    base = load_system("most-v1").system
    return base.model_copy(
        update={
            "indicators": tuple(i.model_copy(update={"winsor": None}) for i in base.indicators),
            "peer_groups": base.peer_groups.model_copy(update={"extra": "chain"}),
        }
    )


def registry(n: int, seed: int) -> pl.DataFrame:
    """Uneven groups (chain shares ∝ 1/k), Poisson counts, 3-decimal money ratios, cents."""
    rng = np.random.default_rng(seed)
    share = 1 / np.arange(1, 11)
    cols: dict[str, object] = {
        "uscc": [f"U{i:07d}" for i in range(n)],
        "stage": rng.choice(STAGES, n, p=[0.1, 0.3, 0.4, 0.2]).tolist(),
        "industry_chain": rng.choice(CHAINS, n, p=share / share.sum()).tolist(),
    }
    for f in sorted(FORMULA_FIELDS):
        if f in {"revenue", "total_assets", "staff"}:  # denominators: positive, few levels
            cur = rng.integers(1, 6, n) * 1000.0
        elif f in {"rd_expense", "vc_financing", "tech_contract_turnover", "tax_paid"}:
            cur = np.round(rng.lognormal(13, 2, n), 2)  # skewed money in cents
            cur[rng.random(n) < 0.3] = 0.0
        else:
            cur = rng.poisson(1.5, n).astype(float)
        vals = cur.tolist()
        for i in np.flatnonzero(rng.random(n) < 0.05):
            if f not in {"revenue", "total_assets", "staff"}:
                vals[i] = None
        cols[f] = vals
        cols[f + "__lag"] = (rng.integers(1, 6, n) * 1000.0).tolist()
    return pl.DataFrame(cols)


def reference(frame: pl.DataFrame, sysm: System) -> dict[str, list]:
    """Totals (cents), ranks, percentiles, lists and grades in exact rational arithmetic."""
    raw = raw_values(frame, sysm)
    stage_key = [sysm.peer_groups.stage_map[s] for s in frame["stage"]]
    group = [f"{k}|{c}" for k, c in zip(stage_key, frame["industry_chain"], strict=True)]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(g, []).append(i)
    n = frame.height
    total = [Fraction(0)] * n
    for ind in sysm.indicators:
        col = raw[ind.id].to_list()
        missing = [x is None or not math.isfinite(x) for x in col]
        score = [Fraction(0)] * n
        if ind.normalisation == "banded":
            for i, x in enumerate(col):
                x = 0.0 if missing[i] else x
                hit = [b.score for b in ind.bands or () if x >= b.lower]
                score[i] = Fraction(repr(hit[-1])) if hit else Fraction(0)
        else:
            sign = 1 if ind.direction == "positive" else -1
            key = [
                None if missing[i] and ind.missing == "worst" else sign * Fraction(x or 0.0)
                for i, x in enumerate(col)
            ]
            for rows in members.values():
                vals = [key[i] for i in rows]
                for i in rows:
                    if key[i] is None:
                        continue  # worst: ranked last, scores 0
                    if len(rows) == 1:
                        score[i] = Fraction(1)
                        continue
                    less = sum(v is None or v < key[i] for v in vals)
                    eq = sum(v is not None and v == key[i] for v in vals)
                    score[i] = Fraction(2 * less + eq - 1, 2 * (len(rows) - 1))
        for i in range(n):
            w = (
                ind.bonus_points
                if ind.bonus_points is not None
                else sysm.weights[stage_key[i]][ind.id]
            )
            total[i] += score[i] * Fraction(repr(float(w)))
    cents = [math.floor(t * 100 + Fraction(1, 2)) for t in total]
    out: dict[str, list] = {"cents": cents, "rank_group": [0] * n, "pct_group": [0.0] * n}
    out["rank_region"] = [1 + sum(c > ci for c in cents) for ci in cents]
    out["list_id"] = [None] * n
    for rows in members.values():
        m = len(rows)
        for i in rows:
            ahead = sum(cents[j] > cents[i] for j in rows)
            eq = sum(cents[j] == cents[i] for j in rows)
            out["rank_group"][i] = ahead + 1
            below = m - ahead - eq
            out["pct_group"][i] = (
                1.0 if m == 1 else float(Fraction(2 * below + eq - 1, 2 * (m - 1)))
            )
            for li in sysm.lists:
                lo, hi = Fraction(repr(li.above)) * m, Fraction(repr(li.upto)) * m
                if out["list_id"][i] is None and lo <= ahead < hi:
                    out["list_id"][i] = li.id
    out["grade"] = [
        next(g.id for g in sysm.grades if c >= Fraction(repr(float(g.min_total))) * 100)
        for c in cents
    ]
    return out


def check(frame: pl.DataFrame, sysm: System) -> None:
    got = score_system(frame, sysm)
    ref = reference(frame, sysm)
    assert (got["total"] * 100).round(0).cast(pl.Int64).to_list() == ref["cents"]
    assert got["total"].to_list() == [c / 100 for c in ref["cents"]]
    assert got["rank_region"].to_list() == ref["rank_region"]
    assert got["rank_group"].to_list() == ref["rank_group"]
    assert got["pct_group"].to_list() == ref["pct_group"]
    assert got["list_id"].to_list() == ref["list_id"]
    assert got["grade"].to_list() == ref["grade"]


def test_ranks_of_a_tie_heavy_registry_equal_the_exact_reference() -> None:
    frame = registry(3000, 20)
    sysm = system()
    check(frame, sysm)
    got = score_system(frame, sysm)
    # the data really is tie-heavy and the groups uneven
    assert got["total"].n_unique() < 0.9 * frame.height
    sizes = got.group_by("peer_group").len()["len"]
    assert sizes.len() == 30 and sizes.max() > 10 * sizes.min()


@given(st.integers(2, 80), st.integers(0, 2**31))
@settings(max_examples=25, deadline=None)
def test_ranks_equal_the_exact_reference_on_any_registry(n: int, seed: int) -> None:
    check(registry(n, seed), system())


def test_amounts_float32_would_merge_still_rank_apart() -> None:
    from kejin.points.kernels import PeerLayout

    # 12,345,678.91 and .92 yuan (and 2^24 vs 2^24 + 1) are one float32 each: must not tie
    v = np.array([12_345_678.92, 12_345_678.91, 16_777_217.0, 16_777_216.0, 1.0, 12_345_678.91])
    g = np.zeros(v.size, dtype=np.int32)
    layout = PeerLayout(g, 1)
    # 2·below + ties − 1 over 2·(n − 1) = 10
    assert layout.percentile(v).tolist() == [6 / 10, 3 / 10, 10 / 10, 8 / 10, 0.0, 3 / 10]
    rank, ahead, _ = layout.rank_desc(v)
    assert rank.tolist() == [3, 4, 1, 2, 6, 4]
    assert ahead.tolist() == [2, 3, 0, 1, 5, 3]


def test_round_units_is_half_up_in_int64_and_python_integers() -> None:
    from kejin.points.kernels import round_units

    num, den = [5, 7, 1, 249, 251], [1000, 2, 3, 10_000, 10_000]  # 0.005 3.5 0.333 0.0249 0.0251
    want = [1, 350, 33, 2, 3]
    assert round_units(np.array(num), np.array(den)).tolist() == want
    big = 10**19  # beyond int64: the ExactSum fallback holds Python integers
    obj = round_units(
        np.array([n * big for n in num], dtype=object),
        np.array([d * big for d in den], dtype=object),
    )
    assert obj.tolist() == want


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-3, 3), st.sampled_from([0.0, 0.01, 0.5, 1.0])),
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=200, deadline=None)
def test_percentile_numerators_equal_counting_when_float32_merges_runs(rows) -> None:  # type: ignore[no-untyped-def]
    """Amounts around 2^25 (where float32 steps by 4) in several groups: some float32 runs hold
    distinct amounts, others exact ties, others both. Every row's numerator must equal the count
    ``2·below + equal − 1`` over its own group, taken on the exact values."""
    from kejin.points.kernels import PeerLayout

    g = np.array([r[0] for r in rows], dtype=np.int32)
    v = np.array([2.0**25 + r[1] + r[2] for r in rows])
    layout = PeerLayout(g, 4)
    got = layout.twice_position(v).tolist()
    want = []
    for gi, vi in zip(g, v, strict=True):
        peers = v[g == gi]
        want.append(
            2 * int((peers < vi).sum()) + int((peers == vi).sum()) - 1 if peers.size > 1 else 2
        )
    assert got == want
    rank, ahead, _ = layout.rank_desc(v)
    assert (rank == ahead + 1).all()
    assert ahead.tolist() == [int((v[g == gi] > vi).sum()) for gi, vi in zip(g, v, strict=True)]


@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(-50, 50)), min_size=1, max_size=80),
)
@settings(max_examples=150, deadline=None)
def test_ranks_of_integer_cents_by_counting_equal_the_sorting_path(rows) -> None:  # type: ignore[no-untyped-def]
    """Totals in integer cents take the counting path of ``rank_desc``; the same values as
    floats take the sort: ranks, peers ahead and percentiles must be identical."""
    from kejin.points.kernels import PeerLayout

    g = np.array([r[0] for r in rows], dtype=np.int32)
    cents = np.array([r[1] for r in rows], dtype=np.int64)
    layout = PeerLayout(g, 5)
    counted = layout.rank_desc(cents)
    sorted_ = layout.rank_desc(cents.astype(np.float64) + 0.5)  # not integer: the sort path
    for a, b in zip(counted, sorted_, strict=True):
        assert a.tolist() == b.tolist()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(STAGES),
            st.one_of(st.none(), st.sampled_from(CHAINS)),
            st.floats(0, 2e8, allow_nan=False),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from(["chain", "revenue_band", "none"]),
)
@settings(max_examples=150, deadline=None)
def test_peer_codes_equal_the_codes_of_the_labels(rows, extra: str) -> None:  # type: ignore[no-untyped-def]
    """The codes built from the distinct stages and chains (no per-row strings) equal the codes of
    the concatenated labels, and so do the weight keys' codes (issue 20)."""
    from kejin.points.kernels import codes, peer_codes, peer_labels

    frame = pl.DataFrame(
        rows,
        schema={"stage": pl.String, "industry_chain": pl.String, "revenue": pl.Float64},
        orient="row",
    )
    sysm = system()
    labels, groups, names, wcodes, wnames = peer_codes(frame, sysm, extra)
    expected = peer_labels(frame, sysm, extra)
    assert labels.to_list() == expected.to_list()
    g, n = codes(expected)
    assert np.array_equal(groups, g) and names == n
    wk = frame["stage"].replace_strict(sysm.peer_groups.stage_map, return_dtype=pl.String)
    w, wn = codes(wk)
    assert np.array_equal(wcodes, w) and wnames == wn


def test_sort_keys_sorts_uint64_like_numpy() -> None:
    """Polars' single-threaded sort of the packed keys gives numpy's order (top bit set too)."""
    from kejin.points.kernels import sort_keys

    rng = np.random.default_rng(20)
    key = rng.integers(0, 2**64, 100_000, dtype=np.uint64, endpoint=False)
    assert np.array_equal(sort_keys(key.copy()), np.sort(key))


def _brute_twice(g: np.ndarray, v: np.ndarray) -> list[int]:
    """``2·below + equal − 1`` in the row's own group, counted on the exact values."""
    out = []
    for gi, vi in zip(g, v, strict=True):
        peers = v[g == gi]
        out.append(
            2 * int((peers < vi).sum()) + int((peers == vi).sum()) - 1 if peers.size > 1 else 2
        )
    return out


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(-(10**11), 10**11), st.booleans()),
        min_size=2,
        max_size=60,
    )
)
@settings(max_examples=150, deadline=None)
def test_integer_amounts_rank_by_their_exact_key(rows) -> None:  # type: ignore[no-untyped-def]
    """Whole amounts up to 10^11 (float32 merges any two within 2^13 of each other up there)
    take the exact integer key: no float32 run repair, and the numerators equal counting."""
    from kejin.points.kernels import PeerLayout

    g = np.array([r[0] for r in rows], dtype=np.int32)
    v = np.array([float(r[1] if r[2] else r[1] // 7919) for r in rows])  # some repeats
    layout = PeerLayout(g, 3)
    assert layout._exact_key(v) is not None
    assert layout.twice_position(v).tolist() == _brute_twice(g, v)
    rank, ahead, _ = layout.rank_desc(v.astype(np.int64))
    assert (rank == ahead + 1).all()
    assert ahead.tolist() == [int((v[g == gi] > vi).sum()) for gi, vi in zip(g, v, strict=True)]


def test_exact_key_only_for_integers_that_fit() -> None:
    from kejin.points.kernels import PeerLayout

    layout = PeerLayout(np.zeros(4, dtype=np.int32), 1)
    assert layout._exact_key(np.array([0.0, 3.0, 1e12, -5.0])).tolist() == [5, 8, 10**12 + 5, 0]
    assert layout._exact_key(np.array([0.0, 0.5, 1.0, 2.0])) is None  # not integer-valued
    assert layout._exact_key(np.array([0.0, 2.0**60, 1.0, 2.0])) is None  # range beyond the key
    assert layout._exact_key(np.array([0.0, np.inf, 1.0, 2.0])) is None


@given(st.integers(0, 2**31), st.integers(40, 400))
@settings(max_examples=60, deadline=None)
def test_float32_clashes_among_few_ties_are_repaired(seed: int, n: int) -> None:
    """Mostly distinct ratios (under half the positions tied: the check gathers only the tied
    neighbours) with planted pairs one float64 step apart, which float32 merges."""
    from kejin.points.kernels import PeerLayout

    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n).astype(np.int32)
    v = rng.random(n) * 1000 + 0.1
    k = n // 10
    v[:k] = v[k : 2 * k]  # exact ties
    v[2 * k : 3 * k] = np.nextafter(v[3 * k : 4 * k], np.inf)  # float32-merged distinct values
    g[2 * k : 3 * k] = g[3 * k : 4 * k]
    layout = PeerLayout(g, 3)
    assert layout.twice_position(v).tolist() == _brute_twice(g, v)
    _, ahead, _ = layout.rank_desc(v)
    assert ahead.tolist() == [int((v[g == gi] > vi).sum()) for gi, vi in zip(g, v, strict=True)]
