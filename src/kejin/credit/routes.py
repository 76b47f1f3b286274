"""Routes of credit decisions.

A bank officer asks for a decision on a firm it may see (consented or pushed) for one of the
bundled products — which the firm's live credit-assessment consent must cover, else it is refused
naming that consent — and gets every component with its reason codes; it then reads its institution's
decision history, opens a decision's 尽职免责 evidence pack (inputs snapshot, table and model
versions, outputs with reason codes, officer action, replay), downloads it as JSON or Excel and
records its action. A decision belongs to the institution of the officer who made it (the record
names the officer), so a bank never sees another bank's decisions; the auditor reads them all.
Once no consent of the firm covers the record (revoked, expired), the bank's history and
evidence show only the whitelist fields and the bank's own facts of it (docs/service.md).
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.audit import utcnow
from kejin.access.deps import TX, permit
from kejin.access.rules import (
    ConsentRequired,
    Forbidden,
    Principal,
    Rule,
    add_rules,
    authorize,
    require_consent,
)
from kejin.access.tables import User
from kejin.credit.tables import CreditDecision
from kejin.errors import KejinError, NotFoundError, Problem
from kejin.ids import normalize_uscc
from kejin.lending.tables import Loan
from kejin.params import Offset
from kejin.registry.tables import Enterprise

add_rules(
    [
        # The firm's live credit-assessment consent is the gate (a push only makes the firm
        # visible): decisions.decide checks it before reading anything and refuses naming the
        # consent missing, which a tenant check here could only call "not allowed".
        Rule("credit.decide", "bank_officer", "region"),
        Rule("credit.history", "bank_officer", "own_institution"),
        Rule("credit.history", "auditor", "region"),
        # One decision: a bank officer only its institution's (checked by own_decision).
        Rule("credit.evidence", "bank_officer", "scoped"),
        Rule("credit.evidence", "auditor", "region"),
        Rule("credit.act", "bank_officer", "scoped"),
    ]
)

router = APIRouter(prefix="/api", tags=["credit 授信决策"])

#: Only bundled decision tables by id: the credit CLI also takes a TOML path, the API never does.
PRODUCT_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
COMPONENTS = (
    "eligible",
    "grade",
    "decision.credit_allowed",
    "decision.limit",
    "decision.rate",
    "decision.term_months",
)
DecisionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def decide(
    s: Session, engine: Any, p: Principal, uscc: str, product: str, as_of: date | None = None
) -> dict[str, Any]:
    """Evaluate, record (officer = the acting user) and audit one decision: the decision and its
    audit record are written in the request's transaction, so they commit together. The web
    and the CLI (``kejin credit decide --who``, which may also name a decision date) call this."""
    from kejin.credit import decisions

    out = decisions.decide(
        engine,
        normalize_uscc(uscc),
        decisions.load_table(product),
        as_of=as_of,
        officer=p.username,
        session=s,
        principal=p,
    )
    access.log(
        s,
        p,
        "credit.decide",
        "enterprise",
        out["uscc"],
        after={
            "decision": out["decision_id"],
            "product": product,
            "consent": out["consent_id"],
        },
    )
    return out


def _officers(institution_id: str) -> Any:
    return select(User.username).where(User.institution_id == institution_id)


def own_decision(s: Session, p: Principal, decision_id: int, action: str) -> CreditDecision:
    """The decision, if the principal may see it: a bank officer only its institution's (one
    of another bank is refused exactly like one that does not exist)."""
    authorize(s, p, action)
    row = s.get(CreditDecision, decision_id)
    if p.role == "bank_officer":
        inst = (
            s.scalar(select(User.institution_id).where(User.username == row.officer))
            if row is not None and row.officer
            else None
        )
        if inst is None or inst != p.institution_id:
            raise Forbidden(
                f"授信决策 {decision_id} 不属于本行或不存在",
                f"credit decision {decision_id} is not your institution's or does not exist",
                [
                    Problem(
                        "只能查看本行决策",
                        "only your own decisions",
                        field="decision_id",
                        value=decision_id,
                    )
                ],
            )
    if row is None:
        raise NotFoundError(
            "决策记录不存在",
            "decision not found",
            [Problem("决策不存在", "no such decision", field="decision_id", value=decision_id)],
        )
    return row


def record_consent(s: Session, p: Principal, uscc: str) -> tuple[int | None, KejinError | None]:
    """Whether the reader sees a stored decision's values on the firm now: the live consent
    covering credit decision records (``None`` for the auditor, who needs none), or the
    refusal naming the consent missing, which the history and evidence then show in place of
    every value beyond the whitelist fields."""
    try:
        ref = require_consent(s, p, uscc, "credit_record", utcnow())
    except ConsentRequired as e:
        return None, e
    return (ref.id if ref else None), None


def _value(outputs: dict[str, Any], key: str) -> Any:
    item = outputs.get(key)
    return item.get("value") if isinstance(item, dict) else None


def history(
    s: Session, p: Principal, institution_id: str, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    """The institution's decisions, newest first, one page; reading it is audited."""
    authorize(s, p, "credit.history", institution_id)
    where = CreditDecision.officer.in_(_officers(institution_id))
    total = s.scalar(select(func.count()).select_from(CreditDecision).where(where)) or 0
    rows = s.execute(
        select(CreditDecision, Enterprise.name)
        .outerjoin(Enterprise, Enterprise.uscc == CreditDecision.uscc)
        .where(where)
        .order_by(CreditDecision.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    items = []
    for d, name in rows:
        refusal = record_consent(s, p, d.uscc)[1]
        out = {} if refusal else json.loads(d.outputs or "{}")
        items.append(
            {
                "decision_id": d.id,
                "uscc": d.uscc,
                "firm": name,
                "product": d.product,
                "decided_at": d.decided_at,
                "as_of": d.as_of,
                "officer": d.officer,
                "eligible": _value(out, "eligible"),
                "grade": _value(out, "grade"),
                "credit_allowed": _value(out, "decision.credit_allowed"),
                "limit": _value(out, "decision.limit"),
                "rate": _value(out, "decision.rate"),
                "action": d.action,
                "action_at": d.action_at,
                "action_by": d.action_by,
                "contract_no": d.contract_no,
                "consent_id": d.consent_id,
                "withheld": refusal is not None,
            }
        )
    access.log(
        s,
        p,
        "credit.history",
        "institution",
        institution_id,
        detail={"offset": offset, "rows": len(items)},
    )
    return {"total": total, "offset": offset, "limit": limit, "items": items}


def readable_pack(
    s: Session, engine: Any, p: Principal, decision_id: int
) -> tuple[CreditDecision, dict[str, Any]]:
    """One decision's evidence pack as ``p`` may read it now: its own bank's decision only, and
    a bank's view of the firm's values only under a live consent covering the record."""
    from kejin.credit import evidence as ev

    row = own_decision(s, p, decision_id, "credit.evidence")
    consent, refusal = record_consent(s, p, row.uscc)
    return row, ev.for_bank(ev.pack(engine, str(decision_id)), consent, refusal)


def _read_detail(pack: dict[str, Any]) -> dict[str, Any]:
    return {
        "decision": pack["decision_id"],
        "reproduces": pack["replay"]["reproduces"],
        "consent": pack["read_under_consent"],
        "withheld": "withheld" in pack,
    }


def evidence(s: Session, engine: Any, p: Principal, decision_id: int) -> dict[str, Any]:
    """The evidence pack with its replay; reading it is audited (it holds the firm's data)."""
    row, pack = readable_pack(s, engine, p, decision_id)
    access.log(s, p, "credit.evidence", "enterprise", row.uscc, detail=_read_detail(pack))
    return pack


def export_evidence(
    s: Session, engine: Any, p: Principal, decision_id: int, out_dir: str | Path
) -> dict[str, Any]:
    """Write the pack as ``p`` may read it (JSON + Excel) into ``out_dir``; audited."""
    from kejin.credit import evidence as ev

    row, pack = readable_pack(s, engine, p, decision_id)
    out = ev.export(engine, str(decision_id), out_dir, pack)
    detail = {**_read_detail(pack), "files": out["files"]}
    access.log(s, p, "credit.evidence", "enterprise", row.uscc, detail=detail)
    return out


def evidence_file(
    s: Session, engine: Any, p: Principal, decision_id: int, kind: Literal["json", "xlsx"]
) -> Response:
    """The pack as the CLI exports it (``evidence-<id>.json`` / ``.xlsx``), as a download."""
    with tempfile.TemporaryDirectory() as tmp:
        out = export_evidence(s, engine, p, decision_id, tmp)
        name = next(f for f in out["files"] if f.endswith(kind))
        data = (Path(tmp) / name).read_bytes()
    media = XLSX if kind == "xlsx" else "application/json; charset=utf-8"
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


#: The officer's actions in the service's words; the pages call approve 接受 and reject 拒绝.
OfficerAction = Literal["approve", "reject", "refer", "override"]


def act(
    s: Session,
    engine: Any,
    p: Principal,
    decision_id: int,
    action: str,
    note: str | None,
    contract_no: str | None,
) -> dict[str, Any]:
    """Record the officer's action (and the loan it led to, which must be its own bank's loan
    to the same firm); the before and after go to the audit log."""
    from kejin.credit import decisions

    row = own_decision(s, p, decision_id, "credit.act")
    before = {"action": row.action, "note": row.action_note, "contract_no": row.contract_no}
    contract = contract_no or row.contract_no
    if contract_no:
        loan = s.get(Loan, contract_no)
        if loan is None or loan.institution_id != p.institution_id or loan.uscc != row.uscc:
            raise Forbidden(
                f"贷款合同 {contract_no} 不是本行对该企业的贷款",
                f"loan {contract_no} is not your institution's loan to this firm",
                [
                    Problem(
                        "合同不符",
                        "contract does not match",
                        field="contract_no",
                        value=contract_no,
                    )
                ],
            )
    decisions.record_action(
        engine, decision_id, p.username, action, note or None, contract, session=s
    )
    after = {"action": action, "note": note or None, "contract_no": contract}
    access.log(s, p, "credit.act", "credit_decision", decision_id, before=before, after=after)
    return {"decision_id": decision_id, "officer": p.username, **after}


@router.post("/firms/{uscc}/credit-decisions")
def request_decision(
    request: Request,
    uscc: str,
    product: str = Query("points_credit", pattern=PRODUCT_PATTERN),
    p: Principal = permit("credit.decide", target="uscc"),
    s: Session = TX,
) -> dict[str, Any]:
    """Eligibility, grade, credit allowed, limit, rate and term, each with reason codes (zh/en),
    and the flags; the decision is stored with its inputs and table for replay."""
    return decide(s, request.app.state.engine, p, uscc, product)


@router.get("/institutions/{institution_id}/credit-decisions")
def list_decisions(
    institution_id: str,
    offset: Offset = 0,
    limit: int = Query(50, ge=1, le=500),
    p: Principal = permit("credit.history", target="institution_id"),
    s: Session = TX,
) -> dict[str, Any]:
    """The institution's credit decisions, newest first (paged): firm, product, grade, credit
    allowed, limit, rate and the officer's action."""
    return history(s, p, institution_id, offset, limit)


@router.get("/credit-decisions/{decision_id}")
def get_evidence(
    request: Request,
    decision_id: DecisionId,
    p: Principal = permit("credit.evidence"),
    s: Session = TX,
) -> dict[str, Any]:
    """The evidence pack: inputs snapshot, decision-table text and version, model id and
    artefact, outputs with reason codes, the officer's action, and the replay (reproduces or
    not, with the differing components)."""
    return evidence(s, request.app.state.engine, p, decision_id)


@router.get("/credit-decisions/{decision_id}/evidence.json")
def get_evidence_json(
    request: Request,
    decision_id: DecisionId,
    p: Principal = permit("credit.evidence"),
    s: Session = TX,
) -> Response:
    """The evidence pack as a JSON file (``evidence-<id>.json``)."""
    return evidence_file(s, request.app.state.engine, p, decision_id, "json")


@router.get("/credit-decisions/{decision_id}/evidence.xlsx")
def get_evidence_xlsx(
    request: Request,
    decision_id: DecisionId,
    p: Principal = permit("credit.evidence"),
    s: Session = TX,
) -> Response:
    """The evidence pack as an Excel workbook (summary, decision, inputs, table sheets)."""
    return evidence_file(s, request.app.state.engine, p, decision_id, "xlsx")


class ActionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"action": "approve", "note": "材料核实无误，同意授信", "contract_no": None}
            ]
        }
    )
    action: OfficerAction = Field(description="approve 接受 / reject 拒绝 / refer 转审 / override")
    note: str | None = Field(None, max_length=2000, description="说明（推翻模型结论时必填）")
    contract_no: str | None = Field(None, max_length=40, description="由此发放的本行贷款合同")


@router.post("/credit-decisions/{decision_id}/action")
def record_action(
    request: Request,
    decision_id: DecisionId,
    body: ActionIn,
    p: Principal = permit("credit.act"),
    s: Session = TX,
) -> dict[str, Any]:
    """The officer's action on the decision: the other half of the evidence."""
    return act(
        s, request.app.state.engine, p, decision_id, body.action, body.note, body.contract_no
    )
