"""Behaviour of the service end to end through the API: levels of detail, consent, tokens."""

from __future__ import annotations

from kejin.ids import uscc_check_char

from .conftest import bearer, login
from .world import F1, F2, F3, F4


def test_bank_sees_levels_by_consent_and_push(app) -> None:
    bank = login(app, "bank")
    full = bank.get(f"/api/firms/{F1}").json()
    assert full["level"] == "full" and full["indicators"][0]["invention_patents"] == 7
    wl = bank.get(f"/api/firms/{F2}").json()
    assert wl["level"] == "whitelist"
    assert "indicators" not in wl or wl["indicators"] is None
    assert wl["founded_on"] is None and wl["qualifications"] == ["tsme"]
    assert bank.get(f"/api/firms/{F3}").status_code == 403
    assert bank.get(f"/api/firms/{F4}").status_code == 403
    listed = {i["uscc"] for i in bank.get("/api/firms").json()["items"]}
    assert listed == {F1, F2}


def test_enterprise_sees_only_itself(app) -> None:
    ent = login(app, "ent")
    assert ent.get(f"/api/firms/{F1}").json()["level"] == "full"
    assert ent.get(f"/api/firms/{F2}").status_code == 403
    assert [i["uscc"] for i in ent.get("/api/firms").json()["items"]] == [F1]


def test_bank_sees_only_its_own_loans(app) -> None:
    bank = login(app, "bank")
    r = bank.get("/api/institutions/BKA/loans").json()
    assert [i["contract_no"] for i in r["items"]] == ["BKA-L1"]
    assert r["items"][0]["balance"] == "2500000.00"
    assert bank.get("/api/institutions/BKB/loans").status_code == 403


def test_errors_are_json_with_problem_fields(app) -> None:
    gov = login(app, "gov")
    r = gov.get("/api/firms", params={"stage": "teen"})
    assert r.status_code == 422
    body = r.json()
    assert body["problems"][0]["field"] == "stage" and body["problems"][0]["value"] == "teen"
    assert body["reason_zh"] and body["reason_en"]
    r = gov.get("/api/firms", params={"limit": "many"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "limit"
    r = gov.get("/api/firms/NOPE")
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "uscc"
    absent = "91320700MA1B2C3D4"
    absent += uscc_check_char(absent)  # a well-formed code no firm holds
    r = gov.get(f"/api/firms/{absent}")
    assert r.status_code == 404 and r.json()["problems"][0]["field"] == "uscc"


def test_anonymous_is_refused_with_401(app) -> None:
    from fastapi.testclient import TestClient

    c = TestClient(app)
    r = c.get(f"/api/firms/{F1}")
    assert r.status_code == 401 and r.json()["error"] == "Unauthenticated"


def test_token_scopes_limit_what_a_bank_system_can_do(app, world) -> None:
    t = bearer(app, world.secrets["t1"])
    assert t.get(f"/api/firms/{F1}").status_code == 200
    assert t.get("/api/consents").status_code == 403


def test_more_requests_than_connections_queue_instead_of_deadlocking(engine, world) -> None:
    """60 concurrent profile reads on a 2-connection pool: all answered, none timed out."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from kejin.api import create_app
    from kejin.db import make_engine

    from .conftest import live_server

    small = make_engine(
        engine.url.render_as_string(hide_password=False),
        pool_size=2,
        max_overflow=0,
        pool_timeout=5,
    )
    try:
        with live_server(create_app(small, session_key="k")) as url:
            headers = {"Authorization": f"Bearer {world.secrets['t1']}"}

            def get(i: int) -> int:
                return httpx.get(
                    f"{url}/api/firms/{(F1, F2)[i % 2]}", headers=headers, timeout=60
                ).status_code

            with ThreadPoolExecutor(60) as ex:
                codes = list(ex.map(get, range(60)))
        assert codes == [200] * 60
    finally:
        small.dispose()


def test_an_invalid_uscc_is_refused_with_its_reason(app) -> None:
    """Like import and synth, the API names what is wrong with the code (GB 32100), for every
    firm route, rather than answering 'no such firm'."""
    gov = login(app, "gov")
    bad = F1[:-1] + ("0" if F1[-1] != "0" else "1")
    for path in (f"/api/firms/{bad}", f"/api/firms/{bad}/points", f"/api/firms/{bad}/policies"):
        r = gov.get(path)
        assert r.status_code == 422, path
        (p,) = r.json()["problems"]
        assert p["field"] == "uscc" and p["value"] == bad
        assert "校验码" in p["reason_zh"] and "check character" in p["reason_en"]
    assert gov.get(f"/api/firms/{F1}").status_code == 200


def test_a_profile_says_which_titles_are_current_expiring_lapsed_or_not_yet_valid(app) -> None:
    """The dates alone let an officer take a lapsed title for a current one: each row carries
    its status as of today, in the API and on the page."""
    from datetime import date, timedelta

    from kejin.db import transaction
    from kejin.registry.tables import Qualification

    today = date.today()
    spans = {"GR-OLD": (-900, -1), "ZJ-SOON": (-300, 30), "XJR-NEXT": (10, 900)}
    with transaction(app.state.engine) as s:
        for no, (a, b) in spans.items():
            s.add(
                Qualification(
                    uscc=F1, kind="srdi_sme", certificate_no=no, source="miit",
                    valid_from=today + timedelta(days=a), valid_to=today + timedelta(days=b),
                )
            )  # fmt: skip
    bank = login(app, "bank")
    quals = {
        q["certificate_no"]: q["status"]
        for q in bank.get(f"/api/firms/{F1}").json()["qualifications"]
    }
    assert quals == {
        "GR2024001": "valid", "GR-OLD": "expired", "ZJ-SOON": "expiring", "XJR-NEXT": "pending",
    }  # fmt: skip
    page = bank.get(f"/firms/{F1}").text
    assert page.count("已过期") == 1 and page.count("90天内到期") == 1 and page.count("未生效") == 1
    assert "投资方" in page


def test_a_missing_page_keeps_the_signed_in_users_navigation(app) -> None:
    """An unknown path runs no gate; the error page still knows who is signed in."""
    bank = login(app, "bank")
    r = bank.get("/no-such-page")
    assert r.status_code == 404 and 'href="/bank/credit"' in r.text and "退出" in r.text
    from fastapi.testclient import TestClient

    anon = TestClient(app).get("/no-such-page")
    assert anon.status_code == 404 and 'href="/bank/credit"' not in anon.text
