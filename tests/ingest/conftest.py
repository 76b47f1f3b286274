"""Fixtures for the ingest tests: a database with every example loaded, and a file writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_fixtures import EXAMPLE_FILES, EXAMPLES
from sqlalchemy import Engine

from kejin.ingest.service import import_file


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    """The engine with every example imported."""
    for kind, name in EXAMPLE_FILES.items():
        import_file(engine, kind, EXAMPLES / name)
    return engine


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write text (UTF-8 unless told otherwise) to a file in the test's directory."""

    def _write(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return _write
