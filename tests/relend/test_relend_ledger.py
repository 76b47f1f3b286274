"""The relending ledger: eligibility all-or-nothing, approval draws within the quota (also under
concurrent approvals on PostgreSQL), repayment restores headroom, tenancy and maker-checker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from relendkit import make_uscc, seed
from sqlalchemy import Engine, func, select, update
from tests.people import add_people

from kejin.access.acting import acting
from kejin.access.rules import Forbidden
from kejin.access.tables import AuditEvent
from kejin.db import make_engine, transaction
from kejin.errors import KejinError, ValidationError
from kejin.relend import service as svc
from kejin.relend.tables import RelendBatch, RelendLoan, RelendQuota

D = Decimal
QID = "relending-2026-B1"


def _people(engine: Engine) -> None:
    add_people(
        engine,
        ("admin", "gov_admin", None, None),
        ("pboc", "gov_reviewer", None, None),
        ("b1", "bank_officer", "B1", None),
        ("b2", "bank_officer", "B2", None),
    )


def _quota(engine: Engine, amount: str = "10000000", bank: str = "B1") -> str:
    with acting(engine, "admin") as (s, p):
        q = svc.set_quota(
            s, p, tool="relending", institution_id=bank, year=2026, quota=D(amount),
            matching_ratio=D("1"), rate_cap=D("0.045"), max_term_months=36,
            purposes=["rd", "tech_transformation"],
        )  # fmt: skip
        return q.id


def _events(engine: Engine) -> int:
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(AuditEvent))


def test_a_batch_with_bad_loans_is_refused_whole_naming_each(engine: Engine) -> None:
    seed(
        engine,
        [
            {"contract": "OK1", "firm": 1},
            {"contract": "OTHERBANK", "firm": 2, "bank": "B2"},
            {"contract": "DEAR", "firm": 3, "rate": "0.0500"},
            {"contract": "OFFLIST", "firm": 4, "listed": False},
            # the certificate lapsed on 2026-03-31, the loan came on 2026-04-01
            {"contract": "LAPSED", "firm": 5, "lapsed": True, "on": date(2026, 4, 1)},
            {"contract": "LONG", "firm": 6, "maturity": date(2029, 3, 1)},
            {"contract": "HOUSE", "firm": 7},
        ],
    )
    _people(engine)
    qid = _quota(engine)
    before = _events(engine)
    lines = [
        svc.Line(c, "房地产开发" if c == "HOUSE" else "研发投入", row=n)
        for n, c in enumerate(["OK1", "OTHERBANK", "DEAR", "OFFLIST", "LAPSED", "LONG", "HOUSE"], 2)
    ]
    with pytest.raises(ValidationError) as e, acting(engine, "b1") as (s, p):
        svc.submit(s, p, qid, lines, file="batch.xlsx")
    named = {(x.row, x.field) for x in e.value.problems}
    assert named == {
        (3, "contract_no"), (4, "rate"), (5, "uscc"), (6, "uscc"), (7, "maturity_on"),
        (8, "purpose"),
    }  # fmt: skip
    assert all(x.file == "batch.xlsx" for x in e.value.problems)
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(RelendBatch)) == 0
        assert c.scalar(select(func.count()).select_from(RelendLoan)) == 0
        assert c.scalar(select(RelendQuota.outstanding)) == 0
    assert _events(engine) == before


def test_approve_draws_repay_restores_and_the_ledger_is_tenanted(engine: Engine) -> None:
    seed(engine, [{"contract": f"L{i}", "firm": i, "amount": "3000000.00"} for i in range(3)])
    _people(engine)
    qid = _quota(engine, "7000000")
    with acting(engine, "b1") as (s, p):
        b = svc.submit(s, p, qid, [svc.Line("L0", "rd"), svc.Line("L1", "技术改造")]).id
    # the pending batch counts: a third loan would take the quota past 7 million
    with pytest.raises(ValidationError, match="超出再贷款额度"), acting(engine, "b1") as (s, p):
        svc.submit(s, p, qid, [svc.Line("L2", "rd")])
    with pytest.raises(Forbidden), acting(engine, "b2") as (s, p):
        svc.ledger(s, p) and svc.batch_loans(s, p, b)
    with acting(engine, "pboc") as (s, p):
        drawn = svc.approve(s, p, b, on=date(2026, 3, 15))
        assert drawn.matures_on == date(2027, 3, 15)
    with acting(engine, "b1") as (s, p):
        view = svc.ledger(s, p)
        assert view["quotas"][0]["outstanding"] == D("6000000.00")
        assert view["quotas"][0]["available"] == D("1000000.00")
        loans = svc.batch_loans(s, p, b)
        assert {x["contract_no"] for x in loans} == {"L0", "L1"}
        assert loans[0]["basis"]["directory"] == ["高新技术企业"]
        svc.repay(s, p, b, D("2500000"))
    with acting(engine, "b2") as (s, p):
        assert svc.ledger(s, p)["batches"] == []
    with acting(engine, "admin") as (s, p):  # "再贷款+贴息" on the firm's page
        (funded,) = svc.combination(s, make_uscc(0))["loans"]
        (waiting,) = svc.combination(s, make_uscc(2))["loans"]
    assert funded["relend"] == {"tool": "relending", "amount": D("3000000.00"), "batch": b,
                                "state": "approved"}  # fmt: skip
    assert waiting["relend"] is None and waiting["relend_quota"] == qid
    with acting(engine, "b1") as (s, p):
        svc.submit(s, p, qid, [svc.Line("L2", "rd")])  # now within the quota
        with pytest.raises(ValidationError):
            svc.repay(s, p, b, D("3500000.01"))
    with acting(engine, "admin") as (s, p):
        q = s.get(RelendQuota, qid)
        assert (q.outstanding, q.drawn_total, q.repaid_total) == (
            D("3500000.00"), D("6000000.00"), D("2500000.00"),
        )  # fmt: skip


def test_the_submitter_cannot_approve_and_a_bank_cannot_approve(engine: Engine) -> None:
    seed(engine, [{"contract": "L0", "firm": 0}])
    _people(engine)
    qid = _quota(engine)
    with acting(engine, "b1") as (s, p):
        b = svc.submit(s, p, qid, [svc.Line("L0", "rd")]).id
    with pytest.raises(Forbidden), acting(engine, "b1") as (s, p):
        svc.approve(s, p, b)
    with pytest.raises(Forbidden), acting(engine, "b2") as (s, p):
        svc.submit(s, p, qid, [svc.Line("L0", "rd")])
    with acting(engine, "pboc") as (s, p):
        svc.reject(s, p, b, "材料不全")
    with acting(engine, "b1") as (s, p):  # a returned loan may come again
        assert svc.submit(s, p, qid, [svc.Line("L0", "rd")]).state == "submitted"


def _approve(url: str, batch: int) -> str:
    eng = make_engine(url)
    try:
        with acting(eng, "pboc") as (s, p):
            svc.approve(s, p, batch)
        return "ok"
    except KejinError as e:
        return type(e).__name__
    finally:
        eng.dispose()


@pytest.mark.parametrize("workers", [8])
def test_concurrent_approvals_never_overdraw(engine: Engine, workers: int) -> None:
    """Twelve batches of 1 million each wait; the quota holds 5 million; approvals race."""
    n, fits = 12, 5
    seed(engine, [{"contract": f"C{i}", "firm": i} for i in range(n)])
    _people(engine)
    qid = _quota(engine, "100000000")
    ids = []
    for i in range(n):
        with acting(engine, "b1") as (s, p):
            ids.append(svc.submit(s, p, qid, [svc.Line(f"C{i}", "rd")]).id)
    with transaction(engine) as s:  # the branch cuts the quota while the batches wait
        s.execute(update(RelendQuota).values(quota=D(fits * 1_000_000)))
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda b: _approve(url, b), ids))
    else:  # SQLite has one writer: the same guard, one approval after another
        results = [_approve(url, b) for b in ids]
    assert results.count("ok") == fits
    assert set(results) == {"ok", "ValidationError"}
    with engine.connect() as c:
        assert c.scalar(select(RelendQuota.outstanding)) == D(fits * 1_000_000)
        drawn = c.scalar(
            select(func.sum(RelendBatch.amount)).where(RelendBatch.state == "approved")
        )
        assert drawn == D(fits * 1_000_000)


def test_batch_file_header_and_rows(tmp_path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["合同编号", "用途", "备注"])
    wb.active.append(["L1", "研发投入", None])
    wb.save(tmp_path / "b.xlsx")
    with pytest.raises(ValidationError) as e:
        svc.read_batch_file(tmp_path / "b.xlsx")
    assert [(x.row, x.field) for x in e.value.problems] == [(1, "备注")]
    wb.active.delete_cols(3)
    wb.save(tmp_path / "b.xlsx")
    assert svc.read_batch_file(tmp_path / "b.xlsx") == [svc.Line("L1", "研发投入", row=2)]
