"""Every example imports in order, re-importing is a no-op, and changes carry new provenance."""

from __future__ import annotations

from decimal import Decimal

from ingest_fixtures import EXAMPLE_FILES, EXAMPLES, FIRM_A, FIRM_B, snapshot
from sqlalchemy import Engine, func, select

from kejin.ingest.service import import_file
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import (
    AnnualIndicator,
    DataPull,
    Enterprise,
    FinancingEvent,
    Qualification,
)

EXPECTED_ROWS = {
    Enterprise: 5,
    Qualification: 5,
    AnnualIndicator: 15,
    FinancingEvent: 4,
    Institution: 3,
    Product: 3,
    Loan: 3,
    LoanStatus: 9,
}


def test_every_example_imports_in_order(engine: Engine) -> None:
    for kind, name in EXAMPLE_FILES.items():
        out = import_file(engine, kind, EXAMPLES / name)
        assert (out.inserted, out.updated, out.unchanged) == (out.rows, 0, 0), kind
        assert out.pull_id is not None
    with engine.connect() as conn:
        for model, n in EXPECTED_ROWS.items():
            assert conn.scalar(select(func.count()).select_from(model)) == n, model
        row = conn.execute(select(Enterprise).where(Enterprise.uscc == FIRM_A)).one()
        assert row.name == "连云港硅谷新材料有限公司"
        assert row.stage == "mature" and row.listing_board == "none" and row.dishonest is False
        q = conn.execute(
            select(Qualification.kind, Qualification.source).where(Qualification.uscc == FIRM_A)
        ).all()
        assert sorted(q) == [("hnte", "most"), ("srdi_sme", "miit")]
        loan = conn.execute(select(Loan).where(Loan.contract_no == "DF-2023-0102")).one()
        assert loan.rate == Decimal("0.041000") and loan.first_time_borrower is True
        assert loan.guarantee_type == "ip_pledge"
        prod = conn.execute(select(Product).where(Product.id == "B001-SCI")).one()
        assert prod.rate_floor == Decimal("0.034500") and prod.max_amount == Decimal("10000000")


def test_reimporting_every_example_changes_nothing(loaded: Engine) -> None:
    before = snapshot(loaded)
    for kind, name in EXAMPLE_FILES.items():
        out = import_file(loaded, kind, EXAMPLES / name)
        assert (out.inserted, out.updated, out.unchanged, out.pull_id) == (0, 0, out.rows, None)
    assert snapshot(loaded) == before


def test_changed_value_updates_with_new_provenance(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    with loaded.connect() as conn:
        old = conn.execute(
            select(AnnualIndicator).where(
                AnnualIndicator.uscc == FIRM_A, AnnualIndicator.year == 2023
            )
        ).one()
    path = write(
        "tax.csv",
        f"统一社会信用代码,年度,纳税总额,营业收入\n{FIRM_A},2023,999.99,{old.revenue}\n",
    )
    out = import_file(loaded, "indicators", path, source="税务局")
    assert (out.inserted, out.updated, out.unchanged) == (0, 1, 0)
    with loaded.connect() as conn:
        new = conn.execute(
            select(AnnualIndicator).where(
                AnnualIndicator.uscc == FIRM_A, AnnualIndicator.year == 2023
            )
        ).one()
        pull = conn.execute(select(DataPull).where(DataPull.id == out.pull_id)).one()
    assert new.tax_paid == Decimal("999.99") and new.tax_paid_pull == out.pull_id
    # The unchanged revenue keeps its old provenance; untouched fields keep theirs and values.
    assert new.revenue == old.revenue and new.revenue_pull == old.revenue_pull
    assert new.rd_expense == old.rd_expense and new.rd_expense_pull == old.rd_expense_pull
    assert pull.department == "tax" and pull.kind == "indicators" and pull.file_name == "tax.csv"
    assert (pull.rows_inserted, pull.rows_updated, pull.rows_unchanged) == (0, 1, 0)
    assert len(pull.file_sha256) == 64


def test_row_level_provenance_and_blank_cells_keep_values(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    path = write("e.csv", f"uscc,name,staff\n{FIRM_B},新名称有限公司,\n")
    out = import_file(loaded, "enterprises", path)
    assert out.updated == 1
    with loaded.connect() as conn:
        row = conn.execute(select(Enterprise).where(Enterprise.uscc == FIRM_B)).one()
    assert row.name == "新名称有限公司" and row.pull_id == out.pull_id
    assert row.staff == 135  # blank = not supplied, never an erasure


def test_dry_run_counts_but_writes_nothing(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(loaded)
    path = write("e.csv", f"uscc,name\n{FIRM_B},改名\n")
    out = import_file(loaded, "enterprises", path, dry_run=True)
    assert (out.updated, out.unchanged, out.pull_id, out.dry_run) == (1, 0, None, True)
    assert snapshot(loaded) == before
