"""The matching kernel against a per-pair reference written in plain Python.

The reference reads each rule from the structure it was generated from (never from the text the
kernel parses), so a wrong parse, a wrong bit or a wrong mask shows up as a difference.
"""

from __future__ import annotations

import operator
from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.errors import ValidationError
from kejin.matching import kernels
from kejin.vocab import GUARANTEE_KINDS

PRICING = kernels.Pricing(lpr=0.03, rate_cap=0.12, as_of=date(2025, 6, 1))
OPS = {">=": operator.ge, "<": operator.lt, "<=": operator.le, ">": operator.gt}
STAGES = ["seed", "startup", "growth", "mature"]
KINDS = list(GUARANTEE_KINDS)

number_rule = st.tuples(
    st.sampled_from(["revenue_2y", "points"]), st.sampled_from(list(OPS)), st.integers(0, 100)
).map(lambda t: ("num", *t))
flag_rule = st.tuples(st.sampled_from(["hnte", "dishonest"]), st.booleans()).map(
    lambda t: ("flag", *t)
)
choice_rule = st.tuples(
    st.lists(st.sampled_from(STAGES), min_size=1, max_size=3, unique=True), st.booleans()
).map(lambda t: ("choice", "stage", *t))
rule = st.one_of(number_rule, flag_rule, choice_rule)


def text(r: tuple) -> str:
    if r[0] == "num":
        return f"{r[1]} {r[2]} {r[3]}"
    if r[0] == "flag":
        return r[1] if r[2] else f"not {r[1]}"
    return f"stage {'in' if r[3] else 'not in'} {','.join(r[2])}"


def holds(r: tuple, firm: dict[str, Any]) -> bool:
    if r[0] == "num":
        v = firm[r[1]]
        return v is not None and OPS[r[2]](v, r[3])
    if r[0] == "flag":
        return bool(firm[r[1]]) == r[2]
    return (firm["stage"] in r[2]) == r[3]


firm_st = st.fixed_dictionaries(
    {
        "revenue_2y": st.one_of(st.none(), st.integers(0, 100).map(float)),
        "points": st.one_of(st.none(), st.integers(0, 100).map(float)),
        "hnte": st.booleans(),
        "dishonest": st.booleans(),
        "stage": st.sampled_from(STAGES),
    }
)
product_st = st.fixed_dictionaries(
    {
        "rules": st.lists(rule, max_size=4),
        "min_amount": st.integers(1, 50),
        "span": st.integers(0, 50),
        "min_term": st.integers(1, 12),
        "term_span": st.integers(0, 24),
        "spread_min_bp": st.integers(-50, 100),
        "band": st.integers(0, 200),
        "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True),
    }
)
need_st = st.fixed_dictionaries(
    {
        "firm": st.integers(0, 2),
        "amount": st.integers(1, 120),
        "term": st.integers(1, 40),
        "max_rate": st.one_of(st.none(), st.integers(1, 60).map(lambda b: b / 1000)),
        "offers": st.lists(st.sampled_from(KINDS), max_size=3, unique=True),
    }
)


def frames(firms: list[dict], products: list[dict], needs: list[dict]) -> tuple[pl.DataFrame, ...]:
    f = pl.DataFrame(
        [{"uscc": f"F{i}", **x} for i, x in enumerate(firms)],
        schema={"uscc": pl.String, "revenue_2y": pl.Float64, "points": pl.Float64,
                "hnte": pl.Boolean, "dishonest": pl.Boolean, "stage": pl.String},
    )  # fmt: skip
    p = pl.DataFrame(
        [{"product_id": f"P{j}", "institution_id": "B", "kind": "loan",
          "min_amount": float(x["min_amount"]), "max_amount": float(x["min_amount"] + x["span"]),
          "min_term_months": x["min_term"], "max_term_months": x["min_term"] + x["term_span"],
          "spread_min_bp": x["spread_min_bp"], "spread_max_bp": x["spread_min_bp"] + x["band"],
          "guarantee_kinds": x["kinds"], "eligibility": ";".join(text(r) for r in x["rules"]),
          "credit_model": None} for j, x in enumerate(products)],
        schema_overrides={"credit_model": pl.String, "guarantee_kinds": pl.List(pl.String)},
    )  # fmt: skip
    n = pl.DataFrame(
        [{"need_id": k, "uscc": f"F{x['firm'] % len(firms)}", "amount": float(x["amount"]),
          "term_months": x["term"], "max_rate": x["max_rate"], "guarantee_offered": x["offers"]}
         for k, x in enumerate(needs)],
        schema={"need_id": pl.Int64, "uscc": pl.String, "amount": pl.Float64, "term_months": pl.Int64,
                "max_rate": pl.Float64, "guarantee_offered": pl.List(pl.String)},
    )  # fmt: skip
    return f, p, n


