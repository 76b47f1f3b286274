"""The hand-computed portfolios in ``cases/``: every indicator, overall and by each breakdown."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from stats_case import CASES, case_month, frames, read_case

from kejin.stats import kernels
from kejin.stats.definitions import monthly


def _cases() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for by, want in doc["expected"].items():
            out.append(pytest.param(doc, None if by == "all" else by, want, id=f"{path.stem}-{by}"))
    return out


@pytest.mark.parametrize(("doc", "by", "want"), _cases())
def test_case(doc: dict[str, Any], by: str | None, want: dict[str, Any]) -> None:
    m = kernels.measures(frames(doc), [case_month(doc)], by)
    got = {r["group"]: r["indicators"] for r in kernels.indicators(m, monthly())}
    groups = {kernels.TOTAL: want} if by is None else want
    for group, figures in groups.items():
        assert group in got, f"group {group} missing: {sorted(got)}"
        for ind, value in figures.items():
            have = got[group][ind]
            # money compares as written, cents included ("900000.00", not 9E+5)
            assert (str(have) if isinstance(value, str) else have) == value, f"{by}/{group}/{ind}"


def test_whitelist_based_population() -> None:
    doc = read_case("june_2025.yaml")
    m = kernels.measures(frames(doc), [case_month(doc)], population="whitelist")
    (row,) = kernels.indicators(m, monthly())
    for ind, value in doc["expected_whitelist"].items():
        have = row["indicators"][ind]
        assert (str(have) if isinstance(value, str) else have) == value, ind


def test_without_the_months_lpr_there_is_no_spread() -> None:
    doc = read_case("june_2025.yaml")
    doc = {**doc, "lpr": [r for r in doc["lpr"] if str(r["month"]) != "2025-06-01"]}
    m = kernels.measures(frames(doc), [case_month(doc)])
    (row,) = kernels.indicators(m, monthly())
    assert row["indicators"]["new_loan_lpr_spread"] is None
    assert row["indicators"]["new_loan_avg_rate"] == doc["expected"]["all"]["new_loan_avg_rate"]


def test_overall_lists_every_indicator() -> None:
    doc = read_case("june_2025.yaml")
    m = kernels.measures(frames(doc), [case_month(doc)])
    (row,) = kernels.indicators(m, monthly())
    assert (
        set(doc["expected"]["all"])
        == set(row["indicators"])
        == {i.id for i in monthly().indicators}
    )


@pytest.mark.parametrize("name", ["june_2025.yaml", "lpr_terms.yaml"])
def test_flag_disagreements_name_the_wrong_flags(name: str) -> None:
    doc = read_case(name)
    got = kernels.flag_disagreements(frames(doc), case_month(doc))
    want = doc["disagreements"]
    assert got.select("contract_no", "reported", "computed").to_dicts() == want
