"""Parameter files and formulas are refused with file, key and reason; dates are bitemporal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from kejin.errors import ValidationError
from kejin.policy import library
from kejin.policy.engine import MONEY, Input, ParamDate, Policy, Step, evaluate
from kejin.policy.params import load_parameters

GOOD = """
parameters:
  rate:
    description: 贴息比例 / rate
    unit: ratio
    reference: {document: 测试文件, article: 第1条}
    values:
      - {value: 0.20, from: 2022-01-01, published: 2022-01-01}
      - {value: 0.25, from: 2024-01-01, published: 2024-06-30}
"""


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(tmp_path: Path, text: str, units: dict[str, str]) -> ValidationError:
    path = _write(tmp_path, text)
    with pytest.raises(ValidationError) as e:
        load_parameters(path, units)
    assert all(p.file == str(path) for p in e.value.problems)
    return e.value


def test_overlapping_ranges_in_one_publication_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("published: 2024-06-30", "published: 2022-01-01")
    err = _refusal(tmp_path, text, {"rate": "ratio"})
    assert err.problems[0].field == "parameters.rate"
    assert "overlapping" in err.problems[0].reason_en


def test_missing_reference_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    reference: {document: 测试文件, article: 第1条}\n", "")
    err = _refusal(tmp_path, text, {"rate": "ratio"})
    assert err.problems[0].field == "parameters.rate.reference"


def test_reference_without_article_is_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, GOOD.replace(", article: 第1条", ""), {"rate": "ratio"})
    assert err.problems[0].field == "parameters.rate.reference"


def test_unit_mismatch_is_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, GOOD, {"rate": "CNY"})
    assert err.problems[0].field == "parameters.rate.unit"
    assert "CNY" in err.problems[0].reason_en


def test_missing_and_unknown_parameters_are_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, GOOD, {"cap": "CNY"})
    fields = {p.field for p in err.problems}
    assert fields == {"cap", "parameters.rate"}


def test_a_ratio_above_one_is_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, GOOD.replace("0.25", "25"), {"rate": "ratio"})
    assert err.problems[0].field == "parameters.rate.values[1]"


def test_bitemporal_selection(tmp_path: Path) -> None:
    p = load_parameters(_write(tmp_path, GOOD), {"rate": "ratio"})["rate"]
    # In force for 2024, but only known from 2024-06-30.
    assert p.at(date(2024, 3, 1), as_of=None).value == Decimal("0.25")
    assert p.at(date(2024, 3, 1), as_of=date(2024, 6, 29)).value == Decimal("0.20")
    assert p.at(date(2024, 3, 1), as_of=date(2024, 6, 30)).value == Decimal("0.25")
    assert p.at(date(2023, 3, 1), as_of=None).value == Decimal("0.20")
    with pytest.raises(ValidationError, match="no value in force"):
        p.at(date(2021, 12, 31), as_of=None)


def _toy_policy(tmp_path: Path, steps: tuple[Step, ...]) -> Policy:
    _write(tmp_path, GOOD, "toy.yaml")
    return Policy(
        id="toy",
        title_zh="测试",
        title_en="toy",
        issuer="x",
        document="测试文件",
        articles=("第1条",),
        valid_from=date(2022, 1, 1),
        valid_to=None,
        entity="loan_year",
        key=("id",),
        inputs=(
            Input("id", pl.String, "编号", "id"),
            Input("day", pl.Date, "日期", "day"),
            Input("x", MONEY, "金额", "x"),
        ),
        param_units={"rate": "ratio"},
        param_dates={"rate": ParamDate("day", pl.col("day"))},
        steps=steps,
        eligible="ok",
        amount="pay",
        period="day",
        source=tmp_path / "toy.py",
    )


def test_formula_naming_an_absent_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as e:
        _toy_policy(
            tmp_path,
            (
                Step("ok", pl.col("x") > 0, "condition", "正数", "positive", "第1条"),
                Step("pay", pl.col("x") * pl.col("rte"), "amount", "金额", "amount", "第1条"),
            ),
        )
    p = e.value.problems[0]
    assert (p.field, p.value, p.file) == ("pay", "rte", str(tmp_path / "toy.py"))


def test_rows_straddling_a_revision_take_their_own_value(tmp_path: Path) -> None:
    policy = _toy_policy(
        tmp_path,
        (
            Step("ok", pl.col("x") > 0, "condition", "正数", "positive", "第1条"),
            Step("pay", pl.col("x") * pl.col("rate"), "amount", "金额", "amount", "第1条"),
        ),
    )
    frame = pl.DataFrame(
        {"id": ["a", "b"], "day": [date(2023, 5, 1), date(2024, 5, 1)], "x": [100.0, 100.0]}
    )
    now, _ = evaluate(policy, frame)
    assert now["amount"].cast(pl.Float64).to_list() == [20.0, 25.0]
    then, _ = evaluate(policy, frame, as_of=date(2024, 1, 1))
    assert then["amount"].cast(pl.Float64).to_list() == [20.0, 20.0]
    early = pl.DataFrame({"id": ["z"], "day": [date(2021, 1, 1)], "x": [1.0]})
    with pytest.raises(ValidationError) as e:
        evaluate(policy, pl.concat([frame, early]))
    assert e.value.problems[0].value == "z"


def test_a_money_step_computed_in_float_is_refused(tmp_path: Path) -> None:
    """Exact money is structural: a formula that falls back to float never pays."""
    policy = _toy_policy(
        tmp_path,
        (
            Step("ok", pl.col("x") > 0, "condition", "正数", "positive", "第1条"),
            Step(
                "pay",
                pl.col("x").cast(pl.Float64) * pl.col("rate").cast(pl.Float64),
                "amount",
                "金额",
                "amount",
                "第1条",
            ),
        ),
    )
    frame = pl.DataFrame({"id": ["a"], "day": [date(2023, 5, 1)], "x": [100.0]})
    with pytest.raises(ValidationError, match="exactly") as e:
        evaluate(policy, frame)
    assert [p.field for p in e.value.problems] == ["pay"]


def test_missing_input_column_is_refused_with_its_name() -> None:
    policy = library.get("karamay_investment")
    frame = pl.DataFrame({"uscc": ["x"], "investment_id": ["i"]})
    with pytest.raises(ValidationError) as e:
        evaluate(policy, frame, file="in.csv")
    fields = {p.field for p in e.value.problems}
    assert "investment_amount" in fields
    assert all(p.file == "in.csv" for p in e.value.problems)


def test_unknown_override_is_refused() -> None:
    policy = library.get("jian_digital")
    with pytest.raises(ValidationError, match="no such parameter"):
        evaluate(policy, pl.DataFrame(), overrides={"rate": 0.1})


def test_every_reading_names_its_alternatives_and_a_choice_its_meaning() -> None:
    """Ji'an's three readings are parameters (issue #17 item 8), and every reading in the
    library carries its alternatives; a choice value shows what it means."""
    jian = library.get("jian_ip_pledge")
    assert {n for n, p in jian.params.items() if p.reading} == {
        "lpr_share",
        "cap_per_year",
        "first_year",
    }
    for policy in library.all_policies():
        for p in policy.params.values():
            if p.reading:
                assert "备选：" in p.description and "alternatives" in p.description, p.name
    assert jian.params["cap_per_year"].choice_text(Decimal(1)) == "每户每年 / per firm per year"


def test_a_reading_without_alternatives_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    unit: ratio\n", "    unit: ratio\n    reading: true\n", 1)
    with pytest.raises(ValidationError) as e:
        load_parameters(_write(tmp_path, text), {"rate": "ratio"})
    assert [p.field for p in e.value.problems] == ["parameters.rate.description"]
