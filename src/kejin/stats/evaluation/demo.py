"""The demo's qualitative marks: one per bank and item, each with its evidence note as a file.

The marks follow what the registry knows of each bank (a tech sub-branch, a partner bank, a
relending quota drawn), so the page shows marks that differ for a reason anyone can check.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select

from kejin.access.acting import acting
from kejin.lending.tables import Institution
from kejin.relend.tables import RelendQuota
from kejin.stats.evaluation.scheme import banks_scheme
from kejin.stats.evaluation.service import enter_mark


def run(engine: Engine, who: str, year: int) -> int:
    scheme = banks_scheme()
    n = 0
    with acting(engine, who) as (s, p):
        drawn = {
            q.institution_id for q in s.scalars(select(RelendQuota).where(RelendQuota.year == year))
            if q.drawn_total > 0
        }  # fmt: skip
        for inst in s.scalars(
            select(Institution).where(Institution.kind == "bank").order_by(Institution.id)
        ):
            facts = {
                "mechanism": inst.tech_branch,
                "products": inst.partner_bank,
                "policy_use": inst.id in drawn,
                "reporting": True,
            }
            for item in scheme.qualitative:
                full = facts[item.id]
                pts = Decimal(str(item.max)) * (Decimal(1) if full else Decimal("0.5"))
                why = f"{inst.name}：{item.zh}{'达标' if full else '部分达标'}"
                note = f"{why}\n{year} 年度佐证材料（演示）/ evidence for {year} (demo)\n"
                enter_mark(s, p, year=year, bank=inst.id, item=item.id, points=pts, reason=why,
                           evidence_name=f"{inst.id}-{item.id}-{year}.txt",
                           evidence=note.encode("utf-8"))  # fmt: skip
                n += 1
    return n
