"""The auditor's view: actions as labels, an action-area (prefix) filter, a date range, and an
Excel download of the filtered events that is itself recorded in the log."""

from __future__ import annotations

import importlib
import io
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from kejin import times
from kejin.access import service
from kejin.access.audit import utcnow
from kejin.access.rules import known_actions
from kejin.access.service import SYSTEM
from kejin.access.tables import AuditEvent
from kejin.api import AREA_ROUTERS
from kejin.db import transaction
from kejin.vocab import audit_action_label

from .conftest import login

#: Actions recorded outside the rule table (sign-in, the CLI's system events, steps of an act).
LOGGED_ONLY = [
    "credit.warnings.export",
    "fund.statement",
    "firm.record",
    "registry.snapshot",
    "registration.confirm",
    "registration.submit",
    "auth.locked",
    "auth.login",
    "auth.login_failed",
    "auth.refused_locked",
    "credit.model.register",
    "db.upgrade",
    "match.product.submit",
    "match.product.reject",
    "match.prospects",
    "match.queue",
    "match.supermarket",
    "policy.notify",
    "policy.open",
    "user.password_change",
    "user.password_change_refused",
    "user.tenant",
    "audit.export",
    "credit.warnings",
]


def test_every_action_reads_as_words() -> None:
    for mod in AREA_ROUTERS:
        importlib.import_module(mod)
    for action in sorted(known_actions() | set(LOGGED_ONLY)):
        for lang in ("zh", "en"):
            label = audit_action_label(action, lang)
            assert "其他操作" not in label and "other action" not in label, action
            assert action not in label and "_" not in label, (action, label)
    assert audit_action_label("fund.write_off", "zh") == "风险补偿资金池 · 核销"
    assert audit_action_label("nosuch.thing", "en") == "other action"


def _events(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        for action, entity in (
            ("fund.deposit", "P1"),
            ("fund.pay", "7"),
            ("fund.write_off", "7"),
            ("policy.publish", "3"),
            ("funding_x.read", "x"),  # not a fund act though it starts with "fund"
        ):
            service.log(s, SYSTEM, action, "pool", entity)


def test_the_action_area_filter_is_a_prefix_and_dates_bound_whole_days(app, world, engine) -> None:
    _events(engine)
    aud = login(app, "aud")
    got = aud.get("/api/audit", params={"action_prefix": "fund."}).json()
    assert sorted(e["action"] for e in got) == ["fund.deposit", "fund.pay", "fund.write_off"]
    today = date.fromisoformat(times.day(utcnow()))  # the day the page shows for now
    same_day = aud.get(
        "/api/audit",
        params={"action_prefix": "fund.", "since": today.isoformat(), "until": today.isoformat()},
    )
    assert len(same_day.json()) == 3
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert aud.get("/api/audit", params={"since": tomorrow}).json() == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert aud.get("/api/audit", params={"action_prefix": "fund.", "until": yesterday}).json() == []
    backwards = aud.get("/api/audit", params={"since": tomorrow, "until": yesterday})
    assert backwards.status_code == 422
    page = aud.get("/audit", params={"action": "fund.", "since": today.isoformat()})
    table = page.text.split('id="audit-table"')[1].split("</table>")[0]
    assert "风险补偿资金池 · 核销" in table and "风险补偿资金池 · 存入资金" in table
    assert "fund.pay" not in table and "政策兑现" not in table
    bad = aud.get("/audit", params={"since": "2026-13-01"})
    assert bad.status_code == 422 and 'id="since-error"' in bad.text
    en = aud.get("/audit", params={"action": "policy.", "lang": "en"})
    assert "policy · publish" in en.text


def test_the_download_holds_the_filtered_events_and_is_itself_logged(app, world, engine) -> None:
    _events(engine)
    gov = login(app, "gov")
    r = gov.get("/audit/export.xlsx", params={"action": "fund."})
    assert r.status_code == 200 and r.headers["X-Kejin-Rows"] == "3"
    ws = load_workbook(io.BytesIO(r.content), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert [x[4] for x in rows[1:]] == [
        "风险补偿资金池 · 存入资金",
        "风险补偿资金池 · 支付",
        "风险补偿资金池 · 核销",
    ]
    assert all(x[5] == "资金池" and x[3] == "系统批处理" for x in rows[1:])
    with transaction(engine) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert ev.actor == "gov" and '"rows": 3' in ev.detail.replace('":3', '": 3')
    api = gov.get("/api/exports/audit.xlsx", params={"action_prefix": "policy."})
    assert api.headers["X-Kejin-Rows"] == "1"
    bank = login(app, "bank")
    assert bank.get("/audit/export.xlsx").status_code == 403


def _audited_literals() -> tuple[dict[str, str], dict[str, str]]:
    """(actions, entity kinds) written as literals in the source — ``log(session, p, ACTION,
    KIND, …)`` or ``action=`` / ``entity_kind=`` keywords — each with where it is written."""
    import ast
    from pathlib import Path

    import kejin

    src = Path(kejin.__file__).parent
    actions: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            where = f"{path.relative_to(src)}:{node.lineno}"
            for found, keyword, position in ((actions, "action", 2), (kinds, "entity_kind", 3)):
                values = [kw.value for kw in node.keywords if kw.arg == keyword]
                if name == "log" and len(node.args) > position:
                    values.append(node.args[position])
                for v in values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        found[v.value] = where
    return {a: w for a, w in actions.items() if "." in a}, kinds


def test_every_audited_entity_kind_and_action_in_the_code_reads_as_words() -> None:
    """The audit page names what a record is about by ``AUDIT_ENTITIES`` and what was done by
    ``audit_action_label``: a literal written in the source with no label there showed the
    auditor a raw code (``stats_month``) or "other action" (``stats.flags.read``,
    ``auth.logout``, …), so every literal kind and action in the source must have one."""
    from kejin.vocab import AUDIT_ENTITIES

    actions, kinds = _audited_literals()
    assert len(kinds) >= 10 and len(actions) >= 50  # the scan sees them, so it would see a new one
    missing = {k: where for k, where in kinds.items() if k not in AUDIT_ENTITIES}
    assert not missing, (
        f"audit entity kinds without a label in kejin.vocab.AUDIT_ENTITIES: {missing}"
    )
    unread = {
        a: where
        for a, where in actions.items()
        if any(
            "other action" in audit_action_label(a, lang)
            or "其他操作" in audit_action_label(a, lang)
            for lang in ("zh", "en")
        )
    }
    assert not unread, f"audited actions without a label (kejin.vocab.AUDIT_STEPS): {unread}"
