"""Indicator definitions as data: the shipped set loads; a bad one is refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kejin.errors import ValidationError
from kejin.stats.definitions import MEASURES, load, monthly, parse

SHIPPED = Path(__file__).parents[2] / "src/kejin/stats/indicators/monthly.yaml"

ISSUE_IDS = [
    "population", "tech_loan_balance", "all_loan_balance", "tech_loan_yoy", "all_loan_yoy",
    "yoy_gap_pp", "borrowers", "loan_access_rate", "first_time_borrowers", "credit_loan_share",
    "medium_long_share", "npl_ratio", "new_loan_avg_rate",
]  # fmt: skip
#: The rest of item 1, after the issue's ids (added, never renamed: other areas read them).
ITEM_1_IDS = [
    "tech_loan_mom", "all_loan_mom", "mom_gap_pp", "new_borrowers", "first_time_share",
    "ip_pledge_loan_balance", "all_npl_ratio", "npl_gap_pp", "new_loan_lpr_spread",
]  # fmt: skip


def test_shipped_set_has_every_issue_id_with_a_source() -> None:
    s = monthly()
    assert [i.id for i in s.indicators] == ISSUE_IDS + ITEM_1_IDS
    # the seed documents (seeds/README.md), cited by their own titles
    titles = {"若干措施", "实施意见", "科技金融简报", "工作方案"}
    for i in s.indicators:
        assert any(w in i.source.document for w in titles) and i.source.article


def _doc() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def _refusal(doc: dict) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        parse(yaml.safe_dump(doc, allow_unicode=True), "x.yaml")
    return e.value


def test_an_unknown_field_is_refused_by_name() -> None:
    doc = _doc()
    doc["indicators"][1]["weight"] = 3
    (p,) = _refusal(doc).problems
    assert (p.field, p.reason_zh, p.reason_en) == (
        "indicators.1.weight",
        "未知字段",
        "unknown field",
    )


def test_an_unknown_measure_is_refused_by_name() -> None:
    doc = _doc()
    doc["indicators"][7]["formula"]["numerator"] = "lenders"
    (p,) = _refusal(doc).problems
    assert p.field == "indicators[7].formula.numerator" and p.value == "lenders"
    assert "未知名称" in p.reason_zh and "unknown name" in p.reason_en


def test_a_gap_refers_to_indicators_defined_above() -> None:
    doc = _doc()
    gap = doc["indicators"].pop(5)
    doc["indicators"].insert(0, gap)  # before tech_loan_yoy and all_loan_yoy
    probs = _refusal(doc).problems
    assert [p.field for p in probs] == [
        "indicators[0].formula.numerator",
        "indicators[0].formula.denominator",
    ]


def test_a_ratio_needs_a_denominator_and_a_measure_takes_none() -> None:
    doc = _doc()
    del doc["indicators"][7]["formula"]["denominator"]
    doc["indicators"][1]["formula"]["denominator"] = "firms"
    fields = {p.field for p in _refusal(doc).problems}
    assert fields == {"indicators[7].formula.denominator", "indicators[1].formula.denominator"}


def test_duplicate_ids_and_bad_units_are_refused() -> None:
    doc = _doc()
    doc["indicators"][2]["id"] = "tech_loan_balance"
    doc["indicators"][3]["unit"] = "percent"
    fields = {p.field for p in _refusal(doc).problems}
    assert fields == {"indicators.3.unit"}  # pydantic first; the duplicate is a domain check
    doc["indicators"][3]["unit"] = "fraction"
    assert {p.field for p in _refusal(doc).problems} == {"indicators[2].id"}


def test_every_measure_the_definitions_name_exists() -> None:
    s = load(SHIPPED)
    named = {i.formula.numerator for i in s.indicators if i.formula.kind != "gap_pp"}
    assert named <= set(MEASURES)
