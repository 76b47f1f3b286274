"""A small registry for the policy tests: three firms, their loans, statuses and investments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.ids import check_uscc, org_code_check_char, uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import Enterprise, FinancingEvent, Qualification


def make_uscc(n: int, region: str = "320703") -> str:
    org8 = f"{n:08d}"
    first17 = f"91{region}{org8}{org_code_check_char(org8)}"
    code = first17 + uscc_check_char(first17)
    assert check_uscc(code).valid
    return code


FIRMS = {"hnte": make_uscc(1), "plain": make_uscc(2), "ip": make_uscc(3, "320722")}


def _statuses(contract: str, balance: str, years: tuple[int, ...]) -> list[LoanStatus]:
    return [
        LoanStatus(
            contract_no=contract,
            month=date(y, m, 1),
            balance=Decimal(balance),
            days_past_due=0,
            classification="normal",
        )
        for y in years
        for m in range(1, 13)
    ]


def populate_registry(engine: Engine) -> dict[str, str]:
    """Firm ``hnte``: a certified high-tech firm with a partner-bank loan 2023–2025 and a VC round.
    Firm ``plain``: no title, a loan from a non-partner bank. Firm ``ip``: an IP-pledge loan (2025).
    """
    with transaction(engine) as s:
        for key, uscc in FIRMS.items():
            s.add(
                Enterprise(
                    uscc=uscc,
                    name=f"测试企业{key}",
                    region_code=uscc[2:8],
                    industry_code="C3989",
                    industry_chain="information" if key != "ip" else "biomedicine",
                    founded_on=date(2015, 1, 1),
                    stage="growth" if key != "plain" else "startup",
                    staff=50,
                )
            )
        s.flush()
        s.add_all(
            [
                Institution(
                    id="B1", name="合作银行", kind="bank", region_code="320700", partner_bank=True
                ),
                Institution(
                    id="B2", name="普通银行", kind="bank", region_code="320700", partner_bank=False
                ),
            ]
        )
        s.flush()
        s.add(Product(id="P-DX", institution_id="B1", name="数字化转型专项贷", kind="loan"))
        s.add(
            Qualification(
                uscc=FIRMS["hnte"],
                kind="hnte",
                certificate_no="GR1",
                valid_from=date(2022, 1, 1),
                valid_to=date(2026, 12, 31),
                source="most",
            )
        )
        s.flush()
        loans = [
            Loan(
                contract_no="L-H1",
                uscc=FIRMS["hnte"],
                institution_id="B1",
                product_id="P-DX",
                amount=Decimal("6000000"),
                credit_line=Decimal("10000000"),
                rate=Decimal("0.040000"),
                disbursed_on=date(2023, 1, 1),
                maturity_on=date(2026, 1, 1),
                guarantee_type="credit",
            ),
            Loan(
                contract_no="L-P1",
                uscc=FIRMS["plain"],
                institution_id="B2",
                amount=Decimal("1000000"),
                credit_line=Decimal("1000000"),
                rate=Decimal("0.050000"),
                disbursed_on=date(2025, 1, 1),
                maturity_on=date(2026, 1, 1),
                guarantee_type="credit",
            ),
            Loan(
                contract_no="L-I1",
                uscc=FIRMS["ip"],
                institution_id="B1",
                amount=Decimal("3000000"),
                credit_line=Decimal("3000000"),
                rate=Decimal("0.036000"),
                disbursed_on=date(2025, 6, 1),
                maturity_on=date(2026, 6, 1),
                guarantee_type="ip_pledge",
            ),
        ]
        s.add_all(loans)
        s.flush()
        s.add_all(_statuses("L-H1", "6000000", (2023, 2024, 2025)))
        s.add_all(_statuses("L-P1", "1000000", (2025,)))
        s.add_all(_statuses("L-I1", "3000000", (2025,)))
        s.add(
            FinancingEvent(
                uscc=FIRMS["hnte"],
                kind="vc",
                occurred_on=date(2025, 3, 1),
                amount=Decimal("20000000"),
                investor="某创投",
            )
        )
    return FIRMS


@pytest.fixture
def policy_registry(engine: Engine) -> dict[str, str]:
    return populate_registry(engine)


@pytest.fixture
def cli_registry(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The same registry in the SQLite file the CLI reads (``KEJIN_DATABASE_URL``)."""
    from kejin.cli import _mount_areas
    from kejin.config import get_settings
    from kejin.console import engine_for

    monkeypatch.setenv("KEJIN_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    engine_for.cache_clear()
    _mount_areas()
    yield populate_registry(sqlite_engine)
    get_settings.cache_clear()
    engine_for.cache_clear()
