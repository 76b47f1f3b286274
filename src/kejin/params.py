"""Bounded integer parameters shared by every router, so that no client integer reaches a query
unchecked.

An unbounded ``offset`` let ``?offset=32589158477190044731`` reach the database driver, which
cannot hold it: a 500 instead of a refusal. Declared here once, a bound is the same everywhere
and out-of-range input is a 422 naming the field (``tests/service/test_service_int_bounds.py``
sends a huge integer to every integer parameter of every route).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

#: Largest row offset of any list (far beyond any table's rows; well inside int32).
MAX_OFFSET = 10_000_000

#: Rows to skip in a list: 0 … 10⁷.
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="跳过的行数 / rows to skip (0–10,000,000)")
]
