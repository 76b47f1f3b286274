"""Invariants of the engine's run-based group scans and of the library's amounts (hypothesis).

Money is exact: every amount is compared with Python's ``decimal`` to the fen, never within a
tolerance.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.policy import library
from kejin.policy.engine import MONEY, evaluate, group_cum_sum, group_shift

CENT = Decimal("0.01")


def fen(x: Decimal) -> Decimal:
    """四舍五入 to the fen: the rule the policies state."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def money(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(lo, hi, places=2, allow_nan=False, allow_infinity=False)


rows = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(2025, 2027),
        money(0, 1_000_000),
    ),
    min_size=1,
    max_size=40,
)


@settings(deadline=None)  # values, not time: a loaded machine took 257 ms for one example
@given(rows)
def test_run_scans_equal_window_functions_on_sorted_frames(
    data: list[tuple[str, int, Decimal]],
) -> None:
    df = pl.DataFrame(data, schema={"g": pl.String, "y": pl.Int64, "x": MONEY}, orient="row").sort(
        "g", "y", maintain_order=True
    )
    got = df.select(
        group_cum_sum(pl.col("x"), ["g"]).alias("cs"),
        group_shift(pl.col("x"), ["g", "y"]).alias("sh"),
    )
    want = df.select(
        pl.col("x").cum_sum().over("g").alias("cs"),
        pl.col("x").shift(1).over(["g", "y"]).fill_null(Decimal(0)).alias("sh"),
    )
    assert got["cs"].to_list() == want["cs"].to_list()
    assert got["sh"].to_list() == want["sh"].to_list()


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["F1", "F2", "F3"]),
            st.integers(0, 30),
            st.sampled_from([2025, 2026]),
            money(0, 50_000_000),
        ),
        min_size=1,
        max_size=25,
        unique_by=lambda r: (r[1], r[2]),
    )
)
def test_ip_pledge_cap_holds_per_firm_year_whatever_the_row_order(
    data: list[tuple[str, int, int, Decimal]],
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
    cap = Decimal(100_000)
    per: dict[tuple[str, int], list[Decimal]] = {}
    for r in res.iter_rows(named=True):
        # LPR 3.00% (in force from 2025-05-20) × share 20%: each line exact, then half up.
        assert r["subsidy_raw"] == r["average_balance"] * Decimal("0.006")
        got = per.setdefault((r["uscc"], r["year"]), [Decimal(0), Decimal(0)])
        got[0] += r["amount"]
        got[1] += fen(r["subsidy_raw"])
    for paid, owed in per.values():
        assert paid == min(owed, cap)  # the cap is used up to the fen, never passed
    shuffled, _ = evaluate(policy, frame.reverse())
    key = ["contract_no", "year"]
    assert res.sort(key)["amount"].to_list() == shuffled.sort(key)["amount"].to_list()


@given(
    amount=money(1, 100_000_000),
    incomes=st.lists(money(-10_000_000, 10_000_000), min_size=1, max_size=6),
)
def test_tax_deduction_never_uses_more_than_70_percent_nor_more_than_income(
    amount: Decimal, incomes: list[Decimal]
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
    base = fen(amount * Decimal("0.7"))
    # Held 24 months from 2022-03-01: 2024 onwards; each year uses what income allows.
    assert sum(used) == min(base, sum(max(i, Decimal(0)) for i in incomes))
    for u, inc in zip(used, incomes, strict=True):
        assert 0 <= u <= max(inc, Decimal(0))
    last = res.row(-1, named=True)
    assert last["cumulative_used"] + last["carry_forward"] == amount * Decimal("0.7")


@settings(max_examples=200)
@given(
    interest=money(0, 10_000_000_000),
    rate=st.decimals(0, 1, places=4, allow_nan=False, allow_infinity=False),
    line=st.sampled_from([Decimal("10000000"), Decimal("10000000.01")]),
)
def test_subsidy_is_the_decimal_product_rounded_half_up(
    interest: Decimal, rate: Decimal, line: Decimal
) -> None:
    """Against ``decimal``: interest × rate, 四舍五入 to the fen, for any amount and reform
    rate (a float engine pays a fen less on 245,631.565 and on ~5% of random cases)."""
    policy = library.get("karamay_interest")
    frame = pl.DataFrame(
        [
            {
                "uscc": "F",
                "contract_no": "L",
                "year": 2025,
                "interest": interest,
                "credit_line": line,
                "partner_bank": True,
                "hnte": True,
                "local_little_giant": False,
                "first_subsidy_year": 2025,
            }
        ]
    )
    res, _ = evaluate(policy, frame, overrides={"rate_small": rate, "rate_large": rate / 2})
    applied = rate if line <= Decimal("10000000") else rate / 2
    assert res["amount"][0] == fen(interest * applied)


@settings(max_examples=200)
@given(amount=money(0, 1_000_000_000), share=st.decimals(0, 1, places=3, allow_nan=False))
def test_shares_are_exact_in_simulations_too(amount: Decimal, share: Decimal) -> None:
    """A reform's share goes through the same exact path (investment × share, capped)."""
    policy = library.get("karamay_investment")
    frame = pl.DataFrame(
        [
            {
                "uscc": "F",
                "investment_id": "I",
                "kind": "vc",
                "occurred_on": date(2025, 1, 2),
                "investment_amount": amount,
                "tech_firm": True,
            }
        ]
    )
    res, _ = evaluate(policy, frame, overrides={"reward_rate": share})
    assert res["amount"][0] == min(fen(amount * share), Decimal(500_000))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["F1", "F2", "F3"]),
            st.integers(2025, 2026),
            st.integers(0, 40),
            money(0, 30_000),
            st.sampled_from([Decimal(10_000), Decimal("25000.50")]),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda r: (r[0], r[1], r[2]),
    ),
    st.randoms(use_true_random=False),
)
def test_cap_per_group_shares_the_cap_in_key_order_on_unsorted_rows(data, rnd) -> None:  # type: ignore[no-untyped-def]
    """Each row gets ``min(own, cap − paid to earlier rows)`` in (firm, year, contract) order,
    whatever order the rows arrive in; rows of groups under the cap keep their amount."""
    from kejin.policy.engine import cap_per_group

    rnd.shuffle(data)
    frame = pl.DataFrame(
        data,
        schema={"f": pl.String, "y": pl.Int64, "c": pl.Int64, "x": MONEY, "cap": MONEY},
        orient="row",
    )
    got = frame.select(cap_per_group(pl.col("x"), pl.col("cap"), ["f", "y"], ["c"]))
    want: list[Decimal] = [Decimal(0)] * len(data)
    paid: dict[tuple[str, int], Decimal] = {}
    for i in sorted(range(len(data)), key=lambda i: (data[i][0], data[i][1], data[i][2])):
        f, y, _, x, cap = data[i]
        before = paid.get((f, y), Decimal(0))
        want[i] = min(fen(x), max(cap - before, Decimal(0)))
        paid[(f, y)] = before + fen(x)
    assert got.to_series().to_list() == want
