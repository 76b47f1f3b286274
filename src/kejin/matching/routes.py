"""Routes of the marketplace (JSON): thin — parse, gate, call the same services as the CLI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.matching import events, products, query, service
from kejin.matching.products import ProductTerms

router = APIRouter(prefix="/api/match", tags=["matching 融资对接"])

NeedId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
VersionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
EventId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
IntentId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


class ProductIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "product_id": "BKA-IP1",
                    "institution_id": "BKA",
                    "name": "知识产权质押贷",
                    "kind": "loan",
                    "min_amount": "200000",
                    "max_amount": "10000000",
                    "min_term_months": 6,
                    "max_term_months": 36,
                    "spread_min_bp": 0,
                    "spread_max_bp": 150,
                    "guarantee_kinds": ["ip_pledge", "credit"],
                    "repayment": ["on_demand"],
                    "eligibility": ["revenue_2y >= 10000000", "hnte", "not dishonest"],
                    "submit": True,
                }
            ]
        },
    )
    product_id: str = Field(min_length=1, max_length=30)
    institution_id: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(max_length=20)
    min_amount: Decimal = Field(max_digits=18, decimal_places=2)
    max_amount: Decimal = Field(max_digits=18, decimal_places=2)
    min_term_months: int = Field(ge=-10_000, le=10_000)
    max_term_months: int = Field(ge=-10_000, le=10_000)
    spread_min_bp: int = Field(ge=-10_000, le=10_000)
    spread_max_bp: int = Field(ge=-10_000, le=10_000)
    guarantee_kinds: list[str] = Field(max_length=10)
    repayment: list[str] = Field(default_factory=list, max_length=10)
    talent_loan: bool = False
    invest_loan_link: bool = False
    eligibility: list[str] = Field(default_factory=list, max_length=50)
    credit_model: str | None = Field(None, max_length=60)
    submit: bool = False


class NeedBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount": "3000000",
                    "term_months": 12,
                    "purpose": "研发投入与原材料采购",
                    "guarantee_offered": ["ip_pledge"],
                    "max_rate": "0.045",
                    "urgency": "normal",
                }
            ]
        },
    )
    amount: Decimal = Field(max_digits=18, decimal_places=2)
    term_months: int = Field(ge=-10_000, le=10_000)
    purpose: str = Field(max_length=200)
    guarantee_offered: list[str] = Field(default_factory=list, max_length=10)
    max_rate: Decimal | None = Field(None, max_digits=10, decimal_places=6)
    urgency: str = Field("normal", max_length=10)
    repayment_source: str | None = Field(None, max_length=200)
    publish: bool = True


class TakeBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"product_id": None}]}
    )
    product_id: str | None = Field(None, max_length=30)


class DecideBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"approve": False, "reason": "revenue", "note": "营收不足"}]
        },
    )
    approve: bool
    reason: str | None = Field(None, max_length=20)
    note: str | None = Field(None, max_length=500)


class DisburseBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "3000000", "contract_no": None}]}
    )
    amount: Decimal = Field(max_digits=18, decimal_places=2)
    contract_no: str | None = Field(None, max_length=40)


@router.get("/products", summary="产品超市 / product catalogue")
def catalogue(
    institution_id: str | None = Query(None, max_length=20),
    pending: bool = Query(False, description="含草稿与待复核 / include drafts and pending"),
    p: Principal = permit("product.list"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    states = ("draft", "pending", "live") if pending else ("live",)
    return products.catalogue(s, p, institution_id, states)


@router.post("/products", summary="起草产品 / draft a product version")
def draft_product(
    body: ProductIn, p: Principal = permit("match.product.edit"), s: Session = TX
) -> dict[str, Any]:
    data = body.model_dump()
    submit = data.pop("submit")
    return products.view(products.draft(s, p, ProductTerms(**data), submit=submit))


@router.post("/products/versions/{version_id}/submit", summary="提交复核 / submit")
def submit_product(
    version_id: VersionId, p: Principal = permit("match.product.edit"), s: Session = TX
) -> dict[str, Any]:
    return products.view(products.submit(s, p, version_id))


@router.post("/products/versions/{version_id}/approve", summary="复核上线 / approve")
def approve_product(
    version_id: VersionId,
    p: Principal = permit("match.product.approve"),
    s: Session = TX,
) -> dict[str, Any]:
    return products.view(products.approve(s, p, version_id))


@router.get("/products/{product_id}/matches", summary="产品匹配的需求与首贷培育 / matches")
def product_matches(
    product_id: str, p: Principal = permit("match.for_product"), s: Session = TX
) -> dict[str, Any]:
    return query.for_product(s, p, product_id)


@router.post("/firms/{uscc}/needs", summary="发布融资需求 / post a need")
def post_need(
    uscc: str,
    body: NeedBody,
    p: Principal = permit("match.need.post", target="uscc"),
    s: Session = TX,
) -> dict[str, Any]:
    data = body.model_dump()
    publish = data.pop("publish")
    return service.view(service.post(s, p, uscc, service.NeedIn(**data), publish=publish))


@router.get("/firms/{uscc}/needs", summary="企业的融资需求 / a firm's needs")
def firm_needs(
    uscc: str, p: Principal = permit("match.need.list", target="uscc"), s: Session = TX
) -> list[dict[str, Any]]:
    return service.firm_needs(s, p, uscc)


@router.get("/needs/{need_id}/products", summary="需求匹配的产品 / products for a need")
def need_products(
    need_id: NeedId, p: Principal = permit("match.for_need"), s: Session = TX
) -> dict[str, Any]:
    return query.for_need(s, p, need_id)


@router.get("/needs/{need_id}/history", summary="需求进度 / a need's transitions")
def need_history(
    need_id: NeedId, p: Principal = permit("match.need.read"), s: Session = TX
) -> list[dict[str, Any]]:
    return service.history(s, p, need_id)


@router.post("/needs/{need_id}/withdraw", summary="撤回需求 / withdraw")
def withdraw(
    need_id: NeedId, p: Principal = permit("match.need.edit"), s: Session = TX
) -> dict[str, Any]:
    return service.view(service.withdraw(s, p, need_id))


@router.post("/needs/{need_id}/take", summary="接单 / take a need")
def take(
    need_id: NeedId,
    body: TakeBody,
    p: Principal = permit("match.take"),
    s: Session = TX,
) -> dict[str, Any]:
    return service.view(service.take(s, p, need_id, product_id=body.product_id))


@router.post("/needs/{need_id}/review", summary="初审通过 / first review")
def review(
    need_id: NeedId, p: Principal = permit("match.decide"), s: Session = TX
) -> dict[str, Any]:
    return service.view(service.review(s, p, need_id))


@router.post("/needs/{need_id}/decide", summary="审批决定 / decide")
def decide(
    need_id: NeedId,
    body: DecideBody,
    p: Principal = permit("match.decide"),
    s: Session = TX,
) -> dict[str, Any]:
    n = service.decide(s, p, need_id, approve=body.approve, reason=body.reason, note=body.note)
    return service.view(n)


@router.post("/needs/{need_id}/disburse", summary="放款 / disburse")
def disburse(
    need_id: NeedId,
    body: DisburseBody,
    p: Principal = permit("match.decide"),
    s: Session = TX,
) -> dict[str, Any]:
    n = service.disburse(s, p, need_id, amount=body.amount, contract_no=body.contract_no)
    return service.view(n)


@router.get("/funnel", summary="对接漏斗 / funnel")
def funnel(
    by: str = Query("bank", max_length=10),
    p: Principal = permit("match.funnel"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    return query.funnel(s, p, by)


@router.post("/redispatch", summary="超时派单 / service-level re-dispatch")
def redispatch(p: Principal = permit("match.redispatch"), s: Session = TX) -> dict[str, list[int]]:
    return service.redispatch(s, p)


# ---------------------------------------------------------------- matchmaking events


class EventBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "生物医药产业链银企对接会",
                    "kind": "bank_firm",
                    "held_on": "2026-12-18",
                    "place": "连云港市科技局三楼会议室",
                    "chain": "biomedicine",
                    "theme": "首贷与知识产权质押",
                }
            ]
        },
    )
    title: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    held_on: date
    place: str = Field(max_length=200)
    chain: str | None = Field(None, max_length=30)
    theme: str | None = Field(None, max_length=200)


class InviteBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tiers": ["core", "selected"], "points_min": 60}]},
    )
    tiers: list[str] = Field(default_factory=list, max_length=10)
    chains: list[str] = Field(default_factory=list, max_length=20)
    stages: list[str] = Field(default_factory=list, max_length=10)
    points_min: float | None = Field(None, ge=-1e6, le=1e6)
    points_max: float | None = Field(None, ge=-1e6, le=1e6)


class SignupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    institution_id: str | None = Field(None, max_length=20)


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: bool


class IntentBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"uscc": "91320700MA1XXXXXX0", "kind": "loan", "amount": "5000000"}]
        },
    )
    uscc: str = Field(min_length=18, max_length=18)
    kind: str = Field(max_length=20)
    amount: Decimal = Field(max_digits=18, decimal_places=2)
    institution_id: str | None = Field(None, max_length=20)
    partner_id: str | None = Field(None, max_length=20)


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(max_length=20)
    amount: Decimal | None = Field(None, max_digits=18, decimal_places=2)
    reason: str | None = Field(None, max_length=20)


def _intent(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "event_id": r.event_id, "uscc": r.uscc, "institution_id": r.institution_id,
        "partner_id": r.partner_id, "kind": r.kind, "amount": r.amount, "outcome": r.outcome,
        "outcome_amount": r.outcome_amount, "outcome_reason": r.outcome_reason,
    }  # fmt: skip


@router.get("/events", summary="对接活动 / matchmaking events")
def event_list(p: Principal = permit("match.event.list"), s: Session = TX) -> list[dict[str, Any]]:
    return events.listing(s, p)


@router.post("/events", summary="新建对接活动 / create an event")
def event_create(
    body: EventBody, p: Principal = permit("match.event.create"), s: Session = TX
) -> dict[str, Any]:
    ev = events.create(s, p, events.EventIn(**body.model_dump()))
    return events.view(ev, ev.created_at.date())


@router.get("/events/{event_id}", summary="活动详情 / one event")
def event_detail(
    event_id: EventId, p: Principal = permit("match.event.read"), s: Session = TX
) -> dict[str, Any]:
    return events.detail(s, p, event_id)


@router.post("/events/{event_id}/invite", summary="按白名单条件邀请 / invite by filter")
def event_invite(
    event_id: EventId,
    body: InviteBody,
    p: Principal = permit("match.event.invite"),
    s: Session = TX,
) -> dict[str, Any]:
    events.invite(s, p, event_id, events.InviteFilter(**body.model_dump()))
    return events.detail(s, p, event_id)


@router.post("/events/{event_id}/signup", summary="机构报名 / sign up")
def event_signup(
    event_id: EventId,
    body: SignupBody,
    p: Principal = permit("match.event.signup"),
    s: Session = TX,
) -> dict[str, Any]:
    r = events.signup(s, p, event_id, body.institution_id)
    return {"event_id": r.event_id, "institution_id": r.institution_id, "signed_at": r.signed_at}


@router.post("/events/{event_id}/reply", summary="企业回复邀请 / answer an invitation")
def event_reply(
    event_id: EventId,
    body: ReplyBody,
    p: Principal = permit("match.event.reply"),
    s: Session = TX,
) -> dict[str, Any]:
    r = events.reply(s, p, event_id, body.accept)
    return {"event_id": r.event_id, "uscc": r.uscc, "reply": r.reply}


@router.post("/events/{event_id}/intents", summary="登记对接意向 / record an intent")
def event_intent(
    event_id: EventId,
    body: IntentBody,
    p: Principal = permit("match.event.intent"),
    s: Session = TX,
) -> dict[str, Any]:
    return _intent(events.record_intent(s, p, event_id, events.IntentIn(**body.model_dump())))


@router.post("/intents/{intent_id}/outcome", summary="登记对接结果 / record an outcome")
def intent_outcome(
    intent_id: IntentId,
    body: OutcomeBody,
    p: Principal = permit("match.event.outcome"),
    s: Session = TX,
) -> dict[str, Any]:
    return _intent(events.record_outcome(s, p, intent_id, body.outcome, body.amount, body.reason))


class DirectIntentBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "uscc": "91320700MA1XXXXXX0",
                    "kind": "loan_equity",
                    "amount": "20000000",
                    "partner_id": "BKA",
                }
            ]
        },
    )
    uscc: str = Field(min_length=18, max_length=18)
    kind: str = Field(max_length=20)
    amount: Decimal = Field(max_digits=18, decimal_places=2)
    partner_id: str | None = Field(None, max_length=20)
    need_id: int | None = Field(None, ge=1, le=2**31 - 1)


@router.get("/intents", summary="投资机构的意向与结果 / an investor's intents and outcomes")
def intent_list(
    p: Principal = permit("match.intent.list"), s: Session = TX
) -> list[dict[str, Any]]:
    return events.my_intents(s, p)


@router.post("/intents", summary="投资机构登记意向 / an investor registers an intent")
def intent_register(
    body: DirectIntentBody, p: Principal = permit("match.intent.direct"), s: Session = TX
) -> dict[str, Any]:
    data = body.model_dump()
    need_id = data.pop("need_id")
    i = events.IntentIn(data["uscc"], None, data["kind"], data["amount"], data["partner_id"])
    return _intent(events.register_intent(s, p, i, need_id))
