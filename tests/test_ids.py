"""USCC validation against vectors built by hand from GB 32100-2015."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kejin.ids import USCC_ALPHABET, check_uscc, normalize_uscc, uscc_check_char

# The example printed in the standard.
VALID = ["91350100M000100Y43"]


def test_standard_example_is_valid() -> None:
    r = check_uscc("91350100M000100Y43")
    assert r.valid and r.region_code == "350100" and r.reason_zh is None


def test_hand_computed_check_character() -> None:
    # 9·1+1·3+3·9+2·27+0·19+7·26+0·16+0·17+1·20+2·29+3·25+4·13+5·8+6·24+7·10+8·30+X(=29)·28
    # = 1786; 1786 mod 31 = 19; 31 − 19 = 12 → alphabet[12] = 'C'.
    assert uscc_check_char("9132070012345678X") == "C"
    assert check_uscc("9132070012345678XC").valid


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "empty"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100M000100Y44", "should be '3'"),
        ("91350100M000I00Y43", "I, O, S, V, Z"),
        ("91350100M000100Y4!", "not allowed"),
        ("B1350100M000100Y43", "registration authority"),
        ("9135A100M000100Y43", "6 digits"),
    ],
)
def test_invalid_codes_say_why(code: str, fragment: str) -> None:
    r = check_uscc(code)
    assert not r.valid
    assert fragment in (r.reason_en or "")
    assert r.reason_zh


def test_normalisation_of_full_width_case_and_spaces() -> None:
    r = check_uscc("\u3000９１３５０１００ｍ０００１００ｙ４３  ")
    assert r.valid and r.normalized == "91350100M000100Y43"
    assert check_uscc(" 91350100m000100y43\t").valid


@given(
    st.tuples(
        st.sampled_from("159Y"), st.text(alphabet=USCC_ALPHABET, min_size=16, max_size=16)
    ).map("".join)
)
def test_appending_the_check_char_always_validates(body: str) -> None:
    body = body[:2] + "320700" + body[8:]
    assert check_uscc(body + uscc_check_char(body)).valid


@given(
    st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17),
    st.integers(min_value=0, max_value=16),
    st.sampled_from(USCC_ALPHABET),
)
def test_any_single_substitution_is_detected(body: str, pos: int, ch: str) -> None:
    """Weights 3^i mod 31 are all non-zero mod the prime 31, so one changed character is caught."""
    body = "9" + body[1:2] + "320700" + body[8:]
    code = body + uscc_check_char(body)
    if (
        code[pos] == ch
        or (pos == 0 and ch not in "123456789ANY")
        or (2 <= pos < 8 and not ch.isdigit())
    ):
        return
    mutated = code[:pos] + ch + code[pos + 1 :]
    assert not check_uscc(mutated).valid


def test_normalize_is_idempotent() -> None:
    s = " ９１３５０１００ｍ０００１００ｙ４３ "
    assert normalize_uscc(normalize_uscc(s)) == normalize_uscc(s)


def test_cli_prints_json_lines_and_exit_status() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "kejin", "ids", "check", VALID[0]], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "kejin", "ids", "check", VALID[0], "91350100M000100Y44"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    lines = [json.loads(x) for x in bad.stdout.splitlines()]
    assert [x["valid"] for x in lines] == [True, False]
    assert lines[1]["reason"]["zh"] and lines[1]["reason"]["en"]
    assert lines[1]["region_code"] == "350100"
