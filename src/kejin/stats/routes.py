"""The statistics API: every figure of the monthly statistics, its trend and its definitions.

Government readers only (the region's figures, and the first-loan flag check names firms and
contracts); a bank or a firm is refused. Each answer carries the definitions, the population and
the dates, like the command's ``--json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import READERS, Principal, Rule, add_rules
from kejin.stats import service

router = APIRouter(prefix="/api/stats", tags=["stats 统计"])

add_rules([Rule("stats.monthly", role, "region") for role in READERS])

Month = Query(..., pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
By = Query(
    None, description="bank|chain|region|stage|tier|qualification|product-kind", max_length=20
)
Population = Query("list", pattern="^(list|whitelist)$", description="list | whitelist")


def engine_of(s: Session) -> Engine:
    """The engine behind the request's session: the statistics read whole tables through it."""
    bind = s.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


@router.get("/month", summary="月度统计指标 / the month's indicators")
def month(
    month: str = Month,
    by: str | None = By,
    population: str = Population,
    p: Principal = permit("stats.monthly"),
    s: Session = TX,
) -> Any:
    report = service.month_report(engine_of(s), month, by, population)
    service.log_flag_read(s, p, report)
    return report


@router.get("/trend", summary="指标趋势 / the indicators month by month")
def trend(
    through: str = Query(..., pattern=r"^\d{4}-\d{2}$", description="YYYY-MM"),
    months: int = Query(13, ge=1, le=60),
    by: str | None = By,
    population: str = Population,
    p: Principal = permit("stats.monthly"),
    s: Session = TX,
) -> Any:
    return service.series(engine_of(s), through, months, by, population)


@router.get("/months", summary="有数据的月份 / months with loan-status data")
def months(p: Principal = permit("stats.monthly"), s: Session = TX) -> dict[str, Any]:
    return {"months": [f"{m:%Y-%m}" for m in service.months_with_data(engine_of(s))]}


@router.get("/definitions", summary="指标定义 / indicator definitions")
def definitions(p: Principal = permit("stats.monthly")) -> dict[str, Any]:
    return {"definitions": service.definitions()}
