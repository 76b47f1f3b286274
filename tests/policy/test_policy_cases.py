"""Run the YAML case tables in ``cases/``: each written from the document text it quotes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from kejin.errors import ValidationError
from kejin.policy import library
from kejin.policy.engine import evaluate
from kejin.policy.stacking import claims, no_stacking

CASES = Path(__file__).parent / "cases"


def _frame(policy_id: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The case rows with their YAML numbers read as written (``10000000.01`` is that decimal)."""
    policy = library.get(policy_id)
    schema = {i.name: i.dtype for i in policy.inputs}
    exact = {k for k, t in schema.items() if isinstance(t, pl.Decimal)}
    return pl.DataFrame(
        [{k: Decimal(str(r[k])) if k in exact else r[k] for k in schema} for r in rows],
        schema=schema,
        orient="row",
    )


def _policy_cases() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "policy" not in doc:
            continue
        for case in doc["cases"]:
            rows = [{**doc["defaults"], **r} for r in case["rows"]]
            out.append(pytest.param(doc["policy"], case, rows, id=f"{path.stem}: {case['name']}"))
    return out


def _check(actual: Any, expected: Any, what: str) -> None:
    """Amounts written as text ("2469.13") must match to the character, so to the fen and with
    exactly two decimals; other numbers are compared as exact decimals."""
    if isinstance(actual, Decimal) and isinstance(expected, str):
        assert str(actual) == expected, what
    elif isinstance(actual, Decimal):
        assert actual == Decimal(str(expected)), what
    elif isinstance(actual, float):
        assert actual == pytest.approx(float(expected), abs=1e-9), what
    else:
        assert actual == expected, what


@pytest.mark.parametrize(("policy_id", "case", "rows"), _policy_cases())
def test_policy_case(policy_id: str, case: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    policy = library.get(policy_id)
    frame = _frame(policy_id, rows)
    as_of = case.get("as_of")
    as_of = date.fromisoformat(str(as_of)) if as_of else None
    if "error" in case:
        with pytest.raises(ValidationError, match=case["error"]):
            evaluate(policy, frame, as_of=as_of, overrides=case.get("overrides"))
        return
    result, _ = evaluate(policy, frame, as_of=as_of, overrides=case.get("overrides"))
    assert result.height == len(case["expect"])
    for i, (row, exp) in enumerate(zip(result.iter_rows(named=True), case["expect"], strict=True)):
        for col, want in exp.items():
            _check(row[col], want, f"row {i} column {col}")


def _stacking_cases() -> list[Any]:
    doc = yaml.safe_load((CASES / "stacking.yaml").read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["name"]) for c in doc["cases"]]


@pytest.mark.parametrize("case", _stacking_cases())
def test_stacking_case(case: dict[str, Any]) -> None:
    parts = []
    for pid, rows in case["inputs"].items():
        policy = library.get(pid)
        result, _ = evaluate(policy, _frame(pid, rows))
        parts.append(claims(policy, result))
    out = no_stacking(parts)
    assert out.height == len(case["expect"])
    for exp in case["expect"]:
        cond = pl.lit(True)
        for k in ("policy_id", "entity"):
            if k in exp:
                cond = cond & (pl.col(k) == exp[k])
        match = out.filter(cond)
        assert match.height == 1, exp
        row = match.row(0, named=True)
        for col, want in exp.items():
            _check(row[col], want, col)
    kept = out.filter("kept")
    assert kept.select(pl.struct("firm", "cost_item").is_unique().all()).item()


def test_a_repeated_row_is_paid_once() -> None:
    row = {
        "uscc": "F1",
        "contract_no": "L1",
        "year": 2025,
        "average_balance": 1_000_000.0,
        "digital_transformation": True,
    }
    policy = library.get("jian_digital")
    result, _ = evaluate(policy, _frame("jian_digital", [row, row]))
    out = no_stacking([claims(policy, result)])
    assert out["kept"].sum() == 1
    assert out.filter(~pl.col("kept"))["set_aside_by"].to_list() == ["jian_digital"]
