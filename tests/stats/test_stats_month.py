"""``kejin stats month`` over the registry: the hand-computed portfolio through the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from stats_case import read_case, table
from typer.testing import CliRunner

from kejin.cli import app
from kejin.errors import ValidationError
from kejin.frames import write_frame
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import Enterprise, Qualification
from kejin.stats.service import month_report

runner = CliRunner()


def load_case(engine: Engine) -> dict[str, Any]:
    """The case's tables written to the registry, with the columns it leaves out filled plainly."""
    doc = read_case("june_2025.yaml")
    loans = table("loans", doc["loans"])
    banks = sorted(set(loans["institution_id"]))
    firms = table("firms", doc["firms"])
    with engine.begin() as conn:
        write_frame(
            conn,
            Institution.__table__,
            pl.DataFrame(
                {"id": banks, "name": banks, "kind": "bank", "region_code": "650200"}
            ).with_columns(partner_bank=False, tech_branch=False),
        )
        write_frame(
            conn,
            Product.__table__,
            table("products", doc["products"]).with_columns(
                institution_id=pl.lit("B1"), name=pl.col("id")
            ),
        )
        write_frame(
            conn,
            Enterprise.__table__,
            firms.with_columns(
                name=pl.col("uscc"),
                region_code=pl.lit("650200"),
                industry_code=pl.lit("C39"),
                founded_on=pl.lit(date(2015, 1, 1)),
                listing_board=pl.lit("none"),
                dishonest=False,
                deregistered=False,
                abnormal_operation=False,
            ),
        )
        q = table("qualifications", doc["qualifications"])
        write_frame(
            conn,
            Qualification.__table__,
            q.with_row_index("id", 1).with_columns(
                pl.col("id").cast(pl.Int64),
                certificate_no=pl.format("Q{}", pl.col("id")),
                source=pl.lit("most"),
            ),
        )
        write_frame(conn, Loan.__table__, loans.with_columns(credit_line=pl.col("amount")))
        write_frame(
            conn,
            LoanStatus.__table__,
            table("statuses", doc["statuses"]).with_columns(days_past_due=pl.lit(0, pl.Int64)),
        )
    return doc


def test_month_report_over_the_registry(engine: Engine) -> None:
    doc = load_case(engine)
    res = json.loads(json.dumps(month_report(engine, "2025-06", "bank"), default=str))
    assert res["date"] == "2025-06-30"
    assert res["indicators"] == doc["expected"]["all"]
    got = {g["group"]: g["indicators"] for g in res["groups"]}
    assert got == doc["expected"]["bank"]
    bad = [
        (r["contract_no"], r["reported"], r["computed"])
        for r in res["first_time_flag_disagreements"]
    ]
    assert bad == [(r["contract_no"], r["reported"], r["computed"]) for r in doc["disagreements"]]
    assert res["definitions"]["npl_ratio"]["source"]["document"] == "001"


def test_a_month_without_status_rows_is_refused_by_name(engine: Engine) -> None:
    load_case(engine)
    with pytest.raises(ValidationError) as e:
        month_report(engine, "2025-07")
    assert "2025-07" in e.value.reason_zh and "2025-07" in e.value.reason_en


@pytest.mark.parametrize("bad", ["2025-13", "2025-6", "June", "2025-06-01"])
def test_a_bad_month_is_refused(engine: Engine, bad: str) -> None:
    with pytest.raises(ValidationError) as e:
        month_report(engine, bad)
    assert e.value.problems[0].field == "month"


def test_an_unknown_breakdown_is_refused(engine: Engine) -> None:
    load_case(engine)
    with pytest.raises(ValidationError) as e:
        month_report(engine, "2025-06", "region-ish")
    assert e.value.problems[0].field == "by"


@pytest.fixture
def cli_db(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    from kejin.cli import _mount_areas
    from kejin.config import get_settings
    from kejin.console import engine_for

    monkeypatch.setenv("KEJIN_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    engine_for.cache_clear()
    _mount_areas()
    yield sqlite_engine
    get_settings.cache_clear()
    engine_for.cache_clear()


def test_cli_month_json(cli_db: Engine) -> None:
    doc = load_case(cli_db)
    r = runner.invoke(app, ["stats", "month", "2025-06", "--by", "bank", "--json"])
    assert r.exit_code == 0, r.output + str(r.exception)
    res = json.loads(r.stdout)
    assert res["indicators"] == doc["expected"]["all"]  # money as exact strings in yuan
    assert {g["group"] for g in res["groups"]} == {"B1", "B2"}
    r = runner.invoke(app, ["stats", "month", "2025-06"])
    assert r.exit_code == 0 and "tech_loan_balance" in r.stdout


def test_cli_refuses_a_month_without_data(cli_db: Engine) -> None:
    load_case(cli_db)
    r = runner.invoke(app, ["stats", "month", "2024-07", "--json"])
    assert r.exit_code != 0 and isinstance(r.exception, ValidationError)
    assert "2024-07" in str(r.exception)
