"""The uploaded file's name becomes a file in a private directory: it must never leave it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kejin.ingest.upload import safe_name


@given(st.text(max_size=300))
def test_any_client_name_stays_a_plain_file_name(name: str) -> None:
    out = safe_name(name)
    assert out and len(out) <= 120
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert out not in (".", "..") and not out.startswith(".")


def test_ordinary_names_are_kept_and_paths_are_cut() -> None:
    assert safe_name("企业名录（2026）.xlsx") == "企业名录（2026）.xlsx"
    assert safe_name("C:\\Users\\clerk\\loans.csv") == "loans.csv"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name(None) == "upload.csv"
