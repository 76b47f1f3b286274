"""Consent × every bank-reachable path to a firm's data: only the whitelist fields leave without a
live consent whose purpose and scope cover the data (issue 14, item 2).

The firm is F2, pushed to BKA (so the bank may *see* it: the gate passes and only consent stands
between the bank and the data). A decision on F2 is stored under BKA's officer before any
consent exists — as the code before this rule recorded them (``consent_id`` empty) — and then
the firm's relation to BKA is put in one of six states. Every path is then read by the bank
(session and, for the API, its token) and the CLI with ``--who``: a value beyond the whitelist
fields reaches the bank exactly when the state's consent covers the path's data class
(``kejin.access.rules.DATA_CLASSES``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select, update

import kejin.credit.routes  # noqa: F401  (registers the credit rules before the world issues tokens)
from kejin.access import service
from kejin.access.audit import utcnow
from kejin.access.tables import Consent
from kejin.credit import decisions
from kejin.credit.tables import CreditDecision
from kejin.db import transaction
from kejin.registry.tables import AnnualIndicator

from .conftest import bearer, login
from .world import F2, add_user

#: The firm's relation to BKA: (purpose, scope) of the consent, and what became of it.
STATES: dict[str, tuple[str, str, str] | None] = {
    "none": None,
    "wrong_purpose": ("product_matching", "full", "live"),
    "wrong_scope": ("credit_assessment", "profile", "live"),
    "live": ("credit_assessment", "full", "live"),
    "revoked": ("credit_assessment", "full", "revoked"),
    "expired": ("credit_assessment", "full", "expired"),
}

#: The data class each state's consent opens (the rule under test, written out by hand).
OPENS: dict[str, set[str]] = {
    "none": set(),
    "wrong_purpose": {"profile", "financials"},
    "wrong_scope": {"profile"},
    "live": {"profile", "financials", "credit_decision", "credit_record"},
    "revoked": set(),
    "expired": set(),
}

REVENUE = Decimal("7654321.09")  # F2's revenue last year: distinctive, so any leak shows


def _enterprise_user(engine: Engine) -> Any:
    with transaction(engine) as s:
        return service.principal_of(add_user(s, None, "ent2", "enterprise_user", uscc=F2))


def _set_state(engine: Engine, state: str) -> None:
    spec = STATES[state]
    if spec is None:
        return
    purpose, scope, fate = spec
    firm = _enterprise_user(engine)
    now = utcnow()
    granted = now - timedelta(days=400) if fate == "expired" else now
    with transaction(engine) as s:
        c = service.grant_consent(
            s, firm, uscc=F2, institution_id="BKA", purpose=purpose, scope=scope,
            expires_at=granted + timedelta(days=365), now=granted,
        )  # fmt: skip
        if fate == "revoked":
            service.revoke_consent(s, firm, c.id)


@pytest.fixture
def case(app, engine: Engine, world, request) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """F2 scored, one decision on it stored under BKA's officer, the firm in ``request.param``."""
    from kejin.points.service import score_run

    with transaction(engine) as s:
        s.execute(update(AnnualIndicator).where(AnnualIndicator.uscc == F2).values(revenue=REVENUE))
    score_run(engine, "most-v1")
    out = decisions.decide(engine, F2, decisions.load_table("points_credit"))  # an analyst's
    with transaction(engine) as s:  # ... recorded for the bank, as before the consent rule
        s.execute(
            update(CreditDecision)
            .where(CreditDecision.id == out["decision_id"])
            .values(officer="bank")
        )
    _set_state(engine, request.param)
    return {"state": request.param, "decision": out["decision_id"], "limit": out["decision.limit"]}


def _secrets(engine: Engine, limit: dict[str, Any]) -> dict[str, list[str]]:
    """Values of F2 beyond the whitelist fields, by the data class that would open them."""
    revenue = f"{REVENUE:.2f}"
    shown = [revenue, f"{REVENUE:,.2f}"]
    record = [*shown, *([limit["value"]] if limit["value"] else [])]
    return {
        "profile": ["TS2024002", "2016-03-01"],  # certificate number, founding date
        "financials": [*shown, "peer_percentile", "如何提升"],  # indicators, points detail
        "credit_decision": [*shown, "decision.limit", "decision-table"],
        "credit_record": record,
        "history": [f"{f}=" for f in OUTCOME],
    }


