"""Invariants over random valid files: importing twice changes nothing; row order does not matter."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_fixtures import FIRM_A, FIRM_B, make_uscc, snapshot
from sqlalchemy import Engine, text

from kejin.frames import read_frame, write_frame
from kejin.ingest.service import import_file
from kejin.registry.tables import INDICATOR_FIELDS, AnnualIndicator, Enterprise
from kejin.vocab import TAX_CREDIT_GRADES

FIRMS = [FIRM_A, FIRM_B, make_uscc("320724", 9)]
money = st.decimals(min_value=0, max_value=Decimal("1e12"), places=2, allow_nan=False)
count = st.integers(min_value=0, max_value=100_000)


@st.composite
def indicator_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(FIRMS), st.integers(2000, 2030)),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    rows = []
    for uscc, year in keys:
        rows.append(
            {
                "uscc": uscc,
                "year": year,
                "revenue": draw(st.none() | money),
                "profit": draw(
                    st.none()
                    | st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2)
                ),
                "rd_staff": draw(st.none() | count),
                "invention_patents": draw(st.none() | count),
                "tax_credit_grade": draw(st.none() | st.sampled_from(list(TAX_CREDIT_GRADES))),
            }
        )
    return rows


def _write(rows: list[dict[str, object]], path: Path) -> Path:
    frame = pl.DataFrame(
        [{k: (None if v is None else str(v)) for k, v in r.items()} for r in rows],
        schema={k: pl.String for k in rows[0]},
    )
    frame.write_csv(path)
    return path


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM annual_indicators"))
        conn.execute(text("DELETE FROM enterprises"))
        conn.execute(text("DELETE FROM data_pulls"))
        firms = pl.DataFrame(
            {
                "uscc": FIRMS,
                "name": ["甲", "乙", "丙"],
                "region_code": ["320700"] * 3,
                "industry_code": ["C3985"] * 3,
                "founded_on": [date(2010, 1, 1)] * 3,
                "stage": ["growth"] * 3,
                "listing_board": ["none"] * 3,
                "dishonest": [False] * 3,
                "deregistered": [False] * 3,
                "abnormal_operation": [False] * 3,
            }
        )
        write_frame(conn, Enterprise.__table__, firms)


def _values(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        cols = ["uscc", "year", *INDICATOR_FIELDS]
        return read_frame(conn, AnnualIndicator.__table__, cols).sort(["uscc", "year"])


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=indicator_rows(), seed=st.randoms(use_true_random=False))
def test_import_twice_is_a_noop_and_order_does_not_matter(
    engine: Engine, tmp_path: Path, rows: list[dict[str, object]], seed
) -> None:  # type: ignore[no-untyped-def]
    _reset(engine)
    first = import_file(engine, "indicators", _write(rows, tmp_path / "a.csv"))
    assert first.inserted == len(rows)
    state = snapshot(engine)
    values = _values(engine)
    again = import_file(engine, "indicators", _write(rows, tmp_path / "a.csv"))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(rows))
    assert snapshot(engine) == state

    shuffled = list(rows)
    seed.shuffle(shuffled)
    _reset(engine)
    import_file(engine, "indicators", _write(shuffled, tmp_path / "b.csv"))
    assert _values(engine).equals(values)
    # the shuffled file against the first import's data is also a no-op
    third = import_file(engine, "indicators", _write(rows, tmp_path / "a.csv"))
    assert (third.inserted, third.updated) == (0, 0)
