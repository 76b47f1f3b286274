"""Profiles (explain + radar chart) and the weight/normalisation sensitivity analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from points_region import build_region
from sqlalchemy import Engine

from kejin.errors import NotFoundError
from kejin.points.kernels import score_system
from kejin.points.profile import explain, radar_chart
from kejin.points.sensitivity import draw_weights, sensitivity
from kejin.points.service import load_frame, run_results, score_run
from kejin.points.system import load_system


def test_explain_contributions_add_up_and_missing_listed(engine: Engine, tmp_path: Path) -> None:
    codes = build_region(engine, 120)
    run = score_run(engine, "most-v1")
    res = run_results(engine, run["run_id"])
    missing_firm = codes[0]  # built first: its rd_staff is missing (row % 23 == 0)
    prof = explain(engine, missing_firm, "most-v1")
    assert "rd_staff_share" in prof["missing"]
    total = sum(i["contribution"] for i in prof["indicators"])
    # the published total is the exact sum rounded half-up to 0.01 point
    assert total == pytest.approx(prof["total"], abs=0.005 + 1e-9)
    assert len(prof["strengths"]) == 3 and len(prof["weaknesses"]) == 3
    assert set(prof["strengths"]).isdisjoint(prof["weaknesses"])
    assert prof["system_matches_run"] and prof["year"] == 2025
    paths = radar_chart(prof, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    assert res.height == 120


def test_improvements_reach_the_target_when_applied(engine: Engine) -> None:
    build_region(engine, 160)
    run = score_run(engine, "most-v1")
    res = run_results(engine, run["run_id"]).sort("rank_region")
    profiles = (explain(engine, u, "most-v1") for u in res["uscc"][20:])
    prof = next(p for p in profiles if p["improvements"])
    mid = prof["uscc"]
    # apply the smallest change for the first target to the raw frame and re-score
    first = prof["improvements"][0]
    target = next(t for t in prof["targets"] if t["id"] == first["target"])
    system = load_system("most-v1").system
    frame = load_frame(engine, system, 2025)
    from kejin.points.kernels import raw_values

    raw = raw_values(frame, system)
    idx = frame["uscc"].to_list().index(mid)
    col = raw[first["indicator"]].to_numpy().copy()
    col[idx] = first["needed"]
    import polars as pl

    raw = raw.with_columns(pl.Series(first["indicator"], col))
    after = score_system(frame, system, raw=raw)
    assert after["total"][idx] >= target["total_needed"] - 1e-3
    sizes = [r["score_gain"] for r in prof["improvements"] if r["target"] == first["target"]]
    assert sizes == sorted(sizes)


def test_explain_unknown_firm(engine: Engine) -> None:
    build_region(engine, 10)
    score_run(engine, "most-v1")
    with pytest.raises(NotFoundError):
        explain(engine, "91350100M000100Y43", "most-v1")


def test_dirichlet_draws_keep_declared_sum() -> None:
    system = load_system("most-v1").system
    w = draw_weights(system, np.random.default_rng(1), 100.0)
    for vec in w.values():
        assert sum(vec.values()) == pytest.approx(100.0)
        assert set(vec) == set(system.weights["growth"])


def test_sensitivity_is_seeded_and_reports_intervals(engine: Engine) -> None:
    build_region(engine, 80)
    a = sensitivity(engine, "most-v1", 12, 5)
    b = sensitivity(engine, "most-v1", 12, 5)
    assert a == b
    c = sensitivity(engine, "most-v1", 12, 6)
    assert c["firms"] != a["firms"]
    for f in a["firms"]:
        assert 1 <= f["rank_p5"] <= f["rank_p95"] <= 80
    assert set(a["lists"]) == {"top5", "top5_10", "top10_20"}
    assert a["lists"]["top5"]["members"] > 0
    assert 0 <= a["lists"]["top5"]["stable_share"] <= 1
    tight = sensitivity(engine, "most-v1", 12, 5, concentration=1e9, normalisations=("percentile",))
    assert tight["lists"]["top5"]["stable_share"] == 1.0
    assert max(f["rank_p95"] - f["rank_p5"] for f in tight["firms"]) <= 2
    assert tight["median_interval_width"] < a["median_interval_width"]
