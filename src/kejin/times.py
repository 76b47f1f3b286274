"""Timestamps as the platform's users read them: in their zone, without ISO's ``T`` or offset.

The database keeps naive UTC (:func:`kejin.access.audit.utcnow`); a page that printed it as stored
showed a clerk in Lianyungang a time eight hours behind their clock, in some places as
``2026-12-07T12:03:44.123456``. Every page (the ``when`` and ``day`` template filters) and every
Excel export (:class:`kejin.exports.Sheet`) goes through :func:`local`, so the zone is set once:
``KEJIN_TIMEZONE`` (default ``Asia/Shanghai``, docs/service.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from kejin.config import get_settings


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The configured zone (``KEJIN_TIMEZONE``)."""
    return _zone(get_settings().timezone)


def local(at: datetime) -> datetime:
    """``at`` (naive UTC as stored, or aware) as a naive time in the configured zone."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return aware.astimezone(zone()).replace(tzinfo=None)


def _parse(v: Any) -> datetime | date | None:
    if isinstance(v, datetime | date):
        return v
    if isinstance(v, str) and v:
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            return None
    return None


def when(v: Any, seconds: bool = False) -> str:
    """A timestamp as a page shows it: ``2026-12-07 20:03`` in the configured zone (``seconds``
    adds them, for the audit trail). A date stays a date; nothing shows as a dash; text that is
    no timestamp is shown as it is."""
    if v is None or v == "":
        return "—"
    at = _parse(v)
    if at is None:
        return str(v)
    if not isinstance(at, datetime):
        return at.isoformat()
    return local(at).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def day(v: Any) -> str:
    """The local calendar day of a timestamp (a time after 16:00 UTC is the next day in China)."""
    if v is None or v == "":
        return "—"
    at = _parse(v)
    if at is None:
        return str(v)
    return (local(at) if isinstance(at, datetime) else at).strftime("%Y-%m-%d")


def day_start_utc(d: date) -> datetime:
    """The first instant of local calendar day ``d``, as the naive UTC the database keeps: a
    filter by day means the day its reader lives in (the day the pages show), not UTC's."""
    return (
        datetime.combine(d, datetime.min.time(), tzinfo=zone()).astimezone(UTC).replace(tzinfo=None)
    )
