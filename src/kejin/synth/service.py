"""Build the synthetic region into a database, and summarise whatever region a database holds.

``build_region`` is what other areas call to get a populated database for their tests and demos:
``build_region(engine, firms=N, seed=S)``. It generates the frames (:mod:`kejin.synth.model`),
then writes all of them in one transaction through the bulk path
(:func:`kejin.frames.bulk_transaction`), so a failure leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, distinct, func, inspect, select

import kejin.models  # noqa: F401  (the whole schema, to find tables that depend on ours)
from kejin.asof import data_date
from kejin.db import Base
from kejin.errors import ConflictError, NotFoundError
from kejin.frames import BulkLoader, bulk_transaction
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import Enterprise, Qualification
from kejin.synth.model import AS_OF, WINDOW_MONTHS, generate
from kejin.vocab import (
    INDUSTRY_CHAINS,
    INSTITUTION_KINDS,
    NON_PERFORMING,
    PRODUCT_KINDS,
    QUALIFICATION_KINDS,
    STAGES,
)

#: ``progress(description, done, total)``: called as generation and each table's write advance.
Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What one ``build_region`` call did, and how long each part took."""

    firms: int
    seed: int
    as_of: str
    replaced: bool
    rows: dict[str, int]
    generate_seconds: float
    write_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_rows"] = self.total_rows
        return d


def region_tables(tables: list[str]) -> list[Table]:
    """``tables`` plus every table that references them, children first (safe deletion order)."""
    meta = Base.metadata
    closure = set(tables)
    grew = True
    while grew:
        grew = False
        for t in meta.sorted_tables:
            if t.name not in closure and any(
                fk.column.table.name in closure for fk in t.foreign_keys
            ):
                closure.add(t.name)
                grew = True
    return [t for t in reversed(meta.sorted_tables) if t.name in closure]


#: The tables a build writes (the generator's frames); ``region_tables`` adds their dependants.
_REGION = (
    "data_pulls",
    "synth_runs",
    "enterprises",
    "qualifications",
    "annual_indicators",
    "financing_events",
    "institutions",
    "products",
    "loans",
    "loan_statuses",
    "synth_truth",
    "policy_programmes",
    "policy_applications",
    "policy_payments",
    "synth_effects",
)


def require_schema(engine: Engine, tables: tuple[str, ...] = ()) -> None:
    """A database nobody migrated gets a sentence telling what to run, not a traceback: the
    region's tables and ``tables`` (those the caller reads besides) must all exist."""
    have = set(inspect(engine).get_table_names())
    missing = [t for t in (*_REGION, *tables) if t not in have]
    if missing:
        raise NotFoundError(
            f"数据库结构未建立（缺少 {', '.join(missing)}），请先运行 kejin db upgrade",
            f"the database has no schema yet (missing {', '.join(missing)}); "
            "run `kejin db upgrade` first",
        )


def _refuse_if_occupied(
    first: Callable[[str], tuple[Any, ...] | None], tables: list[Table]
) -> None:
    occupied = [t.name for t in tables if first(f'SELECT 1 FROM "{t.name}" LIMIT 1')]
    if occupied:
        names = ", ".join(occupied)
        raise ConflictError(
            f"数据库中已有区域数据（{names}），如需整体替换请使用 --replace",
            f"the database already holds region data ({names}); use --replace to replace it",
        )


