"""The per-pair approval model: fitted on outcomes, it finds what moves a bank's decision."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.matching import approval


def _pairs(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = np.round(rng.lognormal(16, 1, n), -3)
    return pl.DataFrame({
        "amount": np.round(revenue * rng.lognormal(-1.2, 0.8, n), -4) + 1e4,
        "revenue": revenue, "invention_patents": rng.poisson(1, n).astype(float),
        "kind_used": rng.choice(["credit", "mortgage", "ip_pledge"], n).tolist(),
        "max_amount": 1e8, "rate_high": 0.05, "max_rate": None, "pd": rng.beta(1, 40, n),
    }, schema_overrides={"max_rate": pl.Float64})  # fmt: skip


def test_fit_on_outcomes_recovers_what_drives_them() -> None:
    """Outcomes drawn from a known rule (collateral helps, leverage and PD hurt): the fitted
    probability orders fresh pairs as the rule does, and is calibrated on average."""
    train, test = _pairs(6000, 1), _pairs(3000, 2)

    def rule(f: pl.DataFrame) -> np.ndarray:
        lev = np.log(f["amount"].to_numpy() / f["revenue"].to_numpy())
        pd_ = f["pd"].to_numpy()
        z = 1.0 + 1.2 * (f["kind_used"] == "mortgage").to_numpy() - 1.5 * np.maximum(lev + 1, 0)
        return 1 / (1 + np.exp(-(z - 2 * (np.log(pd_ / (1 - pd_)) + 3.9))))

    outcomes = np.random.default_rng(3).random(train.height) < rule(train)
    model = approval.fit(train, outcomes, {"test": True})
    assert model.coef["kind:mortgage"] > 0.5 and model.coef["pd"] < -1
    p_hat = test.select(model.probability())[:, 0].to_numpy()
    p = rule(test)
    assert np.corrcoef(p_hat, p)[0, 1] > 0.9
    assert abs(p_hat.mean() - p.mean()) < 0.03
    # a missing PD is the training mean: the pair is neither helped nor hurt by it
    gone = test.with_columns(pl.lit(None, pl.Float64).alias("pd"))
    assert gone.select(model.probability())[:, 0].is_between(0, 1).all()


@settings(max_examples=30, deadline=None)
@given(st.floats(1e4, 1e8), st.floats(1e4, 1e8), st.sampled_from(approval.STRENGTH))
def test_contributions_add_up_to_the_probability(a1, a2, kind) -> None:  # type: ignore[no-untyped-def]
    """The factors the explanation names are the whole log-odds (beside the base: credit at the
    mean PD), so the sentence never hides a term."""
    model = approval.load()
    assert model is not None, "the packaged model is missing (kejin match quality --save-approval)"
    frame = _pairs(2, 0).with_columns(
        pl.Series("amount", [a1, a2]), pl.lit(kind).alias("kind_used")
    )
    out = frame.select(model.probability().alias("p"), *model.contributions())
    base = model.coef["intercept"] + model.coef["pd"] * model.pd_mean
    z = base + out.select(pl.sum_horizontal(pl.selectors.starts_with("why_")))[:, 0].to_numpy()
    assert np.allclose(1 / (1 + np.exp(-z)), out["p"].to_numpy())
    zh, en = approval.explain(out["p"][0], {"leverage": -1.2, "kind": 0.4}, kind)
    assert "预计获批概率" in zh and "金额与营收之比 −1.20" in zh and "增信方式 +0.40" in zh
    assert "estimated approval probability" in en and "amount against revenue −1.20" in en


def test_the_strongest_security_offered_is_used() -> None:
    from kejin.matching.kernels import GUARANTEE_BITS as B

    frame = pl.DataFrame({
        "accepts": [B["credit"] | B["mortgage"], B["credit"] | B["mortgage"], B["ip_pledge"]],
        "offers": [B["mortgage"], 0, B["ip_pledge"] | B["mortgage"]],
    })  # fmt: skip
    got = frame.select(approval.kind_used(pl.col("accepts"), pl.col("offers")))[:, 0].to_list()
    assert got == ["mortgage", "credit", "ip_pledge"]


def test_save_and_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = approval.Model({"intercept": 0.5, "pd": -0.7}, -4.0, {"needs": 3})
    approval.save(m, tmp_path / "m.json")
    assert approval.load(tmp_path / "m.json") == m
    assert approval.load(tmp_path / "absent.json") is None


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=len(approval.NAMES), max_size=len(approval.NAMES)),
    st.floats(-8, -1),
    st.integers(0, 1000),
)
def test_the_fast_sums_are_the_design_the_fit_used(coefs, pd_mean, seed) -> None:  # type: ignore[no-untyped-def]
    """The per-factor expressions the ranking evaluates equal ``design @ coef`` (the columns
    :func:`approval.fit` estimated), a missing PD and a missing kind included."""
    model = approval.Model(dict(zip(approval.NAMES, coefs, strict=True)), pd_mean)
    rng = np.random.default_rng(seed)
    frame = (
        _pairs(40, seed)
        .with_columns(
            pl.Series("kind_used", rng.choice([*approval.STRENGTH, None], 40).tolist()),
            pl.Series("max_rate", np.where(rng.random(40) < 0.5, np.nan, 0.04)),
            pl.Series("pd", np.where(rng.random(40) < 0.3, np.nan, rng.beta(1, 30, 40))),
        )
        .fill_nan(None)
    )
    x = approval.design(frame)
    col = approval.NAMES.index("pd")
    x[np.isnan(x[:, col]), col] = pd_mean
    want = 1 / (1 + np.exp(-(x @ np.array(coefs))))
    got = approval.Model.apply(model, frame)["approval_prob"].to_numpy()
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)
    assert np.allclose(frame.select(model.probability())[:, 0].to_numpy(), want)
