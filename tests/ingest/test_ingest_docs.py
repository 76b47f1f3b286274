"""The import guide lists every kind and every importable column."""

from __future__ import annotations

from pathlib import Path

from kejin.ingest.kinds import KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"


def test_every_kind_and_column_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, spec in KINDS.items():
        assert f"### `{name}`" in text, name
        section = text.split(f"### `{name}`", 1)[1].split("###", 1)[0]
        for col in spec.column_names:
            assert f"| `{col}` |" in section, (name, col)
