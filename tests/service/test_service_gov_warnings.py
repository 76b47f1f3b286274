"""The early-warning list on the web: the government's whole region (filters, pages, Excel,
labels), and a bank's own borrowers with only the signals its consents allow, enforced in the
service layer."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, update

from kejin.access.service import named_principal
from kejin.credit import early_warning, warning_views
from kejin.db import transaction
from kejin.errors import ValidationError
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import Enterprise

from .conftest import login
from .world import F1, F2, F3, F4

MONTH = date(2026, 5, 1)


def _book(engine: Engine) -> None:
    """F1 (consented to BKA, full) is listed for abnormal operation; F2 (only pushed to BKA) is
    30+ days late at BKA, 95 days late at BKB and a dishonest debtor; F4 borrows from BKB
    only, 100 days late; F3's BKB loan is current."""
    loans = [
        ("W-A1", F1, "BKA", 0),
        ("W-A2", F2, "BKA", 40),
        ("W-B2", F2, "BKB", 95),
        ("W-B4", F4, "BKB", 100),
        ("W-B3", F3, "BKB", 0),
    ]
    with transaction(engine) as s:
        for no, code, bank, _ in loans:
            s.add(Loan(contract_no=no, uscc=code, institution_id=bank, amount=Decimal(1_000_000),
                       credit_line=Decimal(1_000_000), rate=Decimal("0.04"),
                       disbursed_on=date(2025, 6, 1), maturity_on=date(2027, 6, 1),
                       guarantee_type="credit"))  # fmt: skip
        s.flush()
        for no, _, _, dpd in loans:
            s.add(LoanStatus(contract_no=no, month=MONTH, balance=Decimal(900_000),
                             days_past_due=dpd, classification="normal"))  # fmt: skip
        s.execute(update(Enterprise).where(Enterprise.uscc == F1).values(abnormal_operation=True))
        s.execute(update(Enterprise).where(Enterprise.uscc == F2).values(dishonest=True))


def _codes(w: dict) -> set[str]:
    return {x["code"] for x in w["reasons"]}


def test_a_bank_sees_its_own_borrowers_and_only_what_consent_opens(world, engine) -> None:
    _book(engine)
    with transaction(engine) as s:
        gov = named_principal(s, "gov")
        everyone = {w["uscc"]: w for w in warning_views.warning_list(s, gov)["items"]}
        bka = named_principal(s, "bank")
        mine = {w["uscc"]: w for w in warning_views.warning_list(s, bka)["items"]}
        with pytest.raises(ValidationError):
            warning_views.warning_list(s, bka, bank="BKB")  # another bank's borrowers
        bkb = {
            w["uscc"]: w
            for w in warning_views.warning_list(s, named_principal(s, "bankb"))["items"]
        }
    assert set(everyone) == {F1, F2, F4}
    assert everyone[F2]["level"] == 3 and {"warning.dishonest", "warning.dpd_severe"} <= _codes(
        everyone[F2]
    )
    assert set(mine) == {F1, F2}  # F4 borrows elsewhere
    # F2: its BKA loan only (40 days, not BKB's 95); the dishonest flag needs consent it lacks
    assert (
        _codes(mine[F2]) == {"warning.dpd"} and mine[F2]["level"] == 2 and mine[F2]["hidden"] == 1
    )
    assert mine[F2]["contracts"] == ["W-A2"]
    # F1 consented (scope full) to BKA: its status flag is shown
    assert _codes(mine[F1]) == {"warning.abnormal_operation"} and mine[F1]["hidden"] == 0
    assert set(bkb) == {F2, F4} and _codes(bkb[F2]) == {"warning.dpd_severe"}


