"""Routes of the policy engine: the policies a firm qualifies for (``kejin policy matches`` as a
service), the government's programmes (create → publish, maker-checker), the eligible list and
its Excel notify file (精准推送), simulation, and the application workflow
(apply → review → approve → pay, reviewer ≠ approver).

Who may do what is the rule table's: government officers create (gov_admin) and publish
(either, never the maker); an enterprise applies for itself only; gov_admin reviews and pays;
either government role approves (never the reviewer); the auditor reads everything.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import TX, permit
from kejin.access.rules import GOV, READERS, Principal, Rule, add_rules
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.ids import normalize_uscc
from kejin.params import Offset
from kejin.policy import operations as ops
from kejin.policy.tables import Programme

add_rules(
    [
        *(Rule("policy.matches", r, "region") for r in READERS),
        Rule("policy.matches", "enterprise_user", "own_firm"),
        *(Rule("policy.programmes", r, "region") for r in READERS),
        *(Rule("policy.programme", r, "region") for r in READERS),
        *(Rule("policy.eligible", r, "region") for r in READERS),
        *(Rule("policy.simulate", r, "region") for r in READERS),
        Rule("policy.create", "gov_admin", "region"),
        *(Rule("policy.publish", r, "region") for r in GOV),
        *(Rule("policy.applications", r, "region") for r in READERS),
        Rule("policy.applications", "enterprise_user", "own_firm"),
        Rule("policy.apply", "enterprise_user", "own_firm"),
        Rule("policy.review", "gov_admin", "region"),
        *(Rule("policy.approve", r, "region") for r in GOV),
        Rule("policy.pay", "gov_admin", "region"),
        *(Rule("policy.corrections", r, "region") for r in READERS),
        Rule("policy.correct", "gov_admin", "region"),
    ]
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ProgrammeId = Annotated[str, PathParam(min_length=1, max_length=60)]
ApplicationId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

router = APIRouter(prefix="/api", tags=["policy 政策"])


def firm_matches(s: Session, engine: Any, p: Principal, uscc: str) -> dict[str, Any]:
    """Every policy in force the firm qualifies for, with the estimated amount and the reason;
    the read is audited (it evaluates the firm's data)."""
    from kejin.policy import library
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import matches

    code = normalize_uscc(uscc)
    frames = registry_frames(engine, code)
    if frames["firm"].height == 0:
        raise NotFoundError(
            f"登记库中没有企业{code}",
            f"no firm {code} in the registry",
            [Problem("未找到", "not found", field="uscc", value=code)],
        )
    out = matches(library.all_policies(), frames, as_of=date.today())
    found = out["matches"]
    assert isinstance(found, list)
    eligible = [m for m in found if m["status"] == "eligible"]
    access.log(s, p, "policy.matches", "enterprise", code, detail={"eligible": len(eligible)})
    return {
        "uscc": code,
        "name": frames["firm"]["name"][0],
        "total": sum((m["amount"] for m in eligible), Decimal("0")),
        "matches": found,
    }


def programmes(s: Session) -> list[dict[str, Any]]:
    """Programmes with budget, reserved (owed + paid), paid, remaining, state, maker and checker."""
    rows = s.scalars(select(Programme).order_by(Programme.year.desc(), Programme.id)).all()
    return [ops.programme_view(r) for r in rows]


@router.get("/firms/{uscc}/policies")
def policies_for_firm(
    request: Request,
    uscc: str,
    p: Principal = permit("policy.matches", target="uscc"),
    s: Session = TX,
) -> dict[str, Any]:
    """政策精准推送: each policy the firm qualifies for, with amount and reason (zh/en); policies
    needing data the registry lacks are listed as ``needs_data`` with their inputs."""
    return firm_matches(s, request.app.state.engine, p, uscc)


@router.get("/policy/programmes")
def list_programmes(
    p: Principal = permit("policy.programmes"), s: Session = TX
) -> list[dict[str, Any]]:
    """Programmes with budget used and remaining, and their state (draft / published / …)."""
    return programmes(s)


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"policy": "karamay_interest", "year": 2025, "budget": "5000000.00",
                 "allocation": "fcfs"}
            ]
        }
    )  # fmt: skip
    policy: str = Field(min_length=1, max_length=40, description="policy id of the library")
    year: int = Field(ge=2000, le=2100, description="budget year")
    budget: str = Field(max_length=24, description="CNY, at most 2 decimals")
    allocation: str = Field("fcfs", max_length=20, description="fcfs | pro_rata")


class ApplyIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"programme": "karamay_interest-2025", "entity": None}]}
    )
    programme: str = Field(min_length=1, max_length=60)
    entity: str | None = Field(
        None,
        max_length=120,
        description="one entity key (e.g. CONTRACT/YEAR); default: every eligible one",
    )


class ReviewIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"accept": True, "note": None}]})
    accept: bool = True
    note: str | None = Field(None, max_length=300)


class PayIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"idempotency_key": "treasury-2025-000123"}]}
    )
    idempotency_key: str = Field(min_length=1, max_length=120)


class CorrectIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"as_of": "2026-03-01", "key_prefix": "lpr-2026-03"}]}
    )
    as_of: date = Field(description="recompute with parameters as known on this day")
    key_prefix: str = Field(
        min_length=1, max_length=60, description="idempotency key prefix (PREFIX:APPLICATION)"
    )


