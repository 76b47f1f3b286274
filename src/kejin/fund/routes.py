"""Routes of the risk-compensation fund.

The government sees every pool (balance by account, leverage, claims), deposits capital, reviews,
approves and pays claims; a bank officer (or its bank system with a scoped token) enrols its own
loans, reports their month-end status, files claims on its own defaulted loans and follows them —
never another bank's, never the per-bank table. Every change carries an idempotency key (the same
key and request replays the first result) and a reason, and lands in the audit log.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.deps import TX, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules
from kejin.fund import desk, service
from kejin.fund.tables import Claim, Enrolment, FundPool

add_rules(
    [
        *(Rule("fund.pools", r, "region") for r in READERS),
        *(Rule("fund.claims", r, "region") for r in READERS),
        Rule("fund.claims", "bank_officer", "own_institution"),
        # One claim: a bank officer only its own (checked in kejin.fund.desk).
        *(Rule("fund.claim", r, "region") for r in READERS),
        Rule("fund.claim", "bank_officer", "scoped"),
        Rule("fund.deposit", "gov_admin", "region"),
        Rule("fund.review", "gov_admin", "region"),
        # Approval by either government role; the service refuses the filer and the reviewer.
        Rule("fund.approve", "gov_admin", "region"),
        Rule("fund.approve", "gov_reviewer", "region"),
        Rule("fund.pay", "gov_admin", "region"),
        # Steps the web has no form for yet; the CLI takes them through kejin.fund.desk.
        Rule("fund.create", "gov_admin", "region"),
        Rule("fund.fee", "gov_admin", "region"),
        Rule("fund.reverse", "gov_admin", "region"),
        Rule("fund.write_off", "gov_admin", "region"),
        Rule("fund.close", "gov_admin", "region"),
        Rule("fund.recover", "gov_admin", "region"),
        Rule("fund.recover", "bank_officer", "scoped"),
        # A bank's own loans only (checked in kejin.fund.desk).
        Rule("fund.enrol", "bank_officer", "scoped"),
        Rule("fund.report", "bank_officer", "scoped"),
        Rule("fund.file", "bank_officer", "scoped"),
    ]
)

router = APIRouter(prefix="/api", tags=["fund 风险补偿资金池"])

ClaimId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
POOL_ID = Field(min_length=1, max_length=40, description="资金池编号 / pool id")
CONTRACT = Field(min_length=1, max_length=40, description="贷款合同编号 / loan contract number")
REASON = Field(min_length=1, max_length=500, description="事由 / reason, recorded with the command")
# Required on the API: a key the server made up is no use to a client whose answer was lost,
# the one case a key exists for. The CLI prints a fresh one instead (docs/fund.md).
KEY = Field(
    min_length=1,
    max_length=desk.KEY_MAX,
    description="幂等键：标识一次请求（不是其内容），重试时传回同一键只执行一次"
    " / idempotency key naming the request (not its content); a retry with it runs once",
)


def pools(s: Session, engine: Any, on: date) -> list[dict[str, Any]]:
    """Every pool's summary (balance, leverage, enrolled balance, claims by status, banks) and
    its ledger accounts with their balances."""
    ids = s.scalars(select(FundPool.id).order_by(FundPool.id)).all()
    names = dict(s.execute(select(FundPool.id, FundPool.name)).all())
    return [
        {"name": names[i], **service.summary(engine, i, on), "accounts": desk.accounts(engine, i)}
        for i in ids
    ]


def institution_claims(s: Session, institution_id: str) -> list[dict[str, Any]]:
    """The institution's claims in every pool, newest first."""
    rows = s.execute(
        select(Claim, Enrolment.contract_no)
        .join(Enrolment, Enrolment.id == Claim.enrolment_id)
        .where(Claim.institution_id == institution_id)
        .order_by(Claim.id.desc())
    ).all()
    return [
        {
            "claim": c.id,
            "pool": c.pool_id,
            "contract_no": contract,
            "status": c.status,
            "filed_on": c.filed_on,
            "loss_base": c.loss_base,
            "pool_amount": c.pool_amount,
            "recovered_to_pool": c.recovered_to_pool,
            "trigger": c.trigger,
        }
        for c, contract in rows
    ]


@router.get("/fund/pools")
def list_pools(
    request: Request,
    p: Principal = permit("fund.pools"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """Each pool as of today: balance, leverage and its limit, enrolled balance, claims by
    status, paid and recovered, per-bank compensation rates, overdue deadlines, accounts."""
    return pools(s, request.app.state.engine, date.today())


@router.get("/fund/claims/{institution_id}")
def list_claims(
    institution_id: str,
    p: Principal = permit("fund.claims", target="institution_id"),
    s: Session = TX,
) -> list[dict[str, Any]]:
    """The institution's compensation claims (a bank officer: only its own institution)."""
    out = institution_claims(s, institution_id)
    access.log(s, p, "fund.claims", "institution", institution_id, detail={"rows": len(out)})
    return out


@router.get("/fund/claim/{claim_id}")
def claim_detail(
    request: Request,
    claim_id: ClaimId,
    p: Principal = permit("fund.claim"),
    s: Session = TX,
) -> dict[str, Any]:
    """One claim: trigger, loss, review trail with due dates, and every party's share with the
    scheme clause (document and article) deciding it."""
    return desk.claim_detail(s, request.app.state.engine, p, claim_id)


class DepositIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pool": "lyg-2026",
                    "party": "pool",
                    "amount": "5000000.00",
                    "reason": "2026年度市级财政注资",
                    "key": "deposit-2026-01",
                }
            ]
        }
    )
    pool: str = POOL_ID
    party: str = Field(min_length=1, max_length=40, description="出资方 / government funder")
    amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2)
    reason: str = REASON
    key: str = KEY


