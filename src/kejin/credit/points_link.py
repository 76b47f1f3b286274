"""The seam to the innovation-points area, which is built separately.

Credit needs one thing from points: each firm's points per year (total, and its base and bonus
parts), and which indicator system produced it. It reads the points area's published results — ``points_runs`` (one scoring run:
system id and version, data year) and ``points_results`` (one row per firm and run, ``total``) —
taking, for the system of the most recent run, the latest run of each year.

When those tables are absent (points not installed or not migrated in this database),
:func:`points_frame` returns ``None`` and every caller records the explicit flag
``points_unavailable`` in its output: a decision never treats "no points area" as "zero points".
"""

from __future__ import annotations

import weakref

import polars as pl
from sqlalchemy import Connection, Engine, TextClause, bindparam, inspect, text

UNAVAILABLE = "points_unavailable"
#: The points area exists but has not scored this firm (no run yet, or the firm is new).
MISSING = "points_missing"

_SQL = """
SELECT r.uscc AS uscc, p.year AS year, r.total AS total, r.base AS base, r.bonus AS bonus,
       p.system_id || ':' || p.system_version AS system
FROM points_results r JOIN points_runs p ON p.id = r.run_id
WHERE p.id IN (
    SELECT MAX(id) FROM points_runs
    WHERE system_id = (SELECT system_id FROM points_runs ORDER BY id DESC LIMIT 1)
    GROUP BY year
)
"""

SCHEMA = {
    "uscc": pl.String,
    "year": pl.Int64,
    "total": pl.Float64,
    "base": pl.Float64,
    "bonus": pl.Float64,
    "system": pl.String,
}


def points_frame(conn: Connection, usccs: list[str] | None = None) -> pl.DataFrame | None:
    """Points per firm and year (``uscc, year, total, base, bonus, system``), or ``None`` if absent.

    ``base`` and ``bonus`` are the components the points system publishes (indicator points
    and list/qualification bonus); the tech-firm model learns from all three."""
    if not present(conn):
        return None
    sql = _SQL
    params = {}
    stmt = text(sql)
    if usccs is not None:
        stmt = text(sql + " AND r.uscc IN :usccs").bindparams(bindparam("usccs", expanding=True))
        params["usccs"] = list(usccs)
    rows = conn.execute(stmt, params).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=SCHEMA, orient="row").sort(
        ["uscc", "year"]
    )


#: Engines whose database has been seen to hold the points tables. Only a positive answer is
#: kept (tables are not dropped under a running service; a later migration that adds them is
#: seen on the next call): two catalogue queries saved on every credit decision.
_PRESENT: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def present(conn: Connection) -> bool:
    """Whether the points area's tables exist in this database."""
    if _PRESENT.get(conn.engine):
        return True
    insp = inspect(conn)
    found = insp.has_table("points_runs") and insp.has_table("points_results")
    if found:
        _PRESENT[conn.engine] = True
    return found


def one_firm(uscc: str) -> TextClause:
    """:func:`points_frame`'s query for one firm, columns in :data:`SCHEMA` order (for a caller
    that sends it with other statements in one round trip)."""
    return text(_SQL + " AND r.uscc = :uscc").bindparams(uscc=uscc)


def latest(pts: pl.DataFrame) -> pl.DataFrame:
    """Each firm's row of its most recent scored year: the points a decision grades by."""
    return pts.sort("uscc", "year").group_by("uscc", maintain_order=True).last()
