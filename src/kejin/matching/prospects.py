"""首贷培育: a bank pushes a prospect — a whitelist firm that fits its products and never borrowed —
with the named person who will contact it (seed 004 §16: the list goes to banks with dedicated
contacts).

The bank sees a prospect through its whitelist fields only (``query.bank_prospects``); the push
hands the firm a name and a telephone number, so nothing of the firm's data leaves. The push is
refused unless the firm *is* a prospect of the pushing bank on that day (the same kernel as the
list), and once per bank and firm; the change and its audit event are one transaction.
"""

from __future__ import annotations

import re
from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.access.service import log
from kejin.errors import ConflictError, Problem, ValidationError
from kejin.lending.tables import Institution
from kejin.matching import kernels, query
from kejin.matching.tables import ProspectPush

_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{5,18}$")


def _problems(contact_name: str, contact_phone: str) -> list[Problem]:
    out = []
    if not contact_name.strip() or len(contact_name.strip()) > 40:
        out.append(
            Problem(
                "须填写对接人姓名（40字以内）",
                "name the contact person (at most 40 characters)",
                "contact_name",
                contact_name,
            )
        )
    if not _PHONE.match(contact_phone.strip()):
        out.append(
            Problem(
                "联系电话应为 6–19 位数字（可含 + - 空格）",
                "the phone must be 6–19 digits (+, - and spaces allowed)",
                "contact_phone",
                contact_phone,
            )
        )
    return out


def push(
    s: Session,
    p: Principal,
    uscc: str,
    contact_name: str,
    contact_phone: str,
    product_id: str | None = None,
    now: datetime | None = None,
) -> ProspectPush:
    """Push prospect ``uscc`` for the officer's bank with its contact person (audited)."""
    authorize(s, p, "match.prospect.push")
    inst = p.institution_id
    if inst is None or s.get(Institution, inst) is None:
        raise Forbidden("只有银行客户经理可以推送", "only a bank officer pushes prospects")
    problems = _problems(contact_name, contact_phone)
    if problems:
        raise ValidationError("推送信息有误", "the push is incomplete", problems)
    now = now or utcnow()
    prods = query.products_frame(s).filter(pl.col("institution_id") == inst)
    firm = query.firms(s.connection(), [uscc], now.date())
    fits = kernels.prospects(firm, prods)["product_id"].to_list() if prods.height else []
    if not fits:
        raise ValidationError(
            "该企业不是本行的首贷培育对象（须为白名单内、从未贷款且符合本行在售产品条件）",
            "not a prospect of this bank (a whitelist firm that never borrowed and fits one "
            "of its live products)",
            [Problem("不是培育对象", "not a prospect", "uscc", uscc)],
        )
    if product_id and product_id not in fits:
        raise ValidationError(
            "所选产品不适合该企业",
            "the product chosen does not fit the firm",
            [Problem("产品不适配", "product does not fit", "product_id", product_id)],
        )
    before = s.scalar(
        select(ProspectPush).where(ProspectPush.institution_id == inst, ProspectPush.uscc == uscc)
    )
    if before is not None:
        raise ConflictError(
            f"本行已于 {before.pushed_at:%Y-%m-%d} 推送该企业，对接人 {before.contact_name}",
            f"this bank pushed the firm on {before.pushed_at:%Y-%m-%d}; contact "
            f"{before.contact_name}",
            [Problem("已推送", "already pushed", "uscc", uscc)],
        )
    row = ProspectPush(
        institution_id=inst,
        uscc=uscc,
        product_id=product_id or fits[0],
        contact_name=contact_name.strip(),
        contact_phone=contact_phone.strip(),
        pushed_by=p.username,
        pushed_at=now,
    )
    s.add(row)
    s.flush()
    log(
        s,
        p,
        "match.prospect.push",
        "enterprise",
        uscc,
        detail={"institution": inst, "product": row.product_id},
    )
    return row


def pushed_by_bank(s: Session, institution_id: str) -> dict[str, ProspectPush]:
    """The bank's pushes by firm (what its prospect list shows beside each firm)."""
    rows = s.scalars(select(ProspectPush).where(ProspectPush.institution_id == institution_id))
    return {r.uscc: r for r in rows}


def pushed_to_firm(s: Session, p: Principal, uscc: str) -> list[dict[str, str | None]]:
    """The contacts banks named for the firm: shown on the firm's own marketplace page."""
    authorize(s, p, "match.need.list", uscc)
    rows = s.execute(
        select(ProspectPush, Institution.name)
        .join(Institution, Institution.id == ProspectPush.institution_id)
        .where(ProspectPush.uscc == uscc)
        .order_by(ProspectPush.pushed_at.desc())
    ).all()
    return [
        {
            "bank": name,
            "product_id": r.product_id,
            "contact_name": r.contact_name,
            "contact_phone": r.contact_phone,
            "pushed_at": f"{r.pushed_at:%Y-%m-%d}",
        }
        for r, name in rows
    ]
