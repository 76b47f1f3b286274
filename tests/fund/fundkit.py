"""Loan fixtures for the fund's tests: a few firms, two banks and their loans (no synth needed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import Engine, insert

from kejin.fund.ledger import Actor
from kejin.fund.scheme import SCHEMES_DIR
from kejin.ids import org_code_check_char, uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification


def make_uscc(i: int) -> str:
    org8 = f"{10000000 + i:08d}"
    body = "913207" + "00" + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


def seed_loans(
    engine: Engine,
    n: int = 4,
    amount: Decimal = Decimal("1000000.00"),
    guarantee: str = "credit",
    banks: tuple[str, ...] = ("B1", "B2"),
    first_time: bool = False,
) -> list[str]:
    """``n`` firms with one loan each, spread over ``banks``; returns contract numbers."""
    with engine.begin() as conn:
        conn.execute(
            insert(Institution),
            [
                {
                    "id": b,
                    "name": f"银行{b}",
                    "kind": "bank",
                    "region_code": "320700",
                    "partner_bank": True,
                    "tech_branch": False,
                }
                for b in banks
            ],
        )
        firms = [make_uscc(i) for i in range(n)]
        conn.execute(
            insert(Enterprise),
            [
                {
                    "uscc": u,
                    "name": f"科技企业{i}",
                    "region_code": "320703",
                    "industry_code": "C3562",
                    "industry_chain": None,
                    "founded_on": date(2015, 1, 1),
                    "stage": "growth",
                    "listing_board": "none",
                    "dishonest": False,
                    "deregistered": False,
                    "abnormal_operation": False,
                }
                for i, u in enumerate(firms)
            ],
        )
        contracts = [f"L{i:05d}" for i in range(n)]
        conn.execute(
            insert(Loan),
            [
                {
                    "contract_no": c,
                    "uscc": u,
                    "institution_id": banks[i % len(banks)],
                    "amount": amount,
                    "credit_line": amount,
                    "rate": Decimal("0.04"),
                    "disbursed_on": date(2026, 1, 5),
                    "maturity_on": date(2028, 1, 5),
                    "guarantee_type": guarantee,
                    "first_time_borrower": first_time,
                }
                for i, (c, u) in enumerate(zip(contracts, firms, strict=True))
            ],
        )
    return contracts


def add_hnte_profitable(engine: Engine, contract_index: int) -> None:
    uscc = make_uscc(contract_index)
    with engine.begin() as conn:
        conn.execute(
            insert(Qualification),
            {
                "uscc": uscc,
                "kind": "hnte",
                "certificate_no": f"GR{contract_index}",
                "valid_from": date(2024, 1, 1),
                "valid_to": date(2027, 12, 31),
                "source": "most",
            },
        )
        conn.execute(
            insert(AnnualIndicator),
            [{"uscc": uscc, "year": y, "profit": Decimal("100000.00")} for y in (2024, 2025)],
        )


def bad_status(
    engine: Engine,
    contract: str,
    month: date,
    balance: Decimal,
    dpd: int = 120,
    cls: str = "substandard",
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(LoanStatus),
            {
                "contract_no": contract,
                "month": month,
                "balance": balance,
                "days_past_due": dpd,
                "classification": cls,
            },
        )


def actor(who: str = "clerk", on: date = date(2026, 3, 2), why: str = "test") -> Actor:
    return Actor(who, on, why)


def region_scheme(directory: Path, base: str, caps: dict[str, str], article: str = "第五条") -> str:
    """A region's own scheme file: a library scheme plus caps the region sets, each cited to the
    region's own document (no library scheme carries a cap its source does not state)."""
    data = yaml.safe_load((SCHEMES_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    data["references"].append(
        {"id": "region", "document": "某市风险补偿资金池实施细则（测试）", "article": article}
    )
    data.setdefault("caps", {}).update(caps)
    data["sources"].update({f"caps.{k}": {"ref": "region", "article": article} for k in caps})
    path = directory / f"{base}_region.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)
