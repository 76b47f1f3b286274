"""Behaviour of the areas plugged into the service: whitelist push → bank visibility, diff, pages."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

from .conftest import login
from .world import F1, F2, F3, F4, NAMES


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


def test_a_pushed_list_is_shown_a_screen_at_a_time(
    app, engine: Engine, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region's list runs to tens of thousands: the page pages it, the API slices it, and
    both say how many members there are in all."""
    from kejin.whitelist import pages

    gov, bank = login(app, "gov"), login(app, "bank")
    add_version(engine, {F1: "base", F2: "base", F3: "selected"}, {})
    assert gov.post("/api/whitelist/push/BKA").status_code == 200
    whole = bank.get("/api/whitelist/pushed/BKA").json()
    assert whole["total"] == 3 and [i["uscc"] for i in whole["items"]] == sorted([F1, F2, F3])
    part = bank.get("/api/whitelist/pushed/BKA", params={"limit": 1, "offset": 1}).json()
    assert part["total"] == 3 and [i["uscc"] for i in part["items"]] == [sorted([F1, F2, F3])[1]]
    assert bank.get("/api/whitelist/pushed/BKA", params={"limit": 0}).status_code == 422
    monkeypatch.setattr(pages, "WL_PAGE", 2)
    first, second = bank.get("/bank/whitelist").text, bank.get("/bank/whitelist?page=2").text
    shown = [sum(f'href="/firms/{c}"' in html for c in (F1, F2, F3)) for html in (first, second)]
    assert shown == [2, 1]
    assert 'id="wl-pager"' in first and "1 / 2" in first and "2 / 2" in second
    assert "3</p>" in first  # the head counts every member, not the screen


def test_points_profile_for_the_firm_government_and_consented_banks(
    app, engine: Engine, world
) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "points"))
    from points_region import build_region

    from kejin.access.rules import Principal
    from kejin.access.service import grant_consent
    from kejin.points.service import score_run

    codes = build_region(engine, 60)
    score_run(engine, "most-v1")
    code = codes[5]
    gov, bank, ent = login(app, "gov"), login(app, "bank"), login(app, "ent")
    r = gov.get(f"/api/firms/{code}/points")
    assert r.status_code == 200, r.text
    prof = r.json()
    # the published total is the exact sum rounded half-up to 0.01 point
    assert sum(i["contribution"] for i in prof["indicators"]) == pytest.approx(
        prof["total"], abs=0.005 + 1e-9
    )
    assert all(
        0 <= i["peer_percentile"] <= 1
        for i in prof["indicators"]
        if i["peer_percentile"] is not None
    )
    assert ent.get(f"/api/firms/{code}/points").status_code == 403  # not its own firm
    assert bank.get(f"/api/firms/{code}/points").status_code == 403  # no consent
    firm = Principal(user_id=world.users["ent"], username="ent", role="enterprise_user", uscc=code)
    # the points detail is computed from the annual indicators: a consent opening the firm's
    # full data opens it, one of scope ``profile`` does not
    for scope in ("profile", "full"):
        with transaction(engine) as s:
            grant_consent(
                s, firm, uscc=code, institution_id="BKA", purpose="credit_assessment",
                scope=scope, expires_at=datetime.now() + timedelta(days=30),
            )  # fmt: skip
        if scope == "profile":
            r = bank.get(f"/api/firms/{code}/points")
            assert r.status_code == 403 and r.json()["problems"][0]["field"] == "consent"
    assert bank.get(f"/api/firms/{code}/points").json()["total"] == prof["total"]
    page = gov.get(f"/firms/{code}/points")
    assert page.status_code == 200
    assert "<svg" in page.text and "如何提升" in page.text and f"{prof['total']:.1f}" in page.text
    assert "How to raise" in gov.get(f"/firms/{code}/points?lang=en").text


