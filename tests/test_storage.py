"""Migrations and the exact storage of money on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, select

from kejin.db import Base, transaction
from kejin.frames import read_frame, write_frame
from kejin.migrate import current_heads, downgrade, script_heads, upgrade
from kejin.registry.tables import AnnualIndicator, DataPull, Enterprise


def test_migrations_reach_every_head_and_match_the_models(engine: Engine) -> None:
    assert current_heads(engine) == script_heads()
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert cols == {c.name for c in table.columns}, name


def test_downgrade_to_base_then_up_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert current_heads(engine) == set()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_heads(engine) == script_heads()


def _firm(session) -> None:  # type: ignore[no-untyped-def]
    session.add(
        Enterprise(
            uscc="91350100M000100Y43",
            name="测试",
            region_code="350100",
            industry_code="C3562",
            industry_chain="information",
            founded_on=dt.date(2015, 1, 1),
            stage="growth",
        )
    )


money = st.decimals(
    min_value=Decimal("-99999999999999.99"),
    max_value=Decimal("99999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(revenue=money.map(abs), profit=money)
def test_money_round_trips_exactly_through_orm_and_frames(
    engine: Engine, revenue: Decimal, profit: Decimal
) -> None:
    with transaction(engine) as s:
        s.query(AnnualIndicator).delete()
        s.query(Enterprise).delete()
        _firm(s)
        s.flush()
        s.add(AnnualIndicator(uscc="91350100M000100Y43", year=2024, revenue=revenue, profit=profit))
    with transaction(engine) as s:
        row = s.execute(select(AnnualIndicator)).scalar_one()
        assert (row.revenue, row.profit) == (revenue, profit)
    with engine.connect() as conn:
        for few in (False, True):
            df = read_frame(conn, AnnualIndicator.__table__, ["revenue", "profit"], few=few)
            assert df.row(0) == (revenue, profit)


def test_money_with_too_many_decimals_is_refused_not_rounded(engine: Engine) -> None:
    with pytest.raises(Exception, match="decimal places"), transaction(engine) as s:
        _firm(s)
        s.flush()
        s.add(AnnualIndicator(uscc="91350100M000100Y43", year=2024, revenue=Decimal("1.005")))
    with engine.connect() as conn:
        assert read_frame(conn, Enterprise.__table__).height == 0


def test_bulk_write_and_read_agree(engine: Engine) -> None:
    pulls = pl.DataFrame(
        {
            "id": [7],
            "kind": ["enterprises"],
            "department": ["amr"],
            "pulled_at": [dt.datetime(2025, 3, 1, 8, 30, 15, 123456)],
            "file_name": [None],
            "file_sha256": [None],
            "loaded_at": [dt.datetime(2025, 3, 1, 9)],
            "rows_inserted": [2],
            "rows_updated": [0],
            "rows_unchanged": [0],
        }
    )
    firms = pl.DataFrame(
        {
            "uscc": ["91350100M000100Y43", "9132070012345678XC"],
            "name": ["甲", "乙"],
            "region_code": ["350100", "320700"],
            "industry_code": ["C3562", "I65"],
            "industry_chain": ["information", None],
            "founded_on": [dt.date(2001, 2, 3), dt.date(2020, 12, 31)],
            "stage": ["mature", "startup"],
            "staff": [12, None],
            "listing_board": ["none", "star"],
            "dishonest": [False, True],
            "deregistered": [False, False],
            "abnormal_operation": [True, False],
            "pull_id": [7, 7],
        }
    )
    with engine.begin() as conn:
        write_frame(conn, DataPull.__table__, pulls)
        write_frame(conn, Enterprise.__table__, firms)
    with engine.connect() as conn:
        for few in (False, True):  # COPY for many rows, typed rows for one firm's handful
            back = read_frame(conn, Enterprise.__table__, few=few).sort("uscc")
            assert back.equals(firms.sort("uscc").select(back.columns))
            assert read_frame(conn, DataPull.__table__, few=few).equals(
                pulls.select(read_frame(conn, DataPull.__table__).columns)
            )
            one = read_frame(
                conn, Enterprise.__table__, where="uscc = '9132070012345678XC'", few=few
            )
            assert one.equals(firms.filter(pl.col("uscc") == "9132070012345678XC"))
            none = read_frame(conn, Enterprise.__table__, where="uscc = 'X'", few=few)
            assert none.height == 0 and none.schema == back.schema


def test_bulk_write_is_rolled_back_with_its_transaction(engine: Engine) -> None:
    firms = pl.DataFrame(
        {
            "uscc": ["91350100M000100Y43"],
            "name": ["甲"],
            "region_code": ["350100"],
            "industry_code": ["C3562"],
            "founded_on": [dt.date(2001, 2, 3)],
            "stage": ["mature"],
            "listing_board": ["none"],
            "dishonest": [False],
            "deregistered": [False],
            "abnormal_operation": [False],
        }
    )
    with pytest.raises(RuntimeError), engine.begin() as conn:
        write_frame(conn, Enterprise.__table__, firms)
        raise RuntimeError("fail after the write")
    with engine.connect() as conn:
        assert read_frame(conn, Enterprise.__table__).height == 0
