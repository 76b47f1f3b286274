"""The integer-fen engine (:mod:`kejin.policy.fen`) against the Decimal engine it replaces.

Every test evaluates the same policy and rows twice — ``arithmetic="fen"`` (formulas compiled to
scaled Int64) and ``arithmetic="decimal"`` (the policy's Polars expressions in Decimal) — and
requires the two frames to be equal column for column, dtype for dtype, and the Python
``decimal`` value of the rule to the fen. Where the integers cannot hold a value, the engine must
say so and fall back, never overflow.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from kejin.policy import fen, library
from kejin.policy.engine import (
    LOAN_YEAR_KEYS,
    MONEY,
    Input,
    P,
    Policy,
    Rounding,
    Step,
    YearEnd,
    cap_per_group,
    evaluate,
    zero,
)

PARAMS = """\
parameters:
  share:
    description: 分担比例 / share
    unit: ratio
    reference: {document: 测试, article: 一}
    values:
      - {value: 0.3, from: 2020-01-01, published: 2020-01-01}
      - {value: 0.5, from: 2025-01-01, published: 2024-06-01}
  rate:
    description: 年利率 / annual rate
    unit: 1/year
    reference: {document: 测试, article: 一}
    values:
      - {value: 0.0345, from: 2020-01-01, published: 2020-01-01}
  cap:
    description: 上限 / cap
    unit: CNY
    reference: {document: 测试, article: 一}
    values:
      - {value: 100000, from: 2020-01-01, published: 2020-01-01}