def test_policies_for_the_enterprise_and_the_policy_centre(app, engine: Engine, world) -> None:
    from decimal import Decimal

    from kejin.policy.service import create_programme

    with transaction(engine) as s:
        create_programme(
            s, policy_id="karamay_interest", year=2026, budget=Decimal("5000000.00"),
            allocation="fcfs", by="gov",
        )  # fmt: skip
    ent, gov, bank = login(app, "ent"), login(app, "gov"), login(app, "bank")
    r = ent.get(f"/api/firms/{F1}/policies")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["uscc"] == F1 and out["matches"]
    eligible = [m for m in out["matches"] if m["status"] == "eligible"]
    assert Decimal(str(out["total"])) == sum(
        (Decimal(str(m["amount"])) for m in eligible), Decimal(0)
    )
    assert all(m["reason_zh"] for m in eligible)
    assert ent.get(f"/api/firms/{F4}/policies").status_code == 403
    assert bank.get(f"/api/firms/{F1}/policies").status_code == 403
    assert ent.get("/enterprise/policies").status_code == 200
    progs = gov.get("/api/policy/programmes").json()
    assert progs[0]["policy"] == "karamay_interest"
    assert Decimal(str(progs[0]["remaining"])) == Decimal("5000000.00")
    page = gov.get("/policies")
    assert page.status_code == 200 and "5,000,000.00" in page.text and "<svg" in page.text


def test_fund_pools_for_government_and_claims_for_their_bank_only(
    app, engine: Engine, world
) -> None:
    import sys
    from decimal import Decimal
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fund"))
    from fundkit import actor, bad_status, seed_loans

    from kejin.fund import service as svc

    contracts = seed_loans(engine, n=2, banks=("B1", "B2"))
    svc.create_pool(
        engine, "P1", "科技贷风险补偿资金池", "anhui", actor("m", date(2026, 1, 2)), "pool"
    )
    svc.deposit(engine, "P1", "pool", Decimal("5000000.00"), actor("m", date(2026, 1, 2)), "cap")
    for i, c in enumerate(contracts):
        svc.enrol(engine, "P1", c, actor("bank", date(2026, 1, 10)), f"e{i}")
    bad_status(engine, contracts[0], date(2026, 5, 1), Decimal("800000.00"))
    svc.file_claim(engine, "P1", contracts[0], actor("bank", date(2026, 5, 4)), "c0")

    gov, aud, bank = login(app, "gov"), login(app, "aud"), login(app, "bank")
    pools = gov.get("/api/fund/pools").json()
    assert [p["pool"] for p in pools] == ["P1"]
    assert Decimal(str(pools[0]["balance"])) == Decimal("5000000.00")
    assert sum(pools[0]["claims_by_status"].values()) == 1
    assert bank.get("/api/fund/pools").status_code == 403  # per-bank rates of others
    claims = aud.get("/api/fund/claims/B1").json() + aud.get("/api/fund/claims/B2").json()
    assert [c["contract_no"] for c in claims] == [contracts[0]]
    assert bank.get("/api/fund/claims/B1").status_code == 403
    assert bank.get("/api/fund/claims/BKA").json() == []
    page = gov.get("/fund")
    assert page.status_code == 200 and "科技贷风险补偿资金池" in page.text and "<svg" in page.text
    assert bank.get("/bank/claims").status_code == 200


def test_bank_requests_a_credit_decision_for_a_visible_firm_only(app, world) -> None:
    from .world import F2

    bank, gov = login(app, "bank"), login(app, "gov")
    r = bank.post(f"/api/firms/{F1}/credit-decisions?product=points_credit")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["uscc"] == F1 and d["decision_id"] > 0
    for c in ("eligible", "grade", "decision.credit_allowed", "decision.limit"):
        assert "value" in d[c] and all(x["code"] and x["zh"] for x in d[c]["reasons"])
    # pushed, not consented: the push shows the whitelist fields, not the data a decision reads
    r = bank.post(f"/api/firms/{F2}/credit-decisions")
    assert r.status_code == 403 and r.json()["problems"][0]["field"] == "consent"
    assert "credit_assessment" in r.json()["reason_en"]
    assert bank.post(f"/api/firms/{F4}/credit-decisions").status_code == 403
    assert gov.post(f"/api/firms/{F1}/credit-decisions").status_code == 403
    # the API takes bundled products by id only, never a file path
    assert bank.post(f"/api/firms/{F1}/credit-decisions?product=/tmp/x.toml").status_code == 422
    page = bank.post(f"/firms/{F1}/credit", data={"csrf_token": bank.headers["X-CSRF-Token"]})
    assert page.status_code == 200 and "授信决策" in page.text and "decision-table" in page.text
