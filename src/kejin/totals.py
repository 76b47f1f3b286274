"""Totals of long lists, counted once per interval instead of on every page.

A bank that sees 100,000 firms pages through them twenty at a time; a page costs a few index
probes (:func:`kejin.access.rules.firm_scope`), but the exact total behind its pager costs a pass
over the whole visible set, ten to fifty times the page itself. Under a working day's load that
count, repeated on every page, was what saturated the service (docs/service.md, "Load"). So a
total is counted exactly, then reused for ``KEJIN_LIST_TOTAL_TTL`` seconds (default 30) by the
same worker for the same caller scope and filters, and the answer says when it was counted. The
items of a page are never cached: a firm whose consent was revoked leaves the page at once, only
the number in the pager may lag by the interval.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.config import get_settings

#: Distinct (scope, filters) kept per worker; the least recently used go first.
MAX_KEYS = 4096

_lock = threading.Lock()
_cache: OrderedDict[tuple[Hashable, ...], tuple[float, int, datetime]] = OrderedDict()


def counted(
    session: Session, key: tuple[Hashable, ...], count: Select[Any]
) -> tuple[int, datetime]:
    """The total ``count`` selects and when it was counted, from this worker's recent count of
    the same ``key`` (caller scope and filters) when one is younger than the interval."""
    ttl = get_settings().list_total_ttl
    bind = session.get_bind()
    full = (id(bind), str(bind.url), *key)  # tests open many databases in one process
    now = time.monotonic()
    if ttl > 0:
        with _lock:
            hit = _cache.get(full)
            if hit is not None and hit[0] > now:
                _cache.move_to_end(full)
                return hit[1], hit[2]
    total = int(session.scalar(count) or 0)
    at = utcnow()
    if ttl > 0:
        with _lock:
            _cache[full] = (now + ttl, total, at)
            _cache.move_to_end(full)
            while len(_cache) > MAX_KEYS:
                _cache.popitem(last=False)
    return total, at


def forget() -> None:
    """Drop every remembered total (tests; an operator after a bulk load)."""
    with _lock:
        _cache.clear()