def _xlsx_text(content: bytes) -> str:
    wb = load_workbook(io.BytesIO(content))
    return "\n".join(
        str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )


Reader = Callable[[Any, dict[str, Any]], tuple[int, str]]

#: A history row's values beyond the whitelist fields (the decision's outcome on the firm).
OUTCOME = ("eligible", "grade", "credit_allowed", "limit", "rate")


def _history_api(c: Any, k: dict[str, Any]) -> tuple[int, str]:
    """The history row of the decision, reduced to the outcome values it shows (if any)."""
    r = c.get("/api/institutions/BKA/credit-decisions")
    if r.status_code != 200:
        return r.status_code, r.text
    row = next(i for i in r.json()["items"] if i["decision_id"] == k["decision"])
    return 200, " ".join(f"{f}={row[f]}" for f in OUTCOME if row[f] is not None)


def _history_page(c: Any, k: dict[str, Any]) -> tuple[int, str]:
    """The page's row of the decision: shown values, or only the withheld notice."""
    r = c.get("/bank/credit")
    if r.status_code != 200:
        return r.status_code, r.text
    row = r.text.split(f'data-decision="{k["decision"]}"', 1)[1].split("</tr>", 1)[0]
    return 200, "" if 'class="muted withheld"' in row else "grade=" + row


def _get(url: str, xlsx: bool = False) -> Reader:
    def read(c: Any, k: dict[str, Any]) -> tuple[int, str]:
        r = c.get(url.format(**k))
        ok = r.status_code == 200
        return r.status_code, (_xlsx_text(r.content) if xlsx and ok else r.text)

    return read


def _post(url: str) -> Reader:
    def read(c: Any, k: dict[str, Any]) -> tuple[int, str]:
        r = c.post(url.format(**k), data={"csrf_token": c.headers.get("X-CSRF-Token", "")})
        return r.status_code, r.text

    return read


#: path -> (data class, reader, may a bank token use it)
PATHS: dict[str, tuple[str, Reader, bool]] = {
    "api profile": ("financials", _get(f"/api/firms/{F2}"), True),
    "page profile": ("financials", _get(f"/firms/{F2}"), False),
    "api profile (profile fields)": ("profile", _get(f"/api/firms/{F2}"), True),
    "api points": ("financials", _get(f"/api/firms/{F2}/points"), False),
    "page points": ("financials", _get(f"/firms/{F2}/points"), False),
    "api decide": ("credit_decision", _post(f"/api/firms/{F2}/credit-decisions"), True),
    "page decide": ("credit_decision", _post(f"/firms/{F2}/credit"), False),
    "api evidence": ("credit_record", _get("/api/credit-decisions/{decision}"), True),
    "api evidence.json": (
        "credit_record",
        _get("/api/credit-decisions/{decision}/evidence.json"),
        True,
    ),
    "api evidence.xlsx": (
        "credit_record",
        _get("/api/credit-decisions/{decision}/evidence.xlsx", xlsx=True),
        True,
    ),
    "page evidence": ("credit_record", _get("/bank/credit/{decision}"), False),
    "api history": ("history", _history_api, True),
    "page history": ("history", _history_page, False),
}

#: Paths that are refused outright without the consent (rather than answered with less).
REFUSED_WITHOUT = {"api points", "page points", "api decide", "page decide"}


