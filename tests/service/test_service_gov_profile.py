"""The government's firm profile: points with grade and rank, whitelist tier, loans with their
status, this month's warnings and the banks' credit decisions, all by label."""

from __future__ import annotations

import re

from kejin.whitelist.rules import load_rules

from .conftest import login
from .creditworld import build_decisions
from .govkit import add_ranking
from .test_service_gov_warnings import _book
from .world import F1


def _text(html: str, anchor: str) -> str:
    part = html.split(f'id="{anchor}"')[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part.split("</table>")[0].split("<h2")[0]))


def test_the_profile_holds_points_tier_loans_warnings_and_decisions(app, world, engine) -> None:
    add_ranking(engine)
    _book(engine)
    build_decisions(engine)
    gov = login(app, "gov")
    page = gov.get(f"/firms/{F1}")
    assert page.status_code == 200
    html = page.text
    assert "87.50" in _text(html, "rec-points") and ">A<" in html.split('id="rec-grade"')[1][:10]
    assert load_rules("default")[0].tiers[0].zh in _text(html, "rec-tier")
    loans = _text(html, "rec-loans")
    assert "W-A1" in loans and "BKA-L1" in loans and "甲银行连云港分行" in loans and "正常" in loans
    assert "BKA " not in loans and "normal" not in loans and "credit" not in loans
    assert "列入经营异常名录" in _text(html, "rec-warnings") and "2026-05" in _text(
        html, "rec-warnings"
    )
    decisions = _text(html, "rec-decisions")
    assert (
        "甲银行连云港分行" in decisions
        and "科创积分贷" in decisions
        and "points_credit" not in decisions
    )
    api = gov.get(f"/api/firms/{F1}/record").json()
    assert api["points"]["grade"] == "A" and api["tier"]["tier"] == "core"
    assert {x["code"] for x in api["warnings"]["reasons"]} == {"warning.abnormal_operation"}
    assert len(api["decisions"]) == 1 and api["loans"]["total"] == 2
    # a bank reads none of this here (its own pages go through consent)
    assert login(app, "bank").get(f"/api/firms/{F1}/record").status_code == 403
    assert 'id="rec-title"' not in login(app, "bank").get(f"/firms/{F1}").text
