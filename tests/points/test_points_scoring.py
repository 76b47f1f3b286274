"""Scoring engine: rank kernel against pandas, invariants (hypothesis), stored runs reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from points_region import build_region
from sqlalchemy import Engine, select

from kejin.db import transaction
from kejin.points.kernels import PeerLayout, score_system
from kejin.points.service import run_results, score_run
from kejin.points.system import FORMULA_FIELDS, load_system
from kejin.points.tables import ScoreRun

values = st.lists(
    st.integers(-5, 5) | st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=60
)


@given(values, st.data())
@settings(max_examples=80, deadline=None)
def test_percentile_matches_pandas_average_rank(vals: list[float], data: st.DataObject) -> None:
    v = np.array(vals, dtype=np.float32)
    g = np.array(
        data.draw(st.lists(st.integers(0, 3), min_size=len(v), max_size=len(v))), dtype=np.int32
    )
    p = PeerLayout(g, 4).percentile(v)
    s = pd.DataFrame({"g": g, "v": v})
    r = s.groupby("g")["v"].rank(method="average") - 1
    n = s.groupby("g")["v"].transform("size") - 1
    expected = np.where(n > 0, r / n.clip(lower=1), 1.0)
    np.testing.assert_allclose(p, expected, atol=1e-6)


@given(values, st.data())
@settings(max_examples=60, deadline=None)
def test_equal_values_share_the_min_rank(vals: list[float], data: st.DataObject) -> None:
    v = np.array(vals, dtype=np.float32)
    g = np.array(
        data.draw(st.lists(st.integers(0, 2), min_size=len(v), max_size=len(v))), dtype=np.int32
    )
    rank, ahead, pct = PeerLayout(g, 3).rank_desc(v)
    for k in range(3):
        vk = v[g == k]
        for j in np.flatnonzero(g == k):
            # tie rule: 1 + peers strictly ahead, so equal values share the best place
            assert ahead[j] == int((vk > v[j]).sum())
            assert rank[j] == ahead[j] + 1
        assert np.all((pct[g == k] >= 0) & (pct[g == k] <= 1))


def _frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    stages = ["seed", "startup", "growth", "mature"]
    cols = {
        "uscc": [f"U{i:05d}" for i in range(n)],
        "stage": [stages[i % 4] for i in range(n)],
        "industry_chain": ["information"] * n,
    }
    for f in sorted(FORMULA_FIELDS):
        cols[f] = rng.integers(0, 100, n).astype(float)
        cols[f + "__lag"] = rng.integers(1, 100, n).astype(float)
    return pl.DataFrame(cols)


@given(
    st.integers(0, 10_000),
    st.integers(0, 39),
    st.sampled_from(["rd_expense", "awards", "graduates_hired", "vc_financing"]),
    st.floats(1, 1000),
    st.sampled_from(["percentile", "minmax"]),
)
@settings(max_examples=40, deadline=None)
def test_improving_a_positive_indicator_never_lowers_total_or_percentile(
    seed: int, firm: int, field: str, bump: float, norm: str
) -> None:
    system = load_system("most-v1").system
    frame = _frame(40, seed)
    before = score_system(frame, system, normalisation=norm)
    better = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == firm)
        .then(pl.col(field) + bump)
        .otherwise(pl.col(field))
        .alias(field)
    )
    after = score_system(better, system, normalisation=norm)
    assert after["total"][firm] >= before["total"][firm] - 1e-4
    assert after["pct_group"][firm] >= before["pct_group"][firm] - 1e-6
    assert after["pct_region"][firm] >= before["pct_region"][firm] - 1e-6


def test_scores_bounded_ranks_permutation_lists_sized() -> None:
    system = load_system("most-v1").system
    out = score_system(_frame(400, 1), system)
    assert out["base"].min() >= 0 and out["base"].max() <= 100 + 1e-3
    assert out["bonus"].max() <= 5 + 1e-4
    totals = out["total"].to_numpy()
    assert out["rank_region"].to_list() == [1 + int((totals > t).sum()) for t in totals]
    for part in out.partition_by("peer_group"):
        t = part["total"].to_numpy()
        assert part["rank_group"].to_list() == [1 + int((t > x).sum()) for x in t]
    counts = out.group_by("peer_group", "list_id").len()
    # 200 seed+startup firms share one peer group: 5% = 10 firms (no ties at the top)
    top = counts.filter((pl.col("peer_group") == "startup") & (pl.col("list_id") == "top5"))["len"]
    assert top.to_list() == [10]
    assert out.filter(pl.col("rank_region") == 1)["total"][0] == out["total"].max()


def test_missing_values_follow_the_declared_rule() -> None:
    system = load_system("most-v1").system
    frame = _frame(40, 3).with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(None)
        .otherwise(pl.col("rd_staff"))
        .alias("rd_staff"),
        pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("awards")).alias("awards"),
    )
    out = score_system(frame, system)
    assert out["rd_staff_share__missing"][0] and out["rd_staff_share__score"][0] == 0  # worst
    assert out["awards__missing"][0]  # zero rule: scored as a 0 count
    zero = score_system(frame.with_columns(pl.col("awards").fill_null(0)), system)
    assert out["awards__score"][0] == zero["awards__score"][0]


def test_revenue_band_and_chain_peer_groups() -> None:
    system = load_system("zgc-lh").system
    frame = _frame(40, 5).with_columns(pl.Series("revenue", [5e5, 2e6, 1e7, 5e7, 2e8] * 8))
    out = score_system(frame, system)
    assert set(out["peer_group"].str.split("|").list.get(1)) == {
        "<1M",
        "1-5M",
        "5-20M",
        "20-100M",
        ">=100M",
    }
    chain = score_system(frame, system, peer="chain")
    assert set(chain["peer_group"]) == {
        "early|information",
        "growth|information",
        "mature|information",
    }


def test_score_run_is_stored_and_reproducible(engine: Engine) -> None:
    build_region(engine, 120)
    a = score_run(engine, "most-v1")
    b = score_run(engine, "most-v1")
    assert a["run_id"] != b["run_id"]
    assert a["results_sha256"] == b["results_sha256"]
    assert a["firms"] == 120 and a["parameters"]["year"] == 2025
    with transaction(engine) as s:
        runs = s.scalars(select(ScoreRun).order_by(ScoreRun.id)).all()
        assert runs[0].input_sha256 == runs[1].input_sha256
        assert runs[0].system_version == "1.0.0" and runs[0].snapshot_pull_id is not None
    stored = run_results(engine, a["run_id"])
    assert stored.height == 120
    totals = stored["total"].to_numpy()  # stored as displayed: equal totals share a rank
    assert stored["rank_region"].to_list() == [1 + int((totals > t).sum()) for t in totals]
    assert stored["detail"][0].startswith('{"rd_expense":[')
    other = score_run(engine, "most-v2")
    assert other["results_sha256"] != a["results_sha256"]


def test_vc_financing_reaches_the_score(engine: Engine) -> None:
    codes = build_region(engine, 40)
    run = score_run(engine, "most-v1")
    res = run_results(engine, run["run_id"])
    import json

    vc = {u: json.loads(d)["vc_financing"][0] for u, d in res.select("uscc", "detail").iter_rows()}
    funded = {c for c in codes if vc[c] == 5_000_000}
    assert len(funded) == len(codes[::7])


def test_unknown_peer_option_refused(engine: Engine) -> None:
    from kejin.errors import ValidationError

    build_region(engine, 10)
    with pytest.raises(ValidationError):
        score_run(engine, "most-v1", peer="planet")


@pytest.mark.parametrize("n", [2, 50, 5000])
def test_sorted_path_with_many_ties_matches_pandas(n: int) -> None:
    rng = np.random.default_rng(n)
    v = rng.choice(np.array([0.5, 1.5, 2.25, -3.5], dtype=np.float32), n)
    g = rng.integers(0, 3, n).astype(np.int32)
    layout = PeerLayout(g, 3)
    s = pd.DataFrame({"g": g, "v": v})
    r = s.groupby("g")["v"].rank(method="average") - 1
    size = s.groupby("g")["v"].transform("size") - 1
    np.testing.assert_allclose(
        layout.percentile(v), np.where(size > 0, r / size.clip(lower=1), 1.0), atol=1e-6
    )
    rank, ahead, _ = layout.rank_desc(v)
    first = s.groupby("g")["v"].rank(method="min", ascending=False).to_numpy() - 1
    np.testing.assert_array_equal(ahead, first)
    np.testing.assert_array_equal(rank, first + 1)