@router.post("/policy/programmes", status_code=201)
def create_programme(
    body: ProgrammeIn,
    p: Principal = permit("policy.create"),
    s: Session = TX,
) -> dict[str, Any]:
    """New draft programme: a policy funded for a budget year; the caller is its maker."""
    return ops.create(
        s, p, policy_id=body.policy, year=body.year, budget=body.budget, allocation=body.allocation
    )


@router.get("/policy/programmes/{programme_id}")
def programme_detail(
    programme_id: ProgrammeId,
    p: Principal = permit("policy.programme"),
    s: Session = TX,
) -> dict[str, Any]:
    """The programme with every application (status, amounts, clauses) and every payment."""
    return ops.programme_detail(s, p, programme_id)


@router.post("/policy/programmes/{programme_id}/publish")
def publish_programme(
    programme_id: ProgrammeId,
    as_of: date | None = Query(None, description="parameters as known on (default today)"),
    p: Principal = permit("policy.publish"),
    s: Session = TX,
) -> dict[str, Any]:
    """Publish a draft; refused (422) when the caller is its maker (经办与审批分离)."""
    return ops.publish(s, p, programme_id, as_of)


@router.post("/policy/programmes/{programme_id}/approve")
def approve_programme(
    programme_id: ProgrammeId,
    p: Principal = permit("policy.approve"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """Approve every reviewed application, reserving budget by the programme's allocation rule;
    refused (422) when the caller reviewed any of them."""
    return ops.approve(s, p, programme_id)


@router.get("/policy/programmes/{programme_id}/eligible")
def eligible_firms(
    request: Request,
    programme_id: ProgrammeId,
    offset: Offset = 0,
    limit: int = Query(50, ge=1, le=500),
    p: Principal = permit("policy.eligible"),
    s: Session = TX,
) -> dict[str, Any]:
    """Every firm/entity of the region eligible in the programme's year, largest amount first,
    with the clauses (and articles) that decide each; paged."""
    return ops.eligible(s, request.app.state.engine, p, programme_id, offset=offset, limit=limit)


@router.get(
    "/policy/programmes/{programme_id}/notify.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "the notify list"}},
)
def notify_list(
    request: Request,
    programme_id: ProgrammeId,
    p: Principal = permit("policy.eligible"),
    s: Session = TX,
) -> Response:
    """The eligible list as an Excel file to notify firms (精准推送)."""
    name, data, _ = ops.notify_xlsx(s, request.app.state.engine, p, programme_id)
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/policy/programmes/{programme_id}/simulation")
def simulate_programme(
    request: Request,
    programme_id: ProgrammeId,
    set_: list[str] = Query(
        [], alias="set", description="reform parameter NAME=VALUE (repeatable)"
    ),
    p: Principal = permit("policy.simulate"),
    s: Session = TX,
) -> dict[str, Any]:
    """Baseline vs reform over the region: beneficiaries, cost against the budget, winners and
    losers per firm, cost by industry chain."""
    pairs = []
    for item in set_[:50]:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(
                "set 应为 NAME=VALUE",
                "set takes NAME=VALUE",
                [Problem("格式错误", "bad format", field="set", value=item[:60])],
            )
        pairs.append((name.strip(), value))
    return ops.simulation(s, request.app.state.engine, p, programme_id, ops.parse_overrides(pairs))


@router.get("/firms/{uscc}/policy/applications")
def firm_applications(
    uscc: str,
    p: Principal = permit("policy.applications", target="uscc"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """The firm's applications: status, claimed / approved / paid amounts and the clauses."""
    return ops.firm_applications(s, p, normalize_uscc(uscc))


@router.post("/firms/{uscc}/policy/applications", status_code=201)
def apply_for_programme(
    request: Request,
    uscc: str,
    body: ApplyIn,
    p: Principal = permit("policy.apply", target="uscc"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """Apply (the firm's own user only) for its eligible entities of the programme's year, from
    the registry's data; an ineligible entity is refused with the failed clause."""
    return ops.apply(
        s, request.app.state.engine, p, normalize_uscc(uscc), body.programme, body.entity
    )


@router.post("/policy/applications/{application_id}/review")
def review_application(
    application_id: ApplicationId,
    body: ReviewIn,
    p: Principal = permit("policy.review"),
    s: Session = TX,
) -> dict[str, Any]:
    """Review (the maker): accept, or reject with a note."""
    return ops.review(s, p, application_id, accept=body.accept, note=body.note)


@router.post("/policy/applications/{application_id}/pay")
def pay_application(
    application_id: ApplicationId,
    body: PayIn,
    p: Principal = permit("policy.pay"),
    s: Session = TX,
) -> dict[str, Any]:
    """Pay an approved application once; the same key returns the first payment."""
    return ops.pay(s, p, application_id, body.idempotency_key)


@router.get("/policy/programmes/{programme_id}/corrections")
def correction_preview(
    programme_id: ProgrammeId,
    as_of: date = Query(..., description="parameters as known on this day"),
    p: Principal = permit("policy.corrections"),
    s: Session = TX,
) -> dict[str, Any]:
    """Retroactive correction, preview: per paid application the amount it is entitled to with
    the parameters as known on ``as_of`` and the top-up (+) or claw-back (−)."""
    return ops.corrections(s, p, programme_id, as_of)


@router.post("/policy/programmes/{programme_id}/corrections")
def record_corrections(
    programme_id: ProgrammeId,
    body: CorrectIn,
    p: Principal = permit("policy.correct"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """Record the top-ups and claw-backs (keys ``PREFIX:APPLICATION``; the same prefix returns
    the same payments); a top-up beyond the budget is refused."""
    return ops.record_corrections(s, p, programme_id, body.as_of, body.key_prefix)
