"""The demo's relending ledger: a quota for every bank, the demo bank's batches through their life.

Acting as people, through the same service as the pages: the administrator sets the quotas (the
demo bank 10亿 at 100% matching, as Ji'an; the others 5亿), the demo bank submits its eligible
loans of the year in three batches, the branch reviewer approves two (one partly repaid) and
leaves the third for the page.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from kejin.access.acting import acting
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.relend import service as svc
from kejin.relend.tables import RelendBatch, RelendQuota

PURPOSES = ("rd", "tech_transformation", "working_capital", "equipment_upgrade")


def run(engine: Engine, who: str, checker: str, bank_user: str) -> dict[str, Any]:
    with engine.connect() as c:
        last = c.scalar(select(func.max(LoanStatus.month)))
        banks = list(c.scalars(select(Institution.id).where(Institution.kind == "bank").order_by(Institution.id)))  # fmt: skip
    year = (last or date.today()).year
    with acting(engine, bank_user) as (s, p):
        own = p.institution_id
    with acting(engine, who) as (s, p):
        for b in banks:
            qid = f"relending-{year}-{b}"
            if s.get(RelendQuota, qid) is None:
                svc.set_quota(
                    s, p, tool="relending", institution_id=b, year=year,
                    quota=Decimal("1000000000" if b == own else "500000000"),
                    matching_ratio=Decimal("1"), rate_cap=Decimal("0.045"), max_term_months=36,
                    purposes=list(PURPOSES),
                )  # fmt: skip
    qid = f"relending-{year}-{own}"
    with acting(engine, bank_user) as (s, _):
        q = s.get(RelendQuota, qid)
        loans = s.scalars(
            select(Loan.contract_no)
            .where(
                Loan.institution_id == own,
                Loan.disbursed_on >= q.valid_from,
                Loan.disbursed_on <= q.valid_to,
            )
            .order_by(Loan.disbursed_on, Loan.contract_no)
        ).all()
        ok = [
            c for n, c in enumerate(loans)
            if not svc.check_line(s, q, svc.Line(c, PURPOSES[n % len(PURPOSES)]), None)[0]
        ]  # fmt: skip
    third = max(len(ok) // 3, 1)
    batches = [ok[i : i + third] for i in range(0, min(len(ok), 3 * third), third)]
    ids = []
    for part in batches:
        with acting(engine, bank_user) as (s, p):
            lines = [svc.Line(c, PURPOSES[n % len(PURPOSES)]) for n, c in enumerate(part)]
            ids.append(svc.submit(s, p, qid, lines, channel="api").id)
    for bid in ids[:2]:
        with acting(engine, checker) as (s, p):
            svc.approve(s, p, bid)
    if ids:
        with acting(engine, bank_user) as (s, p):
            b = s.get(RelendBatch, ids[0])
            svc.repay(s, p, ids[0], (b.amount / 2).quantize(Decimal("0.01")))
    return {"year": year, "quotas": len(banks), "eligible_loans": len(ok), "batches": ids}
