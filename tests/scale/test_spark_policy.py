"""Policy evaluation and microsimulation on Spark equal the local engine's to the fen, row for row;
a row the local engine refuses is refused on Spark with the same message."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine

from kejin.errors import KejinError
from kejin.policy import library
from kejin.policy.engine import evaluate
from kejin.policy.entities import registry_frames
from kejin.policy.scale import evaluate_on_spark
from kejin.policy.simulate import simulate
from kejin.synth.service import build_region


def test_every_registry_policy_pays_the_same_on_spark_and_simulates_alike(
    spark_session, sqlite_engine: Engine
) -> None:
    build_region(sqlite_engine, 500, seed=21)
    frames = registry_frames(sqlite_engine)
    checked = 0
    for policy in library.all_policies():
        if policy.entity not in frames:
            continue
        rows = frames[policy.entity]
        try:
            local, _ = evaluate(policy, rows)
        except KejinError as e:  # refused locally: refused alike on Spark
            with pytest.raises(type(e)) as on_spark:
                evaluate_on_spark(policy, rows, master="local[2]")
            assert str(on_spark.value) == str(e)
            continue
        on_spark = evaluate_on_spark(policy, rows, master="local[2]")
        assert_frame_equal(on_spark, local)  # money exact (Decimal), flags, every step
        assert on_spark["amount"].sum() == local["amount"].sum()
        checked += 1 if local["amount"].sum() > 0 else 0
    assert checked >= 2  # policies that pay something on this region

    p = library.get("jian_ip_pledge")
    reform = {"firm_cap": Decimal("20000")}
    a = simulate(p, frames["loan_year"], frames["firm"], reform)
    b = simulate(p, frames["loan_year"], frames["firm"], reform, engine="spark", master="local[2]")
    assert a.totals == b.totals and a.totals["baseline_cost"] > a.totals["reform_cost"] > 0
    for dim in a.by:  # ties in cost come out of a group-by in any order: compared by key
        assert_frame_equal(a.by[dim].sort(dim), b.by[dim].sort(dim), check_column_order=False)


def test_a_row_outside_a_parameters_validity_is_refused_on_spark_as_locally(spark_session) -> None:
    p = library.get("karamay_interest")
    rows = pl.DataFrame({i.name: [] for i in p.inputs}).clear()
    with pytest.raises(KejinError) as local:
        evaluate(p, _old_row(p), file="loans.csv")
    with pytest.raises(KejinError) as on_spark:
        evaluate_on_spark(p, _old_row(p), file="loans.csv", master="local[2]")
    assert type(on_spark.value) is type(local.value)
    assert on_spark.value.problems == local.value.problems and rows.height == 0


def _old_row(p: object) -> pl.DataFrame:
    """One loan-year from long before the policy's parameters begin."""
    import datetime as dt

    from kejin.policy.engine import MONEY

    values = {}
    for i in p.inputs:  # type: ignore[attr-defined]
        dtype = i.dtype() if isinstance(i.dtype, type) else i.dtype
        if dtype == pl.String:
            values[i.name] = ["91650200MA78X0000X"]
        elif dtype == pl.Date:
            values[i.name] = [dt.date(1990, 6, 30)]
        elif dtype == pl.Boolean:
            values[i.name] = [True]
        elif dtype == MONEY or isinstance(dtype, pl.Decimal):
            values[i.name] = [Decimal("1000000.00")]
        else:
            values[i.name] = [1990]
    return pl.DataFrame(values).with_columns(
        pl.col(i.name).cast(i.dtype)  # type: ignore[attr-defined]
        for i in p.inputs  # type: ignore[attr-defined]
    )
