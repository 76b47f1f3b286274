"""Timestamps as the users read them (kejin.times): their zone, minutes, no ISO 'T' or offset,
the same on the pages and in the Excel exports; the zone set once (KEJIN_TIMEZONE)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from kejin import times
from kejin.config import get_settings
from kejin.exports import Book

STORED = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))


def test_a_stored_utc_time_shows_in_china() -> None:
    at = datetime(2026, 12, 7, 17, 3, 44, 123456)  # naive UTC, as stored
    assert times.when(at) == "2026-12-08 01:03"
    assert times.when(at, seconds=True) == "2026-12-08 01:03:44"
    assert times.day(at) == "2026-12-08"  # the next day in China
    assert times.when(at.isoformat()) == "2026-12-08 01:03"  # a view that carried it as text
    assert times.when(at.replace(tzinfo=UTC)) == "2026-12-08 01:03"
    assert (
        times.when(date(2026, 12, 7)) == "2026-12-07"
        and times.day(date(2026, 12, 7)) == "2026-12-07"
    )
    assert times.when(None) == "—" and times.when("") == "—" and times.when("v3") == "v3"


@given(STORED)
def test_shown_time_is_eight_hours_on_and_plain(at: datetime) -> None:
    shown = times.when(at)
    assert "T" not in shown and "+" not in shown and len(shown) == 16
    assert datetime.strptime(shown, "%Y-%m-%d %H:%M") == (at + timedelta(hours=8)).replace(
        second=0, microsecond=0
    )  # China keeps no summer time since 1991
    assert times.day(at) == shown[:10]


def test_the_zone_is_a_setting(monkeypatch) -> None:
    monkeypatch.setenv("KEJIN_TIMEZONE", "Europe/London")
    get_settings.cache_clear()
    try:
        assert times.when(datetime(2026, 7, 1, 12, 0)) == "2026-07-01 13:00"
    finally:
        monkeypatch.delenv("KEJIN_TIMEZONE")
        get_settings.cache_clear()
    assert times.when(datetime(2026, 7, 1, 12, 0)) == "2026-07-01 20:00"


def test_excel_cells_carry_the_same_local_time() -> None:
    book = Book()
    ws = book.sheet("t")
    ws.row(["at", datetime(2026, 12, 7, 17, 3)])
    cells = [c.value for c in next(load_workbook(io.BytesIO(book.to_bytes())).active.iter_rows())]
    assert cells == ["at", datetime(2026, 12, 8, 1, 3)]


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_a_local_day_filter_holds_exactly_the_times_shown_on_that_day(at: datetime) -> None:
    """The audit log's since/until are the days its times are shown on: a stored (UTC) time lies
    within [day start, next day start) of exactly the local day the page shows for it."""
    shown = date.fromisoformat(times.day(at))
    assert times.day_start_utc(shown) <= at < times.day_start_utc(shown + timedelta(days=1))
    assert times.day_start_utc(date(2026, 12, 8)) == datetime(2026, 12, 7, 16, 0)
