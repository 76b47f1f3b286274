"""Scorecard: WOE/IV by hand, monotone bins, scaling, determinism, tamper refusal, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from kejin.credit import artefact, dataset, registry, scorecard
from kejin.credit.binning import BinningConfig, bin_index, fit_categorical, fit_numeric, woe_iv
from kejin.errors import NotFoundError, ValidationError


def synthetic(n: int = 2000, seed: int = 7) -> pl.DataFrame:
    """Income lowers risk, debt raises it, region matters a little, noise does not."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n)
    debt = rng.uniform(0, 1, n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = (
        -1
        - 1.2 * (np.log(income) - 10) / 0.5
        + 2 * (debt - 0.5)
        + (region == "west") * 1.2
        + (region == "east") * 0.5
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    income[rng.uniform(size=n) < 0.05] = np.nan
    return pl.DataFrame(
        {"income": income, "debt": debt, "region": region, "noise": rng.normal(size=n), "bad": y}
    )


def test_woe_iv_hand_computed_without_smoothing() -> None:
    # good 3,1 / bad 1,3: %good .75,.25, %bad .25,.75 → WOE ±ln 3, IV = 2 · 0.5 · ln 3.
    w, iv = woe_iv(np.array([3.0, 1.0]), np.array([1.0, 3.0]), alpha=0.0)
    assert w == pytest.approx([math.log(3), -math.log(3)])
    assert iv.sum() == pytest.approx(math.log(3))


def test_woe_with_smoothing_keeps_empty_cells_finite() -> None:
    w, iv = woe_iv(np.array([4.0, 0.0]), np.array([0.0, 4.0]), alpha=0.5)
    # (4.5/5) / (0.5/5) = 9 → ln 9; and the mirror.
    assert w == pytest.approx([math.log(9), -math.log(9)])
    assert np.isfinite(iv).all()


def test_numeric_binning_small_case_by_hand() -> None:
    x = np.array([1, 1, 2, 2, 3, 3, 4, 4], float)
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1])
    spec = fit_numeric(
        "x",
        x,
        y,
        BinningConfig(
            max_prebins=8, min_bin_size=0.25, alpha=0.5, prebinning="quantile", merge_chi2=0
        ),
    )
    assert spec["trend"] == "ascending"
    # Best monotone split keeps the pure-good prebins together: [1,3) · [3,4) · [4,inf).
    assert spec["n"] == [4, 2, 2] and spec["bad"] == [0, 1, 2]
    G, B, k = 5, 3, 3
    want = [
        math.log(((g + 0.5) / (G + 1.5)) / ((b + 0.5) / (B + 1.5)))
        for g, b in [(4, 0), (1, 1), (0, 2)]
    ]
    assert spec["woe"] == pytest.approx(want, abs=1e-9)
    assert spec["missing"] == {"n": 0, "bad": 0, "woe": 0.0, "empty": True}
    assert k == len(spec["woe"])


def test_missing_and_special_values_get_their_own_bins() -> None:
    x = np.array([1, 2, 3, 4, -999, -999, np.nan, np.nan, 5, 6], float)
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 1])
    spec = fit_numeric("x", x, y, BinningConfig(min_bin_size=0.1, special_codes=(-999.0,)))
    assert spec["special"]["n"] == 2 and spec["special"]["bad"] == 2
    assert spec["missing"]["n"] == 2 and spec["missing"]["bad"] == 1
    idx, flag = bin_index(spec, np.array([-999.0, np.nan, 2.0, 100.0]))
    k = len(spec["woe"])
    assert list(idx[:2]) == [k, k + 1]
    assert list(flag) == [False, False, False, True]  # 100 is beyond the training range
    assert idx[3] == k  # … and is scored in the special bin


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    trend=st.sampled_from(["ascending", "descending", "auto"]),
)
def test_monotone_trend_is_honoured(seed: int, trend: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=400)
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(0.8 * np.sin(3 * x))))).astype(int)
    spec = fit_numeric("x", x, y, BinningConfig(trend=trend, min_bin_size=0.05))  # type: ignore[arg-type]
    rates = [(b + 0.5) / (n + 1.0) for b, n in zip(spec["bad"], spec["n"], strict=True)]
    diffs = np.diff(rates)
    if spec["trend"] == "ascending":
        assert (diffs >= -1e-12).all()
    elif spec["trend"] == "descending":
        assert (diffs <= 1e-12).all()
    assert min(spec["n"]) >= 0.05 * 400
    if trend != "auto":
        assert spec["trend"] == trend


