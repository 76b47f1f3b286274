"""Invariants of the engine's run-based group scans and of the library's amounts (hypothesis)."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.policy import library
from kejin.policy.engine import evaluate, group_cum_sum, group_shift

rows = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(2025, 2027),
        st.floats(0, 1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)


@given(rows)
def test_run_scans_equal_window_functions_on_sorted_frames(
    data: list[tuple[str, int, float]],
) -> None:
    df = pl.DataFrame(
        data, schema={"g": pl.String, "y": pl.Int64, "x": pl.Float64}, orient="row"
    ).sort("g", "y", maintain_order=True)
    got = df.select(
        group_cum_sum(pl.col("x"), ["g"]).alias("cs"),
        group_shift(pl.col("x"), ["g", "y"]).alias("sh"),
    )
    want = df.select(
        pl.col("x").cum_sum().over("g").alias("cs"),
        pl.col("x").shift(1, fill_value=0.0).over(["g", "y"]).alias("sh"),
    )
    assert got["cs"].to_list() == want["cs"].to_list() or all(
        abs(a - b) < 1e-6 for a, b in zip(got["cs"], want["cs"], strict=True)
    )
    assert got["sh"].to_list() == want["sh"].to_list()


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["F1", "F2", "F3"]),
            st.integers(0, 30),
            st.sampled_from([2025, 2026]),
            st.floats(0, 5e7, allow_nan=False),
        ),
        min_size=1,
        max_size=25,
        unique_by=lambda r: (r[1], r[2]),
    )
)
def test_ip_pledge_cap_holds_per_firm_year_whatever_the_row_order(
    data: list[tuple[str, int, int, float]],
) -> None:
    policy = library.get("jian_ip_pledge")
    frame = pl.DataFrame(
        [
            {
                "uscc": f,
                "contract_no": f"L{c:02d}",
                "year": y,
                "disbursed_on": date(2025, 6, 1),
                "average_balance": b,
                "ip_pledge": True,
            }
            for f, c, y, b in data
        ]
    )
    res, _ = evaluate(policy, frame)
    assert res["contract_no"].to_list() == frame["contract_no"].to_list()  # input order kept
    per = res.group_by("uscc", "year").agg(pl.col("amount").sum(), pl.col("subsidy_raw").sum())
    for r in per.iter_rows(named=True):
        assert r["amount"] <= 100_000 + 1e-6
        assert (
            abs(r["amount"] - min(r["subsidy_raw"], 100_000)) < 0.05
        )  # the cap is used up, not more
    shuffled, _ = evaluate(policy, frame.reverse())
    key = ["contract_no", "year"]
    assert res.sort(key)["amount"].to_list() == shuffled.sort(key)["amount"].to_list()


@given(
    amount=st.floats(1, 1e8, allow_nan=False),
    incomes=st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=1, max_size=6),
)
def test_tax_deduction_never_uses_more_than_70_percent_nor_more_than_income(
    amount: float, incomes: list[float]
) -> None:
    policy = library.get("vc_tax_deduction")
    frame = pl.DataFrame(
        [
            {
                "investor_id": "V",
                "investment_id": "T",
                "uscc": "F",
                "invested_on": date(2022, 3, 1),
                "investment_amount": amount,
                "year": 2024 + i,
                "taxable_income": inc,
            }
            for i, inc in enumerate(incomes)
        ]
    )
    res, _ = evaluate(policy, frame)
    used = res["amount"].to_list()
    # Amounts are rounded half-up to the cent (四舍五入), so the total may exceed 70% by half a cent
    # at most; Python's round() on the float would round 124.775 down and flag a false excess.
    assert sum(used) <= 0.7 * amount + 0.005 + 1e-6
    for u, inc in zip(used, incomes, strict=True):
        assert 0 <= u <= max(inc, 0) + 0.01
    last = res.row(-1, named=True)
    assert abs(last["cumulative_used"] + last["carry_forward"] - 0.7 * amount) < 1e-6 * max(
        amount, 1
    )
