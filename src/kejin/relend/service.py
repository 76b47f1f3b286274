"""Relending ledger operations: set a quota, submit a batch, approve (draw) or reject, repay, report.

Every operation is one transaction with its audit record (the caller's session, see
:mod:`kejin.access.acting`), and all-or-nothing: a batch with one ineligible loan is refused with
every bad loan named and nothing stored; an approval that would take a quota past its amount is
refused and nothing drawn. The draw is one conditional UPDATE (``outstanding + amount <= quota``)
checked by its row count, backed by the table's CHECK constraint, so concurrent approvals on
PostgreSQL and SQLite alike can never overdraw a quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import kejin.relend.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, authorize
from kejin.access.service import log
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.lending.tables import Institution, Loan
from kejin.registry.tables import Enterprise, Qualification
from kejin.relend.tables import RelendBatch, RelendLoan, RelendQuota
from kejin.stats.definitions import LIST_QUALIFICATIONS
from kejin.stats.kernels import shift_months
from kejin.vocab import LOAN_PURPOSES, QUALIFICATION_KINDS, RELEND_TOOLS, lookup

CENT = Decimal("0.01")


def _months_between(a: date, b: date) -> int:
    """Whole calendar months from ``a`` to ``b`` (a part month counts as a month)."""
    n = (b.year - a.year) * 12 + b.month - a.month
    return n + (1 if b.day > a.day else 0)


def _quota(s: Session, quota_id: str, lock: bool = False) -> RelendQuota:
    q = s.get(RelendQuota, quota_id, with_for_update=lock)
    if q is None:
        raise NotFoundError(
            "再贷款额度不存在",
            "no such relending quota",
            [Problem("未找到额度", "quota not found", field="quota", value=quota_id)],
        )
    return q


def set_quota(
    s: Session,
    p: Principal,
    *,
    tool: str,
    institution_id: str,
    year: int,
    quota: Decimal,
    matching_ratio: Decimal,
    rate_cap: Decimal,
    max_term_months: int,
    term_months: int = 12,
    purposes: list[str],
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> RelendQuota:
    """Create a bank's quota for a tool and year (the administrator's act; audited)."""
    authorize(s, p, "relend.quota")
    probs = []
    if tool not in RELEND_TOOLS:
        probs.append(Problem("未知工具", "unknown tool", field="tool", value=tool))
    inst = s.get(Institution, institution_id)
    if inst is None or inst.kind != "bank":
        probs.append(
            Problem("不是登记的银行", "not a registered bank", field="bank", value=institution_id)
        )
    if quota <= 0:
        probs.append(Problem("额度须大于0", "quota must be positive", field="quota", value=quota))
    if not Decimal(0) < matching_ratio <= 1:
        probs.append(
            Problem(
                "配套比例须在(0,1]内", "matching ratio must be in (0, 1]",
                field="matching_ratio", value=matching_ratio,
            )
        )  # fmt: skip
    bad = [x for x in purposes if x not in LOAN_PURPOSES]
    if bad or not purposes:
        probs.append(
            Problem("用途未知或为空", "unknown or no purposes", field="purposes", value=bad)
        )
    if probs:
        raise ValidationError("再贷款额度不合规", "invalid relending quota", probs)
    qid = f"{tool}-{year}-{institution_id}"
    if s.get(RelendQuota, qid) is not None:
        raise ConflictError(
            "该银行本年度已有此工具额度",
            "the bank already has a quota for this tool and year",
            [Problem("额度重复", "duplicate quota", field="quota", value=qid)],
        )
    q = RelendQuota(
        id=qid,
        tool=tool,
        institution_id=institution_id,
        year=year,
        quota=quota.quantize(CENT),
        outstanding=Decimal(0),
        drawn_total=Decimal(0),
        repaid_total=Decimal(0),
        matching_ratio=matching_ratio,
        rate_cap=rate_cap,
        max_term_months=max_term_months,
        term_months=term_months,
        purposes=sorted(purposes),
        valid_from=valid_from or date(year, 1, 1),
        valid_to=valid_to or date(year, 12, 31),
        set_by=p.username,
        set_at=utcnow(),
    )
    s.add(q)
    s.flush()
    log(s, p, "relend.quota", "relend_quota", qid, detail={"quota": str(q.quota)})
    return q


@dataclass(frozen=True)
class Line:
    """One loan as the bank submits it: the contract and what it was for (row as in the file)."""

    contract_no: str
    purpose: str
    row: int | None = None


def on_directory(s: Session, uscc: str, on: date) -> list[str]:
    """The list qualifications a firm held on ``on`` (the 科技型企业名单 of the tool)."""
    return sorted(
        s.scalars(
            select(Qualification.kind).where(
                Qualification.uscc == uscc,
                Qualification.kind.in_(LIST_QUALIFICATIONS),
                Qualification.valid_from <= on,
                Qualification.valid_to >= on,
            )
        ).all()
    )


def check_line(
    s: Session, q: RelendQuota, line: Line, file: str | None
) -> tuple[list[Problem], RelendLoan | None]:
    """Whether one submitted loan may be refinanced under the quota; its problems or its row."""

    def bad(zh: str, en: str, field: str, value: Any) -> Problem:
        return Problem(zh, en, file=file, row=line.row, field=field, value=value)

    loan = s.get(Loan, line.contract_no)
    if loan is None:
        return [bad("贷款不存在", "no such loan", "contract_no", line.contract_no)], None
    probs = []
    if loan.institution_id != q.institution_id:
        probs.append(bad("不是本行贷款", "not this bank's loan", "contract_no", line.contract_no))
    purpose = lookup(LOAN_PURPOSES, line.purpose)
    if purpose is None or purpose not in q.purposes:
        probs.append(
            bad(
                "用途不在允许范围：" + "、".join(LOAN_PURPOSES[x].zh for x in q.purposes),
                "purpose not allowed: " + ", ".join(LOAN_PURPOSES[x].en for x in q.purposes),
                "purpose",
                line.purpose,
            )
        )
    if not q.valid_from <= loan.disbursed_on <= q.valid_to:
        probs.append(
            bad(
                f"放款日不在 {q.valid_from}～{q.valid_to} 内",
                f"disbursed outside {q.valid_from}..{q.valid_to}",
                "disbursed_on",
                loan.disbursed_on.isoformat(),
            )
        )
    held = on_directory(s, loan.uscc, loan.disbursed_on)
    if not held:
        probs.append(
            bad(
                "放款日企业不在科技型企业名单内",
                "the firm was not on the tech-firm directory on the disbursement date",
                "uscc",
                loan.uscc,
            )
        )
    if loan.rate > q.rate_cap:
        probs.append(
            bad(f"利率超过上限 {q.rate_cap}", f"rate above the cap {q.rate_cap}", "rate", loan.rate)
        )
    term = _months_between(loan.disbursed_on, loan.maturity_on)
    if term > q.max_term_months:
        probs.append(
            bad(
                f"期限 {term} 个月超过 {q.max_term_months} 个月",
                f"term of {term} months exceeds {q.max_term_months}",
                "maturity_on",
                loan.maturity_on.isoformat(),
            )
        )
    taken = s.scalar(
        select(RelendLoan.batch_id).where(
            RelendLoan.tool == q.tool, RelendLoan.contract_no == loan.contract_no
        )
    )
    if taken is not None:
        probs.append(
            bad(
                f"已在第{taken}批申请过",
                f"already in batch {taken}",
                "contract_no",
                loan.contract_no,
            )
        )
    if probs:
        return probs, None
    amount = (loan.amount * q.matching_ratio).quantize(CENT, rounding=ROUND_HALF_UP)
    return [], RelendLoan(
        tool=q.tool,
        contract_no=loan.contract_no,
        uscc=loan.uscc,
        purpose=purpose,
        loan_amount=loan.amount,
        relend_amount=amount,
        basis={
            "directory": [QUALIFICATION_KINDS[k].zh for k in held],
            "disbursed_on": loan.disbursed_on.isoformat(),
            "rate": str(loan.rate),
            "rate_cap": str(q.rate_cap),
            "term_months": term,
            "max_term_months": q.max_term_months,
            "matching_ratio": str(q.matching_ratio),
        },
    )


def submit(
    s: Session,
    p: Principal,
    quota_id: str,
    lines: list[Line],
    *,
    channel: str = "api",
    file: str | None = None,
) -> RelendBatch:
    """A bank's batch: every loan eligible, or the whole batch refused naming each bad loan."""
    q = _quota(s, quota_id)
    authorize(s, p, "relend.submit", q.institution_id)
    if not lines:
        raise ValidationError(
            "批次中没有贷款", "the batch holds no loans", [Problem("空批次", "empty batch", file)]
        )
    probs: list[Problem] = []
    rows: list[RelendLoan] = []
    seen: set[str] = set()
    for line in lines:
        if line.contract_no in seen:
            probs.append(
                Problem(
                    "同一批次内合同重复", "contract repeated in the batch",
                    file, line.row, "contract_no", line.contract_no,
                )
            )  # fmt: skip
            continue
        seen.add(line.contract_no)
        bad, row = check_line(s, q, line, file)
        probs += bad
        if row is not None:
            rows.append(row)
    if probs:
        raise ValidationError(
            f"批次中有 {len({(x.row, x.value) for x in probs})} 处不符合再贷款条件，整批未受理",
            "loans in the batch break the tool's eligibility: nothing was submitted",
            probs,
        )
    amount = sum((r.relend_amount for r in rows), Decimal(0))
    pending = s.scalar(
        select(func.coalesce(func.sum(RelendBatch.amount), 0)).where(
            RelendBatch.quota_id == q.id, RelendBatch.state == "submitted"
        )
    )
    if q.outstanding + Decimal(pending) + amount > q.quota:
        raise _over_quota(q, amount, Decimal(pending))
    batch = RelendBatch(
        quota_id=q.id,
        institution_id=q.institution_id,
        state="submitted",
        channel=channel,
        amount=amount,
        repaid=Decimal(0),
        submitted_by=p.username,
        submitted_at=utcnow(),
    )
    s.add(batch)
    s.flush()
    for r in rows:
        r.batch_id = batch.id
    s.add_all(rows)
    try:
        s.flush()
    except IntegrityError:  # the same loan in a batch submitted at this very moment
        raise ConflictError(
            "批次中的贷款刚被另一批次申请",
            "a loan of the batch was just submitted in another batch",
        ) from None
    log(
        s, p, "relend.submit", "relend_batch", batch.id,
        detail={"quota": q.id, "loans": len(rows), "amount": str(amount), "channel": channel},
    )  # fmt: skip
    return batch