def reference(
    firms: list[dict], products: list[dict], needs: list[dict]
) -> dict[tuple[int, str], set[str]]:
    """Failed-condition codes of every (need, product) pair, one pair at a time."""
    out = {}
    for k, nd in enumerate(needs):
        firm = firms[nd["firm"] % len(firms)]
        for j, pr in enumerate(products):
            codes = {f"rule:{text(r)}" for r in pr["rules"] if not holds(r, firm)}
            if not pr["min_amount"] <= nd["amount"] <= pr["min_amount"] + pr["span"]:
                codes.add("amount")
            if not pr["min_term"] <= nd["term"] <= pr["min_term"] + pr["term_span"]:
                codes.add("term")
            low = PRICING.lpr + pr["spread_min_bp"] / 10_000
            if nd["max_rate"] is not None and low > nd["max_rate"] + 1e-12:
                codes.add("rate")
            if "credit" not in pr["kinds"] and not set(pr["kinds"]) & set(nd["offers"]):
                codes.add("guarantee")
            out[(k, f"P{j}")] = codes
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(firm_st, min_size=1, max_size=3),
    st.lists(product_st, min_size=1, max_size=4),
    st.lists(need_st, min_size=1, max_size=4),
)
def test_eligible_iff_no_reason_and_reasons_match_the_reference(firms, products, needs) -> None:  # type: ignore[no-untyped-def]
    f, p, n = frames(firms, products, needs)
    rules = kernels.compile_products(p)
    pairs = kernels.match(n, f, p, PRICING, rules=rules)
    why = kernels.reasons(pairs, rules)
    got: dict[tuple[int, str], set[str]] = {}
    for r in why.iter_rows(named=True):
        got.setdefault((r["need_id"], r["product_id"]), set()).add(r["code"])
    ref = reference(firms, products, needs)
    for r in pairs.iter_rows(named=True):
        key = (r["need_id"], r["product_id"])
        assert r["eligible"] == (key not in got), key
        assert got.get(key, set()) == ref[key], key
        assert (r["rank"] is None) == (not r["eligible"])
    ranks = pairs.filter(pl.col("eligible")).group_by("need_id").agg(pl.col("rank").sort())
    for row in ranks.iter_rows(named=True):
        assert row["rank"] == list(range(1, len(row["rank"]) + 1))


def test_more_than_64_rules_use_more_words() -> None:
    firms = [
        {"revenue_2y": 50.0, "points": 10.0, "hnte": True, "dishonest": False, "stage": "seed"}
    ]
    products = [{"rules": [("num", "revenue_2y", ">=", v) for v in range(70)], "min_amount": 1, "span": 10,
                 "min_term": 1, "term_span": 10, "spread_min_bp": 0, "band": 0, "kinds": ["credit"]}]  # fmt: skip
    needs = [{"firm": 0, "amount": 5, "term": 5, "max_rate": None, "offers": []}]
    f, p, n = frames(firms, products, needs)
    rules = kernels.compile_products(p)
    assert rules.words == 2
    why = kernels.reasons(kernels.match(n, f, p, PRICING, rules=rules), rules)
    assert sorted(why["code"].to_list()) == sorted(f"rule:revenue_2y >= {v}" for v in range(51, 70))


def test_reason_reads_as_a_sentence() -> None:
    firms = [
        {"revenue_2y": 5e6, "points": None, "hnte": False, "dishonest": False, "stage": "seed"}
    ]
    f, p, n = frames(firms, [{"rules": [], "min_amount": 1, "span": 1, "min_term": 1, "term_span": 1,
                              "spread_min_bp": 0, "band": 0, "kinds": ["credit"]}],
                     [{"firm": 0, "amount": 1, "term": 1, "max_rate": None, "offers": []}])  # fmt: skip
    p = p.with_columns(pl.lit("revenue_2y >= 10000000; hnte").alias("eligibility"))
    rules = kernels.compile_products(p)
    why = kernels.reasons(kernels.match(n, f, p, PRICING, rules=rules), rules)
    assert set(why["reason_zh"]) == {"近两年营业收入低于 1,000 万元", "不属于高新技术企业"}
    assert "revenue in the last two years below 10M CNY" in set(why["reason_en"])


def test_unknown_field_in_a_rule_is_refused() -> None:
    p = pl.DataFrame({"product_id": ["P"], "eligibility": ["turnover >= 1; hnte"]})
    with pytest.raises(ValidationError) as e:
        kernels.compile_products(p)
    assert e.value.problems[0].value == "turnover >= 1"


def test_prospects_are_whitelisted_never_borrowed_and_fitting() -> None:
    f = pl.DataFrame({"uscc": ["A", "B", "C", "D"], "hnte": [True, True, True, False],
                      "whitelisted": [True, True, False, True], "never_borrowed": [True, False, True, True]})  # fmt: skip
    p = pl.DataFrame({"product_id": ["P"], "eligibility": ["hnte"]})
    assert kernels.prospects(f, p).to_dicts() == [{"uscc": "A", "product_id": "P"}]


def test_a_rule_written_twice_is_one_condition() -> None:
    """Its bit was summed twice and carried into the next rule's bit (hypothesis found it)."""
    firms = [{"revenue_2y": None, "points": 5.0, "hnte": True, "dishonest": False, "stage": "seed"}]
    twice = ("num", "revenue_2y", ">=", 0)
    products = [{"rules": [twice, twice], "min_amount": 1, "span": 1, "min_term": 1, "term_span": 1,
                 "spread_min_bp": 0, "band": 0, "kinds": ["credit"]}]  # fmt: skip
    f, p, n = frames(
        firms, products, [{"firm": 0, "amount": 1, "term": 1, "max_rate": None, "offers": []}]
    )
    rules = kernels.compile_products(p)
    pairs = kernels.match(n, f, p, PRICING, rules=rules)
    assert not pairs["eligible"][0]
    assert kernels.reasons(pairs, rules)["code"].to_list() == ["rule:revenue_2y >= 0"]
