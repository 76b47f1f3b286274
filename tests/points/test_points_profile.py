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


def test_the_radar_png_keeps_every_label_title_and_legend_inside_the_picture(
    engine: Engine,
) -> None:
    """Measured in the figure as saved (no tight-bbox rescue): each axis label, the title and
    the legend inside the canvas, no label over the title or legend; the title names the
    system and the peer group in words, not ``most-v1`` or ``growth``."""
    from kejin.plotting import pyplot
    from kejin.points.profile import radar_figure

    codes = build_region(engine, 120)
    score_run(engine, "most-v1")
    prof = explain(engine, codes[5], "most-v1")
    fig = radar_figure(prof)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        canvas = fig.bbox
        ax = fig.axes[0]
        labels = [x for x in ax.get_xticklabels() if x.get_text()]
        assert len(labels) == len([i for i in prof["indicators"] if not i["bonus"]])
        title, legend = fig._suptitle, fig.legends[0]
        for artist in (*labels, title, legend):
            box = artist.get_window_extent(renderer)
            assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1, artist
            assert canvas.y0 <= box.y0 and box.y1 <= canvas.y1, artist
        top = min(title.get_window_extent(renderer).y0, legend.get_window_extent(renderer).y0)
        assert all(x.get_window_extent(renderer).y1 < top for x in labels)
        words = title.get_text()
        system = load_system("most-v1").system
        assert system.zh in words and "most-v1" not in words and prof["peer_group"] not in words
    finally:
        pyplot().close(fig)


def test_the_explain_command_names_lists_targets_and_peer_groups_in_words(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``kejin points explain``: the system, list band, peer group and targets as the page says
    them (``top5_10``, ``list:top5`` and ``growth`` are codes nobody reads)."""
    from typer.testing import CliRunner

    from kejin.cli import _mount_areas, app
    from kejin.points.labels import list_name, peer_name, target_name

    codes = build_region(sqlite_engine, 120)
    score_run(sqlite_engine, "most-v1")
    prof = explain(sqlite_engine, codes[40], "most-v1")
    monkeypatch.setattr("kejin.console.get_engine", lambda: sqlite_engine)
    monkeypatch.setenv("COLUMNS", "300")
    _mount_areas()
    res = CliRunner().invoke(app, ["points", "explain", codes[40], "--chart-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    system = load_system("most-v1").system
    assert system.zh in res.stdout and "most-v1 v" not in res.stdout
    assert f"名单 list {list_name(system, prof['list_id'], 'zh')}" in res.stdout
    assert peer_name(prof["peer_group"], "zh") in res.stdout
    assert f"peer group {prof['peer_group']}:" not in res.stdout
    assert prof["targets"]
    for target in prof["targets"]:
        assert f"达到 {target_name(system, target['id'], 'zh')} / to reach " in res.stdout
        assert target["id"] not in res.stdout
