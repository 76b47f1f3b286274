"""The fund demo leaves a pool a bank can use and says what it did in sentences (issue 16 item 5).

After ``make demo`` the pool stood at leverage 10.05 / 10 — every bank's next enrolment refused —
and the demo printed a dict of counters ("enrol refused: leverage": 8214).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from tests.people import add_people

import kejin.fund.routes  # noqa: F401  (registers the fund rules the desk checks)
from kejin.access.service import named_principal
from kejin.db import transaction
from kejin.fund import service as svc
from kejin.fund.demo import HEADROOM, run_demo, story
from kejin.synth.service import build_region


def test_the_demo_leaves_the_pool_open_to_new_loans_and_tells_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    # A small pool over a small region: it fills to its limit and its payouts push it over.
    build_region(sqlite_engine, firms=400, seed=7)  # the region first: then its officers
    add_people(
        sqlite_engine, ("gov9", "gov_admin", None, None), ("rev9", "gov_reviewer", None, None)
    )
    with transaction(sqlite_engine) as s:
        gov, rev = named_principal(s, "gov9"), named_principal(s, "rev9")
    res = run_demo(
        sqlite_engine, "anhui", Decimal("2000000"), tmp_path, gov, rev, firms=400, seed=7
    )
    assert res["outcome"].get("enrol refused: leverage", 0) > 0  # the pool did fill up
    assert res["leverage_before_replenishment"] > res["leverage_limit"]  # payouts pushed it over
    assert res["replenished"] > 0 and res["replenished"] % 10000 == 0
    summ = svc.summary(sqlite_engine, res["pool"], _last_day(sqlite_engine))
    assert not summ["over_leverage"]
    assert summ["leverage"] <= summ["leverage_limit"] * HEADROOM
    assert res["audit_ok"]
    lines = story(res)
    zh = "\n".join(z for z, _ in lines)
    en = "\n".join(e for _, e in lines)
    # Sentences, not counters: no raw outcome keys, no dict braces, no field codes.
    for text in (zh, en):
        assert "enrol refused" not in text and "{" not in text and "leverage:" not in text
    assert "放大上限" in zh and "可受理新贷款" in zh and "补充资金" in zh
    assert "leverage limit" in en and "open to new loans" in en and "replenished" in en
    assert all(re.search(r"[。.]$", z) and re.search(r"\.$", e) for z, e in lines)
    # Run again: the banks had room again, so more loans came in; the pool is again left open.
    again = run_demo(
        sqlite_engine, "anhui", Decimal("2000000"), tmp_path, gov, rev, firms=400, seed=7
    )
    assert not again["over_leverage"] and again["audit_ok"]
    assert again["outcome"].get("claims paid", 0) >= res["outcome"].get("claims paid", 0)


def _last_day(engine: Engine):  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    from sqlalchemy import func, select

    from kejin.lending.tables import LoanStatus

    with engine.connect() as conn:
        last: date = conn.execute(select(func.max(LoanStatus.month))).scalar_one()
    return (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
