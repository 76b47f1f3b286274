"""The development index: definition checked on load, links by hand, chain-linking without jumps."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.errors import ValidationError
from kejin.stats.index import compile_index, parse, sensitivity

SPEC = """
version: 1
base: first
total: 100
normalisation: relative
dimensions:
  - id: scale
    zh: 规模
    en: scale
    weight: 60
    indicators:
      - {id: tech_loan_balance, source: monthly, direction: positive, weight: 1}
  - id: risk
    zh: 风险
    en: risk
    weight: 40
    indicators:
      - {id: npl_ratio, source: monthly, direction: negative, weight: 3}
      - {id: equity_ttm, source: equity, direction: positive, weight: 1}
"""
M = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def test_definition_refuses_unknown_field_indicator_and_weights() -> None:
    with pytest.raises(ValidationError) as e:
        parse(
            SPEC.replace("weight: 60", "weight: 50").replace("tech_loan_balance", "tech_loans"),
            "i.yaml",
        )
    assert {p.field for p in e.value.problems} == {"dimensions[0].indicators[0].id", "dimensions"}
    with pytest.raises(ValidationError) as e:
        parse(SPEC.replace("    weight: 40", "    weight: 40\n    colour: red"), "i.yaml")
    assert [p.reason_en for p in e.value.problems] == ["unknown field"]


def test_links_by_hand() -> None:
    s = parse(SPEC, "i.yaml")
    data = {
        "tech_loan_balance": {M[0]: 100.0, M[1]: 110.0, M[2]: 121.0},
        "npl_ratio": {M[0]: 0.02, M[1]: 0.01, M[2]: 0.01},
        "equity_ttm": {M[0]: 50.0, M[1]: 50.0, M[2]: None},
    }
    idx = compile_index(s, M, data)
    # Feb: scale 1.1; risk (3·2 + 1·1) / 4 = 1.75 → 0.6·1.1 + 0.4·1.75 = 1.36
    # Mar: scale 1.1; risk: only the NPL ratio known at both ends → 1.0 → 0.66 + 0.4 = 1.06
    assert [round(x.value, 6) for x in idx] == [100.0, 136.0, round(136 * 1.06, 6)]
    assert idx[2].left_out == ["equity_ttm"]
    assert round(idx[2].dimensions["risk"], 6) == 175.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(1, 1e6), min_size=4, max_size=4),
    st.floats(1e-4, 1.0),
    st.floats(1e-4, 1.0),
    st.integers(1, 3),
)
def test_the_level_an_indicator_enters_at_makes_no_jump(balances, one, other, start) -> None:
    """An indicator that first has data at month ``start`` moves the index by its changes only,
    never by the level it enters at (chain-linking): entering at ``one`` or ``other`` and then
    moving alike gives the same index."""
    s = parse(SPEC, "i.yaml")
    months = [date(2026, k, 1) for k in range(1, 5)]

    def data(level: float) -> dict:
        return {
            "tech_loan_balance": dict(zip(months, balances, strict=True)),
            "npl_ratio": {m: None if i < start else level * (1 + i) for i, m in enumerate(months)},
            "equity_ttm": dict.fromkeys(months),
        }

    a = [x.value for x in compile_index(s, months, data(one))]
    b = [x.value for x in compile_index(s, months, data(other))]
    assert b == pytest.approx(a, rel=1e-9)
    pure = [100.0 * v / balances[0] for v in balances]
    assert a[: start + 1] == pytest.approx(pure[: start + 1], rel=1e-9)


def test_sensitivity_range_holds_the_nominal_index() -> None:
    s = parse(SPEC, "i.yaml")
    data = {
        "tech_loan_balance": {M[0]: 100.0, M[1]: 90.0, M[2]: 120.0},
        "npl_ratio": {M[0]: 0.02, M[1]: 0.03, M[2]: 0.01},
        "equity_ttm": {M[0]: 10.0, M[1]: 30.0, M[2]: 20.0},
    }
    lo, hi = sensitivity(s, M, data, 200, 7)
    nominal = [x.value for x in compile_index(s, M, data)]
    assert lo[0] == hi[0] == 100.0
    assert all(lo[i] <= nominal[i] + 1e-9 and nominal[i] <= hi[i] + 1e-9 for i in range(3))


def test_the_shipped_definition_loads() -> None:
    text = (Path(__file__).parents[2] / "src/kejin/stats/indicators/index.yaml").read_text("utf-8")
    s = parse(text, "index.yaml")
    assert sum(d.weight for d in s.dimensions) == s.total
    assert {d.id for d in s.dimensions} == {
        "credit_scale", "access", "structure", "cost", "risk", "equity", "insurance", "policy_funds"
    }  # fmt: skip
