"""The bank evaluation from the registry: gather the two dates, score, show each bank its own.

The evaluation date of year Y is the last month of Y with loan-status data; "last year" is the
previous year-end (December of Y − 1), as the regulator compares (比年初). Flows (first-time
borrowers, new loans' rate) are summed over the year to that month. The government sees every
scorecard; a bank officer only its own bank's (tenancy here, not in the page).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.rules import READERS, Principal, Rule, add_rules, authorize
from kejin.access.service import log
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Institution, LoanStatus
from kejin.stats import kernels
from kejin.stats.definitions import monthly
from kejin.stats.evaluation.scheme import Scheme, banks_scheme
from kejin.stats.evaluation.score import scorecards
from kejin.stats.evaluation.tables import EvaluationMark
from kejin.stats.service import gather

add_rules(
    [
        *(Rule("stats.banks", r, "region") for r in READERS),
        *(Rule("stats.bank_card", r, "region") for r in READERS),
        Rule("stats.bank_card", "bank_officer", "own_institution"),
        Rule("stats.mark", "gov_admin", "region"),
    ]
)

_FLOWS = ("first_time", "new_amount", "new_amount_rate")
MAX_EVIDENCE = 10 * 1024 * 1024


def evaluation_month(engine: Engine, year: int) -> date:
    """The year's last month with loan-status data, or a refusal naming the year."""
    with engine.connect() as c:
        m = c.scalar(
            select(func.max(LoanStatus.month)).where(
                LoanStatus.month >= date(year, 1, 1), LoanStatus.month <= date(year, 12, 1)
            )
        )
    if m is None:
        raise ValidationError(
            f"{year} 年没有贷款月度状态数据，无法评估",
            f"no loan-status data in {year}: nothing to evaluate",
            [Problem("该年无贷款状态", "no loan status that year", field="year", value=year)],
        )
    return m


def _period(m: pl.DataFrame, end: date, start: date) -> pl.DataFrame:
    """Each bank's stock measures at ``end`` with the flows summed over ``start``..``end``."""
    stock = m.filter(pl.col("month") == end).drop(*_FLOWS)
    flows = (
        m.filter(pl.col("month").is_between(start, end))
        .group_by("group")
        .agg(pl.col(c).sum() for c in _FLOWS)
    )
    return stock.join(flows, on="group", how="left").with_columns(
        pl.col(c).fill_null(0) for c in _FLOWS
    )


def bank_values(engine: Engine, year: int) -> tuple[date, date, dict, dict]:
    """(evaluation month, last year-end, values by bank now, values by bank at last year-end)."""
    end = evaluation_month(engine, year)
    base = date(year - 1, 12, 1)
    f = gather(engine, end)
    with engine.connect() as conn:
        extra = read_frame(
            conn,
            LoanStatus.__table__,
            ["contract_no", "month", "balance", "classification"],
            where=f"month = '{base.isoformat()}'",
        )
    f = kernels.Frames(
        loans=f.loans,
        statuses=pl.concat([f.statuses.filter(pl.col("month") != base), extra]),
        qualifications=f.qualifications,
        firms=f.firms,
        tiers=f.tiers,
        products=f.products,
    )
    months = [kernels.shift_months(date(year - 1, 1, 1), k) for k in range(12 + end.month)]
    m = kernels.measures_by(f, months, ["bank"])["bank"]
    defs = monthly()
    out = []
    for stop, start in ((end, date(year, 1, 1)), (base, date(year - 1, 1, 1))):
        rows = kernels.indicators(_period(m, stop, start).select(m.columns), defs)
        out.append({r["group"]: r["indicators"] for r in rows})
    now, last = out
    banks = _banks(engine)
    now = {b: now.get(b, {}) for b in banks}
    return end, base, now, last


def _banks(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.scalars(select(Institution.id).where(Institution.kind == "bank")))


def _marks(s: Session, year: int) -> dict[str, dict[str, Fraction]]:
    out: dict[str, dict[str, Fraction]] = {}
    for m in s.scalars(select(EvaluationMark).where(EvaluationMark.year == year)):
        out.setdefault(m.institution_id, {})[m.item] = Fraction(str(m.points))
    return out


