"""The policy workflow over HTTP: programmes with maker-checker, the eligible list and its Excel
file, simulation, and apply → review → approve → pay with the reasons; every step audited."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from kejin.access.rules import Forbidden, Principal
from kejin.access.tables import AuditEvent
from kejin.db import transaction
from kejin.policy import operations as ops
from kejin.registry.tables import Enterprise

from .conftest import login
from .policy_data import F1_AMOUNT, PROGRAMME, extra_amount, qualify
from .world import F1, F3


def _events(engine: Engine, action: str) -> list[tuple[str, str]]:
    with engine.connect() as c:
        return list(
            c.execute(
                select(AuditEvent.actor, AuditEvent.entity_id)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            ).all()
        )


def _published(gov, rev, budget: str = "100000.00") -> None:  # type: ignore[no-untyped-def]
    r = gov.post(
        "/api/policy/programmes",
        json={"policy": "karamay_interest", "year": 2025, "budget": budget, "allocation": "fcfs"},
    )
    assert r.status_code == 201, r.text
    r = rev.post(f"/api/policy/programmes/{PROGRAMME}/publish")
    assert r.status_code == 200, r.text


def test_publication_needs_an_officer_other_than_the_maker(app, engine: Engine, world) -> None:
    gov, rev = login(app, "gov"), login(app, "rev")
    r = gov.post(
        "/api/policy/programmes",
        json={"policy": "karamay_interest", "year": 2025, "budget": "250000", "allocation": "fcfs"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["made_by"], r.json()["budget"]) == (
        "draft",
        "gov",
        "250000.00",
    )
    refused = gov.post(f"/api/policy/programmes/{PROGRAMME}/publish")
    assert refused.status_code == 422
    body = refused.json()
    assert "经办与审批分离" in body["reason_zh"] and "maker-checker" in body["reason_en"]
    assert body["problems"][0]["field"] == "by" and body["problems"][0]["value"] == "gov"
    assert gov.get("/api/policy/programmes").json()[0]["state"] == "draft"
    assert _events(engine, "policy.publish") == []
    ok = rev.post(f"/api/policy/programmes/{PROGRAMME}/publish")
    assert ok.status_code == 200
    assert (ok.json()["state"], ok.json()["approved_by"]) == ("published", "rev")
    assert rev.post(f"/api/policy/programmes/{PROGRAMME}/publish").status_code == 409
    assert _events(engine, "policy.create") == [("gov", PROGRAMME)]
    assert _events(engine, "policy.publish") == [("rev", PROGRAMME)]
    listed = login(app, "aud").get("/api/policy/programmes").json()[0]
    assert Decimal(listed["remaining"]) == Decimal("250000.00") and listed["approved_by"] == "rev"


def test_bad_programme_input_is_refused_with_the_field(app, world) -> None:
    gov = login(app, "gov")

    def create(**kw):  # type: ignore[no-untyped-def]
        body = {"policy": "karamay_interest", "year": 2025, "budget": "1000", "allocation": "fcfs"}
        return gov.post("/api/policy/programmes", json={**body, **kw})

    for kw, status, field in (
        ({"budget": "12.345"}, 422, "budget"),
        ({"budget": "-1"}, 422, "budget"),
        ({"budget": "lots"}, 422, "budget"),
        ({"allocation": "lottery"}, 422, "allocation"),
        ({"policy": "no_such_policy"}, 404, "policy"),
        ({"year": 1800}, 422, "year"),
    ):
        r = create(**kw)
        assert r.status_code == status, (kw, r.text)
        assert r.json()["problems"][0]["field"] == field, (kw, r.json())
        assert r.json()["reason_zh"] and r.json()["reason_en"]
    assert create().status_code == 201
    dup = create()
    assert dup.status_code == 409 and dup.json()["problems"][0]["value"] == PROGRAMME


def test_enterprise_applies_for_itself_and_two_officers_approve(app, engine: Engine, world) -> None:
    qualify(engine)
    gov, rev, ent, aud = (login(app, u) for u in ("gov", "rev", "ent", "aud"))
    _published(gov, rev)
    # The enterprise applies for its own loan-year; the answer says why, clause by clause.
    r = ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME})
    assert r.status_code == 201, r.text
    [a] = r.json()
    assert (a["entity"], a["state"], Decimal(a["claimed"])) == ("BKA-L1/2025", "applied", F1_AMOUNT)
    assert a["corrected"] is False
    conditions = [c for c in a["clauses"] if c["kind"] == "condition"]
    assert conditions and all(c["met"] and c["article"] == "三(二)8" for c in conditions)
    assert [Decimal(c["value"]) for c in a["clauses"] if c["kind"] == "amount"] == [F1_AMOUNT]
    # Not twice, not for another firm, not by the government, not an entity it lacks.
    again = ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME})
    assert again.status_code == 409 and again.json()["problems"][0]["field"] == "entity"
    assert (
        ent.post(f"/api/firms/{F3}/policy/applications", json={"programme": PROGRAMME}).status_code
        == 403
    )
    assert (
        gov.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME}).status_code
        == 403
    )
    missing = ent.post(
        f"/api/firms/{F1}/policy/applications",
        json={"programme": PROGRAMME, "entity": "NO-SUCH/2025"},
    )
    assert missing.status_code == 422 and missing.json()["problems"][0]["field"] == "entity"
    aid = a["id"]
    # gov_admin reviews; the same officer may not approve; gov_reviewer approves.
    assert (
        rev.post(f"/api/policy/applications/{aid}/review", json={"accept": True}).status_code == 403
    )
    r = gov.post(f"/api/policy/applications/{aid}/review", json={"accept": True})
    assert r.status_code == 200 and r.json()["state"] == "reviewed"
    same = gov.post(f"/api/policy/programmes/{PROGRAMME}/approve")
    assert same.status_code == 422 and "maker-checker" in same.json()["reason_en"]
    detail = aud.get(f"/api/policy/programmes/{PROGRAMME}").json()
    assert detail["applications"][0]["state"] == "reviewed" and Decimal(detail["reserved"]) == 0
    assert _events(engine, "policy.approve") == []
    r = rev.post(f"/api/policy/programmes/{PROGRAMME}/approve")
    assert r.status_code == 200
    assert (r.json()[0]["state"], Decimal(r.json()[0]["approved_amount"])) == (
        "approved",
        F1_AMOUNT,
    )
    # Payment: gov_admin only, once per key; a different key is refused.
    assert (
        rev.post(f"/api/policy/applications/{aid}/pay", json={"idempotency_key": "t-1"}).status_code
        == 403
    )
    first = gov.post(f"/api/policy/applications/{aid}/pay", json={"idempotency_key": "t-1"})
    assert first.status_code == 200 and Decimal(first.json()["amount"]) == F1_AMOUNT
    replay = gov.post(f"/api/policy/applications/{aid}/pay", json={"idempotency_key": "t-1"})
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    other = gov.post(f"/api/policy/applications/{aid}/pay", json={"idempotency_key": "t-2"})
    assert other.status_code == 409
    # Everyone sees the outcome within their rights; the auditor cannot change anything.
    mine = ent.get(f"/api/firms/{F1}/policy/applications").json()
    assert [(x["state"], Decimal(x["paid_total"])) for x in mine] == [("paid", F1_AMOUNT)]
    assert ent.get(f"/api/firms/{F3}/policy/applications").status_code == 403
    detail = aud.get(f"/api/policy/programmes/{PROGRAMME}").json()
    assert Decimal(detail["paid"]) == F1_AMOUNT
    assert Decimal(detail["remaining"]) == Decimal("100000.00") - F1_AMOUNT
    assert [p["idempotency_key"] for p in detail["payments"]] == ["t-1"]
    assert aud.post(f"/api/policy/programmes/{PROGRAMME}/approve").status_code == 403
    assert _events(engine, "policy.apply") == [("ent", str(aid))]
    assert _events(engine, "policy.review") == [("gov", str(aid))]
    assert _events(engine, "policy.approve") == [("rev", PROGRAMME)]
    assert _events(engine, "policy.pay") == [("gov", str(aid)), ("gov", str(aid))]
    assert ("ent", F1) in _events(engine, "policy.applications")
    assert ("aud", PROGRAMME) in _events(engine, "policy.programme")


def test_budget_runs_out_first_come_first_served(app, engine: Engine, world) -> None:
    codes = qualify(engine, extra=2)
    gov, rev = login(app, "gov"), login(app, "rev")
    _published(gov, rev, budget="10000.00")
    r = login(app, "ent").post(
        f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME}
    )
    ids = [r.json()[0]["id"]]
    # The added firms have no user account: each applies through the service as its own user.
    for i, code in enumerate(codes[1:]):
        firm_user = Principal(
            user_id=900 + i, username=f"firm{i}", role="enterprise_user", uscc=code
        )
        with transaction(engine) as s:
            ids += [a["id"] for a in ops.apply(s, engine, firm_user, code, PROGRAMME, None)]
        with transaction(engine) as s, pytest.raises(Forbidden):
            ops.apply(s, engine, firm_user, F1, PROGRAMME, None)
    for aid in ids:
        assert gov.post(f"/api/policy/applications/{aid}/review", json={}).status_code == 200
    out = rev.post(f"/api/policy/programmes/{PROGRAMME}/approve").json()
    granted = [Decimal(a["approved_amount"]) for a in out]
    # 3,483.33 + 8,000 > 10,000: the second gets the remainder, the third nothing.
    assert granted == [F1_AMOUNT, Decimal("10000.00") - F1_AMOUNT, Decimal("0.00")]
    assert [a["state"] for a in out] == ["approved", "approved", "rejected"]
    assert "budget exhausted" in out[2]["note"]


def test_eligible_list_is_paged_with_clauses_and_downloads_as_excel(
    app, engine: Engine, world
) -> None:
    codes = qualify(engine, extra=5)
    gov, rev, aud = login(app, "gov"), login(app, "rev"), login(app, "aud")
    _published(gov, rev, budget="50000.00")
    expected = sorted(
        [(F1_AMOUNT, F1)] + [(extra_amount(i), c) for i, c in enumerate(codes[1:])],
        key=lambda x: (-x[0], x[1]),
    )
    pages = []
    for offset in (0, 2, 4, 6):
        r = aud.get(f"/api/policy/programmes/{PROGRAMME}/eligible?offset={offset}&limit=2")
        assert r.status_code == 200, r.text
        pages.append(r.json())
    got = [(Decimal(x["amount"]), x["firm"]) for p in pages for x in p["items"]]
    assert got == expected
    total = sum((a for a, _ in expected), Decimal(0))
    assert pages[0]["total"] == 6 and pages[0]["firms"] == 6
    assert Decimal(pages[0]["amount"]) == total and pages[0]["over_budget"] is (total > 50000)
    first = pages[0]["items"][0]
    assert first["name"] == "连云港第5科技有限公司" and first["entity"] == "BKA-X4/2025"
    assert {c["article"] for c in first["clauses"]} == {"三(二)8"}
    assert _events(engine, "policy.eligible")[-1] == ("aud", PROGRAMME)

    with transaction(engine) as s:  # a hostile name from an imported registry
        s.get(Enterprise, codes[1]).name = '=HYPERLINK("http://x.example","点击")'
    r = gov.get(f"/api/policy/programmes/{PROGRAMME}/notify.xlsx")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="notify-{PROGRAMME}.xlsx"'
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert "克拉玛依科技信贷融资贴息" in rows[0][0]
    assert rows[1][0].startswith("统一社会信用代码") and rows[1][5] == "依据条款"
    assert [(Decimal(str(x[4])).quantize(Decimal("0.01")), x[0]) for x in rows[2:]] == expected
    assert "满足：经认定的高新技术企业或科技小巨人企业（三(二)8）" in rows[2][5]
    hostile = next(c for row in ws.iter_rows() for c in row if "HYPERLINK" in str(c.value))
    assert hostile.data_type == "s"
    assert "met: loan from a sci-tech finance partner bank" in rows[2][6]
    assert _events(engine, "policy.notify") == [("gov", PROGRAMME)]
    assert (
        login(app, "bank").get(f"/api/policy/programmes/{PROGRAMME}/notify.xlsx").status_code == 403
    )


def test_simulation_counts_firms_cost_against_budget_winners_and_losers(
    app, engine: Engine, world
) -> None:
    codes = qualify(engine, extra=3)
    gov, rev = login(app, "gov"), login(app, "rev")
    _published(gov, rev, budget="60000.00")
    url = f"/api/policy/programmes/{PROGRAMME}/simulation"
    base = gov.get(url).json()
    # Money is exact decimal text in JSON (never a binary float).
    baseline = Decimal(F1_AMOUNT) + 8000 + 16000 + 24000
    assert base["baseline_cost"] == base["reform_cost"] == str(baseline)
    assert (base["winners"], base["losers"], base["baseline_beneficiaries"]) == (0, 0, 4)
    assert base["parameters"]["rate_small"]["baseline"] == "0.2"
    up = gov.get(url, params={"set": "rate_small=0.3"}).json()
    # F1's interest is 17,416.67: 30% of it is 5,225.00 (each row is rounded to the cent).
    assert up["reform_cost"] == str(Decimal("5225.00") + Decimal("1.5") * 48000)
    assert (up["winners"], up["losers"], up["reform_beneficiaries"]) == (4, 0, 4)
    assert up["reform_within_budget"] is False and up["baseline_within_budget"] is True
    assert up["top_winners"][0]["firm"] == codes[3] and up["top_winners"][0]["delta"] == "12000.00"
    down = rev.get(url, params={"set": ["rate_small=0.1"]}).json()
    assert (down["winners"], down["losers"]) == (0, 4) and down["reform_within_budget"] is True
    # Nobody qualifies with a zero threshold of years: every firm loses everything.
    none = gov.get(url, params={"set": "max_years=0"}).json()
    assert none["reform_beneficiaries"] == 0 and none["losers"] == 4
    assert none["reform_cost"] == "0.00"
    for bad, field in (("rate_small=abc", "rate_small"), ("rate_small=nan", "rate_small"),
                       ("rate_small=1e400", "rate_small"), ("no_such=1", "no_such"),
                       ("rate_small", "set")):  # fmt: skip
        r = gov.get(url, params={"set": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["problems"][0]["field"] == field
    assert ("rev", PROGRAMME) in _events(engine, "policy.simulate")


def test_pages_show_refusals_in_place(app, engine: Engine, world) -> None:
    qualify(engine)
    gov, rev, ent, aud = (login(app, u) for u in ("gov", "rev", "ent", "aud"))

    def form(c, url, **data):  # type: ignore[no-untyped-def]
        return c.post(url, data={"csrf_token": c.headers["X-CSRF-Token"], **data})

    r = form(gov, "/policies/programmes", policy="karamay_interest", year="2025", budget="1.234")
    # post/redirect/get: a refusal is shown on the GET page the form came from, status 200
    assert r.status_code == 200 and 'id="budget-error"' in r.text and "至多两位小数" in r.text
    r = form(gov, "/policies/programmes", policy="karamay_interest", year="2025", budget="90000")
    assert r.status_code == 200 and "已保存草稿" in r.text  # followed the redirect
    r = form(gov, f"/policies/{PROGRAMME}/publish")
    assert r.status_code == 200 and 'class="err publish-error"' in r.text
    assert "发布须由另一人完成" in r.text
    assert form(rev, f"/policies/{PROGRAMME}/publish").status_code == 200
    # The enterprise sees what it may apply for and why; a wrong entity is refused at the field.
    page = ent.get("/enterprise/policies")
    assert '<a href="/enterprise/policies" class="on">' in page.text
    assert '<a href="/enterprise" class="">' in page.text
    assert (
        'data-entity="BKA-L1/2025"' in page.text
        and "满足：通过科技金融合作银行获得贷款" in page.text
    )
    r = form(ent, "/enterprise/policies/apply", programme=PROGRAMME, entity="X/1")
    assert r.status_code == 200 and 'id="entity-error"' in r.text
    r = form(ent, "/enterprise/policies/apply", programme="", entity="")
    assert r.status_code == 200 and 'id="programme-error"' in r.text
    r = form(ent, "/enterprise/policies/apply", programme=PROGRAMME, entity="BKA-L1/2025")
    assert r.status_code == 200 and "已提交申请" in r.text and "已申请" in r.text
    missing_csrf = ent.post("/enterprise/policies/apply", data={"programme": PROGRAMME})
    assert missing_csrf.status_code == 403
    # Review, then the reviewer's own approval is refused next to the button.
    r = form(gov, "/policies/applications/1/review", decision="accept")
    assert r.status_code == 200 and "已审核通过" in r.text
    r = form(gov, f"/policies/{PROGRAMME}/approve")
    assert (
        r.status_code == 200 and 'id="approve-error"' in r.text and "审批须由另一人完成" in r.text
    )
    r = form(rev, f"/policies/{PROGRAMME}/approve")
    assert r.status_code == 200 and "已审批，预算已占用" in r.text
    r = form(gov, "/policies/applications/1/pay")
    assert r.status_code == 200 and "已支付" in r.text
    assert (
        form(gov, "/policies/applications/1/pay").status_code == 200
    )  # double click: same payment
    # The auditor reads the programme but gets no forms; English switches the labels.
    page = aud.get(f"/policies/{PROGRAMME}")
    assert page.status_code == 200 and 'method="post" action="/policies' not in page.text
    # The policy centre stays marked in the navigation on its sub-pages.
    assert '<a href="/policies" class="on">' in page.text
    assert '<a href="/fund" class="">' in page.text
    assert "3,483.33" in page.text and "只读" in page.text
    assert "Approve" not in page.text
    # Readings that are choices are listed with the value taken and the alternatives.
    assert 'data-reading="max_years"' in page.text and "备选：任意3个获贴息年度" in page.text
    assert "四舍五入到分（每笔支付）" in page.text
    en = gov.get(f"/policies/{PROGRAMME}?lang=en")
    assert "Payments" in en.text and "met: loan from a sci-tech finance partner bank" in en.text
    assert "alternatives — any 3 subsidised years" in en.text
    sim = gov.get(f"/policies/{PROGRAMME}/simulate?p_rate_small=x")
    assert sim.status_code == 422 and 'id="rate_small-error"' in sim.text
    sim = gov.get(f"/policies/{PROGRAMME}/simulate?p_rate_small=0.4")
    assert sim.status_code == 200 and "<svg" in sim.text and 'id="winners">1<' in sim.text
    eligible = aud.get(f"/policies/{PROGRAMME}/eligible")
    assert eligible.status_code == 200 and 'id="eligible-total">1<' in eligible.text


def test_parameters_not_yet_known_are_explained_not_hidden(app, engine: Engine, world) -> None:
    """Published "as known on" a day before the policy's parameters were: nothing can be
    computed, and every view says why instead of failing."""
    qualify(engine)
    gov, rev, ent = login(app, "gov"), login(app, "rev"), login(app, "ent")
    body = {"policy": "karamay_interest", "year": 2025, "budget": "1000", "allocation": "fcfs"}
    assert gov.post("/api/policy/programmes", json=body).status_code == 201
    r = rev.post(f"/api/policy/programmes/{PROGRAMME}/publish?as_of=2020-01-01")
    assert r.status_code == 200 and r.json()["params_as_of"] == "2020-01-01"
    eligible = gov.get(f"/api/policy/programmes/{PROGRAMME}/eligible")
    assert eligible.status_code == 422, eligible.text
    reason = eligible.json()["reason_zh"]
    page = ent.get("/enterprise/policies")
    assert '<a href="/enterprise/policies" class="on">' in page.text
    assert '<a href="/enterprise" class="">' in page.text
    assert page.status_code == 200 and reason in page.text
    applied = ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME})
    assert applied.status_code == 422 and applied.json()["reason_zh"] == reason


def test_a_parameter_revision_after_payment_is_corrected_once(
    app, engine: Engine, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small-line rate is revised to 25% (published next month, for 2025): F1 is owed
    25% of 17,416.67 = 4,354.17, i.e. a top-up of 870.84 over the 3,483.33 it was paid."""
    from datetime import date, timedelta

    from kejin.policy import library
    from kejin.policy.params import Parameter, Value

    later = date.today() + timedelta(days=30)
    rate = library.get("karamay_interest").params["rate_small"]
    revised = Parameter(
        rate.name, rate.description, rate.unit, rate.document, rate.article,
        (*rate.values, Value(0.25, date(2025, 1, 1), date(9999, 12, 31), later)),
    )  # fmt: skip
    monkeypatch.setitem(library.get("karamay_interest").params, "rate_small", revised)
    qualify(engine)
    gov, rev, ent, aud = (login(app, u) for u in ("gov", "rev", "ent", "aud"))
    _published(gov, rev)
    [a] = ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": PROGRAMME}).json()
    assert Decimal(a["claimed"]) == F1_AMOUNT  # the revision is not known yet
    gov.post(f"/api/policy/applications/{a['id']}/review", json={})
    rev.post(f"/api/policy/programmes/{PROGRAMME}/approve")
    gov.post(f"/api/policy/applications/{a['id']}/pay", json={"idempotency_key": "p-1"})
    url = f"/api/policy/programmes/{PROGRAMME}/corrections"
    before = aud.get(url, params={"as_of": date.today().isoformat()}).json()
    assert [(c["kind"], Decimal(c["delta"])) for c in before["items"]] == [("none", 0)]
    preview = aud.get(url, params={"as_of": later.isoformat()}).json()
    [c] = preview["items"]
    assert (c["kind"], Decimal(c["entitled"]), Decimal(c["delta"])) == (
        "top_up",
        Decimal("4354.17"),
        Decimal("870.84"),
    )
    assert Decimal(preview["net"]) == Decimal("870.84")
    body = {"as_of": later.isoformat(), "key_prefix": "rate-25"}
    assert rev.post(url, json=body).status_code == 403
    assert aud.post(url, json=body).status_code == 403
    first = gov.post(url, json=body)
    assert first.status_code == 200, first.text
    [pm] = first.json()
    assert (pm["kind"], Decimal(pm["amount"]), pm["idempotency_key"]) == (
        "top_up",
        Decimal("870.84"),
        f"rate-25:{a['id']}",
    )
    assert [x["id"] for x in gov.post(url, json=body).json()] == [pm["id"]]
    detail = aud.get(f"/api/policy/programmes/{PROGRAMME}").json()
    assert Decimal(detail["paid"]) == Decimal("4354.17")
    assert [x["kind"] for x in detail["payments"]] == ["payment", "top_up"]
    assert detail["applications"][0]["corrected"] is True
    assert Decimal(detail["applications"][0]["claimed"]) == Decimal("4354.17")
    assert _events(engine, "policy.correct") == [("gov", PROGRAMME), ("gov", PROGRAMME)]
    assert ("aud", PROGRAMME) in _events(engine, "policy.corrections")
    # The page previews the same figures; gov_admin records them (again: no new payment).
    page = gov.get(f"/policies/{PROGRAMME}?corr_as_of={later}")
    assert page.status_code == 200 and 'id="corr-net">+0.00<' in page.text
    r = gov.post(
        f"/policies/{PROGRAMME}/corrections",
        data={"csrf_token": gov.headers["X-CSRF-Token"], "as_of": "soon"},
    )
    assert r.status_code == 200 and 'id="correct-error"' in r.text and "YYYY-MM-DD" in r.text


def test_the_eligible_list_pages_with_the_numbered_pager_and_no_dangling_range(
    app, engine: Engine, world
) -> None:
    """56 eligible loans, 50 a screen: the second screen says "51–56 / 56" (before: a hand-made
    offset pager whose links dropped the language), its links keep the page's query."""
    import re

    qualify(engine, extra=55)
    gov, rev = login(app, "gov"), login(app, "rev")
    _published(gov, rev)
    second = gov.get(f"/policies/{PROGRAMME}/eligible?lang=en&page=2").text
    nav = second.split('id="eligible-pager"')[1].split("</nav>")[0]
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", nav))
    assert "Rows 51–56 / 56" in words and "Page 2 / 2" in words
    assert not re.search(r"–\s*(?!\d)", words)  # every range has both ends
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', nav)]
    assert hrefs and all("lang=en" in h for h in hrefs)
    assert second.count("<tr><td>") == 6 and "<tr><td>51</td>" in second
    past = gov.get(f"/policies/{PROGRAMME}/eligible?lang=zh&page=9").text  # past the end: the last
    assert "本页 51–56 / 56" in re.sub(r"<[^>]+>", "", past)
