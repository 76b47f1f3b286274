"""Every state-changing CLI command goes through the same audited service as the web (issue #14,
issue #16's auditor): a table of invocations on a small world, each asserting

* the exact audit events it writes, with the acting person (``--who``) or ``system`` as actor;
* that they are written in the change's own transaction: with the audit write failing, the
  command fails and the database is unchanged (table checksums, audit log included);
* that ``--who`` naming a user without the permission is refused with the rule table's bilingual
  error (the one the API answers, checked against the API below), changing nothing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from tests.people import add_people
from typer.testing import CliRunner

from kejin.access import audit
from kejin.access.rules import Forbidden
from kejin.access.tables import AuditEvent
from kejin.backup import table_checksums

from .world import PASSWORD

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fund"))
from fundkit import bad_status, make_uscc, seed_loans

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Ctx = dict[str, Any]
Events = list[tuple[str, str]]


@dataclass
class Step:
    """One invocation: its arguments (built from what earlier steps produced), the audit events
    it must write — exactly (a list) or, for the demos whose counts follow the data, a set that
    must hold every event and include ``must`` — and who lacks the permission, if a person acts."""

    name: str
    argv: Callable[[Ctx], list[str]]
    events: Events | set[tuple[str, str]]
    must: set[tuple[str, str]] = field(default_factory=set)
    denied: tuple[str, str] | None = None  # (username, action) refused with the rule's error
    atomic: bool = True
    keep: Callable[[Ctx, str], None] = lambda ctx, out: None


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """The CLI in-process against this test's database."""
    from kejin.cli import _mount_areas, app
    from kejin.config import get_settings
    from kejin.console import engine_for

    monkeypatch.setenv("KEJIN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    engine_for.cache_clear()
    _mount_areas()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()
    engine_for.cache_clear()


def _checksums(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return table_checksums(conn)


def _events_after(engine: Engine, seq: int) -> Events:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.actor, AuditEvent.action)
            .where(AuditEvent.seq > seq)
            .order_by(AuditEvent.seq)
        ).all()
    return [(a, b) for a, b in rows]


