"""Two scales, two names: the points system's innovation grade (创新积分等级) and a bank product's
credit rating (信用评级), each with its scale in words; and "如何提升", one step per indicator that
can still rise, most points first, in words."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kejin.credit.decisions import load_table, rating_scale
from kejin.points.profile import explain
from kejin.points.service import score_run
from kejin.points.system import load_system

from .conftest import login
from .creditworld import build_decisions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "points"))
from points_region import build_region


def test_the_two_scales_say_what_each_letter_needs() -> None:
    system = load_system("most-v1").system
    scale = system.grade_scale("zh")
    for g in system.grades[:-1]:
        assert f"{g.id} ≥ {g.min_total:g} 分" in scale
    last, before = system.grades[-1], system.grades[-2]
    assert f"{last.id} < {before.min_total:g}" in system.grade_scale("en")
    table = load_table("points_credit").table
    zh, en = rating_scale(table, "zh"), rating_scale(table, "en")
    for g in table.grading.grades:
        if g.min_points > 0:
            assert f"{g.grade}: 创新积分 ≥ {g.min_points:g}" in zh
            assert f"innovation points ≥ {g.min_points:g}" in en
    assert "违约概率 ≤ 2%" in zh and "PD ≤ 2%" in en


def test_the_points_page_names_the_innovation_grade(app, engine: Engine, world) -> None:
    codes = build_region(engine, 60)
    score_run(engine, "most-v1")
    gov = login(app, "gov")
    zh = gov.get(f"/firms/{codes[5]}/points").text
    assert "创新积分等级" in zh and 'id="grade-scale"' in zh and "信用评级是两回事" in zh
    en = gov.get(f"/firms/{codes[5]}/points?lang=en").text
    assert "Innovation grade" in en and "credit rating" in en


def test_the_decision_names_the_credit_rating(app, engine: Engine, world) -> None:
    ids = build_decisions(engine)
    bank = login(app, "bank")
    zh = bank.get(f"/bank/credit/{ids['decision_BKA_own']}").text
    assert "信用评级" in zh and 'id="rating-scale"' in zh and "与创新积分等级不同" in zh
    assert '<span class="muted">grade</span>' not in zh  # the component by its label only
    en = bank.get(f"/bank/credit/{ids['decision_BKA_own']}?lang=en").text
    assert "Credit rating" in en and "innovation points ≥ 80" in en
    history = bank.get("/bank/credit?lang=zh").text
    assert "信用评级" in history


def test_how_to_improve_gives_every_step_most_points_first(engine: Engine, world) -> None:
    codes = build_region(engine, 80)
    score_run(engine, "most-v1")
    seen_many = False
    for code in codes[::9]:
        prof = explain(engine, code, "most-v1")
        steps = prof["steps"]
        gains = [s["points_gained"] for s in steps]
        assert gains == sorted(gains, reverse=True)
        assert len({s["indicator"] for s in steps}) == len(steps)  # one step per indicator
        by_id = {i["id"]: i for i in prof["indicators"]}
        for s in steps:
            ind = by_id[s["indicator"]]
            assert ind["score"] < 1 and s["points_gained"] > 0
            assert s["points_gained"] <= ind["weight"] * (1 - ind["score"]) + 0.01
            if s["current"] is not None:  # a missing value is reported, then any value counts
                up = s["needed"] > s["current"]
                assert up if s["direction"] == "positive" else not up
            for target in s["reaches"]:
                need = next(t for t in prof["targets"] if t["id"] == target)["total_needed"]
                assert prof["total"] + s["points_gained"] >= need
        seen_many |= len(steps) > 1
    assert seen_many  # more than one step where more exist


def test_the_page_shows_the_steps_in_words(app, engine: Engine, world) -> None:
    codes = build_region(engine, 60)
    score_run(engine, "most-v1")
    prof = explain(engine, codes[3], "most-v1")
    assert len(prof["steps"]) > 1
    html = login(app, "gov").get(f"/firms/{codes[3]}/points").text
    raise_part = html[html.index('id="points-raise"') :]
    assert raise_part.count('class="step"') == len(prof["steps"])
    for s in prof["steps"]:
        assert s["zh"] in raise_part and f"+{s['points_gained']:.2f}" in raise_part
        assert s["indicator"] not in raise_part  # labels, not codes
    assert "grade:" not in raise_part and "list:" not in raise_part


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_steps_read_in_either_language(app, engine: Engine, world, lang: str) -> None:
    codes = build_region(engine, 60)
    score_run(engine, "most-v1")
    html = login(app, "gov").get(f"/firms/{codes[3]}/points?lang={lang}").text
    assert ("提高到" if lang == "zh" else "raise to") in html
