"""Database fixtures shared by every area's tests.

``engine`` runs each test on SQLite and, when ``KEJIN_TEST_DATABASE_URL`` is set, on PostgreSQL
too. Each pytest process gets its own PostgreSQL database (created from the server in that URL and
dropped afterwards), so parallel runs never see each other's rows; each test starts from empty
tables on a schema built by the real Alembic migrations.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import kejin.models  # noqa: F401  (registers every table on Base.metadata)
from kejin.db import Base, make_engine, normalize_url
from kejin.migrate import upgrade
from kejin.web.catalogs import compile_catalogs

#: The tests run with no region configured (every library template active), so each area's
#: tests exercise the templates themselves; tests/regions and the walk tests configure one.
os.environ["KEJIN_REGION"] = ""

PG_ENV = "KEJIN_TEST_DATABASE_URL"
PG_SKIP_REASON = f"PostgreSQL tests skipped: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test) to run them"


def pytest_configure(config: pytest.Config) -> None:
    """Tests run from the source tree: compile the page texts' catalogs as an install would, so
    a ``.po`` edited since (or a fresh checkout, the ``.mo`` being untracked) is what pages read."""
    compile_catalogs()


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(PG_ENV)
    return f"kejin: PostgreSQL at {url}" if url else f"kejin: {PG_SKIP_REASON}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test copies it (cheaper than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private, migrated PostgreSQL database for this test process."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP_REASON)
    server = make_url(normalize_url(url))
    name = f"kejin_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = server.set(database=name).render_as_string(hide_password=False)
    eng = make_engine(test_url)
    upgrade(eng)
    eng.dispose()
    try:
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_pg(eng: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated database: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        db = tmp_path / "kejin.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        eng = make_engine(f"sqlite:///{db}")
    else:
        eng = make_engine(request.getfixturevalue("pg_url"))
        _truncate_pg(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """SQLite only, for tests whose subject is not the database."""
    db = tmp_path / "kejin.db"
    shutil.copy(sqlite_template, db)
    eng = make_engine(f"sqlite:///{db}")
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """PostgreSQL only, for behaviour SQLite does not have (e.g. the read-audit writer)."""
    eng = make_engine(pg_url)
    _truncate_pg(eng)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _fresh_totals() -> Iterator[None]:
    """Each test starts from empty tables, so no list total remembered by an earlier test on the
    same database URL may answer for it (:mod:`kejin.totals`)."""
    from kejin import totals

    totals.forget()
    yield