def _over_quota(q: RelendQuota, amount: Decimal, pending: Decimal = Decimal(0)) -> ValidationError:
    room = q.quota - q.outstanding - pending
    return ValidationError(
        f"超出再贷款额度：申请 {amount} 元，剩余可用 {room} 元",
        f"over the relending quota: {amount} yuan asked, {room} yuan left",
        [Problem("超出额度", "exceeds the quota", field="amount", value=str(amount))],
    )


def _batch(s: Session, batch_id: int, lock: bool = False) -> RelendBatch:
    b = s.get(RelendBatch, batch_id, with_for_update=lock)
    if b is None:
        raise NotFoundError(
            "批次不存在",
            "no such batch",
            [Problem("未找到批次", "batch not found", field="batch", value=batch_id)],
        )
    return b


def _must_be(b: RelendBatch, state: str) -> None:
    if b.state != state:
        raise ConflictError(
            f"批次状态为“{b.state}”，不能办理",
            f"the batch is {b.state}: not possible",
            [Problem("状态不符", "wrong state", field="batch", value=b.id)],
        )


def approve(s: Session, p: Principal, batch_id: int, on: date | None = None) -> RelendBatch:
    """The branch's approval: the batch is drawn against its quota in full, or refused."""
    authorize(s, p, "relend.approve")
    b = _batch(s, batch_id, lock=True)
    _must_be(b, "submitted")
    if b.submitted_by == p.username:
        raise Forbidden("报送人不能审批本批次", "the submitter may not approve the batch")
    res = s.execute(
        update(RelendQuota)
        .where(
            RelendQuota.id == b.quota_id, RelendQuota.outstanding + b.amount <= RelendQuota.quota
        )
        .values(
            outstanding=RelendQuota.outstanding + b.amount,
            drawn_total=RelendQuota.drawn_total + b.amount,
        )
        .execution_options(synchronize_session=False)
    )
    q = _quota(s, b.quota_id)
    s.refresh(q)
    if res.rowcount != 1:
        raise _over_quota(q, b.amount)
    on = on or utcnow().date()
    b.state = "approved"
    b.decided_by = p.username
    b.decided_at = utcnow()
    b.drawn_on = on
    b.matures_on = shift_months(on, q.term_months).replace(day=min(on.day, 28))
    s.flush()
    log(
        s, p, "relend.approve", "relend_batch", b.id,
        detail={"quota": q.id, "amount": str(b.amount), "outstanding": str(q.outstanding)},
    )  # fmt: skip
    return b


