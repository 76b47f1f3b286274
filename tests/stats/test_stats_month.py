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
from kejin.stats.service import import_lpr, month_report, series
from kejin.stats.tables import LprRate
from kejin.synth.service import build_region

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
        write_frame(
            conn,
            LprRate.__table__,
            table("lpr", doc["lpr"]).with_columns(source=pl.lit("CFETS")),
        )
    return doc


def test_month_report_over_the_registry(engine: Engine) -> None:
    doc = load_case(engine)
    res = json.loads(json.dumps(month_report(engine, "2025-06", "bank"), default=str))
    assert res["date"] == "2025-06-30"
    assert res["indicators"] == doc["expected"]["all"]
    got = {g["group"]: g["indicators"] for g in res["groups"]}
    assert set(got) == set(doc["expected"]["bank"])
    for bank, figures in doc["expected"]["bank"].items():
        assert {k: got[bank][k] for k in figures} == figures
    bad = [
        (r["contract_no"], r["reported"], r["computed"])
        for r in res["first_time_flag_disagreements"]
    ]
    assert bad == [(r["contract_no"], r["reported"], r["computed"]) for r in doc["disagreements"]]
    assert "提升科创金融供给能力" in res["definitions"]["npl_ratio"]["source"]["document"]
    assert res["lpr"] == {"lpr_1y": "0.030000", "lpr_5y": "0.035000"}


def test_month_report_by_region(engine: Engine) -> None:
    doc = load_case(engine)
    res = json.loads(json.dumps(month_report(engine, "2025-06", "region"), default=str))
    got = {g["group"]: g["indicators"] for g in res["groups"]}
    for region, figures in doc["expected"]["region"].items():
        assert {k: got[region][k] for k in figures} == figures


def test_series_gives_each_month_as_the_month_report_does(engine: Engine) -> None:
    load_case(engine)
    res = json.loads(json.dumps(series(engine, "2025-06"), default=str))
    assert res["months"] == ["2024-06", "2025-05", "2025-06"]
    june = json.loads(json.dumps(month_report(engine, "2025-06"), default=str))
    by_month = {r["month"]: r["indicators"] for r in res["rows"]}
    assert by_month["2025-06"] == june["indicators"]
    assert by_month["2024-06"]["tech_loan_balance"] == "1000000.00"


def test_lpr_import_of_the_shipped_table(engine: Engine) -> None:
    res = import_lpr(engine)
    assert res["first"] == "2019-08" and res["months"] >= 75
    from sqlalchemy import select

    with engine.connect() as conn:
        row = conn.execute(select(LprRate).where(LprRate.month == date(2024, 10, 1))).one()
    # 2024-10-21: 1Y 3.10%, 5Y 3.60% (CFETS)
    assert (str(row.lpr_1y), str(row.lpr_5y)) == ("0.031000", "0.036000")


def test_a_bad_lpr_file_is_refused_naming_each_row(engine: Engine, tmp_path: Any) -> None:
    bad = tmp_path / "lpr.csv"
    bad.write_text(
        "month,lpr_1y,lpr_5y,source\n2025-06,0.03,0.035,CFETS\n2025-13,0.03,0.035,CFETS\n"
        "2025-07,3.0,0.035,CFETS\n2025-08,0.03,0.035,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as e:
        import_lpr(engine, bad)
    assert [(p.row, p.field) for p in e.value.problems] == [
        (3, "month"),
        (4, "lpr_1y"),
        (5, "source"),
    ]
    from sqlalchemy import func, select

    with engine.connect() as conn:  # nothing written, not even the good row
        assert conn.execute(select(func.count()).select_from(LprRate)).scalar() == 0


def test_a_month_without_status_rows_is_refused_by_name(engine: Engine) -> None:
    load_case(engine)
    with pytest.raises(ValidationError) as e:
        month_report(engine, "2025-07")
    assert "2025-07" in e.value.reason_zh and "2025-07" in e.value.reason_en


@pytest.mark.parametrize("bad", ["2025-13", "2025-6", "June", "2025-06-01", "0000-01", "0001-01"])
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


def test_whitelist_based_population_from_the_versions(engine: Engine) -> None:
    """The case's whitelist as two versions: A and B from 2025-01-01, A and E from 2025-06-01
    (B left at the end of May): the spans the kernel case states, read from the registry."""
    from datetime import datetime

    from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

    doc = load_case(engine)
    versions = {1: (date(2025, 1, 1), ["A", "B"]), 2: (date(2025, 6, 1), ["A", "E"])}
    with engine.begin() as conn:
        for vid, (as_of, members) in versions.items():
            conn.execute(
                WhitelistVersion.__table__.insert(),
                [
                    {
                        "id": vid, "as_of": as_of, "rules_id": "default", "rules_version": "1",
                        "rules_sha256": "0" * 64, "members": len(members),
                        "entries_sha256": "0" * 64, "created_at": datetime(2025, 1, 1),
                        "created_by": "system",
                    }
                ],
            )  # fmt: skip
            conn.execute(
                WhitelistEntry.__table__.insert(),
                [
                    {
                        "version_id": vid, "uscc": u, "name": u, "stage": "growth",
                        "region_code": "320706", "status": "member", "tier": "base",
                        "entry_rules": "", "exclusion_rules": "",
                    }
                    for u in members
                ],
            )  # fmt: skip
    res = json.loads(json.dumps(month_report(engine, "2025-06", None, "whitelist"), default=str))
    assert res["population_basis"] == "whitelist"
    for ind, value in doc["expected_whitelist"].items():
        assert res["indicators"][ind] == value, ind
    tiers = json.loads(json.dumps(month_report(engine, "2025-06", "tier"), default=str))
    got = {g["group"]: g["indicators"]["population"] for g in tiers["groups"]}
    assert got == {"base": 1, "none": 3}  # A is the only list firm on version 2 (E has no kind)


def test_a_demo_style_region_has_year_on_year_growth_in_every_window_month(
    sqlite_engine: Engine,
) -> None:
    """The synthetic region carries a year of loan history before its 12-month window, so the
    government's page shows YoY for each window month (it was null in every one) and the gap
    is the difference of the two growth rates in points."""
    build_region(sqlite_engine, firms=3000, seed=20241)
    res = series(sqlite_engine, "2026-06", months=12)
    assert res["months"][0] == "2025-07" and res["months"][-1] == "2026-06"
    for row in res["rows"]:
        ind = row["indicators"]
        tech, every, gap = ind["tech_loan_yoy"], ind["all_loan_yoy"], ind["yoy_gap_pp"]
        assert tech is not None and every is not None and gap is not None, row["month"]
        assert abs(gap - (tech - every) * 100) < 1e-3
    latest = res["rows"][-1]["indicators"]
    # the history continues the window's flow of loans: the book neither collapses nor
    # balloons over the year (at 3,000 firms a few large loans move it by several points)
    assert -0.2 < latest["all_loan_yoy"] < 0.2
