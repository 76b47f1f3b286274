"""A small registry of hand-made firms for decision, evidence and warning tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.ids import uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification


def uscc(n: int) -> str:
    body = f"91320700MA{n:07d}"
    return body + uscc_check_char(body)


def add_firm(
    engine: Engine,
    n: int,
    *,
    revenue: tuple[str | None, str | None] = ("20000000", "30000000"),
    quals: tuple[str, ...] = ("hnte",),
    dishonest: bool = False,
    tax_grade: str = "A",
    dpd: int | None = None,
    year: int = 2026,
    tax: tuple[str, str] = ("1000000", "1000000"),
    valid_to: date | None = None,
    classification: str | None = None,
) -> str:
    """Firm ``n`` with revenue for ``year-2`` and ``year-1``, qualifications valid in ``year``."""
    code = uscc(n)
    with transaction(engine) as s:
        s.add(
            Enterprise(
                uscc=code,
                name=f"测试科技{n}",
                region_code="320700",
                industry_code="C3981",
                founded_on=date(2015, 1, 1),
                stage="growth",
                dishonest=dishonest,
            )
        )
        s.flush()
        for i, y in enumerate((year - 2, year - 1)):
            rev = revenue[i]
            s.add(
                AnnualIndicator(
                    uscc=code,
                    year=y,
                    revenue=None if rev is None else Decimal(rev),
                    total_assets=Decimal("50000000"),
                    total_liabilities=Decimal("20000000"),
                    tax_paid=Decimal(tax[i]),
                    tax_credit_grade=tax_grade,
                )
            )
        for j, k in enumerate(quals):
            s.add(
                Qualification(
                    uscc=code,
                    kind=k,
                    certificate_no=f"C{n}-{j}",
                    valid_from=date(year - 2, 1, 1),
                    valid_to=valid_to or date(year, 12, 31),
                    source="most",
                )
            )
        if dpd is not None:
            if s.get(Institution, "B1") is None:
                s.add(Institution(id="B1", name="测试银行", kind="bank", region_code="320700"))
                s.flush()
            s.add(
                Loan(
                    contract_no=f"L{n}",
                    uscc=code,
                    institution_id="B1",
                    amount=Decimal("1000000"),
                    credit_line=Decimal("1000000"),
                    rate=Decimal("0.035"),
                    disbursed_on=date(year - 1, 1, 1),
                    maturity_on=date(year + 1, 1, 1),
                    guarantee_type="credit",
                )
            )
            s.flush()
            s.add(
                LoanStatus(
                    contract_no=f"L{n}",
                    month=date(year, 5, 1),
                    balance=Decimal("800000"),
                    days_past_due=dpd,
                    classification=classification or ("normal" if dpd < 30 else "special_mention"),
                )
            )
    return code


def points_run(engine: Engine, run_id: int, system: str, year: int, scores: dict) -> None:
    """One scoring run in the points area's own tables (only the fields credit reads matter)."""
    from kejin.points.tables import ScoreResult, ScoreRun

    with transaction(engine) as s:
        s.add(
            ScoreRun(
                id=run_id,
                system_id=system,
                system_version="1",
                system_sha256="0" * 64,
                year=year,
                input_sha256="0" * 64,
                parameters="{}",
                firms=len(scores),
                results_sha256="0" * 64,
                created_at=datetime(2026, 6, 1),
            )
        )
        s.flush()
        for code, total in scores.items():
            s.add(
                ScoreResult(
                    run_id=run_id,
                    uscc=code,
                    peer_group="g",
                    base=total,
                    bonus=0.0,
                    total=total,
                    group_size=1,
                    rank_group=1,
                    pct_group=1.0,
                    rank_region=1,
                    pct_region=1.0,
                    grade="A",
                    list_id=None,
                    detail="{}",
                )
            )


@contextmanager
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The CLI app pointed at this test's database (settings and engine caches reset after)."""
    from typer.testing import CliRunner

    from kejin.cli import _mount_areas, app
    from kejin.config import get_settings
    from kejin.console import engine_for

    monkeypatch.setenv("KEJIN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    engine_for.cache_clear()
    _mount_areas()
    runner = CliRunner()
    try:
        yield lambda *args: runner.invoke(app, list(args))
    finally:
        get_settings.cache_clear()
        engine_for.cache_clear()
