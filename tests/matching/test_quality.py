"""The synthetic marketplace truth and the ranking-quality measure (``kejin match quality``)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.errors import ValidationError
from kejin.matching import kernels, quality
from kejin.synth import market

PRICING = kernels.Pricing(lpr=0.031, rate_cap=0.124, as_of=date(2026, 6, 30))


def _pair(**kw: object) -> pl.DataFrame:
    row = {"need_id": 1, "product_id": "P", "amount": 1e6, "guarantee_kind": "credit",
           "revenue": 1e7, "invention_patents": 0.0, "pd_annual": 0.02}  # fmt: skip
    row.update(kw)
    return pl.DataFrame([row])


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.001, 0.5),
    st.floats(0.001, 0.5),
    st.floats(1e5, 1e8),
    st.floats(1e5, 1e8),
    st.sampled_from(["credit", "ip_pledge", "guarantee", "mortgage", "receivables"]),
)
def test_true_approval_falls_with_risk_and_with_the_amount(pd1, pd2, a1, a2, kind) -> None:  # type: ignore[no-untyped-def]
    lo_pd, hi_pd = sorted((pd1, pd2))
    lo_a, hi_a = sorted((a1, a2))

    def p(pd_: float, amount: float) -> float:
        frame = _pair(pd_annual=pd_, amount=amount, guarantee_kind=kind)
        return market.true_approval(frame, 0)["p_true"][0]

    assert 0 < p(hi_pd, lo_a) <= p(lo_pd, lo_a) < 1
    assert p(lo_pd, hi_a) <= p(lo_pd, lo_a)


def test_collateral_makes_the_same_need_likelier_to_pass() -> None:
    ps = {k: market.true_approval(_pair(guarantee_kind=k, amount=4e6), 0)["p_true"][0]
          for k in ("credit", "ip_pledge", "mortgage")}  # fmt: skip
    assert ps["credit"] < ps["ip_pledge"] < ps["mortgage"]


def test_outcomes_follow_the_probability() -> None:
    frame = pl.concat([_pair(need_id=i, pd_annual=0.02) for i in range(4000)])
    out = market.true_approval(frame, 3)
    assert abs(out["approved"].mean() - out["p_true"][0]) < 0.03
    assert out["approved"].equals(market.true_approval(frame, 3)["approved"])


def test_group_auc_is_mann_whitney_with_ties() -> None:
    frame = pl.DataFrame({"g": [1, 1, 1, 1, 2, 2], "s": [0.9, 0.5, 0.5, 0.1, 1.0, 2.0],
                          "approved": [True, True, False, False, True, True]})  # fmt: skip
    # group 1: positives 0.9, 0.5 vs negatives 0.5, 0.1 → (1 + 1 + 0.5 + 1) / 4; group 2 one-sided
    assert quality.group_auc(frame, "g", "s") == (0.875, 1)


def _region(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    firms = pl.DataFrame({
        "uscc": [f"F{i:04d}" for i in range(n)],
        "revenue": np.round(rng.lognormal(16, 1, n), -3), "invention_patents": rng.poisson(1, n).astype(float),
        "stage": rng.choice(["seed", "growth", "mature"], n).tolist(),
        "dishonest": [False] * n, "abnormal_operation": [False] * n, "hnte": rng.random(n) < 0.5,
    })  # fmt: skip
    truth = pl.DataFrame({"uscc": firms["uscc"], "pd_annual": rng.beta(1, 30, n)})
    kinds = ["credit", "ip_pledge", "guarantee", "mortgage"]
    products = pl.DataFrame({
        "product_id": [f"P{j}" for j in range(8)], "institution_id": [f"B{j % 2}" for j in range(8)],
        "kind": "loan", "min_amount": 1e5, "max_amount": [5e7, 3e7, 2e7, 5e7] * 2,
        "min_term_months": 1, "max_term_months": 36, "spread_min_bp": [0, 10, 20, 5, 15, 0, 25, 30],
        "spread_max_bp": 250, "guarantee_kinds": [[k] for k in kinds] * 2,
        "eligibility": ["", "invention_patents >= 1", "", "stage in growth,mature"] * 2,
        "credit_model": None,
    }, schema_overrides={"credit_model": pl.String})  # fmt: skip
    return firms, products, truth


def test_measure_orders_the_rankings_as_the_truth_allows() -> None:
    firms, products, truth = _region(1200, 5)
    # a "model" that knows the default risk up to noise
    noisy = truth.with_columns(
        (
            1 - pl.col("pd_annual") + pl.Series(np.random.default_rng(1).normal(0, 0.005, 1200))
        ).alias("approval_prob")
    )
    approvals = noisy.select("uscc", pl.lit("m").alias("credit_model"), "approval_prob",
                             pl.lit("m-1").alias("model_id"))  # fmt: skip
    res = quality.measure(firms, products, truth, PRICING, approvals, "m", 400, 11)
    assert res["needs"] == 400 and res["eligible_pairs"] > 400
    firm, bank = res["firm"], res["bank"]
    assert set(firm) == set(quality.RANKERS)
    assert firm["oracle"]["p_true_of_first"] >= max(
        firm[r]["p_true_of_first"] for r in ("kejin", "kejin_model", "random")
    )
    assert firm["oracle"]["auc_within_need"] > 0.6
    assert 0.4 < firm["random"]["auc_within_need"] < 0.6
    assert bank["oracle"]["auc_within_product"] > bank["random"]["auc_within_product"] + 0.1
    # a model that knows the default risk moves the bank's order towards the truth
    assert bank["kejin_model"]["auc_within_product"] > bank["kejin"]["auc_within_product"]
    # the per-pair approval model, fitted on the other half's outcomes, knows which product a
    # firm would pass: better than the firm-level order and than random within a need
    assert firm["kejin_approval"]["auc_within_need"] > firm["kejin"]["auc_within_need"]
    assert firm["kejin_approval"]["auc_within_need"] > firm["random"]["auc_within_need"]
    assert res["approval_model"]["trained_on"]["pairs"] > 400
    assert abs(res["approval_model"]["mean_predicted"] - res["truly_approved_share"]) < 0.05
    again = quality.measure(firms, products, truth, PRICING, approvals, "m", 400, 11)
    assert again == res


def test_the_command_refuses_a_database_without_synthetic_truth(market, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The service tests' world has no synthetic region: the measure says so and changes nothing."""
    from typer.testing import CliRunner

    from kejin import cli

    monkeypatch.setattr("kejin.matching.commands.get_engine", lambda: market.engine)
    cli._mount_areas()
    r = CliRunner().invoke(cli.app, ["match", "quality", "--needs", "10", "--json"])
    assert isinstance(r.exception, ValidationError), (r.output, r.exception)
    assert "kejin synth" in r.exception.reason_en and "kejin synth" in r.exception.reason_zh


def test_the_command_on_an_unmigrated_database_says_what_to_run(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A database nobody migrated: the bilingual sentence every region command gives (it was
    a raw "no such table" SQL error)."""
    from typer.testing import CliRunner

    from kejin import cli
    from kejin.db import make_engine
    from kejin.errors import NotFoundError

    bare = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        monkeypatch.setattr("kejin.matching.commands.get_engine", lambda: bare)
        cli._mount_areas()
        r = CliRunner().invoke(cli.app, ["match", "quality", "--needs", "10", "--json"])
        assert isinstance(r.exception, NotFoundError), (r.output, r.exception)
        assert "kejin db upgrade" in r.exception.reason_zh
        assert "kejin db upgrade" in r.exception.reason_en
        assert "match_product_versions" in r.exception.reason_en
    finally:
        bare.dispose()
