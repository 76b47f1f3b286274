"""Behaviour of the areas plugged into the service: whitelist push → bank visibility, diff, pages."""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import load_workbook
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

from .conftest import login
from .world import F3, F4, NAMES


def add_version(engine: Engine, members: dict[str, str], excluded: dict[str, str]) -> int:
    """A whitelist version with the given members (uscc → tier) and excluded firms (uscc → rule)."""
    with transaction(engine) as s:
        v = WhitelistVersion(
            as_of=date(2026, 11, 1),
            rules_id="default",
            rules_version="1.0.0",
            rules_sha256="0" * 64,
            score_run_id=None,
            members=len(members),
            entries_sha256="0" * 64,
            created_at=datetime(2026, 11, 1, 8),
            created_by="gov",
        )
        s.add(v)
        s.flush()
        for uscc, tier in members.items():
            s.add(_entry(v.id, uscc, "member", tier, "qual_hnte", ""))
        for uscc, rule in excluded.items():
            s.add(_entry(v.id, uscc, "excluded", None, "qual_hnte", rule))
        return v.id


def _entry(vid: int, uscc: str, status: str, tier: str | None, entry: str, excl: str):  # type: ignore[no-untyped-def]
    return WhitelistEntry(
        version_id=vid,
        uscc=uscc,
        name=NAMES[uscc],
        stage="growth",
        industry_chain=None,
        region_code="320703",
        status=status,
        tier=tier,
        tier_rule=None,
        points=61.5 if status == "member" else None,
        list_id=None,
        entry_rules=entry,
        exclusion_rules=excl,
    )


def test_whitelist_push_makes_members_visible_to_that_bank_only(app, engine: Engine, world) -> None:
    gov, bank, rev = login(app, "gov"), login(app, "bank"), login(app, "rev")
    # F4 has no relation to BKA: refused before any push
    assert bank.get(f"/api/firms/{F4}").status_code == 403
    v1 = add_version(engine, {F4: "base"}, {})
    assert rev.post("/api/whitelist/push/BKA").status_code == 403  # reviewer is not the maker
    r = gov.post("/api/whitelist/push/BKA")
    assert r.status_code == 200, r.text
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == (
        "uscc",
        "name",
        "tier",
        "stage",
        "industry_chain",
        "points",
        "list_id",
        "entry_rules",
    )
    assert [row[0] for row in rows[1:]] == [F4]

    prof = bank.get(f"/api/firms/{F4}")
    assert prof.status_code == 200 and prof.json()["level"] == "whitelist"
    mine = bank.get("/api/whitelist/pushed/BKA").json()
    assert mine["version"] == v1 and [i["uscc"] for i in mine["items"]] == [F4]
    assert "exclusion_rules" not in mine["items"][0]  # only the push fields leave the platform
    assert bank.get("/api/whitelist/pushed/BKB").status_code == 403
    page = bank.get("/bank/whitelist")
    assert page.status_code == 200 and F4 in page.text and NAMES[F4] in page.text

    # v2 excludes F4 and admits F3; once pushed, F4 is no longer visible to BKA
    v2 = add_version(engine, {F3: "selected"}, {F4: "dishonest"})
    d = gov.get(f"/api/whitelist/diff?a={v1}&b={v2}").json()
    by = {c["uscc"]: c for c in d["changes"]}
    assert by[F4]["change"] == "removed" and by[F4]["reason"] == "exclusion:dishonest"
    assert by[F3]["change"] == "added"
    html = gov.get(f"/whitelist?a={v1}&b={v2}").text
    assert "失信被执行人" in html  # the reason in words, not a rule id
    assert gov.post("/api/whitelist/push/BKA").status_code == 200
    assert bank.get(f"/api/firms/{F4}").status_code == 403
    assert bank.get("/api/whitelist/pushed/BKA").json()["version"] == v2
    ids = [f["uscc"] for f in bank.get("/api/firms").json()["items"]]
    assert F3 in ids and F4 not in ids
