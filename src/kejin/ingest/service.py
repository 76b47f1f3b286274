"""``import_file``: read, validate and write one department file as a single unit of work."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from kejin.db import joined
from kejin.errors import Problem, ValidationError
from kejin.ingest.kinds import KINDS, find_kind
from kejin.ingest.read import read_file
from kejin.ingest.upsert import Outcome, upsert
from kejin.ingest.validate import check_headers, validate
from kejin.vocab import DEPARTMENTS, lookup


def resolve(kind: str, source: str | None) -> tuple[str, str]:
    """Check the kind and department names; returns (kind, department id)."""
    spec = find_kind(kind)
    if spec is None:
        raise ValidationError(
            f"未知数据类别：{kind}；可选：{'、'.join(KINDS)}",
            f"unknown kind {kind!r}; one of {', '.join(KINDS)}",
        )
    dept = spec.default_department if source is None else lookup(DEPARTMENTS, source)
    if dept is None:
        raise ValidationError(
            f"未知部门：{source}；可选：{'、'.join(f'{k}({t.zh})' for k, t in DEPARTMENTS.items())}",
            f"unknown department {source!r}; one of {', '.join(DEPARTMENTS)}",
        )
    return spec.name, dept


def import_file(
    engine: Engine,
    kind: str,
    path: Path,
    source: str | None = None,
    dry_run: bool = False,
    pulled_at: datetime | None = None,
    step: Callable[[str], None] | None = None,
    rows_read: Callable[[int], None] | None = None,
    session: Session | None = None,
) -> Outcome:
    """All or nothing: any bad row raises :class:`ValidationError` and the transaction rolls back.

    ``step`` hears each phase's name and ``rows_read`` the progress of a slow (Excel) read, for a
    progress display. ``session``: written in the caller's transaction, beside the audit record
    it writes (:func:`kejin.db.joined`); without, in a transaction of its own.
    """
    name, dept = resolve(kind, source)
    spec = KINDS[name]
    say = step or (lambda _msg: None)
    say("读取 / reading")
    raw = read_file(path, rows_read, lambda headers: check_headers(path.name, headers, spec))
    try:
        with joined(engine, session) as unit:
            conn = unit.connection()
            say("校验 / validating")
            checked = validate(raw, spec, conn, dept)
            say("写入 / writing")
            return upsert(conn, checked, dept, pulled_at, dry_run)
    except (DBAPIError, sqlite3.DatabaseError, psycopg.Error) as e:
        # A constraint the checks above do not mirror: still all-or-nothing, still no traceback.
        orig = getattr(e, "orig", None) or e
        raise ValidationError(
            "数据库拒绝写入，未写入任何数据",
            "the database refused the write; nothing was written",
            problems=[
                Problem("数据库约束冲突", f"database error: {str(orig).strip()}", file=path.name)
            ],
        ) from None