def test_categorical_groups_and_unseen_category_flag() -> None:
    x = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 10 + [None] * 2, dtype=object)
    y = np.array([0] * 9 + [1] + [0] * 5 + [1] * 5 + [1] * 9 + [0] + [1, 0])
    spec = fit_categorical("x", x, y, BinningConfig(min_bin_size=0.2))
    assert spec["groups"] == [["a"], ["b"], ["c"]]
    idx, flag = bin_index(spec, np.array(["c", "zzz", None], dtype=object))
    assert list(idx) == [2, 3, 4] and list(flag) == [False, True, False]


def test_scaling_arithmetic() -> None:
    s = scorecard.ScalingConfig(base_points=600, base_odds=50, pdo=20)
    factor, offset = scorecard.scale_factors(s)
    assert offset + factor * math.log(50) == pytest.approx(600)
    assert offset + factor * math.log(100) == pytest.approx(620)  # doubling the odds: +PDO


def test_points_add_up_and_track_pd() -> None:
    d = dataset.prepare(synthetic(), "bad")
    art = scorecard.fit(d)
    out = scorecard.score(art, d.X)
    table = scorecard.points_table(art)
    row = d.X.row(0, named=True)
    total = art["base_points"]
    for v in art["variables"]:
        idx, _ = bin_index(
            v, np.array([row[v["name"]]], dtype=object if v["kind"] != "numeric" else float)
        )
        pts = [*v["points"], v["special"]["points"], v["missing"]["points"]]
        total += pts[int(idx[0])]
    assert out["points"][0] == total
    # Points are a monotone decreasing transform of the PD up to integer rounding.
    rho = np.corrcoef(
        out["points"].to_numpy(), np.log(out["pd"].to_numpy() / (1 - out["pd"].to_numpy()))
    )[0, 1]
    assert rho < -0.99
    assert set(table["variable"]) == {v["name"] for v in art["variables"]}
    # noise carries nothing: whatever IV the binning finds in it is small, below every signal
    iv = art["screening"]["iv"]
    assert iv["noise"] < 0.05 and iv["noise"] < min(iv["income"], iv["debt"], iv["region"])
    assert art["metrics"]["train"]["auc"] > 0.7


