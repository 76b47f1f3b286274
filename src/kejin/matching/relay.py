"""接力融资: the next rung of a firm's financing ladder, and what serves it (seed 003).

The ladder is angel → venture capital → private equity → bank loans → listing. A firm's rung
is the highest it has reached in the registry (a financing event of that kind, a loan, a
listing board or an IPO); its stage sets a floor (a seed firm starts at angel money, a startup
at venture capital, a growth or mature firm at loans). The advice is the rung after the one
reached, no lower than the floor, with the live products that serve it — equity products and
the venture funds behind them for the equity rungs (and 投贷联动 loans, which pair a loan with
an investor), the loan products the firm qualifies for at the loan rung — and the evidence
(which event or loan put the firm where it is).

The firm reads its own registry rows only; nothing leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.rules import Principal, authorize
from kejin.lending.tables import Institution, Loan
from kejin.matching import products
from kejin.registry.tables import Enterprise, FinancingEvent

RUNGS = ("angel", "vc", "pe", "loan", "listing")
#: Where a firm of each stage starts when the registry shows no financing yet.
STAGE_FLOOR = {"seed": "angel", "startup": "vc", "growth": "loan", "mature": "loan"}
EQUITY = ("angel", "vc", "pe")


@dataclass
class Advice:
    reached: str | None  # the highest rung reached, None when none
    evidence: list[dict[str, Any]]  # what put the firm there: kind, date, amount, counterpart
    next: str | None  # the rung advised, None when listed
    products: list[dict[str, Any]] = field(default_factory=list)
    investors: list[dict[str, str]] = field(default_factory=list)


def next_rung(reached: str | None, stage: str | None) -> str | None:
    """The rung after ``reached``, no lower than the stage's floor; None past listing.

    >>> next_rung(None, "seed"), next_rung("angel", "seed"), next_rung("vc", "growth")
    ('angel', 'vc', 'loan')
    >>> next_rung("loan", "mature"), next_rung("listing", "mature")
    ('listing', None)
    """
    if reached == "listing":
        return None
    after = RUNGS.index(reached) + 1 if reached else 0
    floor = RUNGS.index(STAGE_FLOOR.get(stage or "", "angel"))
    return RUNGS[max(after, floor)]


def advise(s: Session, p: Principal, uscc: str, eligible: set[str]) -> Advice:
    """The advice for firm ``uscc``; ``eligible``: the loan products it qualifies for (the
    product supermarket's answer, so the rules are not run twice)."""
    authorize(s, p, "match.need.list", uscc)
    firm = s.get(Enterprise, uscc)
    events = s.execute(
        select(FinancingEvent.kind, FinancingEvent.occurred_on, FinancingEvent.amount,
               FinancingEvent.investor)
        .where(FinancingEvent.uscc == uscc)
        .order_by(FinancingEvent.occurred_on)
    ).all()  # fmt: skip
    loans = s.execute(
        select(Loan.disbursed_on, Loan.amount, Institution.name)
        .join(Institution, Institution.id == Loan.institution_id)
        .where(Loan.uscc == uscc)
        .order_by(Loan.disbursed_on)
    ).all()
    evidence: dict[str, dict[str, Any]] = {}
    for kind, on, amount, investor in events:
        rung = "listing" if kind == "ipo" else kind
        if rung in RUNGS:
            evidence[rung] = {"rung": rung, "on": on, "amount": amount, "by": investor}
    if loans:
        on, amount, bank = loans[-1]
        evidence["loan"] = {"rung": "loan", "on": on, "amount": amount, "by": bank}
    if firm is not None and firm.listing_board not in (None, "none") and "listing" not in evidence:
        evidence["listing"] = {"rung": "listing", "on": None, "amount": None, "by": None}
    reached = max(evidence, key=RUNGS.index) if evidence else None
    nxt = next_rung(reached, firm.stage if firm else None)
    advice = Advice(reached, [evidence[r] for r in RUNGS if r in evidence], nxt)
    if nxt is None or nxt == "listing":
        return advice
    live = products.live(s)
    names = dict(s.execute(select(Institution.id, Institution.name)).all())
    if nxt in EQUITY:
        serve = [v for v in live if v.kind == "equity" or v.invest_loan_link]
        funds = s.execute(
            select(Institution.id, Institution.name)
            .where(Institution.kind == "vc_fund")
            .order_by(Institution.id)
        ).all()
        advice.investors = [{"id": i, "name": n} for i, n in funds]
    else:
        serve = [v for v in live if v.kind == "loan" and v.product_id in eligible]
    advice.products = [
        {"product_id": v.product_id, "name": v.name, "kind": v.kind,
         "institution": names.get(v.institution_id, v.institution_id),
         "invest_loan_link": v.invest_loan_link}
        for v in serve
    ]  # fmt: skip
    return advice
