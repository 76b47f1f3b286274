"""Definitions selected by their date of effect: a population list and an indicator changed on
1 July 2025, every figure of June and July computed by hand.

Firm A holds 高新技术企业 (hnte) and borrows 1,000,000.00 on credit (L1); firm B holds only
制造业单项冠军 (single_champion) and borrows 3,000,000.00 against an IP pledge (L2). Both loans have
status rows in June and July 2025 only. From 2025-07-01 the list drops single_champion, and the
indicator ``share`` changes from the credit share to the IP-pledge share.

June (D = 2025-06-30, first list, first ``share``): population {A, B} = 2; balance 4,000,000.00;
share = credit 1,000,000 ÷ 4,000,000 = 0.25; month-on-month null (May has no status rows).
July (D = 2025-07-31, second list, second ``share``): population {A} = 1 (B's only kind is off
the list); balance 1,000,000.00; month-on-month = 1,000,000 ÷ June's 4,000,000 (June's
population, taken on June's list) − 1 = −0.75; share = IP-pledge balance of the population
(A's loan is on credit) 0 ÷ 1,000,000 = 0.0. All loans: 4,000,000.00 in both months.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from kejin.errors import ValidationError
from kejin.stats import kernels
from kejin.stats.definitions import monthly, parse

SRC = '{document: "测试文件 test document", article: "§1"}'
SEVEN = (
    "[hnte, tsme, srdi_sme, little_giant, innovative_sme, innovation_demo_firm, single_champion]"
)
SIX = "[hnte, tsme, srdi_sme, little_giant, innovative_sme, innovation_demo_firm]"


def _yaml(second_share_from: str = "2025-07-01", second_kinds: str = SIX) -> str:
    def ind(i: str, unit: str, formula: str, since: str = "2024-01-01") -> str:
        return (
            f"  - {{id: {i}, label_zh: 指标{i}, label_en: {i}, unit: {unit}, population: list,\n"
            f"     formula: {formula}, source: {SRC}, effective_from: {since}}}\n"
        )

    return (
        "version: 1\npopulation_lists:\n"
        f"  - {{effective_from: 2024-01-01, kinds: {SEVEN}}}\n"
        f"  - {{effective_from: 2025-07-01, kinds: {second_kinds}}}\n"
        "indicators:\n"
        + ind("population", "firms", "{kind: measure, numerator: firms}")
        + ind("balance", "yuan", "{kind: measure, numerator: balance}")
        + ind(
            "mom", "fraction", "{kind: growth, numerator: balance, denominator: balance_month_ago}"
        )
        + ind("share", "fraction", "{kind: ratio, numerator: credit_balance, denominator: balance}")
        + ind(
            "share",
            "fraction",
            "{kind: ratio, numerator: ip_pledge_balance, denominator: balance}",
            second_share_from,
        )
    )


def _frames() -> kernels.Frames:
    loans = pl.DataFrame(
        {
            "contract_no": ["L1", "L2"],
            "uscc": ["A", "B"],
            "institution_id": ["B1", "B1"],
            "product_id": [None, None],
            "amount": [Decimal("1000000.00"), Decimal("3000000.00")],
            "rate": [Decimal("0.040000"), Decimal("0.050000")],
            "disbursed_on": [date(2024, 1, 10), date(2024, 2, 10)],
            "maturity_on": [date(2027, 1, 10), date(2027, 2, 10)],
            "guarantee_type": ["credit", "ip_pledge"],
            "first_time_borrower": [False, False],
        },
        schema_overrides={
            "product_id": pl.String,
            "amount": pl.Decimal(18, 2),
            "rate": pl.Decimal(9, 6),
        },
    )
    statuses = pl.DataFrame(
        {
            "contract_no": ["L1", "L2", "L1", "L2"],
            "month": [date(2025, 6, 1)] * 2 + [date(2025, 7, 1)] * 2,
            "balance": [Decimal("1000000.00"), Decimal("3000000.00")] * 2,
            "classification": ["normal"] * 4,
        },
        schema_overrides={"balance": pl.Decimal(18, 2)},
    )
    quals = pl.DataFrame(
        {
            "uscc": ["A", "B"],
            "kind": ["hnte", "single_champion"],
            "valid_from": [date(2023, 1, 1)] * 2,
            "valid_to": [date(2027, 12, 31)] * 2,
        }
    )
    return kernels.Frames(loans, statuses, quals)


def test_each_month_uses_the_list_and_the_definition_in_effect_on_its_date() -> None:
    defs = parse(_yaml(), "changed.yaml")
    m = kernels.measures(_frames(), [date(2025, 6, 1), date(2025, 7, 1)], kinds_on=defs.kinds_on)
    rows = {r["month"]: r["indicators"] for r in kernels.indicators(m, defs)}
    assert rows[date(2025, 6, 1)] == {
        "population": 2,
        "balance": Decimal("4000000.00"),
        "mom": None,
        "share": 0.25,
    }
    assert rows[date(2025, 7, 1)] == {
        "population": 1,
        "balance": Decimal("1000000.00"),
        "mom": -0.75,
        "share": 0.0,
    }
    assert m["all_balance"].to_list() == [400_000_000, 400_000_000]  # fen, whatever the list
    # The definitions shown with each month are those in effect on its month end.
    assert defs.by_id(date(2025, 6, 30))["share"].formula.numerator == "credit_balance"
    assert defs.by_id(date(2025, 7, 31))["share"].formula.numerator == "ip_pledge_balance"
    assert defs.by_id(date(2023, 1, 31))["share"].formula.numerator == "credit_balance"
    assert "single_champion" not in defs.kinds_on(date(2025, 7, 31))
    # With the shipped single list, B stays in the population in July.
    (july,) = kernels.measures(
        _frames(), [date(2025, 7, 1)], kinds_on=monthly().kinds_on
    ).to_dicts()
    assert july["firms"] == 2 and july["balance"] == 400_000_000


def test_versions_out_of_order_and_unknown_kinds_are_refused_by_field() -> None:
    with pytest.raises(ValidationError) as e:
        parse(
            _yaml(second_share_from="2023-06-01", second_kinds="[hnte, local_little_giant]"),
            "bad.yaml",
        )
    fields = {p.field for p in e.value.problems}
    assert fields == {"indicators[4].effective_from", "population_lists[1].kinds[1]"}
