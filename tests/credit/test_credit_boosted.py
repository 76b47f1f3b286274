"""The additive boosted scorecard: the booster read out exactly as a points table, and the same
artefact, scoring, reasons, report, decisions and evidence as the WOE card."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from tests.credit.firms import add_firm
from tests.credit.test_credit_cli import run
from tests.credit.test_credit_scorecard import synthetic

from kejin.credit import (
    artefact,
    boosted,
    dataset,
    decisions,
    evidence,
    gbm,
    models,
    registry,
    scorecard,
)
from kejin.credit.binning import bin_index
from kejin.errors import ValidationError

CFG = boosted.BoostedConfig(max_rounds=300)


def _booster_pd(art: dict, train: dataset.TrainingData, X: pl.DataFrame) -> np.ndarray:
    """The calibrated PD of the booster itself, retrained from the artefact's record."""
    feats = gbm.feature_specs(train.X, (), {})
    M, _ = gbm._encode(train.X, feats)
    cats = [i for i, f in enumerate(feats) if f["kind"] == "categorical"]
    ds = lgb.Dataset(M, train.y.astype(float), categorical_feature=cats)
    b = lgb.train(art["boosting"]["params"], ds, num_boost_round=art["boosting"]["rounds"])
    c = art["boosting"]["calibration"]
    raw = b.predict(gbm._encode(X, feats)[0], raw_score=True)
    return 1 / (1 + np.exp(-(c["a"] * raw + c["b"])))


def test_card_is_the_booster_and_a_reproducible_points_table() -> None:
    df = synthetic(1500)
    d = dataset.prepare(df, "bad")
    text = artefact.dumps(boosted.fit(d, CFG))
    assert text == artefact.dumps(boosted.fit(dataset.prepare(df, "bad"), CFG))
    art = artefact.loads(text)
    assert art["method"] == "scorecard" and art["estimator"] == "boosted"
    new = synthetic(400, seed=8).drop("bad")
    # Values exactly on the booster's thresholds (LightGBM sends x ≤ t left).
    debt = next(v for v in art["variables"] if v["name"] == "debt")
    on_edge = [x for s in debt["splits"] for x in (float(np.nextafter(s, -np.inf)), s)]
    edge = new.head(len(on_edge)).with_columns(pl.Series("debt", on_edge))
    for X in (d.X, new, edge):
        # Bins and values are read out of the trees exactly: missing income and categories too.
        got = scorecard.score(art, X)["pd"].to_numpy()
        assert np.max(np.abs(got - _booster_pd(art, d, X))) < 1e-8
    out = scorecard.score(art, new)
    table = scorecard.points_table(art)
    # Points are a plain sum a credit officer can redo from the table.
    row = new.row(0, named=True)
    by_bin = {(r["variable"], r["bin"]): r["points"] for r in table.to_dicts()}
    total = art["base_points"]
    for v in art["variables"]:
        idx, _ = bin_index(
            v, scorecard.column_values(new.head(1), v["name"], v["kind"] != "numeric")
        )
        total += by_bin[(v["name"], scorecard.bin_labels(v)[int(idx[0])])]
    assert total == out["points"][0] and row["income"] is not None
    named = {r for text in out["reasons"].to_list() for r in text.split(";") if r}
    assert named and named <= {v["name"] for v in art["variables"]}


def test_monotone_constraint_holds_in_the_points() -> None:
    cfg = CFG.model_copy(update={"monotone": {"income": -1, "debt": 1}})
    art = boosted.fit(dataset.prepare(synthetic(1500), "bad"), cfg)
    pts = {v["name"]: v["points"] for v in art["variables"]}
    assert all(np.diff(pts["income"]) >= 0)  # more income, never fewer points
    assert all(np.diff(pts["debt"]) <= 0)
    assert len(pts["income"]) > 1 and len(pts["debt"]) > 1


def test_cli_fit_score_report_with_boosted(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    synthetic(1200).write_csv(csv)
    model = tmp_path / "b.json"
    r = run(
        "credit", "fit", "--data", str(csv), "--target", "bad", "--method", "boosted",
        "--monotone", "income=-1", "--out", str(model),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(model.read_text())["config"]["monotone"] == {"income": -1}
    new = tmp_path / "new.csv"
    synthetic(5, seed=9).drop("bad").with_columns(
        pl.Series("region", ["north", "atlantis", None, "west", "east"])
    ).write_csv(new)
    out = tmp_path / "scored.csv"
    r = run("credit", "score", "--model", str(model), "--data", str(new), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(out)["flags"][1] == "out_of_domain:region"
    rep = tmp_path / "rep"
    r = run("credit", "report", "--model", str(model), "--data", str(csv), "--out", str(rep))
    assert r.returncode == 0, r.stderr
    assert "points 评分表" in load_workbook(rep / "report.xlsx").sheetnames


def test_decision_and_evidence_pack_with_a_boosted_card(engine: Engine, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1200
    lev, g = rng.uniform(0, 1, n), rng.normal(0, 0.3, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-2 + 3 * lev - 2 * g)))).astype(int)
    frame = pl.DataFrame({"leverage": lev, "revenue_growth": g, "bad": y})
    art = boosted.fit(dataset.prepare(frame, "bad"), CFG)
    model_id = registry.register(engine, art, "tech_firm").id
    code = add_firm(engine, 31, dpd=0)
    table = decisions.load_table("points_credit")
    out = decisions.decide(engine, code, table, as_of=date(2026, 6, 1), officer="王经理")
    assert out["model_id"] == model_id and 0 < out["pd"] < 1
    decisions.record_action(engine, out["decision_id"], "李审批", "approve", contract_no="B31")
    summary = evidence.export(engine, "B31", tmp_path)
    assert summary["reproduces"] is True and summary["differences"] == []
    pack = json.loads((tmp_path / f"evidence-{out['decision_id']}.json").read_text())
    assert pack["model"]["content_hash"] == model_id


def test_unknown_method_is_refused_not_fitted_as_another() -> None:
    """Before: any method but "scorecard" silently fitted a GBM (tech-model --method typo)."""
    with pytest.raises(ValidationError) as e:
        models.fit(dataset.prepare(synthetic(300), "bad"), "boosed")
    assert e.value.problems[0].field == "method"