"""
MODES: dict[Rounding, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
}


def rate_policy(tmp: Path, rounding: Rounding = "half_up") -> Policy:
    """A rule with a product of two rates, a cap, a ``when`` and a sign: balance × rate × share,
    at most ``cap``, nothing when the balance is not positive... but a negative correction
    passed through (``correction``), so negative amounts and their rounding are exercised."""
    (tmp / "fen_rule.yaml").write_text(PARAMS, encoding="utf-8")
    return Policy(
        id="fen_rule",
        title_zh="测试",
        title_en="test",
        issuer="测试",
        document="测试",
        articles=("一",),
        valid_from=date(2020, 1, 1),
        valid_to=None,
        entity="loan_year",
        key=("contract_no", "year"),
        inputs=(
            *LOAN_YEAR_KEYS,
            Input("balance", MONEY, "余额", "balance"),
            Input("correction", MONEY, "更正", "correction"),
        ),
        param_units={"share": "ratio", "rate": "1/year", "cap": "CNY"},
        param_dates=dict.fromkeys(("share", "rate", "cap"), YearEnd("year")),
        steps=(
            Step("positive", pl.col("balance") > 0, "condition", "余额为正", "positive", "一"),
            Step("subsidy_rate", P("rate") * P("share"), "value", "贴息率", "rate", "一"),
            Step(
                "raw",
                pl.when(pl.col("positive"))
                .then(pl.col("balance") * pl.col("subsidy_rate"))
                .otherwise(zero()),
                "amount",
                "贴息",
                "subsidy",
                "一",
            ),
            Step(
                "subsidy",
                pl.min_horizontal(pl.col("raw"), P("cap")) + pl.col("correction") * P("share"),
                "amount",
                "应付",
                "payable",
                "一",
            ),
        ),
        eligible="positive",
        amount="subsidy",
        source=tmp / "fen_rule.py",
        rounding=rounding,
    )


def frame(
    balances: list[Decimal], corrections: list[Decimal], years: list[int] | None = None
) -> pl.DataFrame:
    n = len(balances)
    return pl.DataFrame(
        {
            "uscc": ["91650200MA00000001"] * n,
            "contract_no": [f"C{i:04d}" for i in range(n)],
            "year": years or [2024] * n,
            "balance": pl.Series(balances, dtype=MONEY),
            "correction": pl.Series(corrections, dtype=MONEY),
        }
    )


def both(policy: Policy, df: pl.DataFrame, **kw: object) -> tuple[pl.DataFrame, str | None]:
    """The fen result (asserted equal to the Decimal one) and why it fell back, if it did."""
    ours, how = evaluate(policy, df, **kw)  # type: ignore[arg-type]
    ref, ref_how = evaluate(policy, df, arithmetic="decimal", **kw)  # type: ignore[arg-type]
    assert ref_how.engine == "decimal"
    assert_frame_equal(ours, ref)
    return ours, how.fallback


fen_amounts = st.integers(-(10**9), 10**9).map(lambda f: Decimal(f).scaleb(-2))
rates = st.one_of(
    st.sampled_from([Decimal("0.5"), Decimal("0.05"), Decimal("0.005"), Decimal(0), Decimal(1)]),
    st.decimals(0, 1, places=4),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    balances=st.lists(fen_amounts, min_size=1, max_size=12),
    share=rates,
    rate=rates,
    cap=st.integers(0, 10**7),
    rounding=st.sampled_from(list(MODES)),
    nonneg=st.booleans(),
)
@example(  # ties at the half fen, both signs: 0.01 × 0.5 × 1 = 0.005, −0.03 × 0.5 = −0.015
    balances=[Decimal("0.01"), Decimal("0.03"), Decimal("-0.01"), Decimal(0)],
    share=Decimal("0.5"),
    rate=Decimal(1),
    cap=10**7,
    rounding="half_up",
    nonneg=False,
)
@example(  # the same ties where every value is known to be ≥ 0 (the one-division path)
    balances=[Decimal("0.01"), Decimal("0.03"), Decimal("0.05"), Decimal(0)],
    share=Decimal("0.5"),
    rate=Decimal(1),
    cap=10**7,
    rounding="half_up",
    nonneg=True,
)
def test_integer_fen_equals_decimal(
    tmp_path: Path,
    balances: list[Decimal],
    share: Decimal,
    rate: Decimal,
    cap: int,
    rounding: Rounding,
    nonneg: bool,
) -> None:
    """Random amounts (negative, zero, up to 10 million CNY) and rates of up to four decimals,
    a product of two rates, a cap and a negative correction: the integer engine gives the
    Decimal engine's frame and Python's decimal rule, rounded by the policy's mode. ``nonneg``
    draws rows whose amounts are all ≥ 0, which the compiler rounds with one division."""
    policy = rate_policy(tmp_path, rounding)
    if nonneg:
        balances = [abs(b) for b in balances]
    corrections = [Decimal(0) if nonneg else -b for b in reversed(balances)]
    df = frame(balances, corrections)
    out, fell_back = both(policy, df, overrides={"share": share, "rate": rate, "cap": Decimal(cap)})
    assert fell_back is None
    for b, c, got in zip(balances, corrections, out["amount"], strict=True):
        value = min(b * rate * share, Decimal(cap)) + c * share
        want = value.quantize(Decimal("0.01"), rounding=MODES[rounding]) if b > 0 else Decimal(0)
        assert got == want, (b, c, value)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e9, 1e9, allow_nan=False),
            st.integers(-(10**8), 10**8).map(lambda i: i / 1000 + 0.005),
            st.integers(0, 10**9).map(lambda i: i / 100),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_float_inputs_read_as_the_decimal_cast(values: list[float]) -> None:
    """A float column (what a CSV or numpy hands in) becomes the same fen as Polars' own cast to
    Decimal(38,2), ties and three-decimal values included."""
    n = len(values)
    df = pl.DataFrame(
        {
            "uscc": ["U"] * n,
            "contract_no": [str(i) for i in range(n)],
            "year": [2024] * n,
            "interest": values,
            "credit_line": [v * 7 for v in values],
            "partner_bank": [True] * n,
            "hnte": [True] * n,
            "local_little_giant": [False] * n,
            "first_subsidy_year": [2024] * n,
        }
    )
    both(library.get("karamay_interest"), df)


def test_every_library_policy_agrees(tmp_path: Path) -> None:
    """The nine policies on the same rows: equal frames whichever engine ran, and the rules the
    compiler takes (Karamay interest, investment reward, Ji'an digital, Shanghai first set) do
    run in integers."""
    from bench.bench_policy import region_frames

    frames = region_frames(3_000)
    ran = {}
    for policy in library.templates():
        out, fell_back = both(policy, frames[policy.entity])
        ran[policy.id] = fell_back is None
        assert out.height == frames[policy.entity].height
    assert {k for k, v in ran.items() if v} >= {
        "karamay_interest",
        "karamay_investment",
        "jian_digital",
        "shanghai_first_set",
    }


def test_overflow_falls_back_with_its_reason(tmp_path: Path) -> None:
    """A balance of 9 × 10^13 CNY times a rate of four decimals does not fit Int64: the engine
    says so and the Decimal engine computes it, exactly."""
    policy = rate_policy(tmp_path)
    big = Decimal("90000000000000.01")
    out, fell_back = both(policy, frame([big], [Decimal(0)]), overrides={"cap": Decimal(10**15)})
    assert fell_back is not None and "Int64" in fell_back
    assert out["amount"][0] == (big * Decimal("0.0345") * Decimal("0.3")).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def test_uncompiled_formula_falls_back(tmp_path: Path) -> None:
    """A Python function in a formula (the group cap) is not compiled: Decimal, the same result."""
    base = library.get("karamay_interest")
    step = Step(
        "capped",
        cap_per_group(pl.col("subsidy"), pl.lit(Decimal(1000), dtype=MONEY), ["uscc", "year"]),
        "amount",
        "封顶",
        "capped",
        "bench",
    )
    capped = replace(base, steps=(*base.steps, step), amount="capped")
    df = pl.DataFrame(
        {
            "uscc": ["A", "A", "B"],
            "contract_no": ["1", "2", "3"],
            "year": [2024] * 3,
            "interest": [6000.0, 4000.05, 100.0],
            "credit_line": [1e6] * 3,
            "partner_bank": [True] * 3,
            "hnte": [True] * 3,
            "local_little_giant": [False] * 3,
            "first_subsidy_year": [2024] * 3,
        }
    )
    out, fell_back = both(capped, df)
    assert fell_back is not None and "AnonymousFunction" in fell_back
    assert out["amount"].to_list() == [Decimal("1000.00"), Decimal("0.00"), Decimal("20.00")]


def test_fen_result_holds_scaled_integers(tmp_path: Path) -> None:
    """``money="fen"``: every money and rate column an Int64 at its stated scale, equal to the
    Decimal result's value; the amount in fen."""
    policy = rate_policy(tmp_path)
    df = frame([Decimal("2456315.65"), Decimal("-3.00")], [Decimal("0.01"), Decimal(0)])
    ints, how = evaluate(policy, df, money="fen")
    dec, _ = evaluate(policy, df)
    assert how.engine == "fen" and how.scales["amount"] == 2
    for name, scale in how.scales.items():
        assert ints.schema[name] == pl.Int64
        assert [Decimal(v).scaleb(-scale) for v in ints[name]] == dec[name].to_list()
    assert ints["subsidy_rate"][0] == 1035 and how.scales["subsidy_rate"] == 5  # 0.0345 × 0.3


def test_scales_refused_where_decimal_rounds() -> None:
    """A product needing more decimals than Decimal(38,12) keeps is refused, not 'improved': the
    two engines must give the same numbers."""
    ctx = fen.Context(
        {"a": fen.Num(7, 0, 10**7), "b": fen.Num(7, 0, 10**7)},
        {"a": pl.Int64(), "b": pl.Int64()},
        pl.Schema({"a": pl.Decimal(38, 12), "b": pl.Decimal(38, 12)}),
    )
    with pytest.raises(fen.Unsupported, match="scale 14 where Decimal has 12"):
        fen.compile_step(pl.col("a") * pl.col("b"), ctx)


@pytest.mark.parametrize("years", [[2024, 2024], [2025, 2026], [2024, 2025]])
def test_dated_parameter_in_force(tmp_path: Path, years: list[int]) -> None:
    """The share is 0.3 until 2024 and 0.5 from 2025: rows of one segment read its value as a
    scalar, rows of both a per-row column; each row gets the share in force in its year."""
    policy = rate_policy(tmp_path)
    df = frame([Decimal(1000), Decimal(1000)], [Decimal(0), Decimal(0)], years)
    out, fell_back = both(policy, df)
    assert fell_back is None
    share = {2024: Decimal("0.3"), 2025: Decimal("0.5"), 2026: Decimal("0.5")}
    assert out["amount"].to_list() == [
        (Decimal(1000) * Decimal("0.0345") * share[y]).quantize(Decimal("0.01")) for y in years
    ]


def test_missing_amounts_stay_missing(tmp_path: Path) -> None:
    """A blank balance (null) is read from the Decimal column's words as null, not as a number:
    its condition is unknown (null), the ``when`` takes the zero branch, the amount is zero —
    in both engines."""
    policy = rate_policy(tmp_path)
    df = frame([Decimal("10.00"), None, Decimal("-1.00")], [None, Decimal("0.01"), Decimal(0)])  # type: ignore[list-item]
    out, fell_back = both(policy, df)
    assert fell_back is None
    assert out["positive"][1] is None and out["raw"][1] == 0
    assert out["amount"].to_list() == [None, Decimal("0.00"), Decimal("0.00")]  # null + x
