"""One "as of" rule: the dashboard, the firm list and ``kejin summary`` count titles on the
same data date, and say which date that is."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete

from kejin.access.audit import utcnow
from kejin.asof import data_date
from kejin.db import transaction
from kejin.registry.tables import Qualification
from kejin.synth.service import region_summary
from kejin.synth.tables import SynthRun

from .conftest import login
from .world import F1, F2


def test_every_count_uses_the_data_date_and_says_so(app, world, engine) -> None:
    day = utcnow().date() - timedelta(days=200)
    with transaction(engine) as s:
        s.execute(delete(Qualification).where(Qualification.kind == "hnte"))
        # F1's title was valid on the data date and lapsed since; F2's starts after it
        s.add(Qualification(uscc=F1, kind="hnte", certificate_no="Q1", source="most",
                            valid_from=day - timedelta(days=300), valid_to=day + timedelta(days=30)))  # fmt: skip
        s.add(Qualification(uscc=F2, kind="hnte", certificate_no="Q2", source="most",
                            valid_from=day + timedelta(days=60), valid_to=day + timedelta(days=900)))  # fmt: skip
        s.add(SynthRun(seed=1, firms=4, as_of=day.isoformat(), generator_version="t"))
    with engine.connect() as conn:
        assert data_date(conn) == day
    gov = login(app, "gov")
    overview = gov.get("/api/stats/region").json()
    assert overview["as_of"] == day.isoformat() and overview["by_qualification"]["hnte"] == 1
    listed = gov.get("/api/firms", params={"qualification": "hnte"}).json()
    assert listed["total"] == 1 and listed["items"][0]["uscc"] == F1
    assert region_summary(engine)["firms"]["by_qualification"]["hnte"] == 1
    page = gov.get("/dashboard").text
    assert f"数据截至 {day}" in page and "除另有注明外" in page
    en = gov.get("/dashboard?lang=en").text
    assert f"Data as of {day}" in en and "Unless stated otherwise" in en


def test_without_data_the_data_date_is_today(engine) -> None:
    with engine.connect() as conn:
        assert data_date(conn) == date.today()


def test_a_refresh_with_nothing_changed_makes_no_version_and_says_so(app, world, engine) -> None:
    import re

    from .govkit import add_ranking

    add_ranking(engine)
    gov = login(app, "gov")
    page = gov.get("/whitelist")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    first = gov.post("/whitelist/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert first.status_code == 303 and "notice=refreshed_" in first.headers["location"]
    again = gov.post("/whitelist/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 303 and "notice=unchanged_" in again.headers["location"]
    shown = gov.get(again.headers["location"]).text
    assert "名单没有变化，未生成新版本" in shown
    assert shown.count("<tr><td>v") == 2  # the fixture's version and the first refresh only


def test_a_profile_judges_titles_on_the_data_date(app, world, engine) -> None:
    """A title that ends 30 days after the data date (and so lapsed by today) is expiring on
    the profile, as the dashboard counts it valid; one that ends before it is expired."""
    day = utcnow().date() - timedelta(days=200)
    with transaction(engine) as s:
        s.execute(delete(Qualification).where(Qualification.uscc == F1))
        s.add(Qualification(uscc=F1, kind="hnte", certificate_no="Q-SOON", source="most",
                            valid_from=day - timedelta(days=300), valid_to=day + timedelta(days=30)))  # fmt: skip
        s.add(Qualification(uscc=F1, kind="srdi_sme", certificate_no="Q-OLD", source="miit",
                            valid_from=day - timedelta(days=900), valid_to=day - timedelta(days=1)))  # fmt: skip
        s.add(SynthRun(seed=1, firms=4, as_of=day.isoformat(), generator_version="t"))
    gov = login(app, "gov")
    quals = {q["certificate_no"]: q["status"] for q in gov.get(f"/api/firms/{F1}").json()["qualifications"]}  # fmt: skip
    assert quals == {"Q-SOON": "expiring", "Q-OLD": "expired"}
    page = gov.get(f"/firms/{F1}?lang=zh").text
    assert page.count("90天内到期") == 1 and page.count("已过期") == 1
