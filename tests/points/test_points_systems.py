"""Indicator systems: shipped YAML loads; bad YAML is refused with file, key and reason."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from kejin.errors import ValidationError
from kejin.points.formula import FormulaError, compile_formula
from kejin.points.system import (
    FORMULA_FIELDS,
    SYSTEMS_DIR,
    available_systems,
    load_system,
    load_system_file,
)


def test_shipped_systems_load_with_declared_structure() -> None:
    assert available_systems() == ["most-v1", "most-v2", "zgc-lh"]
    v1 = load_system("most-v1").system
    groups = [i.group for i in v1.base_indicators]
    assert (groups.count("tech"), groups.count("growth_ops"), groups.count("auxiliary")) == (
        7,
        6,
        5,
    )
    assert set(v1.weights) == {"startup", "growth", "mature"}
    confirmed = {i.zh for i in v1.indicators if i.choice == "public"}
    assert confirmed == {
        "研发费用金额", "研发费用增长率", "技术合同成交额", "高新技术产品收入", "净资产利润率",
        "当年吸纳高校应届毕业生人数", "获得风险投资金额",
    }  # fmt: skip
    v2 = load_system("most-v2").system
    assert (len(v2.base_indicators), len(v2.bonus_indicators), v2.bonus_cap) == (9, 3, 30)
    assert {i.group for i in v2.base_indicators} == {"input", "output", "development"}


def _mutated(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((SYSTEMS_DIR / "most-v1.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(ValidationError) as e:
        load_system_file(path)
    assert all(p.file == str(path) for p in e.value.problems)
    return " | ".join(f"{p.field}: {p.reason_en}" for p in e.value.problems)


def test_unknown_indicator_in_weights_is_refused(tmp_path: Path) -> None:
    msg = _refusal(_mutated(tmp_path, lambda d: d["weights"]["growth"].update(patents_magic=0)))
    assert "weights" in msg and "unknown indicator 'patents_magic'" in msg


def test_weights_not_summing_as_declared_are_refused(tmp_path: Path) -> None:
    msg = _refusal(_mutated(tmp_path, lambda d: d["weights"]["mature"].update(rd_expense=8)))
    assert "weights.mature sum to 101" in msg


def test_missing_peer_group_weight_vector_is_refused(tmp_path: Path) -> None:
    msg = _refusal(_mutated(tmp_path, lambda d: d["weights"].pop("startup")))
    assert "missing weight vector for peer group 'startup'" in msg


def test_formula_naming_an_absent_field_is_refused(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["indicators"][0]["formula"] = "rd_expense / turnover"

    msg = _refusal(_mutated(tmp_path, change))
    assert "indicators.0.formula" in msg and "no such field 'turnover'" in msg


def test_unknown_key_and_stage_without_group_are_refused(tmp_path: Path) -> None:
    assert "extra" in _refusal(_mutated(tmp_path, lambda d: d.update(colour="red"))).lower()
    msg = _refusal(_mutated(tmp_path, lambda d: d["peer_groups"]["stage_map"].pop("seed")))
    assert "peer_groups.stage_map" in msg and "seed" in msg


def test_cli_refusal_exit_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kejin.cli import _mount_areas, app

    _mount_areas()
    bad = _mutated(tmp_path, lambda d: d["weights"].pop("growth"))
    res = CliRunner().invoke(app, ["points", "score", "--system", str(bad)])
    assert res.exit_code != 0
    assert isinstance(res.exception, ValidationError)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "rd_expense.real",
        "lag(2)",
        "open(1)",
        "rd_expense if revenue else 0",
        "[1]",
        "rd_expense ** 2",
    ],
)
def test_formula_language_rejects_anything_else(text: str) -> None:
    with pytest.raises(FormulaError):
        compile_formula(text, FORMULA_FIELDS)


def test_formula_arithmetic_lag_growth_and_safe_division() -> None:
    df = pl.DataFrame(
        {
            "rd_expense": [10.0, 5.0, 3.0],
            "revenue": [100.0, 0.0, 30.0],
            "rd_expense__lag": [5.0, None, 0.0],
        }
    )
    ratio = compile_formula("rd_expense / revenue", FORMULA_FIELDS)
    assert df.select(ratio.expr).to_series().to_list() == [0.1, None, 0.1]
    g = compile_formula("growth(rd_expense)", FORMULA_FIELDS)
    assert g.lagged == {"rd_expense"}
    assert df.select(g.expr).to_series().to_list() == [1.0, None, None]
    m = compile_formula("max(rd_expense, 4) - -1 + log1p(0)", FORMULA_FIELDS)
    assert df.select(m.expr).to_series().to_list() == [11.0, 6.0, 5.0]