def test_the_government_page_filters_labels_and_matches_the_cli(app, world, engine) -> None:
    _book(engine)
    cli = early_warning.monthly(engine, "2026-05")
    gov = login(app, "gov")
    page = gov.get("/warnings")
    assert page.status_code == 200
    assert page.text.count("<tr data-level=") == len(cli["warnings"]) == 3
    table = page.text.split('id="warning-table"')[1].split("</table>")[0]
    assert "warning." not in table and "失信被执行人" in table and "列入经营异常名录" in table
    assert "2026-05" in page.text.split('id="ew-asof"')[1][:200]
    assert gov.get("/warnings", params={"bank": "BKA"}).text.count("<tr data-level=") == 2
    only = gov.get("/warnings", params={"kind": "warning.dishonest"})
    assert only.text.count("<tr data-level=") == 1 and F2 in only.text
    assert gov.get("/warnings", params={"level": 1}).text.count("<tr data-level=") == 0
    assert gov.get("/warnings", params={"month": "2026-13"}).status_code == 422
    en = gov.get("/warnings", params={"lang": "en"})
    assert (
        "listed as a dishonest judgment debtor" in en.text
        and "warning.dishonest" not in en.text.split('id="warning-table"')[1]
    )
    xl = gov.get("/warnings/export.xlsx", params={"bank": "BKA", "lang": "zh"})
    assert xl.status_code == 200 and xl.headers["X-Kejin-Rows"] == "2"
    rows = list(
        load_workbook(io.BytesIO(xl.content), read_only=True).active.iter_rows(values_only=True)
    )
    assert {r[0] for r in rows[1:]} == {F1, F2} and "失信被执行人" in {r[3] for r in rows[1:]}
    api = gov.get("/api/credit/warnings", params={"level": 3}).json()
    assert {w["uscc"] for w in api["items"]} == {F1, F2, F4}


def test_the_bank_page_shows_its_borrowers_only(app, world, engine) -> None:
    _book(engine)
    bank = login(app, "bank")
    page = bank.get("/bank/warnings")
    assert page.status_code == 200 and F2 in page.text and F4 not in page.text
    assert "未获授权而未显示的信号数" in page.text
    assert bank.get("/warnings", follow_redirects=False).status_code == 303
    xl = bank.get("/bank/warnings/export.xlsx")
    rows = list(
        load_workbook(io.BytesIO(xl.content), read_only=True).active.iter_rows(values_only=True)
    )
    assert {r[0] for r in rows[1:]} == {F1, F2} and "失信被执行人" not in {r[3] for r in rows[1:]}
    assert bank.get("/api/credit/warnings", params={"bank": "BKB"}).status_code == 422
    assert login(app, "ent").get("/bank/warnings").status_code == 403


def test_a_kept_list_is_retired_when_its_data_change(world, engine) -> None:
    _book(engine)
    with transaction(engine) as s:
        gov = named_principal(s, "gov")
        before = {w["uscc"] for w in warning_views.warning_list(s, gov)["items"]}
    assert F3 not in before
    with transaction(engine) as s:  # an in-place correction: same rows, F3 now 100 days late
        s.execute(
            update(LoanStatus).where(LoanStatus.contract_no == "W-B3").values(days_past_due=100)
        )
    with transaction(engine) as s:
        after = {
            w["uscc"] for w in warning_views.warning_list(s, named_principal(s, "gov"))["items"]
        }
    assert after == before | {F3}


def test_the_cli_reads_as_a_person_through_the_same_service(world, engine, monkeypatch) -> None:
    """``kejin credit warnings --who``: a bank officer gets its own borrowers, and the read is
    in the audit log as that person's."""
    import json

    from sqlalchemy import select
    from typer.testing import CliRunner

    from kejin.access.tables import AuditEvent
    from kejin.cli import _mount_areas, app
    from kejin.config import get_settings
    from kejin.console import engine_for

    _book(engine)
    monkeypatch.setenv("KEJIN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    engine_for.cache_clear()
    _mount_areas()
    try:
        args = ["credit", "warnings", "--month", "2026-05", "--model", "", "--json"]
        r = CliRunner().invoke(app, [*args, "--who", "bank"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert {w["uscc"] for w in out["warnings"]} == {F1, F2} and out["who"] == "bank"
        region = json.loads(CliRunner().invoke(app, args).stdout)
        assert {w["uscc"] for w in region["warnings"]} == {F1, F2, F4}
    finally:
        get_settings.cache_clear()
        engine_for.cache_clear()
    with transaction(engine) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "credit.warnings")).all()
    assert [e.actor for e in ev] == ["bank"]
