"""The security matrix: every route × every principal × every tenant relation → allowed or refused.

The rows come from the application's route table, not from a list kept here: a new route
without a permission gate, with an action this file has no expectation for, or with a path
parameter it cannot fill, fails the suite. The expectations below are written from the issue's
words (who may see what), independently of ``kejin.access.rules.RULES``, so a wrong rule fails.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kejin.access.deps import gate_of
from kejin.access.rules import TOKEN_SCOPES
from kejin.api import create_app, route_table

from .conftest import bearer, login
from .creditworld import build_decisions
from .fundworld import build_fund
from .world import F1, F2, F3, F4

#: Routes open without login; everything else must carry a gate.
PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/api/health"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),  # ends only the caller's own session (CSRF-checked)
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    # A firm's self-registration: the applicant and the legal representative have no account
    # yet (every step is audited and checked in kejin.access.registration).
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/register/confirm"),
    ("POST", "/register/confirm"),
    ("GET", "/register/status"),
    ("POST", "/register/status"),
}

PRINCIPALS = ("anon", "gov", "rev", "aud", "bank", "bank_token", "ent", "inv")
GOV_READERS = {"gov", "rev", "aud"}

#: Target values per path parameter: relation name -> value (consent/token ids filled from the world).
TARGETS: dict[str, dict[str, str]] = {
    "uscc": {"F1_consented_own": F1, "F2_pushed": F2, "F3_other_bank": F3, "F4_none": F4},
    "institution_id": {"BKA_own": "BKA", "BKB_other": "BKB"},
    "consent_id": {"c1_own": "c1", "c2_other": "c2"},
    "token_id": {"t1_own": "t1", "t2_other": "t2"},
    # Accounts have no tenant: one (absent) id shows the gate's answer (allowed → 404).
    "user_id": {"U_any": "999999"},
    # A fund pool is a government object without a tenant: one absent id (allowed → 404).
    "pool_id": {"pool_any": "NO-SUCH-POOL"},
    # Policy programmes and applications are government objects without a tenant: the gate's
    # answer cannot depend on which one, so one (absent) id each shows it (allowed → 404).
    "programme_id": {"P_any": "karamay_interest-2025"},
    "application_id": {"A_any": "1"},
    "claim_id": {"claim_BKA_own": "claim_BKA_own", "claim_BKB_other": "claim_BKB_other"},
    # Marketplace objects: the gate's answer does not depend on which one (the service checks
    # the holder, the maker, the firm), so one absent id each shows it (allowed → 404).
    "need_id": {"N_any": "999999"},
    "product_id": {"P_any": "NO-SUCH-PRODUCT"},
    "version_id": {"V_any": "999999"},
    # Matchmaking events and their intents: the service checks the tenant (one absent id each).
    "event_id": {"E_any": "999999"},
    "intent_id": {"I_any": "999999"},
    # A whitelist push's file: the government's, no tenant (one absent id: allowed → 404).
    "push_id": {"W_any": "999999"},
    # A relending batch: the service checks the bank's own (one absent id: allowed → 404).
    "batch_id": {"B_any": "999999"},
    # A registration request: the government's queue, no tenant (one absent id: allowed → 404).
    "request_id": {"R_any": "999999"},
    "decision_id": {
        "decision_BKA_own": "decision_BKA_own",
        "decision_BKB_other": "decision_BKB_other",
    },
}

#: Objects some path parameters name, built for the routes that need them (ids by relation).
BUILDERS: dict[str, Any] = {
    "claim_id": lambda engine: build_fund(engine, claims=True),
    "decision_id": build_decisions,
}


def everyone(_: str) -> set[str]:
    return {"gov", "rev", "aud", "bank", "ent"}


def everyone_and_investor(_: str) -> set[str]:
    """What an investor (a venture fund's user) shares with everyone: its own account, the
    institution and product lists, its institution's consents."""
    return everyone(_) | {"inv"}


#: action -> function(relation) -> principals allowed (bank_token derived from bank + scopes).
EXPECT: dict[str, Any] = {
    "self.read": everyone_and_investor,
    "firm.search": everyone,
    "firm.export": lambda _: GOV_READERS | {"bank"},
    "firm.read": lambda rel: (
        GOV_READERS
        | ({"bank"} if rel in ("F1_consented_own", "F2_pushed") else set())
        | ({"ent"} if rel == "F1_consented_own" else set())
    ),
    "firm.loans": lambda rel: GOV_READERS | ({"ent"} if rel == "F1_consented_own" else set()),
    "stats.region": lambda _: GOV_READERS,
    # Regulator statistics: the region's figures and the first-loan flag check (names firms).
    "stats.monthly": lambda _: GOV_READERS,
    "institution.list": everyone_and_investor,
    "product.list": everyone_and_investor,
    "loan.list": lambda rel: GOV_READERS | ({"bank"} if rel == "BKA_own" else set()),
    "consent.list": everyone_and_investor,
    "consent.grant": lambda rel: {"ent"} if rel == "F1_consented_own" else set(),
    "consent.revoke": lambda rel: {"ent"} if rel == "c1_own" else set(),
    "token.list": lambda _: {"bank", "gov"},
    "token.issue": lambda _: {"bank"},
    "token.revoke": lambda rel: {"gov"} | ({"bank"} if rel == "t1_own" else set()),
    "user.list": lambda _: {"gov", "aud"},
    "user.create": lambda _: {"gov"},
    # The second person of a privileged account: either government role (the service refuses
    # the account's creator); switching accounts off is the administrator's.
    "user.approve": lambda _: {"gov", "rev"},
    "user.deactivate": lambda _: {"gov"},
    "self.password": everyone_and_investor,
    "audit.read": lambda _: {"gov", "aud"},
    "audit.export": lambda _: {"gov", "aud"},
    # every bank may ask; the service cuts its list to its own borrowers
    "credit.warnings": lambda _: GOV_READERS | {"bank"},
    "firm.record": lambda _: GOV_READERS,
    "page.bank": lambda _: {"bank"},
    "whitelist.versions": lambda _: GOV_READERS,
    "whitelist.diff": lambda _: GOV_READERS,
    "whitelist.refresh": lambda _: {"gov"},
    "whitelist.push": lambda _: {"gov"},
    "whitelist.pushed": lambda rel: GOV_READERS | ({"bank"} if rel == "BKA_own" else set()),
    "page.whitelist": lambda _: GOV_READERS,
    "policy.matches": lambda rel: GOV_READERS | ({"ent"} if rel == "F1_consented_own" else set()),
    "policy.programmes": lambda _: GOV_READERS,
    "policy.programme": lambda _: GOV_READERS,
    "policy.eligible": lambda _: GOV_READERS,
    "policy.simulate": lambda _: GOV_READERS,
    "policy.create": lambda _: {"gov"},
    "policy.publish": lambda _: {"gov", "rev"},
    "policy.applications": lambda rel: (
        GOV_READERS | ({"ent"} if rel == "F1_consented_own" else set())
    ),
    "policy.apply": lambda rel: {"ent"} if rel == "F1_consented_own" else set(),
    "policy.review": lambda _: {"gov"},
    "policy.approve": lambda _: {"gov", "rev"},
    "policy.pay": lambda _: {"gov"},
    "policy.corrections": lambda _: GOV_READERS,
    "policy.correct": lambda _: {"gov"},
    "fund.pools": lambda _: GOV_READERS,
    # a decision reads the firm's data for credit assessment: the firm's consent for that
    # purpose, not a push, opens it (F1 gave BKA one; F2 was only pushed)
    "credit.decide": lambda rel: {"bank"} if rel == "F1_consented_own" else set(),
    "fund.claims": lambda rel: GOV_READERS | ({"bank"} if rel == "BKA_own" else set()),
    "points.read": lambda rel: (
        GOV_READERS | ({"bank", "ent"} if rel == "F1_consented_own" else set())
    ),
    "page.enterprise": lambda _: {"ent"},
    # fund desk: government steps by role (approval by either government role, the service
    # enforcing maker-checker by person); a bank's steps on its own loans and claims only.
    "fund.claim": lambda rel: GOV_READERS | ({"bank"} if rel == "claim_BKA_own" else set()),
    "fund.deposit": lambda _: {"gov"},
    "fund.review": lambda _: {"gov"},
    "fund.approve": lambda _: {"gov", "rev"},
    "fund.pay": lambda _: {"gov"},
    "fund.enrol": lambda _: {"bank"},
    "fund.report": lambda _: {"bank"},
    "fund.file": lambda _: {"bank"},
    # credit decisions: the bank's own institution; the auditor reads; nobody else.
    "credit.history": lambda rel: {"aud"} | ({"bank"} if rel == "BKA_own" else set()),
    "credit.evidence": lambda rel: {"aud"} | ({"bank"} if rel == "decision_BKA_own" else set()),
    "credit.act": lambda rel: {"bank"} if rel == "decision_BKA_own" else set(),
    "ingest.import": lambda _: {"gov"},
    # marketplace: banks edit and approve products (own institution, checked in the service),
    # firms post and follow their own needs, banks take and decide, the government watches.
    "match.product.edit": lambda _: {"bank", "gov"},
    "match.product.approve": lambda _: {"bank", "gov", "rev"},
    "match.for_product": lambda _: GOV_READERS | {"bank"},
    "match.need.post": lambda rel: {"ent"} if rel == "F1_consented_own" else set(),
    "match.need.list": lambda rel: GOV_READERS | ({"ent"} if rel == "F1_consented_own" else set()),
    "match.need.edit": lambda _: {"ent"},
    "match.need.read": lambda _: GOV_READERS | {"bank", "ent"},
    "match.for_need": lambda _: GOV_READERS | {"bank", "ent"},
    "match.take": lambda _: {"bank"},
    "match.prospect.push": lambda _: {"bank"},
    "match.decide": lambda _: {"bank"},
    "match.funnel": lambda _: GOV_READERS,
    "match.redispatch": lambda _: {"gov"},
    # assigning by hand a need nobody took in time: the administrator, as for the rule itself
    "match.assign": lambda _: {"gov"},
    # matchmaking events: the administrator creates and invites; every government reader and
    # the banks list and read them (a bank's view cut in the service), a firm lists its own
    # invitations and answers them; banks sign up and record intents and outcomes for their own
    # institution, the administrator for anyone.
    "match.event.create": lambda _: {"gov"},
    "match.event.invite": lambda _: {"gov"},
    "match.event.list": lambda _: GOV_READERS | {"bank", "ent", "inv"},
    "match.event.read": lambda _: GOV_READERS | {"bank", "inv"},
    "match.event.signup": lambda _: {"gov", "bank", "inv"},
    "match.event.reply": lambda _: {"ent"},
    "match.event.intent": lambda _: {"gov", "bank", "inv"},
    "match.event.outcome": lambda _: {"gov", "bank", "inv"},
    # investors: intents outside events (the consent checked in the service), their own list
    # (readers see every investor's), their desk.
    "match.intent.direct": lambda _: {"inv"},
    "match.intent.list": lambda _: GOV_READERS | {"inv"},
    "page.investor": lambda _: {"inv"},
    # issue 18: the branch (a gov_reviewer) approves relending, the administrator sets quotas
    # and marks banks; banks read their own ledger (scoped in the service) and submit batches.
    "relend.read": lambda _: GOV_READERS | {"bank"},
    "relend.batches": lambda _: {"bank"},
    "relend.quota": lambda _: {"gov"},
    "relend.approve": lambda _: {"rev"},
    "stats.banks": lambda _: GOV_READERS,
    "stats.mark": lambda _: {"gov"},
    # a mark's evidence: the government's readers, and the bank marked for its own
    "stats.bank_card": lambda rel: GOV_READERS | ({"bank"} if rel == "BKA_own" else set()),
    # firms' self-registration: the government reviews (the auditor reads), nobody else
    "registration.list": lambda _: GOV_READERS,
    "registration.letter": lambda _: GOV_READERS,
    "registration.decide": lambda _: {"gov", "rev"},
}

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _routes() -> list[tuple[str, str, Any]]:
    import os

    os.environ.setdefault("KEJIN_SESSION_KEY", "collection-only")
    from kejin.db import make_engine

    app = create_app(make_engine("sqlite://"), session_key="collect")
    return route_table(app)


ROUTES = _routes()


def test_every_route_is_public_or_gated_with_a_known_action() -> None:
    missing = []
    for method, path, route in ROUTES:
        if (method, path) in PUBLIC:
            continue
        gate = gate_of(route.dependant) if hasattr(route, "dependant") else None
        if gate is None:
            missing.append(f"{method} {path}: no permission gate")
        elif gate.action not in EXPECT:
            missing.append(f"{method} {path}: action {gate.action} has no expectation")
        for param in route.param_convertors if hasattr(route, "param_convertors") else {}:
            if param not in TARGETS:
                missing.append(f"{method} {path}: no targets for path parameter {param}")
    assert not missing, "\n".join(missing)


def _body(route: Any, csrf: str | None) -> dict[str, Any]:
    """Request body from the route's OpenAPI example (JSON) or a form with the CSRF token."""
    body = route.body_field
    if body is None:
        return {}
    ann = body.field_info.annotation
    assert isinstance(ann, type)
    if route.path.startswith("/api/"):
        ex = dict(ann.model_config.get("json_schema_extra", {}).get("examples", [{}])[0])
        if "institution_id" in ex:
            ex["institution_id"] = "BKA"
        if "username" in ex:
            ex["username"] = f"matrix_{abs(hash(route.path)) % 10**6}"
        if "role" in ex:
            ex["role"], ex["institution_id"] = "bank_officer", "BKA"
        return {"json": ex}
    return {
        "data": {
            "csrf_token": csrf or "",
            "institution_id": "BKA",
            "purpose": "product_matching",
            "scope": "profile",
            "expires_on": (date.today() + timedelta(days=400)).isoformat(),
        }
    }


CELLS: list[int] = []


def _add_investor(engine: Any) -> None:
    """The investor of the matrix: ``inv``, user of the venture fund VC1, to which no firm of
    the world consented (so every firm relation is refused to it)."""
    from sqlalchemy import select

    from kejin.access.tables import User
    from kejin.db import transaction
    from kejin.lending.tables import Institution

    from .world import add_user

    with transaction(engine) as s:
        if s.scalar(select(User.id).where(User.username == "inv")) is not None:
            return
        s.add(Institution(id="VC1", name="创投基金", kind="vc_fund", region_code="320700",
                          partner_bank=False, tech_branch=False))  # fmt: skip
        s.flush()
        add_user(s, None, "inv", "investor", institution_id="VC1")


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "matrix_cells.json").write_text(json.dumps({"cells": sum(CELLS)}))


