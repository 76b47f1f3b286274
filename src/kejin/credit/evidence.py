"""The 尽职免责 evidence pack: what was known, which rules and model decided, what came out,
what the officer did — and a replay proving that the stored inputs give the stored outputs.

Seeds 001 §5 and 004 §3 ask banks to apply due-diligence exemption (尽职免责) to sci-tech loans;
an officer can only claim it if the decision can be shown to follow the approved table and
model from the data available at the time. The replay uses only what the record holds (input
snapshot, table text, model artefact by content hash), never today's registry.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from kejin.credit import decisions, registry
from kejin.credit.tables import CreditDecision
from kejin.db import transaction
from kejin.errors import NotFoundError, Problem
from kejin.exports import Book

_META = ("decision_id", "table_version", "model_id")


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


def pack(engine: Engine, key: str) -> dict:
    row = find(engine, key)
    model = registry.fetch(engine, row.model_id)[1] if row.model_id else None
    return {
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


def export(engine: Engine, key: str, out_dir: str | Path) -> dict:
    """Write ``evidence-<id>.json`` and ``evidence-<id>.xlsx``; return the pack's summary."""
    p = pack(engine, key)
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
    ):  # fmt: skip
        ws.row([k, p[k]])
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
