"""A bank's firm list: pages probe, totals hash, and the two never disagree on who is visible.

The list was the service's bottleneck under the mixed load (docs/service.md, "Load"): every page
sorted the bank's whole visible set (consents ∪ pushes) twice, once for the page and once for its
total. A page now costs offset + limit probes and a total is remembered for an interval
(:mod:`kejin.totals`). What must hold: the pages, walked to the end, are exactly the visible firms;
the total counts exactly them when counted; a revoked firm leaves the page at once, only the
remembered number may lag, and never longer than the interval.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from kejin import totals
from kejin.access import service
from kejin.access.rules import add_visibility, remove_visibility
from kejin.access.tables import Consent, User
from kejin.config import get_settings
from kejin.db import transaction
from kejin.registry import profiles
from kejin.registry.tables import Enterprise

from . import world as world_mod
from .conftest import bearer, login

EXTRA = [world_mod.uscc(100 + i) for i in range(10)]
_pushed: set[str] = set()


def _pushed_source(institution_id: str, now: datetime):  # type: ignore[no-untyped-def]
    return select(Enterprise.uscc).where(
        Enterprise.uscc.in_(sorted(_pushed if institution_id == "BKA" else set()))
    )


@pytest.fixture
def ttl(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the interval for one test (settings are read once per process)."""

    def set_to(seconds: float) -> None:
        monkeypatch.setenv("KEJIN_LIST_TOTAL_TTL", str(seconds))
        get_settings.cache_clear()

    yield set_to
    get_settings.cache_clear()


def _extra_firms(engine: Engine) -> None:
    with transaction(engine) as s:
        for i, code in enumerate(EXTRA):
            s.add(
                Enterprise(
                    uscc=code, name=f"样本{i}科技有限公司", region_code="320703",
                    industry_code="3985", industry_chain="equipment", founded_on=date(2018, 1, 1),
                    stage="growth", staff=10, listing_board="none", dishonest=False,
                    deregistered=False, abnormal_operation=False,
                )
            )  # fmt: skip


# A firm's relation to bank BKA: no consent, live, revoked, expired; pushed or not.
STATES = st.lists(
    st.tuples(st.sampled_from(["none", "live", "revoked", "expired"]), st.booleans()),
    min_size=len(EXTRA),
    max_size=len(EXTRA),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(states=STATES, limit=st.integers(1, 4))
def test_pages_and_total_are_exactly_the_visible_firms(
    engine: Engine, world: world_mod.World, ttl, states, limit: int
) -> None:
    ttl(0)
    if not _extra_ready(engine):
        _extra_firms(engine)
    add_visibility("test_totals", _pushed_source)
    try:
        now = datetime.now().replace(microsecond=0)
        _pushed.clear()
        with transaction(engine) as s:
            s.execute(delete(Consent).where(Consent.uscc.in_(EXTRA)))
            granter = s.scalar(select(User.id).where(User.username == "ent"))
            for code, (consent, pushed) in zip(EXTRA, states, strict=True):
                if pushed:
                    _pushed.add(code)
                if consent == "none":
                    continue
                granted = now - timedelta(days=30)
                s.add(
                    Consent(
                        uscc=code, institution_id="BKA", purpose="credit_assessment",
                        scope="profile", granted_by=granter, granted_at=granted,
                        expires_at=now - timedelta(days=1) if consent == "expired"
                        else now + timedelta(days=30),
                        revoked_at=now - timedelta(days=2) if consent == "revoked" else None,
                    )
                )  # fmt: skip
        # The world's own: F1 consented to BKA, F2 pushed to BKA by the world's source.
        expected = {world_mod.F1, world_mod.F2} | {
            c
            for c, (consent, pushed) in zip(EXTRA, states, strict=True)
            if pushed or consent == "live"
        }
        with transaction(engine) as s:
            bank = service.principal_of(s.get(User, world.users["bank"]))
            seen: list[str] = []
            offset = 0
            while True:
                page = profiles.search_firms(s, bank, limit=limit, offset=offset)
                assert page["total"] == len(expected)
                seen += [it["uscc"] for it in page["items"]]
                if len(page["items"]) < limit:
                    break
                offset += limit
        assert seen == sorted(expected)  # each once, in key order
    finally:
        remove_visibility("test_totals")


def _extra_ready(engine: Engine) -> bool:
    with engine.connect() as c:
        return c.scalar(select(Enterprise.uscc).where(Enterprise.uscc == EXTRA[0])) is not None


def test_a_revoked_firm_leaves_the_page_at_once_and_the_total_within_the_interval(
    engine: Engine, world: world_mod.World, app, ttl, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl(30)
    clock = [1000.0]
    monkeypatch.setattr(totals.time, "monotonic", lambda: clock[0])
    bank = bearer(app, world.secrets["t1"])
    first = bank.get("/api/firms").json()
    assert first["total"] == 2 and {i["uscc"] for i in first["items"]} == {
        world_mod.F1,
        world_mod.F2,
    }

    ent = login(app, "ent")
    r = ent.post(f"/api/consents/{world.consents['c1']}/revoke")
    assert r.status_code == 200, r.text

    clock[0] += 29  # within the interval: the page is live, the number remembered and dated
    again = bank.get("/api/firms").json()
    assert [i["uscc"] for i in again["items"]] == [world_mod.F2]
    assert again["total"] == 2 and again["total_counted_at"] == first["total_counted_at"]

    clock[0] += 2  # past it: counted anew
    later = bank.get("/api/firms").json()
    assert later["total"] == 1 and later["total_counted_at"] > first["total_counted_at"]


def test_totals_are_remembered_per_caller_and_filters(
    engine: Engine, world: world_mod.World, app, ttl
) -> None:
    """Another bank, or the same bank with a filter, never receives a total counted for others."""
    ttl(30)
    a = bearer(app, world.secrets["t1"])
    b = bearer(app, world.secrets["t2"])
    assert a.get("/api/firms").json()["total"] == 2  # F1 consented, F2 pushed
    assert b.get("/api/firms").json()["total"] == 1  # F3 consented
    assert a.get("/api/firms", params={"chain": "biomedicine"}).json()["total"] == 1  # F2
    assert a.get("/api/firms", params={"q": "不存在"}).json()["total"] == 0