def test_fit_twice_gives_identical_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = synthetic()
    a = artefact.dumps(scorecard.fit(dataset.prepare(df, "bad")))
    b = artefact.dumps(scorecard.fit(dataset.prepare(df.clone(), "bad")))
    assert a == b
    artefact.save(json.loads(a), tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text() == a


def test_tampered_or_foreign_artefact_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    art = scorecard.fit(dataset.prepare(synthetic(500), "bad"))
    path = tmp_path / "m.json"
    artefact.save(art, path)
    assert artefact.load(path)["content_hash"] == art["content_hash"]
    tampered = json.loads(path.read_text())
    tampered["variables"][0]["points"][0] += 50
    path.write_text(json.dumps(tampered))
    with pytest.raises(ValidationError, match="content hash"):
        artefact.load(path)
    foreign = {**art, "schema": "someone.else/9"}
    path.write_text(json.dumps(foreign))
    with pytest.raises(ValidationError, match="schema"):
        artefact.load(path)


def test_unseen_category_scored_in_special_bin_and_flagged() -> None:
    art = scorecard.fit(dataset.prepare(synthetic(), "bad"))
    region = next(v for v in art["variables"] if v["name"] == "region")
    X = synthetic(3).drop("bad").with_columns(pl.Series("region", ["north", "mars", None]))
    out = scorecard.score(art, X)
    assert out["flags"].to_list()[1] == "out_of_domain:region"
    assert out["flags"].to_list()[0] in ("", "out_of_domain:income", "out_of_domain:debt")
    assert "region" not in out["flags"].to_list()[2]
    assert region["special"]["points"] == round(
        -art["scaling"]["factor"] * region["coefficient"] * 0.0
    )


def test_bad_input_errors_are_named() -> None:
    df = synthetic(200)
    with pytest.raises(ValidationError) as e:
        dataset.prepare(df, "default_flag")
    assert e.value.problems[0].field == "default_flag"
    with pytest.raises(ValidationError, match="one class"):
        dataset.prepare(df.with_columns(pl.lit(0).alias("bad")), "bad")
    with pytest.raises(ValidationError) as e:
        dataset.prepare(
            df.with_columns(pl.lit(5).alias("const"), pl.lit(None).alias("empty")), "bad"
        )
    assert {p.field for p in e.value.problems} == {"const", "empty"}
    assert "常数" in e.value.render() and "constant" in e.value.render()
    with pytest.raises(ValidationError, match="bad value"):
        dataset.prepare(df, "bad", bad="yes")
    with pytest.raises(ValidationError, match="target must be 0/1"):
        dataset.prepare(df.with_columns(pl.lit("x").alias("bad")), "bad")


def test_registry_versions_and_refetch(engine: Engine) -> None:
    d = dataset.prepare(synthetic(600), "bad")
    art = scorecard.fit(d)
    row = registry.register(engine, art, "sme")
    again = registry.register(engine, art, "sme")
    assert (row.version, again.version) == (1, 1)
    other = scorecard.fit(d, scorecard.ScorecardConfig(min_bin_size=0.1))
    assert registry.register(engine, other, "sme").version == 2
    mid, fetched = registry.fetch(engine, "sme", 1)
    assert mid == art["content_hash"] and fetched == art
    assert registry.fetch(engine, "sme")[1]["content_hash"] == other["content_hash"]
    with pytest.raises(NotFoundError):
        registry.fetch(engine, "nope")


def test_chi2_merge_prunes_noise_splits_but_keeps_signal() -> None:
    for seed in range(11, 16):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=3000)
        noise_y = (rng.uniform(size=3000) < 0.3).astype(int)
        merged = fit_numeric("noise", x, noise_y, BinningConfig())
        raw = fit_numeric("noise", x, noise_y, BinningConfig(merge_chi2=0))
        # The IV-maximising DP alone carves noise; the merge removes most of those splits.
        assert len(merged["woe"]) < len(raw["woe"]) and merged["iv"] < raw["iv"]
        assert merged["iv"] < 0.05
        signal_y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(x - 1)))).astype(int)
        signal = fit_numeric("x", x, signal_y, BinningConfig())
        assert len(signal["woe"]) >= 4 and signal["iv"] > 0.5


def test_reasons_are_the_largest_point_shortfalls() -> None:
    d = dataset.prepare(synthetic(), "bad")
    art = scorecard.fit(d)
    out = scorecard.score(art, d.X.head(200))
    for i, row in enumerate(d.X.head(200).iter_rows(named=True)):
        short = []
        for v in art["variables"]:
            arr = np.array([row[v["name"]]], dtype=object if v["kind"] != "numeric" else float)
            idx = int(bin_index(v, arr)[0][0])
            pts = [*v["points"], v["special"]["points"], v["missing"]["points"]]
            short.append((max(pts) - pts[idx], v["name"]))
        # largest shortfall first; ties in variable order; zero shortfall is not a reason
        order = sorted(
            (s for s in short if s[0] > 0), key=lambda s: (-s[0], [n for _, n in short].index(s[1]))
        )
        assert out["reasons"][i] == ";".join(n for _, n in order[:3])


def test_text_in_a_numeric_variable_is_refused_by_row() -> None:
    art = scorecard.fit(dataset.prepare(synthetic(), "bad"))
    X = synthetic(5).drop("bad").with_columns(pl.Series("income", ["1000", "12k", None, "5", "6"]))
    with pytest.raises(ValidationError) as e:
        scorecard.score(art, X)
    p = e.value.problems[0]
    assert (p.row, p.field, p.value) == (3, "income", "12k")


