"""Invariants of what the pages show: winners and losers of a simulation, reform parameters
typed by a person, and the clause line that explains a result."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.errors import ValidationError
from kejin.policy import library
from kejin.policy.engine import evaluate
from kejin.policy.operations import clause_text, clauses, firm_changes, parse_overrides
from kejin.policy.simulate import simulate

KARAMAY = library.get("karamay_interest")
NO_FIRMS = pl.DataFrame(schema={"uscc": pl.String})

loan_year = st.fixed_dictionaries(
    {
        "firm": st.integers(0, 5),
        "interest": st.floats(0, 2_000_000, allow_nan=False),
        "credit_line": st.sampled_from([5e6, 1e7, 1e7 + 1, 5e7]),
        "partner_bank": st.booleans(),
        "hnte": st.booleans(),
        "local_little_giant": st.booleans(),
    }
)


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": [f"F{r['firm']}" for r in rows],
            "contract_no": [f"C{i}" for i in range(len(rows))],
            "year": [2025] * len(rows),
            "interest": [r["interest"] for r in rows],
            "credit_line": [r["credit_line"] for r in rows],
            "partner_bank": [r["partner_bank"] for r in rows],
            "hnte": [r["hnte"] for r in rows],
            "local_little_giant": [r["local_little_giant"] for r in rows],
            "first_subsidy_year": [2024] * len(rows),
        },
        schema_overrides={"year": pl.Int64, "first_subsidy_year": pl.Int64},
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(loan_year, min_size=1, max_size=25), st.floats(0, 1, allow_nan=False))
def test_winners_and_losers_partition_the_firms_and_follow_the_rate(rows, rate) -> None:  # type: ignore[no-untyped-def]
    frame = _frame(rows)
    sim = simulate(KARAMAY, frame, NO_FIRMS, {"rate_small": rate}, year=2025)
    ch = firm_changes(sim)
    assert sorted(ch["uscc"].to_list()) == sorted(set(frame["uscc"].to_list()))
    winners = ch.filter(pl.col("delta") > 0).height
    losers = ch.filter(pl.col("delta") < 0).height
    assert winners + losers + ch.filter(pl.col("delta") == 0).height == ch.height
    # Raising the small-line rate above 20% can only help; lowering it can only hurt.
    if rate >= 0.2:
        assert losers == 0
    if rate <= 0.2:
        assert winners == 0
    # The per-firm differences add up to the change in fiscal cost, exactly (money is decimal).
    assert ch["delta"].sum() == sim.totals["delta_cost"]


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e12, 1e12, allow_nan=False))
def test_a_typed_parameter_is_read_back_exactly(v: float) -> None:
    assert parse_overrides([("rate_small", repr(v)), ("cap", "  ")]) == {
        "rate_small": Decimal(repr(v))
    }


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "-inf", "1e13", "1,5"])
def test_a_bad_parameter_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_overrides([("max_years", "3"), ("rate_small", text)])
    assert [(p.field, p.value) for p in e.value.problems] == [("rate_small", text)]


@settings(max_examples=40, deadline=None)
@given(loan_year)
def test_the_clause_line_names_every_condition_and_the_amount(row) -> None:  # type: ignore[no-untyped-def]
    res, _ = evaluate(KARAMAY, _frame([row]))
    r = res.row(0, named=True)
    items = clauses(KARAMAY, r)
    conditions = [s for s in KARAMAY.steps if s.kind == "condition"]
    zh, en = clause_text(items, "zh"), clause_text(items, "en")
    assert zh.count("满足：") == len(conditions)  # "不满足：" contains "满足：" too
    assert zh.count("不满足：") == sum(not r[s.name] for s in conditions)
    assert en.count("not met: ") == zh.count("不满足：")
    shown = r["subsidy"].quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # 四舍五入, as paid
    assert f"= {shown:,.2f}" in zh and "（三(二)8）" in zh
    assert r["eligible"] == all(c["met"] for c in items if c["kind"] == "condition")