@router.post("/fund/deposits", summary="资金池注资 / deposit capital")
def deposit(
    request: Request,
    body: DepositIn,
    p: Principal = permit("fund.deposit"),
    s: Session = TX,
) -> dict[str, Any]:
    """Capital in from one of the scheme's government funders; returns the new balance."""
    return desk.deposit(
        s,
        request.app.state.engine,
        p,
        pool=body.pool,
        party=body.party,
        amount=body.amount,
        why=body.reason,
        key=body.key,
    )


class LoanIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pool": "lyg-2026",
                    "contract_no": "BKA-L1",
                    "reason": "符合入池条件",
                    "key": "enrol-BKA-L1",
                }
            ]
        }
    )
    pool: str = POOL_ID
    contract_no: str = CONTRACT
    reason: str = REASON
    key: str = KEY


@router.post("/fund/enrolments", summary="贷款备案入池 / enrol a loan")
def enrol(
    request: Request,
    body: LoanIn,
    p: Principal = permit("fund.enrol"),
    s: Session = TX,
) -> dict[str, Any]:
    """Bring one of the bank's own loans under the pool's cover (category, caps, leverage)."""
    return desk.enrol(
        s,
        request.app.state.engine,
        p,
        pool=body.pool,
        contract_no=body.contract_no,
        why=body.reason,
        key=body.key,
    )


class StatusIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pool": "lyg-2026",
                    "contract_no": "BKA-L1",
                    "month": "2026-10-01",
                    "balance": "2500000.00",
                    "days_past_due": 95,
                    "classification": "substandard",
                    "reason": "10月末贷后报告",
                    "key": "status-BKA-L1-2026-10",
                }
            ]
        }
    )
    pool: str = POOL_ID
    contract_no: str = CONTRACT
    month: date
    balance: Decimal = Field(ge=0, max_digits=16, decimal_places=2)
    days_past_due: int = Field(ge=0, le=100_000)
    classification: str = Field(min_length=1, max_length=20)
    reason: str = REASON
    key: str = KEY


@router.post("/fund/statuses", summary="月度贷后报告 / month-end loan status")
def report_status(
    request: Request,
    body: StatusIn,
    p: Principal = permit("fund.report"),
    s: Session = TX,
) -> dict[str, Any]:
    """Balance, days past due and classification of one of the bank's enrolled loans."""
    return desk.report_status(
        s,
        request.app.state.engine,
        p,
        pool=body.pool,
        contract_no=body.contract_no,
        month=body.month,
        balance=body.balance,
        days_past_due=body.days_past_due,
        classification=body.classification,
        why=body.reason,
        key=body.key,
    )


@router.post("/fund/claims", summary="申请代偿 / file a claim")
def file_claim(
    request: Request,
    body: LoanIn,
    p: Principal = permit("fund.file"),
    s: Session = TX,
) -> dict[str, Any]:
    """A claim on one of the bank's enrolled loans past the scheme's trigger; the shares are
    computed now and each is explained by its scheme clause (see ``GET /api/fund/claim/{id}``)."""
    return desk.file_claim(
        s,
        request.app.state.engine,
        p,
        pool=body.pool,
        contract_no=body.contract_no,
        why=body.reason,
        key=body.key,
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"approve": True, "reason": "材料齐全，符合补偿条件", "key": "review-1"}]
        }
    )
    approve: bool = Field(description="通过 true / 驳回 false")
    reason: str = REASON
    key: str = KEY


class PayIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "按审批结果拨付", "key": "pay-1"}]}
    )
    reason: str = REASON
    key: str = KEY


@router.post("/fund/claim/{claim_id}/review", summary="初审 / first review")
def review(
    request: Request,
    claim_id: ClaimId,
    body: DecisionIn,
    p: Principal = permit("fund.review"),
    s: Session = TX,
) -> dict[str, Any]:
    """First review by someone other than the filer; says whether it was late."""
    return desk.review(
        s, request.app.state.engine, p, claim_id, body.approve, body.reason, body.key
    )


@router.post("/fund/claim/{claim_id}/approval", summary="审批 / approval")
def approve(
    request: Request,
    claim_id: ClaimId,
    body: DecisionIn,
    p: Principal = permit("fund.approve"),
    s: Session = TX,
) -> dict[str, Any]:
    """Approval by a person other than the filer and the first reviewer (maker-checker)."""
    return desk.approve(
        s, request.app.state.engine, p, claim_id, body.approve, body.reason, body.key
    )


@router.post("/fund/claim/{claim_id}/payment", summary="支付代偿 / pay")
def pay(
    request: Request,
    claim_id: ClaimId,
    body: PayIn,
    p: Principal = permit("fund.pay"),
    s: Session = TX,
) -> dict[str, Any]:
    """Pay an approved claim from the pool's cash; every party's share is posted as memo."""
    return desk.pay(s, request.app.state.engine, p, claim_id, body.reason, body.key)
