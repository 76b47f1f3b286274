"""Matchmaking events through the service: who may do what, the frozen invitation list, and
bad input refused with zh/en reasons and nothing written."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from kejin.access.rules import Forbidden
from kejin.db import transaction
from kejin.errors import ConflictError, ValidationError
from kejin.lending.tables import Institution
from kejin.matching import events
from kejin.matching.events import EventIn, IntentIn, InviteFilter
from kejin.matching.tables import EventIntent, EventInvite, EventSignup, MatchEvent
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

from .conftest import F1, F2, F3, F4, Market

NOW = datetime(2026, 12, 1, 9, 0)
HELD = date(2026, 12, 10)
AFTER = datetime(2026, 12, 10, 15, 0)

#: uscc -> (tier, chain, stage, points): the whitelist the filters choose from.
MEMBERS = {
    F1: ("core", "biomedicine", "growth", 82.0),
    F2: ("selected", "biomedicine", "startup", 64.0),
    F3: ("base", "information", "growth", 55.5),
    F4: ("selected", "information", "mature", None),
}


def add_whitelist(engine: Engine, members: dict[str, tuple[str, str, str, float | None]]) -> int:
    with transaction(engine) as s:
        v = WhitelistVersion(as_of=date(2026, 11, 1), rules_id="default", rules_version="1.0.0",
                             rules_sha256="0" * 64, score_run_id=None, members=len(members),
                             entries_sha256="0" * 64, created_at=datetime(2026, 11, 1, 8),
                             created_by="gov")  # fmt: skip
        s.add(v)
        s.flush()
        for uscc, (tier, chain, stage, points) in members.items():
            s.add(WhitelistEntry(version_id=v.id, uscc=uscc, name=f"企业{uscc[-2:]}", stage=stage,
                                 industry_chain=chain, region_code="320703", status="member",
                                 tier=tier, tier_rule=None, points=points, list_id=None,
                                 entry_rules="qual_hnte", exclusion_rules=""))  # fmt: skip
        return v.id


@pytest.fixture
def ev_market(market: Market) -> Market:
    add_whitelist(market.engine, MEMBERS)
    with transaction(market.engine) as s:
        s.add(Institution(id="VC1", name="连云港创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
        s.add(Institution(id="GT1", name="连云港担保", kind="guarantor", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
    return market


def _event(m: Market, **kw: object) -> int:
    e = EventIn(**{"title": "生物医药银企对接会", "kind": "bank_firm", "held_on": HELD,
                   "place": "连云港市科技局", "chain": "biomedicine", **kw})  # type: ignore[arg-type]  # fmt: skip
    with transaction(m.engine) as s:
        return events.create(s, m.who("gov"), e, now=NOW).id


def _count(m: Market, table: type) -> int:
    with transaction(m.engine) as s:
        return s.scalar(select(func.count()).select_from(table))


def _held(m: Market) -> int:
    """An event invited by (chain biomedicine), F1 accepted, BKA and VC1 signed up."""
    eid = _event(m)
    with transaction(m.engine) as s:
        events.invite(s, m.who("gov"), eid, InviteFilter(chains=["biomedicine"]), now=NOW)
        events.reply(s, m.who("ent"), eid, True, now=NOW)
        events.signup(s, m.who("bank"), eid, now=NOW)
        events.signup(s, m.who("gov"), eid, "VC1", now=NOW)
    return eid


def test_invitation_by_whitelist_filter_is_frozen_with_its_filter(ev_market: Market) -> None:
    m = ev_market
    eid = _event(m)
    f = InviteFilter(tiers=["core", "selected"], points_min=60, points_max=90)
    before = m.audit_count("match.event")
    with transaction(m.engine) as s:
        events.invite(s, m.who("gov"), eid, f, now=NOW)
    with transaction(m.engine) as s:
        ev = s.get(MatchEvent, eid)
        assert (
            ev.invite_filter["tiers"] == ["core", "selected"]
            and ev.invite_filter["points_min"] == 60
        )
        assert ev.whitelist_version is not None and ev.invited_by == "gov"
        got = set(s.scalars(select(EventInvite.uscc).where(EventInvite.event_id == eid)))
    assert got == {F1, F2}  # F4 has no points, F3 is base
    assert m.audit_count("match.event") == before + 1
    # A later whitelist does not change the frozen list; a second invitation is refused.
    add_whitelist(m.engine, {F3: ("core", "biomedicine", "growth", 70.0)})
    with transaction(m.engine) as s, pytest.raises(ConflictError) as e:
        events.invite(s, m.who("gov"), eid, f, now=NOW)
    assert "不能重复邀请" in e.value.reason_zh and "not redone" in e.value.reason_en
    assert _count(m, EventInvite) == 2


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tiers=st.lists(st.sampled_from(["core", "selected", "base"]), unique=True),
    chains=st.lists(st.sampled_from(["biomedicine", "information"]), unique=True),
    lo=st.one_of(st.none(), st.floats(0, 100)),
    hi=st.one_of(st.none(), st.floats(0, 100)),
)
def test_filter_expression_agrees_with_its_definition(tiers, chains, lo, hi) -> None:  # type: ignore[no-untyped-def]
    """The Polars filter chooses exactly the members a plain reading of the filter names."""
    import polars as pl

    f = InviteFilter(tiers=tiers, chains=chains, points_min=lo, points_max=hi)
    frame = pl.DataFrame(
        [(u, t_, c, st_, p, "member") for u, (t_, c, st_, p) in MEMBERS.items()],
        schema=["uscc", "tier", "industry_chain", "stage", "points", "status"], orient="row",
    )  # fmt: skip
    got = set(frame.filter(f.expr())["uscc"])
    want = {
        u for u, (t_, c, _, p) in MEMBERS.items()
        if (not tiers or t_ in tiers) and (not chains or c in chains)
        and (lo is None or (p is not None and p >= lo)) and (hi is None or (p is not None and p <= hi))
    }  # fmt: skip
    assert got == want


def test_roles_and_tenancy(ev_market: Market) -> None:
    m = ev_market
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.create(s, m.who("bank"), EventIn("x", "roadshow", HELD, "y"), now=NOW)
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.create(s, m.who("rev"), EventIn("x", "roadshow", HELD, "y"), now=NOW)
    eid = _held(m)
    # A bank signs up only its own institution; a firm answers only its own invitation.
    with transaction(m.engine) as s, pytest.raises(Forbidden) as e:
        events.signup(s, m.who("bankb"), eid, "BKA", now=NOW)
    assert "本机构" in e.value.reason_zh
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.reply(s, m.who("ent3"), eid, True, now=NOW)  # F3 is not invited
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.invite(s, m.who("bank"), eid, InviteFilter(), now=NOW)
    # A firm lists only the events it is invited to; a bank lists all with its sign-up.
    other = _event(m, title="信息产业路演", kind="roadshow", chain="information")
    with transaction(m.engine) as s:
        assert [r["id"] for r in events.listing(s, m.who("ent"), now=NOW)] == [eid]
        assert events.listing(s, m.who("ent"), now=NOW)[0]["my_reply"] == "accepted"
        bank = {r["id"]: r["signed_up"] for r in events.listing(s, m.who("bank"), now=NOW)}
        assert bank == {eid: True, other: False}
    # A bank sees its own intents only and the firms that accepted; BKB (not signed up) none.
    with transaction(m.engine) as s:
        events.signup(s, m.who("bankb"), eid, now=NOW)
        events.record_intent(
            s, m.who("bank"), eid, IntentIn(F1, None, "loan", Decimal("5000000")), now=AFTER
        )
        events.record_intent(
            s, m.who("bankb"), eid, IntentIn(F2, None, "loan", Decimal("1000000")), now=AFTER
        )
    with transaction(m.engine) as s:
        d = events.detail(s, m.who("bank"), eid, now=AFTER)
        assert [r["uscc"] for r in d["intents"]] == [F1]
        assert [r["uscc"] for r in d["invitees"]] == [F1]  # F2 never answered
        g = events.detail(s, m.who("aud"), eid, now=AFTER)
        assert {r["uscc"] for r in g["invitees"]} == {F1, F2} and len(g["intents"]) == 2
        intent = s.scalar(select(EventIntent.id).where(EventIntent.institution_id == "BKB"))
    with transaction(m.engine) as s, pytest.raises(Forbidden):
        events.record_outcome(s, m.who("bank"), intent, "signed", Decimal("1"), now=AFTER)


def _refused(m: Market, exc: type, fn, *args, **kw):  # type: ignore[no-untyped-def]
    counts = [_count(m, t_) for t_ in (MatchEvent, EventInvite, EventSignup, EventIntent)]
    audits = m.audit_count("match.event")
    with pytest.raises(exc) as e, transaction(m.engine) as s:
        fn(s, *args, **kw)
    assert [_count(m, t_) for t_ in (MatchEvent, EventInvite, EventSignup, EventIntent)] == counts
    assert m.audit_count("match.event") == audits
    return e.value


def test_bad_input_is_refused_and_nothing_written(ev_market: Market) -> None:
    m = ev_market
    gov = m.who("gov")
    e = _refused(m, ValidationError, events.create, gov,
                 EventIn("", "fair", date(2026, 11, 1), "", chain="steel"), now=NOW)  # fmt: skip
    assert {p.field for p in e.problems} == {"title", "kind", "held_on", "place", "chain"}
    assert "举办日期已过" in e.reason_zh + "".join(p.reason_zh for p in e.problems)
    eid = _event(m)
    e = _refused(m, ValidationError, events.invite, gov, eid,
                 InviteFilter(tiers=["gold"], points_min=90, points_max=10), now=NOW)  # fmt: skip
    assert {p.field for p in e.problems} == {"tiers", "points_min"}
    e = _refused(m, ValidationError, events.invite, gov, eid, InviteFilter(points_min=99), now=NOW)
    assert "没有白名单企业符合邀请条件" in e.reason_zh and "no whitelist member" in e.reason_en
    # Invitations to an event in the past are refused.
    late = datetime(2026, 12, 11, 9)
    e = _refused(m, ConflictError, events.invite, gov, eid, InviteFilter(), now=late)
    assert "已于 2026-12-10 举办" in e.reason_zh and "was held on 2026-12-10" in e.reason_en
    e = _refused(m, ValidationError, events.signup, gov, eid, "GT1", now=NOW)
    assert "只有银行和投资机构" in e.reason_zh
    eid = _held(m)
    bank = m.who("bank")
    # Before the event: no intents.
    e = _refused(m, ConflictError, events.record_intent, bank, eid,
                 IntentIn(F1, None, "loan", Decimal("1")), now=NOW)  # fmt: skip
    assert "届时及之后才能登记意向" in e.reason_zh
    # A firm not invited, a negative amount, an institution not signed up, wrong kinds.
    e = _refused(m, ValidationError, events.record_intent, bank, eid,
                 IntentIn(F3, None, "loan", Decimal("-5")), now=AFTER)  # fmt: skip
    assert {p.field for p in e.problems} == {"uscc", "amount"}
    assert any("未受邀" in p.reason_zh and "not invited" in p.reason_en for p in e.problems)
    e = _refused(m, ValidationError, events.record_intent, m.who("bankb"), eid,
                 IntentIn(F1, None, "loan", Decimal("1")), now=AFTER)  # fmt: skip
    assert any("未报名" in p.reason_zh for p in e.problems)
    e = _refused(m, ValidationError, events.record_intent, bank, eid,
                 IntentIn(F1, None, "equity", Decimal("1")), now=AFTER)  # fmt: skip
    assert "投资机构" in e.problems[0].reason_zh
    e = _refused(m, ValidationError, events.record_intent, gov, eid,
                 IntentIn(F1, "VC1", "loan_equity", Decimal("1"), partner_id="VC1"), now=AFTER)  # fmt: skip
    assert "一家银行与一家投资机构" in e.problems[0].reason_zh
    with transaction(m.engine) as s:
        i = events.record_intent(s, gov, eid, IntentIn(F1, "VC1", "loan_equity",
                                 Decimal("8000000"), partner_id="BKA"), now=AFTER).id  # fmt: skip
    e = _refused(m, ValidationError, events.record_outcome, gov, i, "none", None, None, now=AFTER)
    assert "未成交须选择原因" in e.problems[0].reason_zh
    e = _refused(
        m, ValidationError, events.record_outcome, gov, i, "invested", Decimal("-1"), now=AFTER
    )
    assert e.problems[0].field == "amount"


def test_outcomes_and_summary(ev_market: Market) -> None:
    m = ev_market
    eid = _held(m)
    gov, bank = m.who("gov"), m.who("bank")
    with transaction(m.engine) as s:
        a = events.record_intent(
            s, bank, eid, IntentIn(F1, None, "loan", Decimal("5000000")), now=AFTER
        ).id
        b = events.record_intent(
            s, gov, eid, IntentIn(F1, "VC1", "equity", Decimal("20000000")), now=AFTER
        ).id
        c = events.record_intent(
            s, bank, eid, IntentIn(F2, None, "loan", Decimal("1000000")), now=AFTER
        ).id
        events.record_outcome(s, bank, a, "signed", Decimal("5000000"), now=AFTER)
        events.record_outcome(
            s, bank, a, "disbursed", Decimal("4000000"), now=AFTER + timedelta(days=9)
        )
        events.record_outcome(s, gov, b, "invested", Decimal("15000000"), now=AFTER)
        events.record_outcome(s, bank, c, "none", reason="collateral", now=AFTER)
    with transaction(m.engine) as s:
        d = events.detail(s, gov, eid, now=AFTER)
    sm = d["summary"]
    assert (sm["invited"], sm["accepted"], sm["banks"], sm["investors"]) == (2, 1, 1, 1)
    assert sm["intents"] == 3 and sm["intent_amount"] == Decimal("26000000")
    assert sm["disbursed_amount"] == Decimal("4000000") and sm["invested_amount"] == Decimal(
        "15000000"
    )
    assert (sm["concluded"], sm["no_deal"], sm["open"]) == (2, 1, 0)
    # A bank does not invest.
    with pytest.raises(ValidationError), transaction(m.engine) as s:
        events.record_outcome(s, bank, a, "invested", Decimal("1"), now=AFTER)


def test_cli_event_create_invite_list_show_json(
    ev_market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from kejin import cli

    m = ev_market
    monkeypatch.setattr("kejin.matching.commands.get_engine", lambda: m.engine)
    cli._mount_areas()
    runner = CliRunner()

    def run(*args: str) -> object:
        r = runner.invoke(cli.app, ["match", "event", *args, "--json"])
        assert r.exit_code == 0, (r.output, r.exception)
        return json.loads(r.stdout)

    on = (date.today() + timedelta(days=14)).isoformat()
    audit0 = m.audit_count("match.event")
    ev = run("create", "--title", "信息产业路演", "--on", on, "--place", "海州区",
             "--kind", "roadshow", "--chain", "information", "--who", "gov")  # fmt: skip
    assert ev["kind"] == "roadshow" and ev["held_on"] == on
    inv = run(
        "invite", str(ev["id"]), "--chain", "information", "--points-min", "50", "--who", "gov"
    )
    assert inv["invited"] == [F3] and inv["filter"]["chains"] == ["information"]
    assert run("signup", str(ev["id"]), "--who", "bank")["institution"] == "BKA"
    assert [r["id"] for r in run("list", "--who", "ent3")] == [ev["id"]]
    assert run("list", "--who", "ent") == []
    shown = run("show", str(ev["id"]), "--who", "gov")
    assert shown["summary"]["invited"] == 1 and shown["summary"]["banks"] == 1
    assert m.audit_count("match.event") - audit0 == 7  # create, invite+read, signup, 2 lists, show
    r = runner.invoke(cli.app, ["match", "event", "create", "--title", "x", "--on", "2026-13-01",
                                "--place", "y", "--who", "gov"])  # fmt: skip
    assert type(r.exception).__name__ == "ValidationError"
    r = runner.invoke(cli.app, ["match", "event", "invite", str(ev["id"]), "--who", "bank"])
    assert type(r.exception).__name__ == "Forbidden"


def test_demo_fills_a_past_and_an_upcoming_event(ev_market: Market) -> None:
    """make demo's events: the past one with sign-ups, intents and outcomes, the upcoming one
    with the demo firm invited; all through the services (audited)."""
    from kejin.matching import demo

    m = ev_market
    now = datetime(2026, 12, 1, 10)
    with transaction(m.engine) as s:
        out = demo.fill_events(s, m.who("gov"), m.who("ent"), m.who("bank"), now=now, seed=3)
    assert out["invited"] == 2 and out["intents"] == 2  # biomedicine core/selected: F1, F2
    with transaction(m.engine) as s:
        past = events.detail(s, m.who("gov"), out["past"], now=now)
        nxt = events.detail(s, m.who("gov"), out["upcoming"], now=now)
        firm = events.listing(s, m.who("ent"), now=now)
    assert past["past"] and not nxt["past"]
    assert past["summary"]["banks"] >= 2 and past["summary"]["intents"] == out["intents"]
    assert (
        past["summary"]["concluded"] + past["summary"]["no_deal"] + past["summary"]["open"]
        == out["intents"]
    )
    assert out["upcoming"] in [r["id"] for r in firm]
    assert "BKA" not in {r["institution_id"] for r in nxt["signups"]}  # the demo bank may sign up
