"""Routes of the registry: firm search, profile, export and the region overview (thin: parse,
gate, call :mod:`kejin.registry.profiles`)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kejin.access.deps import TX, Unit, permit, permit_unit
from kejin.access.rules import Principal
from kejin.params import Offset
from kejin.registry import profiles

router = APIRouter(prefix="/api", tags=["registry 企业库"])

EXAMPLE_USCC = "91320700MA1N2B3C4D"


class FirmSummary(BaseModel):
    """The whitelist fields of a firm: what any principal allowed to list it may see."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "uscc": EXAMPLE_USCC,
                    "name": "连云港示例新材料科技有限公司",
                    "region_code": "320703",
                    "industry_chain": "silicon_materials",
                    "stage": "growth",
                }
            ]
        }
    )
    uscc: str
    name: str
    region_code: str
    industry_chain: str | None
    stage: str


class FirmPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 1,
                    "total_counted_at": "2026-06-30T08:00:00",
                    "limit": 50,
                    "offset": 0,
                    "items": FirmSummary.model_config["json_schema_extra"]["examples"],
                }  # type: ignore[index]
            ]
        }
    )
    total: int = Field(
        description="符合条件的企业总数；同一用户、同一筛选条件的总数在 KEJIN_LIST_TOTAL_TTL 秒（默认 30）"
        "内复用 / firms matching the filters; reused for KEJIN_LIST_TOTAL_TTL seconds (default 30) "
        "for the same caller and filters"
    )
    total_counted_at: datetime = Field(
        description="总数的统计时间（UTC）/ when total was counted (UTC)"
    )
    limit: int
    offset: int
    items: list[FirmSummary]


class FirmProfile(BaseModel):
    """A firm at the caller's level: ``whitelist`` < ``profile`` (consent) < ``full``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "level": "profile",
                    "uscc": EXAMPLE_USCC,
                    "name": "连云港示例新材料科技有限公司",
                    "region_code": "320703",
                    "industry_chain": "silicon_materials",
                    "stage": "growth",
                    "industry_code": "3985",
                    "founded_on": "2016-05-12",
                    "staff": 86,
                    "listing_board": "none",
                    "dishonest": False,
                    "deregistered": False,
                    "abnormal_operation": False,
                    "qualifications": [
                        {
                            "kind": "hnte",
                            "certificate_no": "GR202332001234",
                            "valid_from": "2023-11-06",
                            "valid_to": "2026-11-05",
                            "source": "most",
                        }
                    ],
                }
            ]
        },
    )
    level: str
    uscc: str
    name: str
    region_code: str
    industry_chain: str | None
    stage: str
    industry_code: str | None = None
    founded_on: date | None = None
    staff: int | None = None
    listing_board: str | None = None
    dishonest: bool | None = None
    deregistered: bool | None = None
    abnormal_operation: bool | None = None
    qualifications: list[Any] = []
    indicators: list[dict[str, Any]] | None = None
    financing: list[dict[str, Any]] | None = None


class RegionOverview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "firms": 5000,
                    "by_stage": {"seed": 800, "startup": 1500, "growth": 2000, "mature": 700},
                    "by_chain": {"biomedicine": 600},
                    "by_qualification": {"hnte": 900, "tsme": 2100},
                    "loans_by_institution": [
                        {
                            "id": "B001",
                            "name": "示例银行",
                            "loans": 120,
                            "amount": "36000000.00",
                            "balance": "21000000.00",
                        }
                    ],
                }
            ]
        }
    )
    firms: int
    by_stage: dict[str, int]
    by_chain: dict[str, int]
    by_qualification: dict[str, int]
    loans_by_institution: list[dict[str, str | int | Decimal]]


SEARCH_Q = Query(
    None, max_length=100, description="名称或信用代码片段 / part of name or USCC", examples=["科技"]
)
CHAIN_Q = Query(None, description="重点产业链 / industry chain id", examples=["biomedicine"])
STAGE_Q = Query(None, description="生命周期阶段 / stage id", examples=["growth"])
QUAL_Q = Query(None, description="有效资质 / currently valid qualification kind", examples=["hnte"])


@router.get("/firms", response_model=FirmPage, summary="企业检索 / search firms")
def search_firms(
    q: str | None = SEARCH_Q,
    chain: str | None = CHAIN_Q,
    stage: str | None = STAGE_Q,
    qualification: str | None = QUAL_Q,
    limit: int = Query(50, ge=1, le=profiles.MAX_PAGE),
    offset: Offset = 0,
    p: Principal = permit("firm.search"),
    s: Session = TX,
) -> Any:
    """Firms the caller may see (a bank: consented or pushed; an enterprise: itself)."""
    return profiles.search_firms(
        s, p, q=q, chain=chain, stage=stage, qualification=qualification, limit=limit, offset=offset
    )


@router.get("/firms/{uscc}", response_model=FirmProfile, summary="企业画像 / firm profile")
async def firm_profile(uscc: str, unit: Unit = permit_unit("firm.read", target="uscc")) -> Any:
    """Registry fields, qualifications, indicators — as much as the caller's level allows."""
    return await unit(lambda s, p: profiles.firm_profile(s, p, uscc))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def firms_workbook(items: list[dict[str, Any]]) -> bytes:
    """The firm list as an Excel sheet with Chinese/English headers."""
    from kejin.exports import Book
    from kejin.registry.tables import Enterprise

    book = Book()
    ws = book.sheet("企业名单")
    cols = profiles.WHITELIST_FIELDS
    ws.row(
        f"{Enterprise.__table__.c[c].info['zh']} / {Enterprise.__table__.c[c].info['en']}"
        for c in cols
    )
    ws.rows((it[c] for c in cols) for it in items)
    return book.to_bytes()


@router.get(
    "/exports/firms.xlsx",
    summary="下载企业名单 / download firm list (Excel)",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX: {}}, "description": "Excel workbook"}},
)
def export_firms(
    q: str | None = SEARCH_Q,
    chain: str | None = CHAIN_Q,
    stage: str | None = STAGE_Q,
    qualification: str | None = QUAL_Q,
    p: Principal = permit("firm.export"),
    s: Session = TX,
) -> StreamingResponse:
    res = profiles.firm_rows_for_export(
        s, p, q=q, chain=chain, stage=stage, qualification=qualification
    )
    return StreamingResponse(
        io.BytesIO(firms_workbook(res["items"])),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="firms.xlsx"'},
    )


@router.get("/stats/region", response_model=RegionOverview, summary="区域概览 / region overview")
def region(p: Principal = permit("stats.region"), s: Session = TX) -> Any:
    return profiles.region_overview(s, p)
