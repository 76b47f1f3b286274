"""The bulk load path: constraints still hold when SQLite checks them once at the end."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from kejin.db import transaction
from kejin.frames import bulk_transaction, read_frame
from kejin.registry.tables import DataPull, Enterprise

PULL = pl.DataFrame(
    {
        "id": [1],
        "kind": ["test"],
        "department": ["amr"],
        "pulled_at": [dt.datetime(2026, 1, 1)],
        "loaded_at": [dt.datetime(2026, 1, 1)],
        "rows_inserted": [1],
        "rows_updated": [0],
        "rows_unchanged": [0],
    }
)


def firm(**change: object) -> pl.DataFrame:
    row = {
        "uscc": "91350100M000100Y43",
        "name": "测试",
        "region_code": "320700",
        "industry_code": "C3562",
        "industry_chain": "equipment",
        "founded_on": dt.date(2015, 1, 1),
        "stage": "growth",
        "staff": 10,
        "listing_board": "none",
        "dishonest": False,
        "deregistered": False,
        "abnormal_operation": False,
        "pull_id": 1,
    } | change
    return pl.DataFrame([row])


@pytest.mark.parametrize(
    "bad",
    [{"staff": -1}, {"stage": "teenage"}, {"pull_id": 99}],
    ids=["check", "enum", "foreign-key"],
)
def test_a_violating_bulk_load_is_refused_and_leaves_nothing(engine: Engine, bad: dict) -> None:
    with pytest.raises(Exception) as err, bulk_transaction(engine) as loader:
        loader.write(DataPull.__table__, PULL)
        loader.write(Enterprise.__table__, firm(**bad))
    if engine.dialect.name == "sqlite":
        assert "violate" in str(err.value) or "reference missing" in str(err.value)
    with engine.connect() as conn:
        assert read_frame(conn, DataPull.__table__).height == 0
        assert read_frame(conn, Enterprise.__table__).height == 0


def test_enforcement_is_back_on_after_a_bulk_load(engine: Engine) -> None:
    with bulk_transaction(engine) as loader:
        loader.write(DataPull.__table__, PULL)
        loader.write(Enterprise.__table__, firm())
    with pytest.raises(Exception), transaction(engine) as s:  # noqa: B017 (driver-specific)
        s.add(
            Enterprise(
                uscc="9132070012345678XC",
                name="乙",
                region_code="320700",
                industry_code="I6510",
                founded_on=dt.date(2020, 1, 1),
                stage="seed",
                staff=-5,
                pull_id=404,
            )
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Enterprise)).scalar_one() == 1
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA ignore_check_constraints").scalar_one() == 0
