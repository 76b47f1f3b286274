"""Read the registry into the entity frames the library evaluates (the analytic path).

Only loan-years and investments can be derived from the registry: insurance policies, contracts,
guaranteed loans with their fees and investors' taxable income are not registry tables, so those
policies are evaluated from files (``kejin policy eval``) and say so in ``matches``.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Connection, Engine, func, select

from kejin.frames import read_frame
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.policy import kernels
from kejin.policy.tables import Application, Programme
from kejin.registry.tables import Enterprise, FinancingEvent, Qualification

#: Entities the registry can supply.
REGISTRY_ENTITIES = ("loan_year", "investment")

FIRM_COLUMNS = ("uscc", "name", "region_code", "industry_chain", "stage")


#: The policy whose "at most 3 years" counts from the first year the platform paid it.
YEAR_LIMITED = "karamay_interest"


def first_paid_years(conn: Connection) -> pl.DataFrame:
    """``uscc``, ``first_paid_year``: the budget year of each firm's first Karamay subsidy that
    money actually reached (an application with a positive paid total, after claw-backs)."""
    rows = conn.execute(
        select(Application.firm, func.min(Programme.year))
        .join(Programme, Programme.id == Application.programme_id)
        .where(Programme.policy_id == YEAR_LIMITED, Application.paid_total > 0)
        .group_by(Application.firm)
    ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"uscc": pl.String, "first_paid_year": pl.Int64},
        orient="row",
    )


def registry_frames(engine: Engine, uscc: str | None = None) -> dict[str, pl.DataFrame]:
    """``firm``, ``loan_year`` and ``investment`` frames, optionally for one firm only."""
    with engine.connect() as conn:
        firms = read_frame(conn, Enterprise.__table__, FIRM_COLUMNS)
        quals = read_frame(
            conn, Qualification.__table__, ["uscc", "kind", "valid_from", "valid_to"]
        )
        loans = read_frame(
            conn,
            Loan.__table__,
            [
                "contract_no",
                "uscc",
                "institution_id",
                "product_id",
                "amount",
                "credit_line",
                "rate",
                "disbursed_on",
                "guarantee_type",
            ],
        )
        statuses = read_frame(conn, LoanStatus.__table__, ["contract_no", "month", "balance"])
        insts = read_frame(conn, Institution.__table__, ["id", "partner_bank"])
        products = read_frame(conn, Product.__table__, ["id", "name"])
        events = read_frame(
            conn, FinancingEvent.__table__, ["id", "uscc", "kind", "occurred_on", "amount"]
        )
        paid = first_paid_years(conn)
    if uscc is not None:
        firms = firms.filter(pl.col("uscc") == uscc)
        quals = quals.filter(pl.col("uscc") == uscc)
        loans = loans.filter(pl.col("uscc") == uscc)
        statuses = statuses.join(loans.select("contract_no"), on="contract_no", how="semi")
        events = events.filter(pl.col("uscc") == uscc)
    return {
        "firm": firms,
        "loan_year": kernels.loan_years(loans, statuses, insts, products, quals, paid),
        "investment": kernels.investments(events, quals),
    }