def reject(s: Session, p: Principal, batch_id: int, reason: str) -> RelendBatch:
    """The branch returns a batch; its loans may be submitted again."""
    authorize(s, p, "relend.approve")
    b = _batch(s, batch_id, lock=True)
    _must_be(b, "submitted")
    if not reason.strip():
        raise ValidationError(
            "退回须说明理由", "a rejection needs a reason", [Problem("理由为空", "no reason", field="reason")]
        )  # fmt: skip
    loans = s.scalars(select(RelendLoan).where(RelendLoan.batch_id == b.id)).all()
    contracts = [x.contract_no for x in loans]
    for x in loans:
        s.delete(x)
    b.state = "rejected"
    b.decided_by = p.username
    b.decided_at = utcnow()
    b.note = reason.strip()[:300]
    s.flush()
    log(
        s,
        p,
        "relend.reject",
        "relend_batch",
        b.id,
        detail={"contracts": contracts, "reason": b.note},
    )
    return b


def repay(s: Session, p: Principal, batch_id: int, amount: Decimal) -> RelendBatch:
    """The bank repays (part of) a drawn batch; the quota's headroom returns by the same amount."""
    b = _batch(s, batch_id, lock=True)
    authorize(s, p, "relend.repay", b.institution_id)
    _must_be(b, "approved")
    left = b.amount - b.repaid
    if amount <= 0 or amount > left:
        raise ValidationError(
            f"归还金额须在 0～{left} 元之间",
            f"repayment must be between 0 and {left} yuan",
            [Problem("金额无效", "invalid amount", field="amount", value=str(amount))],
        )
    s.execute(
        update(RelendQuota)
        .where(RelendQuota.id == b.quota_id)
        .values(
            outstanding=RelendQuota.outstanding - amount,
            repaid_total=RelendQuota.repaid_total + amount,
        )
        .execution_options(synchronize_session=False)
    )
    b.repaid = b.repaid + amount
    if b.repaid == b.amount:
        b.state = "repaid"
    s.flush()
    log(s, p, "relend.repay", "relend_batch", b.id, detail={"amount": str(amount)})
    return b


