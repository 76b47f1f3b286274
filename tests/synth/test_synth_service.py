"""Building the region into SQLite and PostgreSQL: determinism, all-or-nothing, the summary."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, text

from kejin.db import Base, make_engine, transaction
from kejin.errors import ConflictError, NotFoundError
from kejin.frames import BulkLoader, read_frame
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import DataPull, Enterprise, Qualification
from kejin.synth.model import generate
from kejin.synth.service import build_region, region_summary
from kejin.vocab import NON_PERFORMING

REGION_TABLES = list(generate(1, 0).tables)


def content_hashes(engine: Engine) -> dict[str, str]:
    """SHA-256 of every region table's rows, sorted, as the database returns them."""
    out = {}
    with engine.connect() as conn:
        for name in REGION_TABLES:
            table = Base.metadata.tables[name]
            df = read_frame(conn, table)
            df = df.sort(df.columns)
            out[name] = hashlib.sha256(df.write_csv().encode()).hexdigest()
    return out


def test_same_seed_gives_identical_database_content(engine: Engine) -> None:
    build_region(engine, firms=600, seed=42)
    first = content_hashes(engine)
    build_region(engine, firms=600, seed=42, replace=True)
    assert content_hashes(engine) == first
    build_region(engine, firms=600, seed=43, replace=True)
    other = content_hashes(engine)
    for name in ("enterprises", "annual_indicators", "loans", "synth_truth"):
        assert other[name] != first[name], name


def test_sqlite_and_postgresql_hold_the_same_region(sqlite_engine: Engine, pg_url: str) -> None:
    pg = make_engine(pg_url)
    try:
        with pg.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        build_region(sqlite_engine, firms=400, seed=9)
        build_region(pg, firms=400, seed=9)
        assert content_hashes(sqlite_engine) == content_hashes(pg)
        assert region_summary(sqlite_engine) == region_summary(pg)
    finally:
        pg.dispose()


def test_refuses_a_non_empty_registry_without_replace(engine: Engine) -> None:
    build_region(engine, firms=200, seed=1)
    before = content_hashes(engine)
    with pytest.raises(ConflictError) as err:
        build_region(engine, firms=300, seed=2)
    assert "--replace" in err.value.reason_zh and "--replace" in err.value.reason_en
    assert content_hashes(engine) == before


def test_refuses_even_a_registry_holding_only_imported_pulls(engine: Engine) -> None:
    with transaction(engine) as s:
        now = dt.datetime(2025, 1, 1)
        s.add(DataPull(kind="import", department="tax", pulled_at=now, loaded_at=now))
    with pytest.raises(ConflictError):
        build_region(engine, firms=50, seed=1)


