"""The firm's policies page offers exactly what the firm can apply for (issue 16, items 1–2).

A programme was published for 2026 while the page computed eligibility on 2025: the firm read
"符合 … 3,483.33 元" and found nothing to apply for. The page now states eligibility in the years
a published programme pays for, and only that enters its total; a policy the platform cannot
compute from the registry cannot be made into a programme.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine

from kejin.db import transaction
from kejin.policy import service
from kejin.policy.operations import claim_year

from .conftest import login
from .policy_data import F1_AMOUNT, qualify


def _publish(app, year: int) -> str:  # type: ignore[no-untyped-def]
    gov, rev = login(app, "gov"), login(app, "rev")
    body = {"policy": "karamay_interest", "year": year, "budget": "100000", "allocation": "fcfs"}
    assert gov.post("/api/policy/programmes", json=body).status_code == 201
    pid = f"karamay_interest-{year}"
    assert rev.post(f"/api/policy/programmes/{pid}/publish").status_code == 200
    return pid


def _offer(html: str) -> tuple[Decimal, list[str], list[str]]:
    """The page's total, the entities it calls eligible, the entities it has an apply form for."""
    total = Decimal(re.search(r'id="policy-total">([\d,.]+)', html).group(1).replace(",", ""))  # type: ignore[union-attr]
    table = html.split('id="policy-table"')[1].split("</table>")[0]
    eligible = re.findall(r'<tr class="pol-eligible">.*?</td><td>\d{4}</td><td>([^<]+)</td>', table)
    open_ = (
        html.split('id="open-table"')[1].split("</table>")[0] if 'id="open-table"' in html else ""
    )
    forms = re.findall(
        r'data-entity="([^"]+)"[^>]*>(?:(?!</tr>).)*class="primary apply"', open_, re.S
    )
    return total, eligible, forms


def test_a_programme_of_another_year_is_not_announced_as_an_entitlement(
    app, engine: Engine, world
) -> None:
    """F1 qualifies on its 2025 loan year; only a 2026 programme is open: the page says nothing
    is open to it (before: "eligible 3,483.33" and an empty list of programmes)."""
    qualify(engine)
    _publish(app, 2026)
    page = login(app, "ent").get("/enterprise/policies")
    total, eligible, forms = _offer(page.text)
    assert (total, eligible, forms) == (Decimal("0"), [], [])
    assert "BKA-L1/2025" not in page.text.split('id="policy-table"')[1].split("</table>")[0]


def test_every_entitlement_the_page_states_has_its_apply_form_and_applying_works(
    app, engine: Engine, world
) -> None:
    qualify(engine)
    pid = _publish(app, 2025)
    ent = login(app, "ent")
    total, eligible, forms = _offer(ent.get("/enterprise/policies").text)
    assert eligible == ["BKA-L1/2025"] and forms == eligible and total == F1_AMOUNT
    r = ent.post(
        "/enterprise/policies/apply",
        data={"csrf_token": ent.headers["X-CSRF-Token"], "programme": pid, "entity": eligible[0]},
    )
    assert r.status_code == 200 and "已提交申请" in r.text


def test_before_any_programme_the_claim_year_is_shown_as_not_open(
    app, engine: Engine, world
) -> None:
    """No programme yet: the firm sees what it would qualify for in the claim year (the year a
    new programme defaults to), marked not open and outside the total."""
    qualify(engine)
    ent = login(app, "ent")
    page = ent.get("/enterprise/policies").text
    total, eligible, forms = _offer(page)
    assert (total, eligible, forms) == (Decimal("0"), [], [])
    if claim_year(date.today()) == 2025:
        assert 'class="pol-not_open"' in page and "尚未开放申报" in page
    # nothing is open: no apply form with an empty list of programmes, a sentence instead
    assert 'id="apply-form"' not in page and 'id="apply-programme"' not in page
    assert 'id="no-open"' in page and "目前没有向本企业开放申报的项目" in page
    en = ent.get("/enterprise/policies?lang=en").text
    assert 'id="apply-form"' not in en and "No programme is open to this firm now" in en
    gov = login(app, "gov").get("/policies").text
    assert f'id="create-year" size="6" value="{claim_year(date.today())}"' in gov


def test_a_policy_the_registry_cannot_compute_is_refused_with_the_reason(
    app, engine: Engine, world
) -> None:
    gov, rev = login(app, "gov"), login(app, "rev")
    body = {"policy": "guarantee_fee_subsidy", "year": 2025, "budget": "1000", "allocation": "fcfs"}
    r = gov.post("/api/policy/programmes", json=body)
    assert r.status_code == 422 and "不能在平台发布" in r.json()["reason_zh"]
    assert r.json()["problems"][0]["field"] == "policy"
    assert "担保金额" in r.json()["problems"][0]["reason_zh"]  # the data it needs, by name
    # The form does not offer it; a draft made elsewhere (the CLI) is refused at publication.
    page = gov.get("/policies").text
    assert 'value="guarantee_fee_subsidy"' not in page
    with transaction(engine) as s:
        service.create_programme(
            s, policy_id="guarantee_fee_subsidy", year=2025, budget=Decimal("1000"),
            allocation="fcfs", by="gov",
        )  # fmt: skip
    r = rev.post("/policies/guarantee_fee_subsidy-2025/publish",
                 data={"csrf_token": rev.headers["X-CSRF-Token"]})  # fmt: skip
    assert r.status_code == 200 and "平台无法测算" in r.text
    assert rev.get("/api/policy/programmes").json()[0]["state"] == "draft"
