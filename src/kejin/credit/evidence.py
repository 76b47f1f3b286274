"""The 尽职免责 evidence pack: what was known, which rules and model decided, what came out,
what the officer did — and a replay proving that the stored inputs give the stored outputs.

Seeds 001 §5 and 004 §3 ask banks to apply due-diligence exemption (尽职免责) to sci-tech loans;
an officer can only claim it if the decision can be shown to follow the approved table and
model from the data available at the time. The replay uses only what the record holds (input
snapshot, table text, model artefact by content hash), never today's registry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine, select

from kejin.access.tables import Consent
from kejin.credit import decisions, registry
from kejin.credit.tables import CreditDecision
from kejin.db import transaction
from kejin.errors import KejinError, NotFoundError, Problem
from kejin.exports import Book

_META = ("decision_id", "table_version", "model_id", "consent_id")


def find(engine: Engine, key: str) -> CreditDecision:
    """A decision by id, or the latest decision linked to loan contract ``key``."""
    with transaction(engine) as s:
        row = None
        if key.isdigit():
            row = s.get(CreditDecision, int(key))
        if row is None:
            row = s.scalars(
                select(CreditDecision)
                .where(CreditDecision.contract_no == key)
                .order_by(CreditDecision.id.desc())
                .limit(1)
            ).first()
        if row is None:
            raise NotFoundError(
                "没有该贷款或决策的记录",
                "no decision recorded for this loan or id",
                [Problem("", "", field="key", value=key)],
            )
        s.expunge(row)
        return row


def replay(engine: Engine, row: CreditDecision) -> dict:
    """Re-evaluate the stored snapshot under the stored table and model; compare outputs."""
    loaded = decisions.parse_table(row.table, f"credit_decisions/{row.id}")
    art = registry.fetch(engine, row.model_id)[1] if row.model_id else None
    snap = json.loads(row.inputs)
    again = decisions.evaluate(snap, loaded.table, art)
    stored = {k: v for k, v in json.loads(row.outputs).items() if k not in _META}
    diffs = sorted(k for k in set(stored) | set(again) if stored.get(k) != again.get(k))
    return {
        "reproduces": not diffs and loaded.version == row.table_version,
        "table_hash_matches": loaded.version == row.table_version,
        "differences": diffs,
        "replayed_outputs": again,
    }


def consent_of(engine: Engine, consent_id: int | None) -> dict | None:
    """The consent a decision read the firm's data under, as it stands now (explainability:
    the pack says under which grant, for which purpose and scope, and whether it still holds)."""
    if consent_id is None:
        return None
    with transaction(engine) as s:
        c = s.get(Consent, consent_id)
        assert c is not None  # a foreign key
        return {
            "id": c.id,
            "purpose": c.purpose,
            "scope": c.scope,
            "granted_at": c.granted_at.isoformat(),
            "expires_at": c.expires_at.isoformat(),
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        }


def pack(engine: Engine, key: str) -> dict:
    row = find(engine, key)
    model = registry.fetch(engine, row.model_id)[1] if row.model_id else None
    return {
        "consent": consent_of(engine, row.consent_id),
        "inputs_sha256": hashlib.sha256(row.inputs.encode()).hexdigest(),
        "decision_id": row.id,
        "uscc": row.uscc,
        "product": row.product,
        "decided_at": row.decided_at.isoformat(),
        "as_of": row.as_of,
        "contract_no": row.contract_no,
        "officer": row.officer,
        "action": row.action,
        "action_by": row.action_by,
        "action_note": row.action_note,
        "action_at": row.action_at.isoformat() if row.action_at else None,
        "table_version": row.table_version,
        "table_text": row.table,
        "model_id": row.model_id,
        "model": model,
        "inputs": json.loads(row.inputs),
        "outputs": json.loads(row.outputs),
        "replay": replay(engine, row),
    }


#: The input snapshot's whitelist fields: all a bank still sees of a stored decision's inputs
#: once no consent of the firm covers it (the rest of the pack that is the bank's own — table,
#: model, officer, action, the replay's verdict and the snapshot's digest — stays).
WHITELIST_INPUTS = ("uscc", "as_of", "model_id")
WHITELIST_FIRM = ("name", "stage")


def for_bank(p: dict, consent_id: int | None, refusal: KejinError | None) -> dict:
    """The pack as a bank may read it now: whole under a live consent covering the decision
    record (``consent_id``, named as ``read_under_consent``), else with every value of the firm
    beyond the whitelist fields withheld and the reason (``refusal``) said in both languages.

    Why withheld rather than kept as the bank's due-diligence file: docs/service.md, "Consent
    and data classes". The record itself is never altered, so the auditor still replays it and
    ``inputs_sha256`` lets the bank prove that pack to be the one it decided on.
    """
    if refusal is None:
        return {**p, "read_under_consent": consent_id}
    inputs = p["inputs"]
    return {
        **{k: v for k, v in p.items() if k not in ("inputs", "outputs", "replay")},
        "inputs": {
            **{k: inputs.get(k) for k in WHITELIST_INPUTS},
            "firm": {k: inputs["firm"].get(k) for k in WHITELIST_FIRM},
        },
        "outputs": {},
        "replay": {k: p["replay"][k] for k in ("reproduces", "table_hash_matches", "differences")},
        "read_under_consent": None,
        "withheld": {"zh": refusal.reason_zh, "en": refusal.reason_en},
    }


def export(engine: Engine, key: str, out_dir: str | Path, built: dict | None = None) -> dict:
    """Write ``evidence-<id>.json`` and ``evidence-<id>.xlsx``; return the pack's summary.

    ``built`` is a pack already made for its reader (a bank's, with what its consent no longer
    covers withheld, :func:`for_bank`); by default the whole pack."""
    p = pack(engine, key) if built is None else built
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"evidence-{p['decision_id']}"
    (out / f"{stem}.json").write_text(
        json.dumps(p, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    wb = Book()
    ws = wb.sheet("summary 概览")
    for k in (
        "decision_id", "uscc", "product", "decided_at", "as_of", "contract_no", "officer",
        "action", "action_by", "action_note", "action_at", "table_version", "model_id",
        "inputs_sha256",
    ):  # fmt: skip
        ws.row([k, p[k]])
    c = p["consent"]
    ws.row(["consent 数据授权", f"#{c['id']} {c['purpose']}/{c['scope']}" if c else None])
    if p.get("withheld"):
        ws.row(["withheld 已隐去", p["withheld"]["en"]])
    ws.row(["replay reproduces 复核一致", p["replay"]["reproduces"]])
    comp = wb.sheet("decision 决策")
    comp.row(["component 项目", "value 结果", "reason code", "原因", "reason"])
    for name, item in p["outputs"].items():
        if isinstance(item, dict) and "reasons" in item:
            for r in item["reasons"]:
                comp.row(
                    [
                        name,
                        json.dumps(item["value"], ensure_ascii=False),
                        r["code"],
                        r["zh"],
                        r["en"],
                    ]
                )
    inp = wb.sheet("inputs 输入快照")
    inp.row(["field 字段", "value 值"])
    inp.rows(_flatten(p["inputs"]))
    tab = wb.sheet("table 决策表")
    tab.rows((line,) for line in p["table_text"].splitlines())
    wb.save(out / f"{stem}.xlsx")
    return {
        "decision_id": p["decision_id"],
        "reproduces": p["replay"]["reproduces"],
        "differences": p["replay"]["differences"],
        "files": [f"{stem}.json", f"{stem}.xlsx"],
    }


def _flatten(obj: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(obj, dict):
        out: list[tuple[str, object]] = []
        for k in sorted(obj):
            out += _flatten(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        return [(prefix, json.dumps(obj, ensure_ascii=False))]
    return [(prefix, obj)]
