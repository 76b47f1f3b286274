"""The monthly early-warning list as each role may read it (001 §17: 监测、研判和预警).

The government and the auditor see every flagged firm of the region, filtered by level, kind
of signal and lending bank. A bank sees its own borrowers only (firms with a loan of its own
reported in the month), and only what it may know of them: the signals from its own loans
always; a signal read from the registry (status flags, qualifications) or from the firm's
figures (revenue, tax, points) only under a live consent opening that data class
(:func:`kejin.access.rules.live_consent`), else it is left out and the level recomputed. All of
this is decided here, in the service, so the page, the API, the Excel and the CLI agree.

The list is computed from the registry (:func:`kejin.credit.early_warning.signals`); a region's
computation (30,000 firms) is kept for the month until the data it rests on change (a new
pull, a new month-end status, a new points run), so paging does not recompute it.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.rules import Principal, Rule, add_rules, authorize, live_consent
from kejin.access.service import log
from kejin.credit import early_warning, features, points_link
from kejin.errors import Problem, ValidationError
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.points.tables import ScoreRun
from kejin.registry.tables import DataPull, Enterprise
from kejin.vocab import WARNING_KINDS

add_rules(
    [
        Rule("credit.warnings", "gov_admin", "region"),
        Rule("credit.warnings", "gov_reviewer", "region"),
        Rule("credit.warnings", "auditor", "region"),
        # a bank's view is cut to its own borrowers by the service (below), whatever it asks
        Rule("credit.warnings", "bank_officer", "region"),
    ]
)

#: The consent a bank needs to see a signal about a borrower; loan signals come from its own
#: loan book and need none.
KIND_DATA_CLASS = {
    "warning.dpd_severe": None,
    "warning.dpd": None,
    "warning.dpd_watch": None,
    "warning.classification": None,
    "warning.dishonest": "profile",
    "warning.deregistered": "profile",
    "warning.abnormal_operation": "profile",
    "warning.qualification_expiring": "profile",
    "warning.qualification_lapsed": "profile",
    "warning.revenue_drop": "financials",
    "warning.tax_drop": "financials",
    "warning.points_drop": "financials",
}
MAX_PAGE = 200

_memo: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_memo_lock = threading.Lock()


def data_month(session: Session) -> date | None:
    """The latest month with loan statuses: the month a warning list is "as of" by default
    (the data date, not today: the region's last report may be months old)."""
    return session.scalar(select(func.max(LoanStatus.month)))


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """Cheap aggregates of everything a warning reads: a new pull, status, loan, title,
    indicator year, flag or points run changes one of them and retires the kept list."""
    from sqlalchemy import Integer, cast

    from kejin.registry.tables import AnnualIndicator, Qualification

    flags = cast(Enterprise.dishonest, Integer) + cast(Enterprise.deregistered, Integer) * 2
    flags = flags + cast(Enterprise.abnormal_operation, Integer) * 4
    aggregates = [
        (func.max(DataPull.id), DataPull),
        (func.count(), LoanStatus),
        (func.sum(LoanStatus.days_past_due), LoanStatus),
        (func.count(), Loan),
        (func.max(ScoreRun.id), ScoreRun),
        (func.count(), Enterprise),
        (func.sum(flags), Enterprise),
        (func.count(), Qualification),
        (func.max(Qualification.valid_to), Qualification),
        (func.count(), AnnualIndicator),
    ]
    return tuple(
        session.execute(
            select(*(select(agg).select_from(t).scalar_subquery() for agg, t in aggregates))
        ).one()
    )


def _compute(session: Session, month: date, institution_id: str | None) -> list[dict[str, Any]]:
    """Every firm with a loan status in ``month`` and at least one signal; with
    ``institution_id``, from that institution's loans only."""
    key = (str(session.get_bind().url), month, institution_id, _fingerprint(session))
    with _memo_lock:
        hit = _memo.get(key)
    if hit is not None:
        return hit
    conn = session.connection()
    r = features.load(conn)
    if institution_id is not None:
        own = select(Loan.contract_no).where(Loan.institution_id == institution_id)
        mine = set(session.scalars(own))
        r.loans = r.loans.filter(pl.col("contract_no").is_in(list(mine)))
    rows = [
        w
        for w in early_warning.signals(
            r, month, early_warning.WarningConfig(), points_link.points_frame(conn)
        )
        if w["level"] > 0
    ]
    with _memo_lock:
        if len(_memo) > 32:
            _memo.clear()
        _memo[key] = rows
    return rows


def _lenders(session: Session, month: date) -> dict[str, set[str]]:
    """Each borrower's lending institutions in ``month`` (the bank filter)."""
    out: dict[str, set[str]] = {}
    for uscc, inst in session.execute(
        select(Loan.uscc, Loan.institution_id)
        .join(LoanStatus, LoanStatus.contract_no == Loan.contract_no)
        .where(LoanStatus.month == month)
        .distinct()
    ):
        out.setdefault(uscc, set()).add(inst)
    return out


def _consented(session: Session, p: Principal, w: dict[str, Any], now: Any) -> dict[str, Any]:
    """A bank's copy of a warning: signals it may not see without consent are left out."""
    assert p.institution_id is not None
    open_ = {
        c
        for c in ("profile", "financials")
        if live_consent(session, p.institution_id, w["uscc"], c, now) is not None
    }
    kept = [x for x in w["reasons"] if KIND_DATA_CLASS.get(x["code"]) in (None, *open_)]
    hidden = len(w["reasons"]) - len(kept)
    level = max((x["level"] for x in kept), default=0)
    return {
        **w,
        "reasons": kept,
        "level": level,
        "level_zh": early_warning.LEVELS[level][0],
        "level_en": early_warning.LEVELS[level][1],
        "hidden": hidden,
    }


def _check(level: int | None, kind: str | None, limit: int, offset: int) -> None:
    problems = []
    if level is not None and level not in (1, 2, 3):
        problems.append(Problem("等级应为1–3", "level must be 1–3", field="level", value=level))
    if kind is not None and kind not in WARNING_KINDS:
        problems.append(
            Problem("取值不在词表中", "value not in the vocabulary", field="kind", value=kind)
        )
    if not 1 <= limit <= 100_000_000 or offset < 0:
        problems.append(Problem("分页参数有误", "invalid paging", field="limit", value=limit))
    if problems:
        raise ValidationError("查询参数有误", "invalid query parameters", problems)


def warning_list(
    session: Session,
    p: Principal,
    *,
    month: date | None = None,
    level: int | None = None,
    kind: str | None = None,
    bank: str | None = None,
    limit: int = 50,
    offset: int = 0,
    action: str = "credit.warnings",
) -> dict[str, Any]:
    """The month's flagged firms the principal may see, most severe first, filtered.

    A bank officer's ``bank`` is always its own institution (another bank's id is refused),
    and the signals shown are those its consents allow. Audited as one read of the list."""
    authorize(session, p, "credit.warnings")
    _check(level, kind, limit, offset)
    if p.role == "bank_officer":
        if bank not in (None, p.institution_id):
            raise ValidationError(
                "只能查看本行的借款企业",
                "a bank sees its own borrowers only",
                [Problem("只能是本行", "must be your own bank", field="bank", value=bank)],
            )
        bank = p.institution_id
    elif bank is not None and session.get(Institution, bank) is None:
        raise ValidationError(
            "机构不存在",
            "no such institution",
            [Problem("机构不存在", "no such institution", field="bank", value=bank)],
        )
    latest = data_month(session)
    month = month or latest
    rows: list[dict[str, Any]] = []
    if month is not None:
        if p.role == "bank_officer":
            now = utcnow()
            rows = [_consented(session, p, w, now) for w in _compute(session, month, bank)]
            rows = [w for w in rows if w["level"] > 0]
        else:
            rows = _compute(session, month, None)
            if bank is not None:
                lenders = _lenders(session, month)
                rows = [w for w in rows if bank in lenders.get(w["uscc"], ())]
    by_level = {k: sum(1 for w in rows if w["level"] == k) for k in (1, 2, 3)}
    by_kind: dict[str, int] = {}
    for w in rows:
        for code in {x["code"] for x in w["reasons"]}:
            by_kind[code] = by_kind.get(code, 0) + 1
    if level is not None:
        rows = [w for w in rows if w["level"] == level]
    if kind is not None:
        rows = [w for w in rows if any(x["code"] == kind for x in w["reasons"])]
    rows = sorted(rows, key=lambda w: (-w["level"], w["uscc"]))
    page = rows[offset : offset + limit]
    filters = {"month": month and month.isoformat(), "level": level, "kind": kind, "bank": bank}
    log(
        session,
        p,
        action,
        "warning_list",
        filters["month"] or "none",
        after=[w["uscc"] for w in page] if action == "credit.warnings" else None,
        detail={**{k: v for k, v in filters.items() if v}, "total": len(rows), "offset": offset},
        durable=action != "credit.warnings",
    )
    return {
        "month": month,
        "data_month": latest,
        "total": len(rows),
        "by_level": by_level,
        "by_kind": by_kind,
        "limit": limit,
        "offset": offset,
        "items": page,
    }
