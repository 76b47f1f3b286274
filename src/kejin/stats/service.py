"""Monthly statistics from the registry: read the frames, refuse a month without data, run the kernel.

The one door for these figures: the command (and later the API, pages and the statistics book)
ask here, so a month without loan-status data is refused the same way everywhere.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from kejin.errors import Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Loan, LoanStatus, Product
from kejin.registry.tables import Enterprise, Qualification
from kejin.stats import kernels
from kejin.stats.definitions import LIST_QUALIFICATIONS, monthly
from kejin.vocab import QUALIFICATION_KINDS
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str, field: str = "month") -> date:
    """``YYYY-MM`` as the month's first day, or a refusal naming the field."""
    m = _MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(
            "月份格式应为 YYYY-MM",
            "month must be YYYY-MM",
            [Problem("月份无效", "invalid month", field=field, value=text)],
        )
    return date(int(m.group(1)), int(m.group(2)), 1)


def _tiers(conn: Any, end: date) -> pl.DataFrame:
    """Members' tiers in the latest whitelist version as of the month end (none before the first)."""
    vid = conn.execute(
        select(func.max(WhitelistVersion.id)).where(WhitelistVersion.as_of <= end)
    ).scalar()
    if vid is None:
        return pl.DataFrame(schema={"uscc": pl.String, "tier": pl.String})
    return read_frame(
        conn,
        WhitelistEntry.__table__,
        ["uscc", "tier"],
        where=f"version_id = {int(vid)} AND status = 'member'",
    )


def gather(engine: Engine, month: date) -> kernels.Frames:
    """Every frame the kernel needs for ``month`` and the month a year earlier.

    Refuses a month with no loan-status rows, naming it: its figures would be zeros that look
    like data.
    """
    months = [month, kernels.shift_months(month, -12)]
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(LoanStatus).where(LoanStatus.month == month)
        ).scalar()
        if not n:
            raise ValidationError(
                f"{month:%Y-%m} 没有贷款月度状态数据，无法统计",
                f"no loan-status data for {month:%Y-%m}: nothing to compute",
                [
                    Problem(
                        "该月无贷款状态",
                        "no loan status that month",
                        field="month",
                        value=f"{month:%Y-%m}",
                    )
                ],
            )
        listed = ", ".join(f"'{m.isoformat()}'" for m in months)
        end = kernels.month_end(month)
        return kernels.Frames(
            loans=read_frame(
                conn,
                Loan.__table__,
                [
                    "contract_no",
                    "uscc",
                    "institution_id",
                    "product_id",
                    "amount",
                    "rate",
                    "disbursed_on",
                    "maturity_on",
                    "guarantee_type",
                    "first_time_borrower",
                ],
            ),
            statuses=read_frame(
                conn,
                LoanStatus.__table__,
                ["contract_no", "month", "balance", "classification"],
                where=f"month IN ({listed})",
            ),
            qualifications=read_frame(
                conn, Qualification.__table__, ["uscc", "kind", "valid_from", "valid_to"]
            ),
            firms=read_frame(conn, Enterprise.__table__, ["uscc", "industry_chain", "stage"]),
            tiers=_tiers(conn, end),
            products=read_frame(conn, Product.__table__, ["id", "kind"]),
        )


def month_report(engine: Engine, month_text: str, by: str | None = None) -> dict[str, Any]:
    """The month's indicators overall (and by ``by``), with their definitions and data date."""
    if by is not None and by not in kernels.BREAKDOWNS:
        raise ValidationError(
            "未知的分组维度",
            "unknown breakdown",
            [
                Problem(
                    f"应为 {'|'.join(kernels.BREAKDOWNS)} 之一",
                    f"must be one of {'|'.join(kernels.BREAKDOWNS)}",
                    field="by",
                    value=by,
                )
            ],
        )
    month = parse_month(month_text)
    f = gather(engine, month)
    defs = monthly()
    m = kernels.measures_by(f, [month], [None] if by is None else [None, by])
    (overall,) = kernels.indicators(m[None], defs)
    out: dict[str, Any] = {
        "month": f"{month:%Y-%m}",
        "date": kernels.month_end(month).isoformat(),
        "population": {
            "zh": "统计日持有下列有效资质之一的企业（每户计一次）："
            + "、".join(QUALIFICATION_KINDS[k].zh for k in LIST_QUALIFICATIONS),
            "en": "firms holding on the date at least one valid qualification of: "
            + ", ".join(QUALIFICATION_KINDS[k].en for k in LIST_QUALIFICATIONS),
        },
        "indicators": overall["indicators"],
    }
    if by is not None:
        rows = kernels.indicators(m[by], defs)
        out["by"] = by
        out["groups"] = [{"group": r["group"], "indicators": r["indicators"]} for r in rows]
    out["first_time_flag_disagreements"] = [
        {**r, "disbursed_on": r["disbursed_on"].isoformat(),
         "first_disbursed_on": r["first_disbursed_on"].isoformat()}
        for r in kernels.flag_disagreements(f, month).to_dicts()
    ]  # fmt: skip
    out["definitions"] = {
        i.id: {
            "label_zh": i.label_zh,
            "label_en": i.label_en,
            "unit": i.unit,
            "population": i.population,
            "formula": i.formula.model_dump(exclude_none=True),
            "source": i.source.model_dump(),
            "effective_from": i.effective_from.isoformat(),
        }
        for i in defs.indicators
    }
    return out