GATED = [(m, p, r) for m, p, r in ROUTES if (m, p) not in PUBLIC]


@pytest.mark.parametrize(("method", "path", "route"), GATED, ids=[f"{m} {p}" for m, p, _ in GATED])
def test_matrix(app, engine, world, method: str, path: str, route: Any) -> None:
    gate = gate_of(route.dependant)
    clients: dict[str, TestClient] = {
        "anon": TestClient(app, raise_server_exceptions=False),
        "bank_token": bearer(app, world.secrets["t3"]),
    }
    _add_investor(engine)
    for name in ("gov", "rev", "aud", "bank", "ent", "inv"):
        clients[name] = login(app, name)
    params = [p for p in TARGETS if "{" + p + "}" in path]
    assert len(params) <= 1, "matrix handles one path parameter per route"
    relations = list(TARGETS[params[0]].items()) if params else [("-", "")]
    objects: dict[str, Any] = {"consent_id": world.consents, "token_id": world.tokens}
    if params and params[0] in BUILDERS:
        objects[params[0]] = BUILDERS[params[0]](engine)
    failures = []
    cells = 0
    for rel, raw in relations:
        value = objects.get(params[0] if params else "", {}).get(raw, raw)
        url = path.replace("{" + params[0] + "}", str(value)) if params else path
        allowed = EXPECT[gate.action](rel)
        for who in PRINCIPALS:
            c = clients[who]
            expect = who in allowed
            if who == "bank_token":
                expect = "bank" in allowed and gate.action in TOKEN_SCOPES
            csrf = c.headers.get("X-CSRF-Token")
            r = c.request(method, url, follow_redirects=False, **_body(route, csrf))
            cells += 1
            refused = r.status_code in (401, 403) or (
                who == "anon" and r.status_code == 303 and r.headers["location"] == "/login"
            )
            if r.status_code >= 500 or refused == expect:
                failures.append(
                    f"{who} {method} {url} [{rel}]: expected {'allowed' if expect else 'refused'}, got {r.status_code} {r.text[:120]}"
                )
    CELLS.append(cells)
    assert not failures, "\n".join(failures)
