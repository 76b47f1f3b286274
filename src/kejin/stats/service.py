"""Monthly statistics from the registry: read the frames, refuse a month without data, run the kernel.

The one door for these figures: the command (and later the API, pages and the statistics book)
ask here, so a month without loan-status data is refused the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from kejin.access.rules import Principal
from kejin.access.service import log
from kejin.errors import Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Loan, LoanStatus, Product
from kejin.registry.tables import DataPull, Enterprise, Qualification
from kejin.stats import kernels
from kejin.stats.definitions import POPULATIONS, monthly
from kejin.stats.tables import LprRate
from kejin.vocab import QUALIFICATION_KINDS
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: The latest whitelist version's members stay members until a newer version replaces them.
OPEN_END = date(9999, 12, 31)
#: The published LPR by month (CFETS announcements), shipped with kejin: ``kejin stats lpr import``.
LPR_FILE = Path(__file__).with_name("lpr.csv")


def parse_month(text: str, field: str = "month") -> date:
    """``YYYY-MM`` (years 1900–2999) as the month's first day, or a refusal naming the field."""
    m = _MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1900 <= int(m.group(1)) <= 2999:
        raise ValidationError(
            "月份格式应为 YYYY-MM",
            "month must be YYYY-MM",
            [Problem("月份无效", "invalid month", field=field, value=text)],
        )
    return date(int(m.group(1)), int(m.group(2)), 1)


def _tiers(conn: Any, end: date) -> pl.DataFrame:
    """Members' tiers in the latest whitelist version as of the month end (none before the first)."""
    vid = tier_version(read_frame(conn, WhitelistVersion.__table__, ["id", "as_of"]), end)
    if vid is None:
        return pl.DataFrame(schema={"uscc": pl.String, "tier": pl.String})
    return read_frame(
        conn,
        WhitelistEntry.__table__,
        ["uscc", "tier"],
        where=f"version_id = {int(vid)} AND status = 'member'",
    )


def tier_version(versions: pl.DataFrame, end: date) -> int | None:
    """The whitelist version whose tiers hold on ``end``: the latest (highest id) as of it."""
    vid = versions.filter(pl.col("as_of") <= end)["id"].max()
    return None if vid is None else int(vid)  # type: ignore[arg-type]


def _refuse_without_data(conn: Any, month: date) -> None:
    """A month with no loan-status rows is refused by name: its figures would be zeros that
    look like data."""
    n = conn.execute(
        select(func.count()).select_from(LoanStatus).where(LoanStatus.month == month)
    ).scalar()
    if not n:
        refuse_month(month)


def refuse_month(month: date) -> None:
    """Refuse ``month`` for having no loan-status rows (either engine)."""
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


def _members(conn: Any) -> pl.DataFrame:
    return member_spans(
        read_frame(conn, WhitelistVersion.__table__, ["id", "as_of"]),
        read_frame(
            conn, WhitelistEntry.__table__, ["version_id", "uscc"], where="status = 'member'"
        ),
    )


