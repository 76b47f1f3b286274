"""The seam to the innovation-points area, which is built separately.

Credit needs one thing from points: each firm's points total per year (and the system version
that produced it). The points area publishes it as::

    kejin.points.credit_link.points_frame(conn, usccs: list[str] | None) -> pl.DataFrame
        columns: uscc (str), year (int), total (float), system (str)

When that module is not installed (or its tables are missing), :func:`points_frame` returns
``None`` and every caller records the explicit flag ``points_unavailable`` in its output: a
decision never treats "no points area" as "zero points".
"""

from __future__ import annotations

import importlib

import polars as pl
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

UNAVAILABLE = "points_unavailable"


def points_frame(conn: Connection, usccs: list[str] | None = None) -> pl.DataFrame | None:
    """Points per firm and year from the points area, or ``None`` if that area is absent."""
    try:
        link = importlib.import_module("kejin.points.credit_link")
    except ModuleNotFoundError:
        return None
    try:
        return link.points_frame(conn, usccs)
    except SQLAlchemyError:
        # The module exists but its tables were not migrated in this database.
        conn.rollback()
        return None
