"""What the fund desk adds to the service: per-user idempotency keys and the clause behind each
share of a claim."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kejin.access.rules import Principal
from kejin.errors import ValidationError
from kejin.fund.desk import KEY_MAX, command_key, share_clauses
from kejin.fund.scheme import load_scheme


def _p(uid: int) -> Principal:
    return Principal(user_id=uid, username=f"u{uid}", role="bank_officer", institution_id="B")


@given(
    st.integers(1, 2**31 - 1),
    st.integers(1, 2**31 - 1),
    st.text(
        alphabet=st.characters(
            min_codepoint=33, max_codepoint=0x9FFF, exclude_categories=("C", "Z")
        ),
        min_size=1,
        max_size=KEY_MAX,
    ),
)
def test_keys_are_namespaced_per_user_and_fit_the_column(a: int, b: int, key: str) -> None:
    ka, kb = command_key(_p(a), key), command_key(_p(b), key)
    assert len(ka) <= 80 and ka.endswith(key.strip())
    assert (ka == kb) == (a == b)


@pytest.mark.parametrize("key", ["", "   ", "x" * (KEY_MAX + 1), "a\nb"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ValidationError) as e:
        command_key(_p(1), key)
    assert e.value.problems[0].field == "key"


def _facts(guarantee: str, first: bool = False) -> dict:
    return {
        "guarantee_type": guarantee,
        "first_time_borrower": first,
        "qualifications": set(),
        "profits": [],
    }


def test_a_share_names_its_category_clause_and_any_bonus_that_held() -> None:
    s = load_scheme("anhui")
    credit = share_clauses(s, "direct", _facts("credit"))
    assert [c["article"][:7] for c in credit["pool"]] == ["补偿标准（一）", "补偿标准 首笔"]
    assert credit["pool"][1]["bonus"] == "bank → pool +0.05" == credit["bank"][1]["bonus"]
    mortgage = share_clauses(s, "direct", _facts("mortgage"))
    assert all("bonus" not in c for cs in mortgage.values() for c in cs)
    # A first loan earns the same bonus through its other condition, once.
    first = share_clauses(s, "direct", _facts("mortgage", first=True))
    assert len(first["pool"]) == 2


def test_a_category_cites_its_own_source() -> None:
    s = load_scheme("jiangsu_suke")
    out = share_clauses(s, "all", _facts("credit"))
    assert {c["document"] for cs in out.values() for c in cs} == {s.references[0].document}
    assert {c["article"] for cs in out.values() for c in cs} == {
        "风险补偿 本金损失省级70%、市（县）30%"
    }
    assert set(out) == {"province", "city", "bank"}