def member_spans(versions: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """Whitelist membership spans from the versions (id, as_of) and the member entries
    (version_id, uscc): a version's members from its as-of date until the day before the next
    version's (the latest version's without end)."""
    spans = versions.sort("as_of", "id").with_columns(
        valid_to=(pl.col("as_of").shift(-1) - pl.duration(days=1)).fill_null(OPEN_END)
    )
    return (
        entries.join(spans, left_on="version_id", right_on="id")
        .select("uscc", valid_from="as_of", valid_to="valid_to")
        .filter(pl.col("valid_from") <= pl.col("valid_to"))
    )


def lpr_frame(conn: Any) -> pl.DataFrame:
    return read_frame(conn, LprRate.__table__, ["month", "lpr_1y", "lpr_5y"])


#: The columns of each registry table the kernel reads (:class:`kejin.stats.kernels.Frames`).
LOAN_COLUMNS = [
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
]
STATUS_COLUMNS = ["contract_no", "month", "balance", "classification"]
QUAL_COLUMNS = ["uscc", "kind", "valid_from", "valid_to"]
FIRM_COLUMNS = ["uscc", "industry_chain", "stage", "region_code"]


def gather(engine: Engine, month: date, *, months: Sequence[date] | None = None) -> kernels.Frames:
    """Every frame the kernel needs for ``month`` (or each of ``months``): their status rows and
    those a month and a year earlier, loans, qualifications, firms, the tiers of the whitelist
    version in force at ``month``'s end, products, the LPR table and the whitelist spans.

    Refuses ``month`` if it has no loan-status rows, naming it.
    """
    asked = sorted(set(months or []) | {month})
    needed = sorted(
        set(asked)
        | {kernels.shift_months(m, -12) for m in asked}
        | {kernels.shift_months(m, -1) for m in asked}
    )
    with engine.connect() as conn:
        _refuse_without_data(conn, month)
        listed = ", ".join(f"'{m.isoformat()}'" for m in needed)
        end = kernels.month_end(month)
        return kernels.Frames(
            loans=read_frame(conn, Loan.__table__, LOAN_COLUMNS),
            statuses=read_frame(
                conn, LoanStatus.__table__, STATUS_COLUMNS, where=f"month IN ({listed})"
            ),
            qualifications=read_frame(conn, Qualification.__table__, QUAL_COLUMNS),
            firms=read_frame(conn, Enterprise.__table__, FIRM_COLUMNS),
            tiers=_tiers(conn, end),
            products=read_frame(conn, Product.__table__, ["id", "kind"]),
            lpr=lpr_frame(conn),
            members=_members(conn),
        )


def months_with_data(engine: Engine) -> list[date]:
    """Months that have loan-status rows, oldest first (what a page offers to pick)."""
    with engine.connect() as conn:
        return list(
            conn.execute(select(LoanStatus.month).distinct().order_by(LoanStatus.month)).scalars()
        )


def _data_as_of(conn: Any, month: date) -> str | None:
    """When the month's loan-status data was loaded (the latest load among its rows)."""
    pull = conn.execute(
        select(func.max(LoanStatus.pull_id)).where(LoanStatus.month == month)
    ).scalar()
    if pull is None:
        return None
    at = conn.execute(select(DataPull.loaded_at).where(DataPull.id == pull)).scalar()
    return None if at is None else at.isoformat(timespec="seconds")


def _check_by(by: str | None) -> None:
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


def _check_population(population: str) -> None:
    if population not in POPULATIONS:
        raise ValidationError(
            "未知的统计口径",
            "unknown population",
            [
                Problem(
                    f"应为 {'|'.join(POPULATIONS)} 之一",
                    f"must be one of {'|'.join(POPULATIONS)}",
                    field="population",
                    value=population,
                )
            ],
        )


def population_text(population: str, on: date | None = None) -> dict[str, str]:
    """The population a figure is computed over, in words (zh, en): the list in effect on
    ``on`` (default: the latest list)."""
    kinds = monthly().kinds_on(on or date.max)
    if population == "whitelist":
        return {
            "zh": "统计日在册的科技企业白名单企业（每户计一次）",
            "en": "firms on the tech-firm whitelist in force on the date (each counted once)",
        }
    return {
        "zh": "统计日持有下列有效资质之一的企业（每户计一次）："
        + "、".join(QUALIFICATION_KINDS[k].zh for k in kinds),
        "en": "firms holding on the date at least one valid qualification of: "
        + ", ".join(QUALIFICATION_KINDS[k].en for k in kinds),
    }


def definitions(on: date | None = None) -> dict[str, dict[str, Any]]:
    """Each indicator's labels, unit, population, formula, source and date of effect: the
    versions in effect on ``on`` (default: the latest)."""
    return {
        i.id: {
            "label_zh": i.label_zh,
            "label_en": i.label_en,
            "unit": i.unit,
            "population": i.population,
            "formula": i.formula.model_dump(exclude_none=True),
            "source": i.source.model_dump(),
            "effective_from": i.effective_from.isoformat(),
        }
        for i in monthly().as_of(on)
    }


def log_flag_read(session: Session, p: Principal, report: dict[str, Any]) -> None:
    """The first-loan flag check names firms (USCCs) and their contracts: handing it to a reader
    (page, API, book) is an enterprise-data read, audited like any other (the contracts and
    firms read go into the event's digest)."""
    flags = report["first_time_flag_disagreements"]
    log(
        session,
        p,
        "stats.flags.read",
        "stats_month",
        report["month"],
        after=[[r["contract_no"], r["uscc"]] for r in flags],
        detail={"loans": len(flags), "firms": len({r["uscc"] for r in flags})},
        durable=False,
    )


def month_report(
    engine: Engine, month_text: str, by: str | None = None, population: str = "list"
) -> dict[str, Any]:
    """The month's indicators overall (and by ``by``), with their definitions and data date."""
    return month_reports(engine, month_text, [by], population)[by]


def month_reports(
    engine: Engine, month_text: str, bys: Sequence[str | None], population: str = "list"
) -> dict[str | None, dict[str, Any]]:
    """:func:`month_report` for several breakdowns, reading the registry and joining once."""
    check_request(bys, population)
    month = parse_month(month_text)
    f = gather(engine, month)
    m = kernels.measures_by(f, [month], report_breakdowns(bys), population)
    with engine.connect() as conn:
        as_of = _data_as_of(conn, month)
    return reports(month, bys, population, m, kernels.flag_disagreements(f, month), as_of, f.lpr)


def check_request(bys: Sequence[str | None], population: str) -> None:
    """Refuse an unknown breakdown or population, naming it (either engine)."""
    for by in bys:
        _check_by(by)
    _check_population(population)


def report_breakdowns(bys: Sequence[str | None]) -> list[str | None]:
    """The breakdowns :func:`reports` needs measures of: the whole, then each asked."""
    return [None, *[b for b in bys if b is not None]]


def reports(
    month: date,
    bys: Sequence[str | None],
    population: str,
    m: dict[str | None, pl.DataFrame],
    flags: pl.DataFrame,
    as_of: str | None,
    lpr_table: pl.DataFrame | None,
) -> dict[str | None, dict[str, Any]]:
    """The month's reports from its measures (:func:`report_breakdowns`), the first-loan flag
    check, the data date and the LPR table, however they were computed (local or Spark)."""
    defs = monthly()
    (overall,) = kernels.indicators(m[None], defs)
    lpr = lpr_table.filter(pl.col("month") == month) if lpr_table is not None else None
    base: dict[str, Any] = {
        "month": f"{month:%Y-%m}",
        "date": kernels.month_end(month).isoformat(),
        "data_as_of": as_of,
        "population_basis": population,
        "population": population_text(population, kernels.month_end(month)),
        "lpr": None
        if lpr is None or lpr.is_empty()
        else {"lpr_1y": lpr["lpr_1y"][0], "lpr_5y": lpr["lpr_5y"][0]},
        "indicators": overall["indicators"],
    }
    tail = {
        "first_time_flag_disagreements": [
            {**r, "disbursed_on": r["disbursed_on"].isoformat(),
             "first_disbursed_on": r["first_disbursed_on"].isoformat()}
            for r in flags.to_dicts()
        ],
        "definitions": definitions(kernels.month_end(month)),
    }  # fmt: skip
    out: dict[str | None, dict[str, Any]] = {}
    for by in bys:
        rep = dict(base)
        if by is not None:
            rep["by"] = by
            rep["groups"] = [
                {"group": r["group"], "indicators": r["indicators"]}
                for r in kernels.indicators(m[by], defs)
            ]
        out[by] = rep | tail
    return out


def series(
    engine: Engine,
    through_text: str,
    months: int = 13,
    by: str | None = None,
    population: str = "list",
) -> dict[str, Any]:
    """The indicators of the last ``months`` months with data up to ``through`` (a trend), each
    month computed exactly as :func:`month_report` computes it."""
    check_request([by], population)
    through = parse_month(through_text, "through")
    have = trend_months(months_with_data(engine), through, months)
    f = gather(engine, through, months=have)
    m = kernels.measures_by(f, have, report_breakdowns([by]), population)
    return series_report(through, have, by, population, m)


def trend_months(with_data: Sequence[date], through: date, months: int) -> list[date]:
    """The last ``months`` (1–60) months with data up to ``through``."""
    return [m for m in with_data if m <= through][-max(1, min(months, 60)) :]


def series_report(
    through: date,
    have: Sequence[date],
    by: str | None,
    population: str,
    m: dict[str | None, pl.DataFrame],
) -> dict[str, Any]:
    """The trend from the measures of its months (local or Spark)."""
    rows = kernels.indicators(m[None if by is None else by], monthly())
    return {
        "through": f"{through:%Y-%m}",
        "population_basis": population,
        "population": population_text(population, kernels.month_end(through)),
        "by": by,
        "months": [f"{d:%Y-%m}" for d in have],
        "rows": [
            {"month": f"{r['month']:%Y-%m}", "group": r["group"], "indicators": r["indicators"]}
            for r in rows
        ],
        "definitions": definitions(kernels.month_end(through)),
    }


def import_lpr(engine: Engine, path: Path | None = None) -> dict[str, Any]:
    """The published LPR by month from a CSV (month YYYY-MM, lpr_1y, lpr_5y as fractions, source);
    the shipped file when none is given. All rows or none; a bad row is named with its field."""
    path = path or LPR_FILE
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise ValidationError(
            "LPR文件无法读取", "the LPR file cannot be read", [Problem(str(e), str(e), path.name)]
        ) from None
    problems: list[Problem] = []
    missing = {"month", "lpr_1y", "lpr_5y", "source"} - set(raw.columns)
    for col in sorted(missing):
        problems.append(Problem("缺少列", "missing column", path.name, 1, col))
    rows: list[dict[str, Any]] = []
    seen: set[date] = set()
    for n, r in enumerate(raw.to_dicts() if not missing else [], start=2):
        try:
            month = parse_month(r["month"] or "")
        except ValidationError:
            problems.append(
                Problem(
                    "月份应为 YYYY-MM", "month must be YYYY-MM", path.name, n, "month", r["month"]
                )
            )
            continue
        if month in seen:
            problems.append(
                Problem("月份重复", "duplicate month", path.name, n, "month", r["month"])
            )
        seen.add(month)
        vals = {}
        for col in ("lpr_1y", "lpr_5y"):
            try:
                v = Decimal(r[col] or "")
            except InvalidOperation:
                v = Decimal(-1)
            if not Decimal(0) < v < Decimal("0.2"):
                problems.append(
                    Problem(
                        "应为小数形式的年利率（如0.0300），大于0、小于0.2",
                        "must be an annual rate as a fraction (e.g. 0.0300), above 0 and below 0.2",
                        path.name,
                        n,
                        col,
                        r[col],
                    )
                )
            vals[col] = v
        if not (r["source"] or "").strip():
            problems.append(Problem("须注明来源", "a source is required", path.name, n, "source"))
        rows.append({"month": month, **vals, "source": (r["source"] or "").strip()})
    if problems:
        raise ValidationError("LPR文件有误，未导入", "bad LPR file: nothing imported", problems)
    with engine.begin() as conn:
        months = [r["month"] for r in rows]
        if months:
            conn.execute(delete(LprRate).where(LprRate.month.in_(months)))
            conn.execute(insert(LprRate), rows)
    return {
        "file": path.name,
        "months": len(rows),
        "first": f"{min(months):%Y-%m}" if rows else None,
        "last": f"{max(months):%Y-%m}" if rows else None,
    }
