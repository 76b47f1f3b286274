"""Properties of the monthly kernel over random portfolios: parts add up to the whole."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_case import SCHEMAS

from kejin.stats import kernels

MONTH = date(2025, 6, 1)
FIRMS = [f"F{i}" for i in range(6)]
KINDS = ["hnte", "tsme", "local_little_giant"]
ADDITIVE = ["balance", "all_balance", "credit_balance", "medium_long_balance", "npl_balance",
            "new_amount", "new_amount_rate", "balance_year_ago", "all_balance_year_ago",
            "ip_pledge_balance", "all_npl_balance"]  # fmt: skip
HIGH = date(9999, 12, 31)

day = st.dates(date(2023, 1, 1), date(2025, 7, 31))
cents = st.integers(1, 10**9).map(lambda c: Decimal(c) / 100)


@st.composite
def portfolio(draw: st.DrawFn) -> kernels.Frames:
    quals = []
    for u in FIRMS:
        for _ in range(draw(st.integers(0, 2))):
            a, b = sorted([draw(day), draw(day)])
            quals.append((u, draw(st.sampled_from(KINDS)), a, b))
    loans, statuses = [], []
    for n in range(draw(st.integers(0, 12))):
        start = draw(day)
        amount = draw(cents)
        loans.append((f"L{n}", draw(st.sampled_from(FIRMS)), draw(st.sampled_from(["B1", "B2", "B3"])),
                      draw(st.sampled_from([None, "P1", "P2"])), amount,
                      Decimal(draw(st.integers(0, 90_000))) / 1_000_000, start,
                      start + timedelta(days=draw(st.integers(1, 1200))),
                      draw(st.sampled_from(["credit", "guarantee", "mortgage", "ip_pledge"])), draw(st.booleans())))  # fmt: skip
        for m in (MONTH, date(2024, 6, 1)):
            if draw(st.booleans()):
                statuses.append((f"L{n}", m, draw(cents),
                                 draw(st.sampled_from(["normal", "substandard", "loss"]))))  # fmt: skip
    # some status row for both months, so that neither is "no data"
    loans.append(
        (
            "Z",
            "F0",
            "B1",
            None,
            Decimal(1),
            Decimal(0),
            date(2020, 1, 1),
            date(2030, 1, 1),
            "credit",
            True,
        )
    )
    statuses += [("Z", MONTH, Decimal(0), "normal"), ("Z", date(2024, 6, 1), Decimal(0), "normal")]
    firms = [
        (
            u,
            draw(st.sampled_from([None, "information", "new_energy"])),
            "growth",
            draw(st.sampled_from([None, "320703", "320706"])),
        )
        for u in FIRMS
    ]
    members = [
        (u, draw(st.sampled_from([date(2024, 1, 1), date(2025, 6, 30), date(2025, 7, 1)])), HIGH)
        for u in FIRMS
        if draw(st.booleans())
    ]
    tiers = [(u, t) for u in FIRMS if (t := draw(st.sampled_from([None, "A", "B"])))]

    def df(name: str, rows: list[tuple]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=SCHEMAS[name], orient="row")

    return kernels.Frames(
        loans=df("loans", loans),
        statuses=df("statuses", statuses),
        qualifications=df("qualifications", quals),
        firms=df("firms", firms),
        tiers=df("tiers", tiers),
        products=df("products", [("P1", "loan"), ("P2", "guarantee")]),
        members=df("members", members),
    )


@settings(max_examples=60, deadline=None)
@given(portfolio())
def test_parts_add_up_to_the_whole(f: kernels.Frames) -> None:
    (whole,) = kernels.measures(f, [MONTH]).to_dicts()
    assert whole["balance"] <= whole["all_balance"]
    assert whole["borrowers"] <= whole["firms"]
    assert whole["credit_balance"] + whole["npl_balance"] <= 2 * whole["balance"]
    for by in ("bank", "product-kind", "chain", "stage", "tier", "region"):
        parts = kernels.measures(f, [MONTH], by)
        for c in ADDITIVE:
            assert parts[c].sum() == whole[c], (by, c)
        if kernels.BREAKDOWNS[by] == "firm":  # each firm in exactly one group
            for c in ("firms", "borrowers", "first_time", "new_borrowers"):
                assert parts[c].sum() == whole[c], (by, c)
        else:  # a firm may borrow from several banks: at least the whole, never more than it
            assert (parts["borrowers"] <= whole["borrowers"]).all()
            assert parts["borrowers"].sum() >= whole["borrowers"]


@settings(max_examples=40, deadline=None)
@given(portfolio())
def test_whitelist_population_is_a_population(f: kernels.Frames) -> None:
    """The whitelist variant counts members on D only; balances stay within all loans."""
    (whole,) = kernels.measures(f, [MONTH], population="whitelist").to_dicts()
    assert f.members is not None
    on_d = f.members.filter(pl.col("valid_from") <= date(2025, 6, 30))["uscc"].n_unique()
    assert whole["firms"] == on_d
    assert whole["balance"] <= whole["all_balance"]
    assert whole["borrowers"] <= whole["firms"]
    assert whole["first_time"] <= whole["new_borrowers"]


@settings(max_examples=40, deadline=None)
@given(portfolio())
def test_qualification_groups_cover_the_population(f: kernels.Frames) -> None:
    (whole,) = kernels.measures(f, [MONTH]).to_dicts()
    parts = kernels.measures(f, [MONTH], "qualification")
    listed = parts.filter(pl.col("group") != kernels.NONE)
    assert (listed["balance"] <= whole["balance"]).all()
    assert listed["balance"].sum() >= whole["balance"]  # a firm with two kinds is in both
    assert parts["all_balance"].sum() >= whole["all_balance"]
    assert parts.filter(pl.col("group") == kernels.NONE)["balance"].sum() == 0


@pytest.mark.parametrize("top", [10**6, 2**50])
def test_row_sums_are_exact_on_both_float_paths(top: int) -> None:
    """One float bincount (small balances) and the low/high split (balances whose bin sums could
    pass 2**53) each give the integer sums exactly, negative balances included."""
    rng = np.random.default_rng(18)
    key = rng.integers(0, 7, 1000)
    w = rng.integers(-top, top, 1000, dtype=np.int64)
    count = np.bincount(key, minlength=7)
    top_w = max(abs(int(w.max())), abs(int(w.min())))
    got = kernels._sums(key, 7, w, w.astype(np.float64), top_w, count)
    want = [sum(int(x) for x in w[key == k]) for k in range(7)]
    assert got.tolist() == want