def test_a_failed_load_leaves_the_previous_region(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_region(engine, firms=200, seed=1)
    before = content_hashes(engine)
    real_write = BulkLoader.write

    def failing_write(self: BulkLoader, table, df, on_chunk=None):  # type: ignore[no-untyped-def]
        if table.name == "loan_statuses":
            raise RuntimeError("disk full")
        return real_write(self, table, df, on_chunk)

    monkeypatch.setattr(BulkLoader, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        build_region(engine, firms=300, seed=2, replace=True)
    assert content_hashes(engine) == before


def test_ids_continue_after_a_synthetic_load(engine: Engine) -> None:
    """Explicit ids were loaded in bulk; the next ORM insert must not collide with them."""
    build_region(engine, firms=100, seed=3)
    with transaction(engine) as s:
        now = dt.datetime(2026, 7, 1)
        pull = DataPull(kind="import", department="tax", pulled_at=now, loaded_at=now)
        s.add(pull)
        s.flush()
        assert pull.id > s.execute(select(func.count()).select_from(DataPull)).scalar_one() - 1


def test_database_logic_holds(engine: Engine) -> None:
    build_region(engine, firms=1500, seed=8)
    checks = {
        "validity": select(func.count())
        .select_from(Qualification)
        .where(Qualification.valid_from > Qualification.valid_to),
        "term": select(func.count()).select_from(Loan).where(Loan.disbursed_on >= Loan.maturity_on),
        "line": select(func.count()).select_from(Loan).where(Loan.credit_line < Loan.amount),
        "balance": select(func.count())
        .select_from(LoanStatus)
        .join(Loan, Loan.contract_no == LoanStatus.contract_no)
        .where((LoanStatus.balance > Loan.amount) | (LoanStatus.balance < 0)),
        "orphan_status": select(func.count())
        .select_from(LoanStatus)
        .outerjoin(Loan, Loan.contract_no == LoanStatus.contract_no)
        .where(Loan.contract_no.is_(None)),
        "orphan_loan": select(func.count())
        .select_from(Loan)
        .outerjoin(Enterprise, Enterprise.uscc == Loan.uscc)
        .where(Enterprise.uscc.is_(None)),
    }
    with engine.connect() as conn:
        for name, q in checks.items():
            assert conn.execute(q).scalar_one() == 0, name
        assert conn.execute(select(func.count()).select_from(Loan)).scalar_one() > 100


def test_defaults_in_the_database_rank_by_true_pd(engine: Engine) -> None:
    build_region(engine, firms=5000, seed=20241)
    with engine.connect() as conn:
        loans = read_frame(conn, Loan.__table__, ["contract_no", "uscc"])
        bad = read_frame(conn, LoanStatus.__table__, ["contract_no", "classification"]).filter(
            pl.col("classification").is_in(sorted(NON_PERFORMING))
        )
        truth = read_frame(conn, Base.metadata.tables["synth_truth"], ["uscc", "pd_annual"])
    firms = (
        loans.select("uscc", pl.col("contract_no").is_in(bad["contract_no"].implode()).alias("d"))
        .group_by("uscc")
        .agg(pl.col("d").any())
        .join(truth, on="uscc")
    )
    assert firms["d"].sum() >= 10
    pos = firms.filter(pl.col("d"))["pd_annual"].to_list()
    neg = firms.filter(~pl.col("d"))["pd_annual"].to_list()
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert wins / (len(pos) * len(neg)) > 0.7


def _sql_counts(engine: Engine, sql: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {k: int(v) for k, v in conn.execute(text(sql)).all()}


def test_summary_agrees_with_direct_sql(engine: Engine) -> None:
    build_region(engine, firms=2000, seed=77)
    s = region_summary(engine)
    assert s["as_of"] == "2026-06-30"
    assert s["firms"]["total"] == 2000
    by_stage = _sql_counts(engine, "SELECT stage, COUNT(*) FROM enterprises GROUP BY stage")
    assert {k: v for k, v in s["firms"]["by_stage"].items() if v} == by_stage
    by_chain = _sql_counts(
        engine, "SELECT industry_chain, COUNT(*) FROM enterprises GROUP BY industry_chain"
    )
    assert {k: v for k, v in s["firms"]["by_chain"].items() if v} == by_chain
    held = _sql_counts(
        engine,
        "SELECT kind, COUNT(DISTINCT uscc) FROM qualifications "
        "WHERE valid_from <= '2026-06-30' AND valid_to >= '2026-06-30' GROUP BY kind",
    )
    assert {k: v for k, v in s["firms"]["by_qualification"].items() if v} == held
    kinds = _sql_counts(engine, "SELECT kind, COUNT(*) FROM institutions GROUP BY kind")
    assert s["institutions"]["by_kind"] == kinds
    assert s["institutions"]["total"] == 15
    assert s["products"]["total"] == _sql_counts(engine, "SELECT 'n', COUNT(*) FROM products")["n"]
    with engine.connect() as conn:
        n_loans = conn.execute(text("SELECT COUNT(*) FROM loans")).scalar_one()
        latest = conn.execute(select(func.max(LoanStatus.month))).scalar_one()
        balance = conn.execute(
            select(func.sum(LoanStatus.balance)).where(LoanStatus.month == latest)
        ).scalar_one()
        defaulted = conn.execute(
            text("SELECT COUNT(DISTINCT contract_no) FROM loan_statuses WHERE days_past_due >= 90")
        ).scalar_one()
        in_window = conn.execute(
            text(
                "SELECT COUNT(DISTINCT contract_no) FROM loan_statuses WHERE month >= '2025-07-01'"
            )
        ).scalar_one()
    loans = s["loans"]
    assert loans["count"] == n_loans > in_window  # the history's matured loans are counted
    assert loans["outstanding_balance"] == balance
    # the history is performing: every default is in the window, whose loans are the denominator
    assert loans["defaulted"] == defaulted > 0
    assert loans["loans_with_status"] == in_window
    assert loans["default_rate"] == round(defaulted / in_window, 6)


def test_summary_of_an_empty_database(engine: Engine) -> None:
    s = region_summary(engine, as_of=dt.date(2026, 1, 1))
    assert s["firms"]["total"] == 0
    assert s["loans"]["default_rate"] is None
    assert s["loans"]["outstanding_balance"] == 0


def test_an_unmigrated_database_gets_a_sentence_not_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        for call in (lambda: build_region(bare, firms=10, seed=1), lambda: region_summary(bare)):
            with pytest.raises(NotFoundError) as err:
                call()
            assert "kejin db upgrade" in err.value.reason_zh
    finally:
        bare.dispose()


def test_progress_reaches_every_row(sqlite_engine: Engine) -> None:
    calls: list[tuple[str, int, int]] = []
    report = build_region(
        sqlite_engine,
        firms=300,
        seed=4,
        progress=lambda d, done, total: calls.append((d, done, total)),
    )
    done = [c[1] for c in calls[1:]]
    assert done == sorted(done)
    assert calls[-1][1] == calls[-1][2] == report.total_rows
    assert any("annual_indicators" in c[0] for c in calls)