def evaluate(
    engine: Engine,
    year: int,
    s: Session | None = None,
    p: Principal | None = None,
    draws: int = 200,
    seed: int = 18,
) -> dict[str, Any]:
    """The year's scorecards: every bank for the government (and the console without ``--who``,
    as ``kejin stats month``), only the officer's own bank for a bank officer."""
    if p is not None and s is not None:
        if p.role == "bank_officer":
            authorize(s, p, "stats.bank_card", p.institution_id)
        else:
            authorize(s, p, "stats.banks")
    scheme = banks_scheme()
    end, base, now, last = bank_values(engine, year)
    with Session(engine) as own:
        reader = s or own
        marks = _marks(reader, year)
        names = dict(reader.execute(select(Institution.id, Institution.name)).all())
        files = {
            (b, i): (name, sha)
            for b, i, name, sha in reader.execute(
                select(
                    EvaluationMark.institution_id,
                    EvaluationMark.item,
                    EvaluationMark.evidence_name,
                    EvaluationMark.evidence_sha256,
                ).where(EvaluationMark.year == year)
            )
        }
    cards = scorecards(scheme, now, last, marks, draws=draws, seed=seed)
    for c in cards:
        c["bank_name"] = names.get(c["bank"], c["bank"])
        for q in c["qualitative_items"]:  # the evidence each mark rests on, to download
            name, sha = files.get((c["bank"], q["item"]), (None, None))
            q["evidence"] = name
            q["evidence_sha256"] = sha
    if p is not None and p.role == "bank_officer":
        cards = [c for c in cards if c["bank"] == p.institution_id]
    defs = monthly().by_id()
    return {
        "year": year,
        "date": kernels.month_end(end).isoformat(),
        "last_year_end": kernels.month_end(base).isoformat(),
        "scheme_version": scheme.version,
        "banks_ranked": len(now),
        "sensitivity": {"draws": draws, "seed": seed, "concentration": 100.0},
        "indicators": {
            i.id: {
                "label_zh": defs[i.id].label_zh,
                "label_en": defs[i.id].label_en,
                "unit": defs[i.id].unit,
            }
            for i in scheme.indicators
        },
        "qualitative_items": {
            x.id: {"zh": x.zh, "en": x.en, "max": x.max} for x in scheme.qualitative
        },
        "scorecards": cards,
    }


def evidence_file(s: Session, p: Principal, year: int, bank: str, item: str) -> EvaluationMark:
    """The evidence file of one qualitative mark, for the government and for the bank marked
    (its own evaluation only: the rule ``stats.bank_card`` on the bank); each download is an
    audited read. A mark that does not exist is refused by name."""
    authorize(s, p, "stats.bank_card", bank)
    m = s.scalar(
        select(EvaluationMark).where(
            EvaluationMark.year == year,
            EvaluationMark.institution_id == bank,
            EvaluationMark.item == item,
        )
    )
    if m is None:
        raise NotFoundError(
            "没有这项定性评分",
            "no such qualitative mark",
            [Problem("未评分", "not marked", field="item", value=f"{year}:{bank}:{item}")],
        )
    log(
        s, p, "stats.evidence.read", "bank_evaluation", f"{year}:{bank}:{item}",
        detail={"evidence": m.evidence_name, "evidence_sha256": m.evidence_sha256},
        durable=False,
    )  # fmt: skip
    return m


def enter_mark(
    s: Session,
    p: Principal,
    *,
    year: int,
    bank: str,
    item: str,
    points: Decimal,
    reason: str,
    evidence_name: str,
    evidence: bytes,
    scheme: Scheme | None = None,
) -> EvaluationMark:
    """The government's qualitative mark, with its evidence file stored and audited."""
    authorize(s, p, "stats.mark")
    scheme = scheme or banks_scheme()
    it = scheme.item(item)
    probs = []
    if it is None:
        probs.append(Problem("未知定性项目", "unknown qualitative item", field="item", value=item))
    elif not Decimal(0) <= points <= Decimal(str(it.max)):
        probs.append(
            Problem(
                f"得分应在 0～{it.max:g} 之间", f"points must be within 0..{it.max:g}",
                field="points", value=str(points),
            )
        )  # fmt: skip
    inst = s.get(Institution, bank)
    if inst is None or inst.kind != "bank":
        probs.append(Problem("不是登记的银行", "not a registered bank", field="bank", value=bank))
    if not evidence:
        probs.append(Problem("须附佐证材料", "an evidence file is required", field="evidence"))
    elif len(evidence) > MAX_EVIDENCE:
        probs.append(Problem("佐证材料超过10MB", "evidence over 10 MB", field="evidence"))
    if not reason.strip():
        probs.append(Problem("须写明评分理由", "a reason is required", field="reason"))
    if probs:
        raise ValidationError("定性评分不合规", "invalid qualitative mark", probs)
    m = s.scalar(
        select(EvaluationMark).where(
            EvaluationMark.year == year,
            EvaluationMark.institution_id == bank,
            EvaluationMark.item == item,
        )
    )
    before = None if m is None else str(m.points)
    if m is None:
        m = EvaluationMark(year=year, institution_id=bank, item=item)
        s.add(m)
    sha = hashlib.sha256(evidence).hexdigest()
    m.points = points.quantize(Decimal("0.01"))
    m.reason = reason.strip()[:500]
    m.evidence_name = evidence_name[:200]
    m.evidence_sha256 = sha
    m.evidence = evidence
    m.entered_by = p.username
    m.entered_at = utcnow()
    s.flush()
    log(
        s, p, "stats.mark", "bank_evaluation", f"{year}:{bank}:{item}",
        detail={"points": str(m.points), "before": before, "evidence": evidence_name,
                "evidence_sha256": sha},
    )  # fmt: skip
    return m