def test_scoring_in_blocks_gives_the_one_pass_result_row_for_row(monkeypatch) -> None:
    """Blocks run on a thread pool: their results must come back in order, whole, and a bad
    value must be named by its row in the input, not in its block."""
    art = scorecard.fit(dataset.prepare(synthetic(), "bad"))
    X = synthetic(203, seed=11).drop("bad")
    X = X.with_columns(  # some rows out of the training domain, so flags vary by block
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(1e9).otherwise(pl.col("income")).alias("income"),
        pl.when(pl.int_range(pl.len()) % 23 == 0).then(pl.lit("mars")).otherwise(pl.col("region")).alias("region"),
    )  # fmt: skip
    one_pass = scorecard.score(art, X)
    monkeypatch.setattr(scorecard, "SCORE_CHUNK_ROWS", 10)
    blocked = scorecard.score(art, X)
    assert blocked.height == 203 and blocked.equals(one_pass)
    assert blocked["flags"].str.contains("out_of_domain:region").sum() == 9
    bad = X.with_columns(X["income"].cast(pl.String).scatter(150, "12k"))
    with pytest.raises(ValidationError) as e:
        scorecard.score(art, bad)
    assert (e.value.problems[0].row, e.value.problems[0].value) == (152, "12k")


def test_few_bads_use_fewer_folds_without_warnings() -> None:
    """With 3 bads, 5-fold CV would leave folds without a bad (sklearn warns): use 3 folds."""
    import warnings

    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    y = np.zeros(300, dtype=int)
    y[np.argsort(x)[-3:]] = 1
    frame = pl.DataFrame({"x": x, "bad": y})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        art = scorecard.fit(dataset.prepare(frame, "bad"), scorecard.ScorecardConfig(min_iv=0.0))
    assert art["regularisation"]["chosen_by"] == "cv"
    assert art["regularisation"]["C"] in scorecard.ScorecardConfig().C_grid


