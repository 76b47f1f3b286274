"""Monthly early warning: each signal, the combined level, and the stability report."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine
from tests.credit.firms import add_firm, cli, points_run

from kejin.credit import dataset, early_warning, monitoring, registry, scorecard
from kejin.errors import ValidationError


def by_uscc(out: dict) -> dict[str, dict]:
    return {w["uscc"]: w for w in out["warnings"]}


def test_signals_and_levels(engine: Engine) -> None:
    calm = add_firm(engine, 1, dpd=0)
    watch = add_firm(engine, 2, dpd=5)
    late = add_firm(engine, 3, dpd=35)
    severe = add_firm(engine, 4, dpd=95, classification="substandard")
    shrinking = add_firm(
        engine, 5, dpd=0, revenue=("30000000", "20000000"), tax=("1000000", "600000")
    )
    expiring = add_firm(engine, 6, dpd=0, valid_to=date(2026, 7, 15))
    lapsed = add_firm(engine, 7, dpd=0, valid_to=date(2026, 3, 31))
    flagged = add_firm(engine, 8, dpd=0, dishonest=True)
    add_firm(engine, 9)  # no loan: not in the list
    out = early_warning.monthly(engine, "2026-05")
    w = by_uscc(out)
    assert calm not in w
    assert out["firms_with_loans"] == 8
    assert w[watch]["level"] == 1 and w[watch]["reasons"][0]["code"] == "warning.dpd_watch"
    assert w[late]["level"] == 2
    assert {r["code"] for r in w[late]["reasons"]} == {"warning.dpd", "warning.classification"}
    assert w[severe]["level"] == 3 and w[severe]["level_en"] == "severe"
    assert {r["code"] for r in w[shrinking]["reasons"]} == {
        "warning.revenue_drop",
        "warning.tax_drop",
    }
    assert (
        w[expiring]["level"] == 1
        and w[expiring]["reasons"][0]["code"] == "warning.qualification_expiring"
    )
    assert (
        w[lapsed]["level"] == 2
        and w[lapsed]["reasons"][0]["code"] == "warning.qualification_lapsed"
    )
    assert w[flagged]["level"] == 3 and w[flagged]["reasons"][0]["code"] == "warning.dishonest"
    assert out["warnings"][0]["level"] == 3  # most severe first
    assert out["flags"] == []  # the points area exists; none of these firms has points to drop
    assert out["by_level"] == {"none": 1, "watch": 2, "warning": 3, "severe": 2}


@pytest.mark.parametrize(("drop", "flagged"), [("0.19", False), ("0.20", True)])
def test_revenue_drop_threshold(engine: Engine, drop: str, flagged: bool) -> None:
    code = add_firm(engine, 20, dpd=0, revenue=("10000000", str(int(10000000 * (1 - float(drop))))))
    w = by_uscc(early_warning.monthly(engine, "2026-05"))
    assert (code in w) is flagged


def test_bad_month_refused(engine: Engine) -> None:
    with pytest.raises(ValidationError, match="YYYY-MM"):
        early_warning.monthly(engine, "May 2026")


def test_monthly_stability_psi(engine: Engine) -> None:
    rng = np.random.default_rng(1)
    lev = rng.uniform(0.2, 0.6, 500)
    y = (rng.uniform(size=500) < lev).astype(int)
    art = scorecard.fit(dataset.prepare(pl.DataFrame({"leverage": lev, "bad": y}), "bad"))
    registry.register(engine, art, "tech_firm")
    for n in range(30, 40):
        add_firm(engine, n, dpd=0)  # every firm: leverage 0.4 → one bin → a shifted population
    s = monitoring.monthly_stability(engine, "tech_firm", date(2026, 5, 1))
    assert s["rows"] == 10
    assert s["psi"] > 0.25 and s["psi_level"] == "major shift"
    assert (
        s["characteristics"][0]["variable"] == "leverage" and s["characteristics"][0]["psi"] > 0.25
    )


def test_monthly_stability_scores_a_model_trained_with_points(engine: Engine) -> None:
    """The month's rows carry the points of the year before, as the model was trained; firms
    the points area never scored fall in the missing bin rather than failing the report."""
    rng = np.random.default_rng(2)
    pts = rng.uniform(20, 100, 800)
    y = (rng.uniform(size=800) < 1 / (1 + np.exp(-(2 - 0.05 * pts)))).astype(int)
    art = scorecard.fit(dataset.prepare(pl.DataFrame({"points_total": pts, "bad": y}), "bad"))
    assert [v["name"] for v in art["variables"]] == ["points_total"]
    registry.register(engine, art, "tech_firm")
    scored = [add_firm(engine, n, dpd=0) for n in range(50, 56)]
    add_firm(engine, 56, dpd=0)  # never scored
    points_run(engine, 1, "lyg", 2025, {c: 30.0 + 10 * i for i, c in enumerate(scored)})
    s = monitoring.monthly_stability(engine, "tech_firm", date(2026, 5, 1))
    assert s["rows"] == 7
    (char,) = s["characteristics"]
    assert char["variable"] == "points_total" and char["psi"] is not None


def test_points_drop_signal(engine: Engine) -> None:
    from kejin.credit import features

    code = add_firm(engine, 40, dpd=0)
    other = add_firm(engine, 41, dpd=0)
    with engine.connect() as conn:
        r = features.load(conn)
    pts = pl.DataFrame(
        {
            "uscc": [code, code, other, other],
            "year": [2024, 2025] * 2,
            "total": [80.0, 70.0, 80.0, 70.01],
            "system": ["s"] * 4,
        }
    )
    rows = {
        o["uscc"]: o
        for o in early_warning.signals(r, date(2026, 5, 1), early_warning.WarningConfig(), pts)
    }
    assert [s["code"] for s in rows[code]["reasons"]] == ["warning.points_drop"]
    assert rows[other]["level"] == 0


def test_cli_shows_the_most_severe_first_and_says_how_many_more(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region's list runs to thousands: the terminal gets the top of it and the count left."""
    severe = add_firm(engine, 60, dpd=95)
    late = [add_firm(engine, n, dpd=35) for n in (61, 62, 63)]
    with cli(engine, monkeypatch) as run:
        r = run("credit", "warnings", "--month", "2026-05", "--model", "", "--limit", "2")
        assert r.exit_code == 0, r.output
        # The table is output (stdout); the note of what was left out a diagnostic (stderr).
        assert severe in r.stdout and "2 more" in r.stderr
        assert sum(code in r.stdout for code in late) == 1
        r = run("credit", "warnings", "--month", "2026-05", "--model", "", "--json")
        listed = [w["uscc"] for w in json.loads(r.stdout)["warnings"]]
        assert listed == [severe, *sorted(late)]