def _clear(loader: BulkLoader, tables: list[Table]) -> None:
    if loader.dialect == "postgresql":
        loader.execute("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables))
    else:
        for t in tables:
            loader.execute(f'DELETE FROM "{t.name}"')


def build_region(
    engine: Engine,
    firms: int,
    seed: int,
    replace: bool = False,
    progress: Progress | None = None,
    as_of: dt.date = AS_OF,
    years: int = 3,
    audit: Callable[[Connection, BuildReport], None] | None = None,
) -> BuildReport:
    """Generate a region of ``firms`` firms from ``seed`` and write it, all or nothing.

    Refuses (:class:`ConflictError`) when the registry already holds data, unless ``replace``:
    then the registry, lending and synth tables, and every table that references them, are
    emptied in the same transaction before the load. ``audit`` writes the run's audit record
    on the load's connection, so the region and its record commit together.
    """
    t0 = time.perf_counter()
    require_schema(engine)
    meta = Base.metadata.tables
    ours = region_tables([t.name for t in meta.values() if t.name in _REGION])
    if not replace:  # fail before spending minutes generating; checked again when writing
        with engine.connect() as conn:
            _refuse_if_occupied(lambda sql: conn.exec_driver_sql(sql).first(), ours)
    if progress:
        progress("生成 / generating", 0, 1)
    region = generate(firms, seed, as_of=as_of, years=years)
    gen_s = time.perf_counter() - t0
    total = region.rows()
    report = BuildReport(
        firms=firms,
        seed=seed,
        as_of=as_of.isoformat(),
        replaced=replace,
        rows={k: v.height for k, v in region.tables.items()},
        generate_seconds=round(gen_s, 3),
    )
    done = 0

    def on_rows(name: str, rows: int) -> None:
        nonlocal done
        done += rows
        if progress:
            progress(f"写入 / writing {name}", done, total)

    def on_table(name: str, rows: int, seconds: float) -> None:
        report.write_seconds[name] = round(seconds, 3)

    with bulk_transaction(engine) as loader:
        if replace:
            _clear(loader, ours)
        else:
            _refuse_if_occupied(loader.first, ours)
        loader.load(
            [(meta[name], df) for name, df in region.tables.items()],
            on_table=on_table,
            on_rows=on_rows,
        )
        if audit is not None:
            audit(loader.conn, report)
    report.total_seconds = round(time.perf_counter() - t0, 3)
    return report


def _counts(conn: Connection, column: Any, vocab: dict[str, Any], *where: Any) -> dict[str, int]:
    rows = conn.execute(select(column, func.count()).where(*where).group_by(column)).all()
    found = {k: int(v) for k, v in rows}
    return {k: found.get(k, 0) for k in vocab} | {
        str(k): v for k, v in found.items() if k not in vocab
    }


def _months_before(month: dt.date | None, n: int) -> dt.date:
    """The first day of the month ``n`` months before ``month`` (no status month: any day)."""
    if month is None:
        return dt.date.min
    k = month.year * 12 + month.month - 1 - n
    return dt.date(k // 12, k % 12 + 1, 1)


def region_summary(engine: Engine, as_of: dt.date | None = None) -> dict[str, Any]:
    """Firms, institutions, products and loans of the database, as plain numbers.

    ``as_of`` (default: the data date, :func:`kejin.asof.data_date`) decides which
    qualifications count as held. Loan figures use the monthly status table:

    * ``outstanding_balance``: sum of balances in the latest status month;
    * ``default_rate``: defaulted loans / loans with a status row in the twelve months ending in
      the latest status month (the window of a 12-month default: loans that matured before it
      had no chance to default in it), where a loan is *defaulted* when any of its monthly
      statuses in those months is non-performing (次级, 可疑 or 损失, i.e. 90+ days past due);
    * ``npl_ratio``: non-performing balance / total balance in the latest status month.
    """
    require_schema(engine)
    with engine.connect() as conn:
        if as_of is None:
            as_of = data_date(conn)
        firms = conn.execute(select(func.count()).select_from(Enterprise)).scalar_one()
        by_stage = _counts(conn, Enterprise.stage, STAGES)
        by_chain = _counts(conn, Enterprise.industry_chain, INDUSTRY_CHAINS)
        # Count firms, not certificates: a firm may hold two certificates of one kind.
        held_firms = dict(
            conn.execute(
                select(Qualification.kind, func.count(distinct(Qualification.uscc)))
                .where(Qualification.valid_from <= as_of, Qualification.valid_to >= as_of)
                .group_by(Qualification.kind)
            ).all()
        )
        held = {k: int(held_firms.get(k, 0)) for k in QUALIFICATION_KINDS}
        institutions = _counts(conn, Institution.kind, INSTITUTION_KINDS)
        partner = conn.execute(
            select(func.count()).select_from(Institution).where(Institution.partner_bank)
        ).scalar_one()
        tech = conn.execute(
            select(func.count()).select_from(Institution).where(Institution.tech_branch)
        ).scalar_one()
        products = _counts(conn, Product.kind, PRODUCT_KINDS)
        loan_count, borrowers, amount = conn.execute(
            select(func.count(), func.count(distinct(Loan.uscc)), func.sum(Loan.amount))
        ).one()
        latest_month = conn.execute(select(func.max(LoanStatus.month))).scalar_one()
        np_list = sorted(NON_PERFORMING)
        window = LoanStatus.month >= _months_before(latest_month, WINDOW_MONTHS - 1)
        with_status = conn.execute(
            select(func.count(distinct(LoanStatus.contract_no))).where(window)
        ).scalar_one()
        defaulted = conn.execute(
            select(func.count(distinct(LoanStatus.contract_no))).where(
                window, LoanStatus.classification.in_(np_list)
            )
        ).scalar_one()
        balance = npl_balance = Decimal("0.00")
        if latest_month is not None:
            balance = conn.execute(
                select(func.coalesce(func.sum(LoanStatus.balance), 0)).where(
                    LoanStatus.month == latest_month
                )
            ).scalar_one()
            npl_balance = conn.execute(
                select(func.coalesce(func.sum(LoanStatus.balance), 0)).where(
                    LoanStatus.month == latest_month, LoanStatus.classification.in_(np_list)
                )
            ).scalar_one()
    balance = Decimal(balance).quantize(Decimal("0.01"))
    npl_balance = Decimal(npl_balance).quantize(Decimal("0.01"))
    return {
        "as_of": as_of.isoformat(),
        "firms": {
            "total": int(firms),
            "by_stage": by_stage,
            "by_chain": by_chain,
            "by_qualification": held,
        },
        "institutions": {
            "total": sum(institutions.values()),
            "by_kind": institutions,
            "partner_banks": int(partner),
            "tech_branches": int(tech),
        },
        "products": {"total": sum(products.values()), "by_kind": products},
        "loans": {
            "count": int(loan_count),
            "borrowers": int(borrowers),
            "amount": Decimal(amount or 0).quantize(Decimal("0.01")),
            "latest_month": latest_month.isoformat() if latest_month else None,
            "outstanding_balance": balance,
            "loans_with_status": int(with_status),
            "defaulted": int(defaulted),
            "default_rate": round(defaulted / with_status, 6) if with_status else None,
            "npl_balance": npl_balance,
            "npl_ratio": round(float(npl_balance / balance), 6) if balance else None,
        },
    }