def _head(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


def _swap_who(argv: list[str], user: str) -> list[str]:
    i = argv.index("--who")
    return [*argv[: i + 1], user, *argv[i + 2 :]]


def _programme(engine: Engine) -> tuple[str, int, str, str]:
    """A registry policy, year, firm and entity the firm is eligible for (from the data)."""
    from kejin.policy import library
    from kejin.policy.engine import evaluate
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import latest_year, rows_for_year

    frames = registry_frames(engine)
    for p in library.all_policies():
        if p.entity not in frames:
            continue
        y = latest_year(p, frames[p.entity])
        if y is None:
            continue
        rows = rows_for_year(p, frames[p.entity], y)
        res, _ = evaluate(p, rows, as_of=date(y, 12, 31))
        ok = rows.filter(pl.Series((res["eligible"] & (res["amount"] > 0)).to_list()))
        if ok.height:
            row = ok.row(0, named=True)
            return p.id, y, str(row[p.firm_column]), "/".join(str(row[k]) for k in p.key)
    raise AssertionError("no registry policy has an eligible firm in the test region")


def _steps(engine: Engine, tmp: Path) -> list[Step]:
    gov, rev, bank = ("--who", "gov"), ("--who", "rev"), ("--who", "bank")
    aud = "aud"
    fund_on = ("--on",)

    def keep(name: str, pick: Callable[[Any], Any]) -> Callable[[Ctx, str], None]:
        def put(ctx: Ctx, out: str) -> None:
            ctx[name] = pick(json.loads(out))

        return put

    sim_fund = {
        ("system", "fund.enrol"),
        ("system", "fund.fee"),
        ("system", "fund.file"),
        ("system", "fund.recover"),
        ("gov", "fund.create"),
        ("gov", "fund.deposit"),
        ("gov", "fund.review"),
        ("gov", "fund.pay"),
        ("rev", "fund.approve"),
    }
    sim_policy = {
        ("system", "policy.apply"),
        ("gov", "policy.create"),
        ("rev", "policy.publish"),
        ("gov", "policy.review"),
        ("rev", "policy.approve"),
        ("gov", "policy.pay"),
    }
    # fmt: off
    return [
        # ---- batch runs: the system principal
        Step("points score", lambda c: ["points", "score", "--json"], [("system", "points.score")]),
        Step("whitelist refresh (batch)", lambda c: ["whitelist", "refresh", "--json"],
             [("system", "whitelist.refresh")]),
        Step("credit fit --register", lambda c: ["credit", "fit", "--data", c["training"],
             "--target", "bad", "--out", tmp / "m.json", "--register", "cli_model"],
             [("system", "credit.model.register")]),
        Step("import (scheduled feed)",
             lambda c: ["import", "institutions", EXAMPLES / "institutions.csv", "--json"],
             [("system", "ingest.import")]),
        # ---- a person's acts
        Step("whitelist refresh", lambda c: ["whitelist", "refresh", "--json", *gov],
             [("gov", "whitelist.refresh")], denied=(aud, "whitelist.refresh")),
        Step("whitelist push",
             lambda c: ["whitelist", "push", "--institution", "B1", "--out-dir", tmp, "--json", *gov],
             [("gov", "whitelist.push")], denied=(aud, "whitelist.push")),
        Step("import",
             lambda c: ["import", "institutions", EXAMPLES / "institutions.csv", "--json", *gov],
             [("gov", "ingest.import")], denied=(aud, "ingest.import")),
        Step("users approve", lambda c: ["users", "approve", "rev2", *gov],
             [("gov", "user.approve")], denied=(aud, "user.approve")),
        # fund: the whole life of a claim, each step by the person whose act it is
        Step("fund create", lambda c: ["fund", "create", "P", "--scheme", "anhui", *fund_on,
             "2026-01-02", "--json", *gov], [("gov", "fund.create")],
             denied=(aud, "fund.create")),
        Step("fund deposit", lambda c: ["fund", "deposit", "P", "--amount", "500000", *fund_on,
             "2026-01-02", "--json", *gov], [("gov", "fund.deposit")],
             denied=(aud, "fund.deposit")),
        Step("fund enrol", lambda c: ["fund", "enrol", "P", "L00000", *fund_on, "2026-01-10",
             "--json", *bank], [("bank", "fund.enrol")], denied=(aud, "fund.enrol")),
        Step("fund status", lambda c: ["fund", "status", "P", "L00000", "--month", "2026-05-01",
             "--balance", "500000", "--dpd", "120", "--class", "substandard", *fund_on,
             "2026-05-03", "--json", *bank], [("bank", "fund.report")],
             denied=(aud, "fund.report")),
        Step("fund claim", lambda c: ["fund", "claim", "P", "L00000", *fund_on, "2026-05-04",
             "--json", *bank], [("bank", "fund.file")], denied=(aud, "fund.file"),
             keep=keep("claim", lambda o: o["claim"])),
        Step("fund review", lambda c: ["fund", "review", c["claim"], *fund_on, "2026-05-05",
             "--json", *gov], [("gov", "fund.review")], denied=(aud, "fund.review")),
        Step("fund approve", lambda c: ["fund", "approve", c["claim"], *fund_on, "2026-05-06",
             "--json", *rev], [("rev", "fund.approve")], denied=(aud, "fund.approve")),
        Step("fund pay", lambda c: ["fund", "pay", "P", c["claim"], *fund_on, "2026-05-07",
             "--json", *gov], [("gov", "fund.pay")], denied=(aud, "fund.pay")),
        Step("fund reverse", lambda c: ["fund", "reverse", c["claim"], *fund_on, "2026-05-08",
             "--json", *gov], [("gov", "fund.reverse")], denied=(aud, "fund.reverse")),
        Step("fund pay again", lambda c: ["fund", "pay", "P", c["claim"], *fund_on, "2026-05-09",
             "--json", *gov], [("gov", "fund.pay")]),
        Step("fund recover", lambda c: ["fund", "recover", c["claim"], "--amount", "10000",
             *fund_on, "2026-06-01", "--json", *bank], [("bank", "fund.recover")],
             denied=(aud, "fund.recover")),
        Step("fund write-off", lambda c: ["fund", "write-off", c["claim"], *fund_on, "2026-07-01",
             "--json", *gov], [("gov", "fund.write_off")],
             denied=(aud, "fund.write_off")),
        Step("fund close", lambda c: ["fund", "close", "P", "--period-end", "2026-01-31",
             "--json", *gov], [("gov", "fund.close")], denied=(aud, "fund.close")),
        # a pool under a scheme with a guarantee fee: the fee is the government's record
        Step("fund create (fee scheme)", lambda c: ["fund", "create", "Q", "--scheme",
             "pingshan", *fund_on, "2026-01-02", "--json", *gov], [("gov", "fund.create")]),
        Step("fund deposit (fee scheme)", lambda c: ["fund", "deposit", "Q", "--amount",
             "500000", *fund_on, "2026-01-02", "--json", *gov], [("gov", "fund.deposit")]),
        Step("fund enrol (fee scheme)", lambda c: ["fund", "enrol", "Q", "L00001", *fund_on,
             "2026-01-10", "--json", *bank], [("bank", "fund.enrol")]),
        Step("fund fee", lambda c: ["fund", "fee", "Q", "L00001", *fund_on, "2026-01-10",
             "--json", *gov], [("gov", "fund.fee")], denied=(aud, "fund.fee")),
        # policy: a programme's whole workflow
        Step("policy create", lambda c: ["policy", "create", c["policy"], "--year", c["year"],
             "--budget", "100000000", "--json", *gov], [("gov", "policy.create")],
             denied=(aud, "policy.create")),
        Step("policy publish", lambda c: ["policy", "publish", c["programme"], "--as-of",
             f"{c['year']}-12-31", "--json", *rev], [("rev", "policy.publish")],
             denied=(aud, "policy.publish")),
        Step("policy apply", lambda c: ["policy", "apply", c["programme"], "--uscc", c["firm"],
             "--entity", c["entity"], "--json", "--who", "firmuser"],
             [("firmuser", "policy.apply")], denied=(aud, "policy.apply"),
             keep=keep("application", lambda o: o[0]["id"])),
        Step("policy review", lambda c: ["policy", "review", c["application"], "--json", *gov],
             [("gov", "policy.review")], denied=(aud, "policy.review")),
        Step("policy approve", lambda c: ["policy", "approve", c["programme"], "--json", *rev],
             [("rev", "policy.approve")], denied=(aud, "policy.approve")),
        Step("policy pay", lambda c: ["policy", "pay", c["application"], "--key", "k-1",
             "--json", *gov], [("gov", "policy.pay")], denied=(aud, "policy.pay")),
        Step("policy correct", lambda c: ["policy", "correct", c["programme"], "--as-of",
             f"{c['year'] + 1}-06-30", "--apply", "--key-prefix", "c", "--json", *gov],
             [("gov", "policy.correct")], denied=(aud, "policy.correct")),
        # credit: the bank officer's own decisions
        Step("credit decide", lambda c: ["credit", "decide", c["demo_firm"], "--product",
             "points_credit", "--json", "--who", "demo_bank"],
             [("demo_bank", "credit.decide")], denied=(aud, "credit.decide"),
             keep=keep("decision", lambda o: o["decision_id"])),
        Step("credit act", lambda c: ["credit", "act", c["decision"], "--action", "approve",
             "--who", "demo_bank"], [("demo_bank", "credit.act")],
             denied=(aud, "credit.act")),
        # demos: the demo accounts act; the replayed history is the system's, marked simulated
        Step("credit demo", lambda c: ["credit", "demo", "--firms", "1", "--who", "demo_bank"],
             {("demo_bank", "credit.decide")}, must={("demo_bank", "credit.decide")},
             denied=(aud, "credit.decide")),
        Step("policy demo", lambda c: ["policy", "demo", *gov, "--checker", "rev"], sim_policy,
             must={("gov", "policy.create"), ("rev", "policy.publish")},
             denied=(aud, "policy.create")),
        Step("fund demo", lambda c: ["fund", "demo", "--capital", "50000000", "--out", tmp,
             "--replace", "--json", *gov, "--checker", "rev"], sim_fund,
             must={("gov", "fund.create"), ("gov", "fund.deposit"), ("system", "fund.enrol")},
             denied=(aud, "fund.create")),
    ]
    # fmt: on


def _world(engine: Engine, run: Callable[..., Any], tmp: Path) -> Ctx:
    """A small synthetic region built and peopled through the CLI (each audited as system),
    plus one known loan at bank B1 past the claim trigger and the people who act."""
    assert _events_after(engine, 0) == []
    r = run("synth", "--firms", "300", "--seed", "3", "--json")
    assert r.exit_code == 0, r.output
    assert _events_after(engine, 0) == [("system", "synth.build")]
    seq = _head(engine)
    r = run("demo-accounts", "--json")
    assert r.exit_code == 0, r.output
    demo = {x["username"]: x["tenant"] for x in json.loads(r.stdout)}
    assert Counter(_events_after(engine, seq)) == Counter(
        {("system", "user.create"): 6, ("demo_firm", "consent.grant"): 1}  # 6: the investor
    )
    seed_loans(engine, n=2, banks=("B1",))
    bad_status(engine, "L00000", date(2026, 5, 1), Decimal("500000.00"))
    policy, year, firm, entity = _programme(engine)
    add_people(
        engine,
        ("gov", "gov_admin", None, None),
        ("rev", "gov_reviewer", None, None),
        ("bank", "bank_officer", "B1", None),
        ("aud", "auditor", None, None),
        ("firmuser", "enterprise_user", None, firm),
        password=PASSWORD,
    )
    seq = _head(engine)
    r = run("users", "create", "rev2", "--role", "gov_reviewer")
    assert r.exit_code == 0, r.output
    assert _events_after(engine, seq) == [("system", "user.create")]
    from tests.credit.test_credit_scorecard import synthetic

    training = tmp / "train.csv"
    synthetic(600).write_csv(training)
    return {
        "training": training,
        "policy": policy,
        "year": year,
        "programme": f"{policy}-{year}",
        "firm": firm,
        "entity": entity,
        "demo_firm": demo["demo_firm"],
        "loan_firm": make_uscc(0),
    }


def test_every_state_changing_command_is_audited_as_its_actor(
    engine: Engine, cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _world(engine, cli, tmp_path)

    def audit_down(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("audit log unavailable")

    for step in _steps(engine, tmp_path):
        argv = step.argv(ctx)
        if step.denied is not None:
            user, action = step.denied
            before = _checksums(engine)
            r = cli(*_swap_who(argv, user))
            assert isinstance(r.exception, Forbidden), (step.name, r.output, r.exception)
            assert (r.exception.reason_zh, r.exception.reason_en) == (
                f"角色 auditor 无权执行 {action}",
                f"role auditor may not perform {action}",
            ), step.name
            assert _checksums(engine) == before, f"{step.name}: a refused command changed data"
        if step.atomic:
            before = _checksums(engine)
            with monkeypatch.context() as m:
                m.setattr(audit, "append", audit_down)
                r = cli(*argv)
            assert r.exit_code != 0, f"{step.name}: succeeded without its audit record"
            assert _checksums(engine) == before, f"{step.name}: change kept without its record"
        seq = _head(engine)
        r = cli(*argv)
        assert r.exit_code == 0, (step.name, r.output, r.exception)
        got = _events_after(engine, seq)
        if isinstance(step.events, list):
            assert got == step.events, step.name
        else:
            assert set(got) <= step.events and step.must <= set(got), (step.name, set(got))
        step.keep(ctx, r.stdout)


def test_maker_checker_holds_on_the_cli(engine: Engine, cli: Callable[..., Any]) -> None:
    """The fund claim's approver must differ from its reviewer, on the CLI as on the web; a
    policy programme's publisher from its maker. Refused, nothing changes, nothing is audited."""
    from kejin.errors import ValidationError

    seed_loans(engine, n=1)
    bad_status(engine, "L00000", date(2026, 5, 1), Decimal("500000.00"))
    add_people(
        engine,
        ("gov", "gov_admin", None, None),
        ("gov2", "gov_admin", None, None),
        ("bank", "bank_officer", "B1", None),
    )
    for args in (
        ("create", "P", "--scheme", "anhui", "--on", "2026-01-02", "--who", "gov"),
        ("deposit", "P", "--amount", "500000", "--on", "2026-01-02", "--who", "gov"),
        ("enrol", "P", "L00000", "--on", "2026-01-10", "--who", "bank"),
    ):
        assert cli("fund", *args).exit_code == 0
    r = cli("fund", "claim", "P", "L00000", "--on", "2026-05-04", "--who", "bank", "--json")
    claim = json.loads(r.stdout)["claim"]
    assert cli("fund", "review", claim, "--on", "2026-05-05", "--who", "gov").exit_code == 0
    seq, before = _head(engine), _checksums(engine)
    r = cli("fund", "approve", claim, "--on", "2026-05-06", "--who", "gov")
    assert isinstance(r.exception, ValidationError) and "maker-checker" in r.exception.reason_en
    assert _checksums(engine) == before and _events_after(engine, seq) == []
    assert cli("fund", "approve", claim, "--on", "2026-05-06", "--who", "gov2").exit_code == 0


def test_who_must_name_an_active_user(engine: Engine, cli: Callable[..., Any]) -> None:
    """No --who, an unknown name or a deactivated account: refused naming --who, nothing done."""
    from kejin.access.rules import Unauthenticated
    from kejin.access.tables import User
    from kejin.db import transaction

    add_people(engine, ("gone", "gov_admin", None, None))
    with transaction(engine) as s:
        s.scalars(select(User).where(User.username == "gone")).one().active = False
    seq = _head(engine)
    for who in ((), ("--who", "nobody"), ("--who", "gone")):
        r = cli("fund", "create", "P", "--scheme", "anhui", *who)
        assert isinstance(r.exception, Unauthenticated), r.output
        assert r.exception.problems[0].field == "--who"
        assert "--who" in r.exception.render()
    assert _events_after(engine, seq) == []


def test_the_cli_refusal_is_the_apis(engine: Engine, cli: Callable[..., Any]) -> None:
    """The auditor asking for a refresh is refused by the API and by the CLI in the same words."""
    from kejin.api import create_app

    add_people(engine, ("aud", "auditor", None, None), password=PASSWORD)
    client = TestClient(create_app(engine, session_key="k"), raise_server_exceptions=False)
    r = client.post("/api/auth/login", json={"username": "aud", "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    api = client.post("/api/whitelist/refresh")
    assert api.status_code == 403
    res = cli("whitelist", "refresh", "--who", "aud")
    assert isinstance(res.exception, Forbidden)
    assert (res.exception.reason_zh, res.exception.reason_en) == (
        api.json()["reason_zh"],
        api.json()["reason_en"],
    )


def test_make_demo_acts_as_demo_accounts_made_before_it() -> None:
    """`make demo` passes the demo accounts' names where a person acts, and creates them before
    the first such step (they were made last, so the demo's pushes, programmes and payouts had
    no person to act as)."""
    import re

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo: ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    made = next(i for i, line in enumerate(recipe) if "kejin demo-accounts" in line)
    acting = [i for i, line in enumerate(recipe) if re.search(r"--(who|checker) ", line)]
    assert acting and min(acting) > made
    names = {m for line in recipe for m in re.findall(r"--(?:who|checker) (\S+)", line)}
    assert names <= {"demo_gov", "demo_reviewer", "demo_bank", "demo_firm", "demo_auditor",
                     "demo_investor"}  # fmt: skip
    for step in ("whitelist push", "policy demo", "fund demo", "credit demo"):
        line = next(x for x in recipe if f"kejin {step}" in x)
        assert "--who demo_" in line, step
