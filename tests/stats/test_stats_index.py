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


def test_index_from_the_registry_and_a_year_without_data(engine) -> None:
    from decimal import Decimal

    from sqlalchemy import insert
    from tests.relend.relendkit import seed

    from kejin.lending.tables import LoanStatus
    from kejin.stats.index import index_report

    seed(engine, [{"contract": "X1", "firm": 1}, {"contract": "X2", "firm": 2}])
    bal = {(1, "X1"): "900000", (1, "X2"): "100000", (2, "X1"): "990000", (2, "X2"): "110000"}
    with engine.begin() as c:
        c.execute(
            insert(LoanStatus),
            [{"contract_no": k, "month": date(2026, m + 2, 1), "balance": Decimal(v),
              "days_past_due": 0, "classification": "normal"} for (m, k), v in bal.items()],
        )  # fmt: skip
    res = index_report(engine, 2026, draws=20)
    assert [x["month"] for x in res["series"]] == ["2026-03", "2026-04"]
    assert res["series"][0]["index"] == 100.0
    # the balance grew 10% (credit scale 110); borrowers and access unchanged (100); the shares
    # are all credit loans (100); no disbursement, NPL or other flows in April: left out
    assert res["dimensions"]["credit_scale"]["value"] == 110.0
    assert res["dimensions"]["access"]["value"] == 100.0
    assert "new_loan_avg_rate" in res["series"][1]["left_out"]
    with pytest.raises(ValidationError, match="2025"):
        index_report(engine, 2025, draws=0)


def test_a_complement_indexes_the_performing_share() -> None:
    s = parse(
        SPEC.replace(
            "{id: npl_ratio, source: monthly, direction: negative, weight: 3}",
            "{id: npl_ratio, source: monthly, direction: positive, transform: complement, weight: 3}",
        ),
        "i.yaml",
    )
    data = {
        "tech_loan_balance": {M[0]: 100.0, M[1]: 100.0},
        "npl_ratio": {M[0]: 0.01, M[1]: 0.02},
        "equity_ttm": {M[0]: None, M[1]: None},
    }
    idx = compile_index(s, M[:2], data)
    assert idx[1].dimensions["risk"] == pytest.approx(100 * 0.98 / 0.99)
    assert idx[1].value == pytest.approx(100 * (0.6 + 0.4 * 0.98 / 0.99))