def _collinear_pair(n: int = 4000, seed: int = 5) -> pl.DataFrame:
    """``x2 = x1 + e``: riskier with x2 on its own, but safer with e once x1 is known.

    On its own x2 ranks risk upwards (its WOE is informative), but given x1 its effect is
    reversed, so a joint fit gives x2's WOE a positive coefficient: points that run against
    x2's own bad rates.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    e = rng.normal(scale=0.6, size=n)
    logit = -1 + 2 * x1 - 1.5 * e
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame({"x1": x1, "x2": x1 + e, "bad": y})


def test_sign_guard_drops_the_wrong_signed_variable_only() -> None:
    d = dataset.prepare(_collinear_pair(), "bad")
    loose = scorecard.ScorecardConfig(selection="none", max_corr=1.0, sign_guard=False)
    unguarded = scorecard.fit(d, loose)
    coef = {v["name"]: v["coefficient"] for v in unguarded["variables"]}
    assert coef["x1"] < 0 < coef["x2"]  # the constructed case does produce a wrong sign
    guarded = scorecard.fit(d, loose.model_copy(update={"sign_guard": True}))
    assert [v["name"] for v in guarded["variables"]] == ["x1"]
    assert guarded["variables"][0]["coefficient"] < 0
    assert guarded["screening"]["dropped_for_sign"] == {"x2": coef["x2"]}
    assert guarded["screening"]["dropped_by_selection"] == []


def test_default_card_has_right_signs_and_keeps_every_right_signed_variable() -> None:
    """Default selection keeps all variables past the IV and correlation screens; the sign
    guard removes none here because every signal variable points the right way."""
    art = scorecard.fit(dataset.prepare(synthetic(), "bad"))
    names = {v["name"] for v in art["variables"]}
    assert {"income", "debt", "region"} <= names
    assert all(v["coefficient"] < 0 for v in art["variables"])
    assert art["screening"]["dropped_for_sign"] == {}


def test_out_of_range_value_scored_in_edge_bin_and_flagged_by_default() -> None:
    """A value beyond the training range takes the nearest edge bin's points (not the
    population average of the special bin), and the row still says so in its flags."""
    d = dataset.prepare(synthetic(), "bad")
    art = scorecard.fit(d)
    debt = next(v for v in art["variables"] if v["name"] == "debt")
    one = synthetic(2).drop("bad").head(1)
    base = pl.concat([one, one]).with_columns(pl.Series("debt", [0.5, 0.5]))
    beyond = base.with_columns(pl.Series("debt", [0.5, 5.0]))
    inside = base.with_columns(pl.Series("debt", [0.5, 0.999]))
    out, edge = scorecard.score(art, beyond), scorecard.score(art, inside)
    assert "out_of_domain:debt" in out["flags"][1] and "debt" not in edge["flags"][1]
    assert out["points"][1] == edge["points"][1]  # 5.0 scored like the top debt bin
    special = scorecard.fit(d, scorecard.ScorecardConfig(clip_out_of_range=False))
    strict = scorecard.score(special, beyond)
    debt_s = next(v for v in special["variables"] if v["name"] == "debt")
    assert strict["points"][1] - strict["points"][0] == (
        debt_s["special"]["points"]
        - debt_s["points"][int(bin_index(debt_s, np.array([0.5]))[0][0])]
    )
    assert debt["points"][-1] != debt["special"]["points"]


def test_auto_trend_turns_only_when_the_turn_pays() -> None:
    """U-shaped risk (young and old riskier) → valley; a monotone risk with a small wiggle stays
    monotone; with an unreachable ``turn_gain`` even the U shape is fitted monotone."""
    rng = np.random.default_rng(1)
    x = rng.uniform(18, 75, 3000)
    u = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(-1.2 + 0.004 * (x - 40) ** 2)))).astype(int)
    valley = fit_numeric("age", x, u, BinningConfig(merge_chi2=0))
    assert valley["trend"] == "valley"
    rates = np.array(valley["bad"]) / np.array(valley["n"])
    low = int(np.argmin(rates))
    assert 0 < low < len(rates) - 1
    assert (np.diff(rates[: low + 1]) <= 0).all() and (np.diff(rates[low:]) >= 0).all()
    wiggle = 1 / (1 + np.exp(-(-1 + 0.04 * (x - 40) + 0.15 * np.sin(x / 3))))
    m = (rng.uniform(size=3000) < wiggle).astype(int)
    assert fit_numeric("age", x, m, BinningConfig(merge_chi2=0))["trend"] == "ascending"
    never = fit_numeric("age", x, u, BinningConfig(merge_chi2=0, turn_gain=1e9))
    assert never["trend"] in ("ascending", "descending")


def test_fold_woe_is_the_cards_woe_on_the_fold_rows() -> None:
    """Re-estimated WOE uses the card's smoothing: on all rows it is the card's own WOE
    column, and on a fold it is what ``woe_iv`` gives for that fold's counts alone."""
    d = dataset.prepare(synthetic(), "bad")
    art = scorecard.fit(d)
    y = d.y.astype(float)
    region = next(v for v in art["variables"] if v["name"] == "region")
    codes, _ = bin_index(region, d.X["region"].cast(pl.String))
    full = scorecard._fold_woe(codes[:, None], y, np.arange(len(y)), 0.5)[:, 0]
    np.testing.assert_allclose(full, np.asarray(region["woe"])[codes], atol=1e-9)
    tr = np.arange(0, len(y), 2)
    fold = scorecard._fold_woe(codes[:, None], y, tr, 0.5)[:, 0]
    k = len(region["woe"])
    bad = np.bincount(codes[tr], weights=y[tr], minlength=k)
    good = np.bincount(codes[tr], minlength=k) - bad
    w, _ = woe_iv(good, bad, 0.5)
    np.testing.assert_allclose(fold, w[codes], atol=1e-12)
    assert not np.allclose(fold, full)  # the held-out half's labels are no longer in it


def test_cv_with_refitted_woe_does_not_reward_noise_bins() -> None:
    """Pure-noise variables with many bins: WOE fitted on all rows carries each held-out
    fold's own labels, so the CV sees signal and asks for little shrinkage; with the WOE
    re-estimated per fold there is nothing to find and the strongest penalty wins the tie."""
    rng = np.random.default_rng(11)
    n, p = 600, 12
    codes = rng.integers(0, 12, size=(n, p))
    y = (rng.uniform(size=n) < 0.3).astype(float)
    cfg = scorecard.ScorecardConfig()
    leaky = scorecard._fold_woe(codes, y, np.arange(n), cfg.alpha)
    c_leaky = scorecard._choose_C(leaky, y, cfg)
    c_refit = scorecard._choose_C(leaky, y, cfg, codes)
    assert c_refit < c_leaky
    off = scorecard.fit(
        dataset.prepare(synthetic(), "bad"), scorecard.ScorecardConfig(cv_refit_woe=False)
    )
    assert off["config"]["cv_refit_woe"] is False
