"""Routes of the registry: firm search, profile, export and the region overview (thin: parse,
gate, call :mod:`kejin.registry.profiles`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from kejin.access.deps import TX, Unit, permit, permit_unit
from kejin.access.rules import Principal
from kejin.params import Offset
from kejin.registry import firm_record as firm_record_mod
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
    points: float | None = None
    points_grade: str | None = None
    tier: str | None = None


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
    #: The points run and whitelist version the points and tier columns come from.
    ranking: dict[str, Any] | None = None


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
    #: The data date every count here is judged on (kejin.asof).
    as_of: date | None = None
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
async def search_firms(
    q: str | None = SEARCH_Q,
    chain: str | None = CHAIN_Q,
    stage: str | None = STAGE_Q,
    qualification: str | None = QUAL_Q,
    limit: int = Query(50, ge=1, le=profiles.MAX_PAGE),
    offset: Offset = 0,
    unit: Unit = permit_unit("firm.search"),
) -> Any:
    """Firms the caller may see (a bank: consented or pushed; an enterprise: itself).

    A read unit like the profile (:class:`kejin.access.deps.Unit`): a bank's system pages
    through its firms as often as it reads them, and in a worker thread each page cost five
    times a profile under load (docs/service.md, "Load")."""
    return await unit(
        lambda s, p: profiles.search_firms(
            s, p, q=q, chain=chain, stage=stage, qualification=qualification, limit=limit,
            offset=offset,
        )
    )  # fmt: skip


@router.get("/firms/{uscc}", response_model=FirmProfile, summary="企业画像 / firm profile")
async def firm_profile(uscc: str, unit: Unit = permit_unit("firm.read", target="uscc")) -> Any:
    """Registry fields, qualifications, indicators — as much as the caller's level allows."""
    return await unit(lambda s, p: profiles.firm_profile(s, p, uscc))


@router.get("/firms/{uscc}/record", summary="企业综合档案 / a firm's full record (government)")
def firm_record(
    uscc: str, p: Principal = permit("firm.record", target="uscc"), s: Session = TX
) -> Any:
    """Points (grade, rank), whitelist tier, loans with status, this month's warning signals
    and the banks' credit decisions, each with the run, version or month it rests on."""
    return firm_record_mod.firm_record(s, p, uscc)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def tier_names(rules_id: str | None, lang: str) -> dict[str, str]:
    """Whitelist tier labels of the rule set a version was built with (its YAML names them)."""
    from kejin.whitelist.rules import load_rules

    rules, _ = load_rules(rules_id or "default")
    return {x.id: (x.en if lang == "en" else x.zh) for x in rules.tiers}


#: The firm workbook's columns: (field, zh, en); values are written as labels, never codes.
FIRM_COLUMNS = (
    ("uscc", "统一社会信用代码", "USCC"),
    ("name", "企业名称", "name"),
    ("region_code", "区划", "region"),
    ("industry_chain", "产业链", "industry chain"),
    ("stage", "阶段", "stage"),
    ("points", "创新积分", "innovation points"),
    ("points_grade", "积分等级", "points grade"),
    ("tier", "白名单层级", "whitelist tier"),
)


def firms_export(s: Session, p: Principal, lang: str, **filters: Any) -> tuple[IO[bytes], int]:
    """All matching firms as a streamed workbook (write-only, through :mod:`kejin.exports`),
    with the snapshot each column rests on in a second sheet; the export audited as one event."""
    from kejin.exports import Book
    from kejin.ids import REGIONS
    from kejin.vocab import INDUSTRY_CHAINS, STAGES
    from kejin.web.i18n import term

    gov = p.role != "bank_officer"
    cols = [c for c in FIRM_COLUMNS if gov or c[0] not in profiles.RANKING_FIELDS]
    ranking = profiles.latest_ranking(s)
    tiers = tier_names(ranking["rules_id"], lang)
    book = Book(streaming=True)
    ws = book.sheet("企业名单 firms")
    ws.widths([22, 36, 12, 16, 10, 10, 10, 12][: len(cols)])
    ws.freeze("A2")
    ws.row(f"{zh} / {en}" for _, zh, en in cols)

    def region(code: str) -> str:
        zh, en = REGIONS.get(code, (code, code))
        return en if lang == "en" else zh

    def write(r: dict[str, Any]) -> None:
        shown = {
            **r,
            "region_code": region(r["region_code"]),
            "industry_chain": term(INDUSTRY_CHAINS, r["industry_chain"], lang),
            "stage": term(STAGES, r["stage"], lang),
        }
        if gov:
            shown["tier"] = tiers.get(r["tier"], "—") if r["tier"] else "—"
            shown["points_grade"] = r["points_grade"] or "—"
        ws.row(shown[c] for c, _, _ in cols)

    out = profiles.export_firms(s, p, write, **filters)
    about = book.sheet("说明 about")
    about.row(["项目 / item", "值 / value"])
    about.row(["行数 / rows", out["rows"]])
    if gov:
        about.row(["积分批次 / points run", ranking["run_id"] or "—"])
        about.row(["积分数据年度 / points data year", ranking["run_year"] or "—"])
        about.row(["白名单版本 / whitelist version", ranking["version_id"] or "—"])
        about.row(["白名单基准日 / whitelist as of", ranking["version_as_of"] or "—"])
    return book.spooled(), out["rows"]


@router.get(
    "/exports/firms.xlsx",
    summary="下载企业名单 / download firm list (Excel)",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX: {}}, "description": "Excel workbook"}},
)
def export_firms(
    request: Request,
    q: str | None = SEARCH_Q,
    chain: str | None = CHAIN_Q,
    stage: str | None = STAGE_Q,
    qualification: str | None = QUAL_Q,
    p: Principal = permit("firm.export"),
    s: Session = TX,
) -> StreamingResponse:
    """Every firm matching the filters (no cap), with points and tier for the government."""
    from kejin.exports import chunks
    from kejin.web.i18n import lang_of

    f, rows = firms_export(
        s, p, lang_of(request), q=q, chain=chain, stage=stage, qualification=qualification
    )
    return StreamingResponse(
        chunks(f),
        media_type=XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="firms.xlsx"',
            "X-Kejin-Rows": str(rows),
        },
    )


@router.get("/stats/region", response_model=RegionOverview, summary="区域概览 / region overview")
def region(p: Principal = permit("stats.region"), s: Session = TX) -> Any:
    return profiles.region_overview(s, p)