def read_batch_file(path: Path) -> list[Line]:
    """A bank's batch workbook: a header row with 合同编号 and 用途 (or contract_no, purpose)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several kinds for a file that is not a workbook
        raise ValidationError(
            "无法读取Excel文件",
            "cannot read the workbook",
            [Problem(str(e)[:120], str(e)[:120], file=path.name)],
        ) from None
    rows = list(wb.active.iter_rows(values_only=True))
    wb.close()
    names = {"合同编号": "contract_no", "contract_no": "contract_no", "用途": "purpose",
             "purpose": "purpose"}  # fmt: skip
    head = [names.get(str(c).strip()) if c is not None else None for c in (rows[0] if rows else [])]
    missing = [c for c in ("contract_no", "purpose") if c not in head]
    unknown = [str(c) for c, h in zip(rows[0] if rows else [], head, strict=False)
               if h is None and c is not None]  # fmt: skip
    if missing or unknown:
        raise ValidationError(
            "批次文件表头不符", "the batch file's header is wrong",
            [Problem("缺少列", "missing column", path.name, 1, c) for c in missing]
            + [Problem("未知列", "unknown column", path.name, 1, c) for c in unknown],
        )  # fmt: skip
    ci, pi = head.index("contract_no"), head.index("purpose")
    return [
        Line(str(r[ci]).strip(), str(r[pi] or "").strip(), row=n)
        for n, r in enumerate(rows[1:], start=2)
        if any(v is not None for v in r)
    ]


def _scope(p: Principal) -> Any:
    return RelendBatch.institution_id == p.institution_id if p.role == "bank_officer" else None


def ledger(s: Session, p: Principal, today: date | None = None) -> dict[str, Any]:
    """Quotas with their utilisation, and the batches (a bank: its own only)."""
    authorize(s, p, "relend.read")
    today = today or utcnow().date()
    qs = select(RelendQuota).order_by(RelendQuota.year.desc(), RelendQuota.id)
    bs = select(RelendBatch).order_by(RelendBatch.id.desc())
    if p.role == "bank_officer":
        qs = qs.where(RelendQuota.institution_id == p.institution_id)
        bs = bs.where(_scope(p))
    names = dict(s.execute(select(Institution.id, Institution.name)).all())
    counts = {
        bid: (n, f)
        for bid, n, f in s.execute(
            select(
                RelendLoan.batch_id, func.count(), func.count(func.distinct(RelendLoan.uscc))
            ).group_by(RelendLoan.batch_id)
        )
    }
    quotas = []
    for q in s.scalars(qs):
        quotas.append(
            {
                "id": q.id,
                "tool": q.tool,
                "tool_label": RELEND_TOOLS[q.tool].zh,
                "tool_label_en": RELEND_TOOLS[q.tool].en,
                "bank": q.institution_id,
                "bank_name": names.get(q.institution_id, q.institution_id),
                "year": q.year,
                "quota": q.quota,
                "outstanding": q.outstanding,
                "drawn_total": q.drawn_total,
                "repaid_total": q.repaid_total,
                "available": q.quota - q.outstanding,
                "utilisation": float(q.outstanding / q.quota),
                "matching_ratio": q.matching_ratio,
                "rate_cap": q.rate_cap,
                "max_term_months": q.max_term_months,
                "purposes": q.purposes,
            }
        )
    batches = []
    for b in s.scalars(bs):
        n, firms = counts.get(b.id, (0, 0))
        batches.append(
            {
                "id": b.id,
                "quota": b.quota_id,
                "bank": b.institution_id,
                "bank_name": names.get(b.institution_id, b.institution_id),
                "state": b.state,
                "channel": b.channel,
                "amount": b.amount,
                "repaid": b.repaid,
                "loans": n,
                "firms": firms,
                "submitted_by": b.submitted_by,
                "submitted_at": b.submitted_at,
                "decided_by": b.decided_by,
                "drawn_on": b.drawn_on,
                "matures_on": b.matures_on,
                "overdue": b.state == "approved" and b.matures_on is not None
                and b.matures_on < today,
                "note": b.note,
            }
        )  # fmt: skip
    return {"as_of": today, "quotas": quotas, "batches": batches}


def batch_loans(s: Session, p: Principal, batch_id: int) -> list[dict[str, Any]]:
    """The loans of one batch with why each qualified (a bank: its own batches only)."""
    authorize(s, p, "relend.read")
    b = _batch(s, batch_id)
    if p.role == "bank_officer" and b.institution_id != p.institution_id:
        raise Forbidden("不是本行批次", "not your bank's batch")
    rows = s.execute(
        select(RelendLoan, Enterprise.name)
        .join(Enterprise, Enterprise.uscc == RelendLoan.uscc)
        .where(RelendLoan.batch_id == batch_id)
        .order_by(RelendLoan.contract_no)
    ).all()
    return [
        {
            "contract_no": x.contract_no,
            "uscc": x.uscc,
            "firm": name,
            "purpose": x.purpose,
            "loan_amount": x.loan_amount,
            "relend_amount": x.relend_amount,
            "basis": x.basis,
        }
        for x, name in rows
    ]


def combination(s: Session, uscc: str, lang: str = "zh") -> dict[str, Any]:
    """ "再贷款+贴息" for one firm: per loan, the relending that funds it (or the quota it would
    qualify under, or why not) and the interest subsidies paid on it; and the published
    interest-subsidy programmes. Ji'an's firms did not know they could combine the two."""
    from kejin.policy import library
    from kejin.policy.tables import Application, Programme

    interest = {p.id for p in library.all_policies() if getattr(p, "cost_kind", None) == "interest"}
    progs = s.execute(
        select(Programme.id, Programme.policy_id, Programme.year).where(
            Programme.state == "published", Programme.policy_id.in_(sorted(interest))
        ).order_by(Programme.year.desc(), Programme.id)
    ).all()  # fmt: skip
    titles = {p.id: (p.title_en if lang == "en" else p.title_zh) for p in library.all_policies()}
    out = []
    for loan in s.scalars(select(Loan).where(Loan.uscc == uscc).order_by(Loan.disbursed_on)):
        funded = s.execute(
            select(RelendLoan, RelendBatch)
            .join(RelendBatch, RelendBatch.id == RelendLoan.batch_id)
            .where(RelendLoan.contract_no == loan.contract_no)
        ).first()
        row: dict[str, Any] = {
            "contract_no": loan.contract_no,
            "bank": loan.institution_id,
            "amount": loan.amount,
            "rate": loan.rate,
            "disbursed_on": loan.disbursed_on,
            "relend": None,
            "relend_quota": None,
            "relend_problems": [],
        }
        if funded is not None:
            x, b = funded
            row["relend"] = {
                "tool": x.tool,
                "amount": x.relend_amount,
                "batch": b.id,
                "state": b.state,
            }
        else:
            for q in s.scalars(
                select(RelendQuota).where(
                    RelendQuota.institution_id == loan.institution_id,
                    RelendQuota.valid_from <= loan.disbursed_on,
                    RelendQuota.valid_to >= loan.disbursed_on,
                )
            ):
                probs, _ = check_line(s, q, Line(loan.contract_no, q.purposes[0]), None)
                if not probs:
                    row["relend_quota"] = q.id
                    break
                row["relend_problems"] = [
                    p.reason_en if lang == "en" else p.reason_zh for p in probs
                ]
        paid = s.execute(
            select(Programme.policy_id, Programme.year, Application.paid_total)
            .join(Programme, Programme.id == Application.programme_id)
            .where(
                Application.firm == uscc,
                Application.cost_item.like(f"%:{loan.contract_no}:%"),
                Application.paid_total > 0,
            )
        ).all()
        row["subsidies"] = [
            {"programme": f"{titles.get(pol, pol)} {y}", "paid": amt} for pol, y, amt in paid
        ]
        out.append(row)
    return {
        "loans": out,
        "interest_programmes": [
            {"id": pid, "title": titles.get(pol, pol), "year": y} for pid, pol, y in progs
        ],
    }
