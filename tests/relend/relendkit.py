"""A small portfolio for the relending tests: two banks, firms on and off the directory, loans."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, insert

from kejin.ids import org_code_check_char, uscc_check_char
from kejin.lending.tables import Institution, Loan
from kejin.registry.tables import Enterprise, Qualification

D = Decimal


def make_uscc(i: int) -> str:
    org8 = f"{20000000 + i:08d}"
    body = "913207" + "00" + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


def seed(engine: Engine, loans: list[dict]) -> None:
    """Banks B1, B2; firm i for each loan's ``firm`` index; ``listed`` firms hold an HNTE
    certificate valid over 2026 (``lapsed`` ones only until 2026-03-31)."""
    firms = sorted({x["firm"] for x in loans})
    with engine.begin() as conn:
        conn.execute(
            insert(Institution),
            [{"id": b, "name": f"银行{b}", "kind": "bank", "region_code": "320700",
              "partner_bank": True, "tech_branch": False} for b in ("B1", "B2")],
        )  # fmt: skip
        conn.execute(
            insert(Enterprise),
            [{"uscc": make_uscc(i), "name": f"科技企业{i}", "region_code": "320703",
              "industry_code": "C3562", "industry_chain": "equipment",
              "founded_on": date(2015, 1, 1), "stage": "growth", "listing_board": "none",
              "dishonest": False, "deregistered": False, "abnormal_operation": False}
             for i in firms],
        )  # fmt: skip
        quals = []
        for x in loans:
            if x.get("listed", True) and x["firm"] not in {q["n"] for q in quals}:
                end = date(2026, 3, 31) if x.get("lapsed") else date(2027, 12, 31)
                quals.append({"n": x["firm"], "uscc": make_uscc(x["firm"]), "kind": "hnte",
                              "certificate_no": f"GR{x['firm']}", "valid_from": date(2024, 1, 1),
                              "valid_to": end, "source": "most"})  # fmt: skip
        if quals:
            conn.execute(
                insert(Qualification), [{k: v for k, v in q.items() if k != "n"} for q in quals]
            )
        conn.execute(
            insert(Loan),
            [{"contract_no": x["contract"], "uscc": make_uscc(x["firm"]),
              "institution_id": x.get("bank", "B1"), "amount": D(x.get("amount", "1000000.00")),
              "credit_line": D(x.get("amount", "1000000.00")), "rate": D(x.get("rate", "0.035")),
              "disbursed_on": x.get("on", date(2026, 2, 10)),
              "maturity_on": x.get("maturity", date(2027, 2, 10)), "guarantee_type": "credit",
              "first_time_borrower": False} for x in loans],
        )  # fmt: skip
