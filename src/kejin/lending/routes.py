"""Routes of lending: institutions, products, an institution's loans, a firm's loans."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal
from kejin.lending import portfolio
from kejin.params import MAX_OFFSET

router = APIRouter(prefix="/api", tags=["lending 信贷"])


class InstitutionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "B001",
                    "name": "示例银行连云港分行",
                    "kind": "bank",
                    "region_code": "320700",
                    "partner_bank": True,
                    "tech_branch": False,
                }
            ]
        }
    )
    id: str
    name: str
    kind: str
    region_code: str
    partner_bank: bool
    tech_branch: bool


class ProductOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "B001-P1",
                    "institution_id": "B001",
                    "name": "科创积分贷",
                    "kind": "credit_loan",
                    "guarantee_type": "credit",
                    "min_amount": "100000.00",
                    "max_amount": "10000000.00",
                    "rate_floor": "0.030000",
                    "rate_ceiling": "0.045000",
                    "max_term_months": 36,
                }
            ]
        }
    )
    id: str
    institution_id: str
    name: str
    kind: str
    guarantee_type: str | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    rate_floor: Decimal | None
    rate_ceiling: Decimal | None
    max_term_months: int | None


class LoanOut(BaseModel):
    contract_no: str
    uscc: str
    firm_name: str
    institution_id: str
    product_id: str | None
    amount: Decimal
    rate: Decimal
    disbursed_on: date
    maturity_on: date
    guarantee_type: str
    first_time_borrower: bool
    status_month: date | None
    balance: Decimal | None
    days_past_due: int | None
    classification: str | None


class LoanPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 1,
                    "limit": 50,
                    "offset": 0,
                    "items": [
                        {
                            "contract_no": "B001-2025-000123",
                            "uscc": "91320700MA1N2B3C4D",
                            "firm_name": "连云港示例新材料科技有限公司",
                            "institution_id": "B001",
                            "product_id": "B001-P1",
                            "amount": "3000000.00",
                            "rate": "0.038000",
                            "disbursed_on": "2025-03-01",
                            "maturity_on": "2026-03-01",
                            "guarantee_type": "credit",
                            "first_time_borrower": True,
                            "status_month": "2025-10-01",
                            "balance": "3000000.00",
                            "days_past_due": 0,
                            "classification": "normal",
                        }
                    ],
                }
            ]
        }
    )
    total: int
    limit: int
    offset: int
    items: list[LoanOut]


PAGE = Query(50, ge=1, le=portfolio.MAX_PAGE)
OFFSET = Query(0, ge=0, le=MAX_OFFSET)


@router.get("/institutions", response_model=list[InstitutionOut], summary="金融机构 / institutions")
def institutions(p: Principal = permit("institution.list"), s: Session = TX) -> Any:
    return portfolio.list_institutions(s, p)


@router.get("/products", response_model=list[ProductOut], summary="金融产品 / products")
def products(
    institution_id: str | None = Query(None, max_length=20, examples=["B001"]),
    p: Principal = permit("product.list"),
    s: Session = TX,
) -> Any:
    return portfolio.list_products(s, p, institution_id)


@router.get(
    "/institutions/{institution_id}/loans",
    response_model=LoanPage,
    summary="机构贷款 / an institution's loans",
)
def institution_loans(
    institution_id: str,
    limit: int = PAGE,
    offset: int = OFFSET,
    p: Principal = permit("loan.list", target="institution_id"),
    s: Session = TX,
) -> Any:
    """A bank officer sees its own institution's loans only."""
    return portfolio.institution_loans(s, p, institution_id, limit, offset)


@router.get("/firms/{uscc}/loans", response_model=LoanPage, summary="企业贷款 / a firm's loans")
def firm_loans(
    uscc: str,
    limit: int = PAGE,
    offset: int = OFFSET,
    p: Principal = permit("firm.loans", target="uscc"),
    s: Session = TX,
) -> Any:
    return portfolio.firm_loans(s, p, uscc, limit, offset)