@pytest.mark.parametrize("case", list(STATES), indirect=True)
def test_only_whitelist_fields_leave_without_a_covering_consent(
    app, engine: Engine, world, case: dict[str, Any]
) -> None:
    state = case["state"]
    clients = {"session": login(app, "bank"), "token": bearer(app, world.secrets["t3"])}
    secrets = _secrets(engine, case["limit"])
    failures = []
    for name, (data_class, read, token_ok) in PATHS.items():
        covered = ("credit_record" if data_class == "history" else data_class) in OPENS[state]
        for via, client in clients.items():
            if via == "token" and not token_ok:
                continue
            status, body = read(client, case)
            leaked = [x for x in secrets[data_class] if x in body]
            if status >= 500:
                failures.append(f"{name} [{via}]: {status}")
            elif covered and (status != 200 or not leaked):
                failures.append(f"{name} [{via}]: covered but got {status}, nothing of the data")
            elif not covered and leaked:
                failures.append(f"{name} [{via}]: not covered, leaked {leaked} ({status})")
            elif not covered and name in REFUSED_WITHOUT:
                if status != 403:
                    failures.append(f"{name} [{via}]: not covered, expected 403, got {status}")
                elif via == "token" or name.startswith("api"):
                    problem = json.loads(body)["problems"][0]
                    if problem["field"] != "consent" or "consent" not in problem["reason_en"]:
                        failures.append(f"{name} [{via}]: refusal does not name the consent")
    assert not failures, f"state {state}:\n" + "\n".join(failures)


@pytest.mark.parametrize("case", list(STATES), indirect=True)
def test_cli_obeys_the_same_rule(
    engine: Engine, world, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``kejin credit decide/evidence --who bank`` go through the same services."""
    from tests.credit.firms import cli

    state = case["state"]
    secrets = _secrets(engine, case["limit"])
    with cli(engine, monkeypatch) as run:
        r = run("credit", "decide", F2, "--product", "points_credit", "--who", "bank", "--json")
        if "credit_decision" in OPENS[state]:
            assert r.exit_code == 0, r.output
        else:
            assert r.exit_code != 0 and r.exception.problems[0].field == "consent"
            assert not any(x in r.output for x in secrets["credit_decision"])
        r = run("credit", "evidence", str(case["decision"]), "--who", "bank", "--out", tmp_path)
        assert r.exit_code == 0, r.output
    written = (tmp_path / f"evidence-{case['decision']}.json").read_text(encoding="utf-8")
    written += _xlsx_text((tmp_path / f"evidence-{case['decision']}.xlsx").read_bytes())
    leaked = [x for x in secrets["credit_record"] if x in written]
    assert bool(leaked) is ("credit_record" in OPENS[state]), leaked


def test_a_decision_names_its_consent_and_is_refused_after_revocation(
    app, engine: Engine, world
) -> None:
    """The record says under which consent the data was read; once the firm revokes, a new
    decision is refused naming the consent, the stored one keeps its consent id, and the
    auditor still reads (and replays) the whole pack."""
    bank, ent, aud = login(app, "bank"), login(app, "ent"), login(app, "aud")
    from .world import F1

    c1 = world.consents["c1"]
    r = bank.post(f"/api/firms/{F1}/credit-decisions")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["consent_id"] == c1
    with transaction(engine) as s:
        assert s.get(CreditDecision, d["decision_id"]).consent_id == c1
    pack = bank.get(f"/api/credit-decisions/{d['decision_id']}").json()
    assert pack["consent"]["id"] == c1 and pack["consent"]["purpose"] == "credit_assessment"
    assert pack["read_under_consent"] == c1 and pack["replay"]["reproduces"] is True
    assert ent.post(f"/api/consents/{c1}/revoke").status_code == 200
    r = bank.post(f"/api/firms/{F1}/credit-decisions")
    assert r.status_code == 403
    err = r.json()
    assert f"#{c1}" in err["reason_zh"] and f"consent #{c1} was revoked" in err["reason_en"]
    assert "授信评估" in err["reason_zh"] and "credit_assessment" in err["reason_en"]
    withheld = bank.get(f"/api/credit-decisions/{d['decision_id']}").json()
    assert withheld["outputs"] == {} and "revenue" not in withheld["inputs"]
    assert withheld["consent"]["revoked_at"] is not None
    assert withheld["inputs_sha256"] == pack["inputs_sha256"]
    assert withheld["replay"]["reproduces"] is True and "replayed_outputs" not in withheld["replay"]
    full = aud.get(f"/api/credit-decisions/{d['decision_id']}").json()
    assert full["outputs"] == pack["outputs"] and full["inputs"] == pack["inputs"]
    with transaction(engine) as s:
        assert s.scalar(select(Consent.revoked_at).where(Consent.id == c1)) is not None
