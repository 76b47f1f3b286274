"""Points → credit (积分变信用/抵贷款/省利率/延期限) as decision tables, and the decision record.

A decision is split in two so that it can be replayed for the 尽职免责 evidence pack:

* :func:`gather` reads the database once and returns a JSON *snapshot* (firm flags,
  qualifications, revenue of the last two years, current days past due, points, model
  features and model id);
* :func:`evaluate` is pure: snapshot + decision table (+ model artefact) → outputs, each
  component with reason codes (``decision.credit_allowed``, ``.limit``, ``.rate``,
  ``.term_months``, names from the GLOSSARY).

:func:`decide` does both and stores the record (snapshot, table text and hash, model id,
outputs); the officer's action is added later by :func:`record_action`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from kejin.access.audit import utcnow
from kejin.access.rules import CONSENT_MEMO, ConsentRef, Principal, require_consent
from kejin.access.tables import Consent
from kejin.console import dumps as json_dumps
from kejin.credit import features, models, points_link, registry, tech_model
from kejin.credit.tables import CreditDecision, CreditModel
from kejin.db import joined
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.ids import normalize_uscc


class Grade(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grade: str
    min_points: float
    max_pd: float


class Grading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    basis: Literal["points", "pd"]
    fallback: Literal["pd", "none"] = "none"
    model: str | None = None
    grades: list[Grade] = Field(min_length=1)


class Eligibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    require_any_qualification: list[str] = []
    exclude_flags: list[Literal["dishonest", "deregistered", "abnormal_operation"]] = []
    exclude_tax_grades: list[str] = []
    max_days_past_due: int = 0
    ineligible_grades: list[str] = []
    min_points: float | None = None
    max_pd: float | None = None


class CreditRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allowed_grades: list[str]


class LimitRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: Decimal = Field(gt=0)
    max_amount: Decimal = Field(gt=0)
    top_list_uplift: Decimal = Decimal(0)
    top_lists: list[str] = []
    round_to: Decimal = Decimal(1)


class Lpr(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date = Field(alias="from")
    value: Decimal


class RateRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cap_bp: int = Field(ge=0)
    spread_bp: dict[str, int]
    lpr: list[Lpr] = Field(min_length=1)


class TermRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    months: dict[str, int]


class DecisionTable(BaseModel):
    """One product's decision table, validated whole when loaded."""

    model_config = ConfigDict(extra="forbid")
    product: str
    name_zh: str
    name_en: str
    document: str | None = None
    article: str | None = None
    grading: Grading
    eligibility: Eligibility
    credit: CreditRule
    limit: LimitRule
    rate: RateRule
    term: TermRule


class LoadedTable(BaseModel):
    table: DecisionTable
    text: str
    version: str


def parse_table(text: str, source: str = "<table>") -> LoadedTable:
    try:
        raw = tomllib.loads(text)
        table = DecisionTable.model_validate(raw)
    except tomllib.TOMLDecodeError as e:
        raise ValidationError(
            "决策表不是有效的TOML",
            "decision table is not valid TOML",
            [Problem(str(e), str(e), file=source)],
        ) from None
    except Exception as e:  # pydantic ValidationError: name every bad field
        errs = getattr(e, "errors", lambda: [])()
        raise ValidationError(
            "决策表字段有误",
            "decision table has invalid fields",
            [
                Problem(err["msg"], err["msg"], file=source, field=".".join(map(str, err["loc"])))
                for err in errs
            ],
        ) from None
    return LoadedTable(table=table, text=text, version=hashlib.sha256(text.encode()).hexdigest())


def rating_scale(table: DecisionTable, lang: str) -> str:
    """The product's credit ratings by what each needs, in words: the innovation points or the
    model's PD its table grades by (the bank's scale, not the points system's innovation grade).
    """
    en = lang == "en"
    parts = []
    for g in table.grading.grades:
        by = []
        if g.min_points > 0:
            by.append(
                f"innovation points ≥ {g.min_points:g}" if en else f"创新积分 ≥ {g.min_points:g}"
            )
        if g.max_pd < 1:
            by.append(f"PD ≤ {g.max_pd:.0%}" if en else f"违约概率 ≤ {g.max_pd:.0%}")
        rest = "otherwise" if en else "其余"
        parts.append(f"{g.grade}: {(' or ' if en else ' 或 ').join(by) or rest}")
    return ("; " if en else "；").join(parts)


def load_table(product_or_path: str) -> LoadedTable:
    """A bundled table by product id (``points_credit``) or a TOML file path."""
    p = Path(product_or_path)
    if p.suffix == ".toml" and p.exists():
        return parse_table(p.read_text(encoding="utf-8"), str(p))
    return _bundled_table(product_or_path)


@lru_cache(maxsize=32)
def _bundled_table(product: str) -> LoadedTable:
    """A bundled table, read and validated once per process (package data does not change under
    a running service; a bank's own table file is read on every call)."""
    res = resources.files("kejin.credit").joinpath("decision_tables", f"{product}.toml")
    if not res.is_file():
        raise NotFoundError(
            "没有该产品的决策表",
            "no decision table for this product",
            [Problem("", "", field="product", value=product)],
        )
    return parse_table(res.read_text(encoding="utf-8"), f"decision_tables/{product}.toml")


def _jsonable(obj: Any) -> Any:
    return json.loads(json_dumps(obj))


def gather(
    engine: Engine,
    uscc: str,
    table: DecisionTable,
    as_of: date,
    conn: Connection | None = None,
) -> dict:
    """Everything the decision reads, as a JSON snapshot (the evidence of what was known).

    One firm's rows are read in one round trip on PostgreSQL (registry, loan history, points and
    the model's id together, :func:`kejin.credit.features.load_rows`) and its model features are
    computed without Polars (:func:`kejin.credit.features.firm_row_features`, held equal to the
    batch kernel by tests). ``conn``: read in the caller's transaction (the one that checked the
    consent and records the decision) instead of a connection of its own.
    """
    code = normalize_uscc(uscc)
    if conn is None:
        with engine.connect() as own:
            return gather(engine, code, table, as_of, own)
    points_area = points_link.present(conn)
    extra: list[tuple[str, Any]] = []
    if points_area:
        extra.append(("points", points_link.one_firm(code)))
    if table.grading.model:
        extra.append(
            (
                "model",
                select(CreditModel.id)
                .where(CreditModel.name == table.grading.model)
                .order_by(CreditModel.version.desc())
                .limit(1),
            )
        )
    r = features.load_rows(conn, code, extra)
    if r.enterprise is None:
        raise NotFoundError(
            "企业不存在", "firm not found", [Problem("", "", field="uscc", value=uscc)]
        )
    model_rows = r.extra.get("model") or []
    model_id = model_rows[0][0] if model_rows else None
    firm = r.enterprise
    ind = r.indicators  # sorted by year
    revenue = {
        str(i["year"]): (str(i["revenue"]) if i["revenue"] is not None else None)
        for i in ind
        if i["year"] in (as_of.year - 1, as_of.year - 2)
    }
    quals = {
        q["kind"]
        for q in r.qualifications
        if q["valid_from"] is not None
        and q["valid_to"] is not None
        and q["valid_from"] <= as_of <= q["valid_to"]
    }
    seen = [st for st in r.statuses if st["month"] <= as_of]
    current_dpd = 0
    if seen:
        last_month = max(st["month"] for st in seen)
        current_dpd = int(max(st["days_past_due"] for st in seen if st["month"] == last_month))
    tax_grade = ind[-1]["tax_credit_grade"] if ind else None
    feats = features.firm_row_features(r, as_of)
    points = None
    if points_area:
        rows = sorted(
            r.extra["points"], key=lambda p: p[1]
        )  # uscc, year, total, base, bonus, system
        if rows:
            points = {"total": float(rows[-1][2]), "year": int(rows[-1][1]), "system": rows[-1][5]}
        year = next((p for p in rows if p[1] == as_of.year - 1), None)
        for j, name in enumerate(tech_model.POINTS_FEATURES):
            feats[name] = None if year is None or year[2 + j] is None else float(year[2 + j])
    return _jsonable(
        {
            "uscc": code,
            "as_of": as_of,
            "firm": {
                k: firm[k]
                for k in ("name", "stage", "dishonest", "deregistered", "abnormal_operation")
            },
            "qualifications": sorted(quals),
            "revenue": revenue,
            "tax_credit_grade": tax_grade,
            "current_days_past_due": current_dpd,
            "points": points,
            "points_area": points_area,
            "model_id": model_id,
            "features": feats,
        }
    )


def _reason(code: str, zh: str, en: str, **detail: Any) -> dict:
    return {"code": code, "zh": zh, "en": en, **({"detail": _jsonable(detail)} if detail else {})}


def _lpr(rate: RateRule, as_of: date) -> Lpr:
    eff = [lp for lp in rate.lpr if lp.from_ <= as_of]
    if not eff:
        raise ValidationError(
            "决策日早于任何LPR报价",
            "no LPR in force on the decision date",
            [Problem("", "", field="rate.lpr", value=str(as_of))],
        )
    return max(eff, key=lambda lp: lp.from_)


def evaluate(snap: dict, t: DecisionTable, model_art: dict | None) -> dict:
    """Pure: the decision for one snapshot under one table (and model)."""
    as_of = date.fromisoformat(snap["as_of"])
    flags: list[str] = []
    pd_value = None
    if model_art is not None:
        frame = pl.DataFrame([snap["features"]], infer_schema_length=None)
        pd_value = float(models.score(model_art, frame)["pd"][0])
    elif t.grading.model:
        flags.append("model_unavailable")
    if not snap["points_area"]:
        flags.append(points_link.UNAVAILABLE)
    points = snap["points"]["total"] if snap["points"] else None
    if snap["points_area"] and points is None:
        flags.append(points_link.MISSING)
    # Grade
    basis = t.grading.basis
    if basis == "points" and points is None and t.grading.fallback == "pd" and pd_value is not None:
        basis = "pd"
    grade = None
    grade_reasons = []
    if basis == "points" and points is not None:
        grade = next((g.grade for g in t.grading.grades if points >= g.min_points), None)
        grade_reasons.append(
            _reason(
                "grade.points",
                f"创新积分 {points:g} 分",
                f"innovation points {points:g}",
                points=points,
            )
        )
    elif basis == "pd" and pd_value is not None:
        grade = next((g.grade for g in t.grading.grades if pd_value <= g.max_pd), None)
        grade_reasons.append(
            _reason(
                "grade.pd",
                f"模型违约概率 {pd_value:.4f}",
                f"model PD {pd_value:.4f}",
                pd=round(pd_value, 6),
            )
        )
        if t.grading.basis == "points":
            grade_reasons.append(
                _reason(
                    "grade.fallback_pd",
                    "无创新积分，按模型违约概率评定信用评级",
                    "no innovation points; credit rating by model PD",
                )
            )
    else:
        grade_reasons.append(
            _reason(
                "grade.unavailable",
                "既无积分也无模型，无法评定信用评级，转人工",
                "neither points nor a model: no credit rating, refer to an officer",
            )
        )
    # Eligibility
    el = t.eligibility
    fails, passes = [], []
    for flag in el.exclude_flags:
        if snap["firm"][flag]:
            fails.append(
                _reason(
                    f"eligibility.{flag}",
                    {
                        "dishonest": "失信企业",
                        "deregistered": "企业已注销",
                        "abnormal_operation": "经营异常",
                    }[flag],
                    f"firm is flagged {flag}",
                )
            )
    if el.require_any_qualification:
        have = sorted(set(snap["qualifications"]) & set(el.require_any_qualification))
        if have:
            passes.append(
                _reason(
                    "eligibility.qualification",
                    "具备有效科技资质",
                    "holds a valid tech qualification",
                    kinds=have,
                )
            )
        else:
            fails.append(
                _reason(
                    "eligibility.qualification",
                    "无有效科技资质",
                    "no valid tech qualification",
                    required=el.require_any_qualification,
                )
            )
    if snap["tax_credit_grade"] in el.exclude_tax_grades:
        fails.append(
            _reason(
                "eligibility.tax_grade",
                "纳税信用等级不符",
                "tax credit grade excluded",
                grade=snap["tax_credit_grade"],
            )
        )
    if snap["current_days_past_due"] > el.max_days_past_due:
        fails.append(
            _reason(
                "eligibility.past_due",
                "当前存在逾期",
                "currently past due",
                days=snap["current_days_past_due"],
                max=el.max_days_past_due,
            )
        )
    if grade is None:
        fails.append(_reason("eligibility.no_grade", "无法评定信用评级", "no credit rating"))
    elif grade in el.ineligible_grades:
        fails.append(
            _reason(
                "eligibility.grade",
                f"信用评级 {grade} 不予准入",
                f"credit rating {grade} not eligible",
                grade=grade,
            )
        )
    if el.min_points is not None and (points is None or points < el.min_points):
        fails.append(
            _reason(
                "eligibility.min_points",
                "创新积分不足",
                "innovation points below threshold",
                points=points,
                min=el.min_points,
            )
        )
    if el.max_pd is not None and (pd_value is None or pd_value > el.max_pd):
        fails.append(
            _reason(
                "eligibility.max_pd",
                "违约概率超过阈值",
                "PD above threshold",
                pd=pd_value,
                max=el.max_pd,
            )
        )
    eligible = not fails
    out: dict[str, Any] = {
        "product": t.product,
        "uscc": snap["uscc"],
        "as_of": snap["as_of"],
        "grade": {"value": grade, "basis": basis, "reasons": grade_reasons},
        "pd": None if pd_value is None else round(pd_value, 10),
        "eligible": {"value": eligible, "reasons": fails or passes},
        "flags": flags,
    }
    no = [_reason("decision.not_eligible", "不符合准入条件", "not eligible")]
    if not eligible:
        out["decision.credit_allowed"] = {"value": False, "reasons": no}
        out["decision.limit"] = {"value": None, "reasons": no}
        out["decision.rate"] = {"value": None, "reasons": no}
        out["decision.term_months"] = {"value": None, "reasons": no}
        return out
    assert grade is not None
    allowed = grade in t.credit.allowed_grades
    out["decision.credit_allowed"] = {
        "value": allowed,
        "reasons": [
            _reason(
                "credit.grade",
                f"信用评级 {grade} {'可' if allowed else '不可'}发放信用贷款",
                f"credit rating {grade} {'allows' if allowed else 'does not allow'} unsecured credit",
                allowed_grades=t.credit.allowed_grades,
            )
        ],
    }
    out["decision.limit"] = _limit(snap, t.limit, as_of)
    out["decision.rate"] = _rate(t.rate, grade, as_of)
    months = t.term.months.get(grade)
    out["decision.term_months"] = {
        "value": months,
        "reasons": [
            _reason(
                "term.grade",
                f"信用评级 {grade} 期限 {months} 个月",
                f"credit rating {grade}: {months} months",
            )
        ],
    }
    return out


def _limit(snap: dict, rule: LimitRule, as_of: date) -> dict:
    years = [str(as_of.year - 1), str(as_of.year - 2)]
    vals = [Decimal(snap["revenue"][y]) for y in years if snap["revenue"].get(y) is not None]
    reasons = []
    if not vals:
        return {
            "value": "0.00",
            "reasons": [
                _reason(
                    "limit.no_revenue",
                    "近两年无营业收入数据",
                    "no revenue in the last two years",
                    years=years,
                )
            ],
        }
    avg = sum(vals, Decimal(0)) / len(vals)
    if len(vals) < 2:
        reasons.append(
            _reason("limit.one_year_only", "仅有一年营业收入", "revenue for one year only")
        )
    base = rule.k * avg
    reasons.append(
        _reason(
            "limit.revenue",
            f"近两年平均营收 {avg:.2f} × {rule.k}",
            f"average revenue {avg:.2f} × {rule.k}",
            average_revenue=f"{avg:.2f}",
            k=str(rule.k),
        )
    )
    on_list = sorted(set(snap["qualifications"]) & set(rule.top_lists))
    if on_list and rule.top_list_uplift:
        base = base * (1 + rule.top_list_uplift)
        reasons.append(
            _reason(
                "limit.top_list_uplift",
                f"榜单企业上浮 {rule.top_list_uplift:%}",
                f"top-list uplift {rule.top_list_uplift:%}",
                lists=on_list,
            )
        )
    if base > rule.max_amount:
        reasons.append(
            _reason(
                "limit.product_max",
                "受产品最高额度限制",
                "capped at the product maximum",
                max_amount=str(rule.max_amount),
            )
        )
        base = rule.max_amount
    value = (base / rule.round_to).to_integral_value(ROUND_DOWN) * rule.round_to
    return {"value": f"{value:.2f}", "reasons": reasons}


def _rate(rule: RateRule, grade: str, as_of: date) -> dict:
    lpr = _lpr(rule, as_of)
    spread = rule.spread_bp.get(grade, rule.cap_bp)
    reasons = [
        _reason(
            "rate.lpr", f"LPR {lpr.value} (自 {lpr.from_})", f"LPR {lpr.value} (from {lpr.from_})"
        )
    ]
    if spread > rule.cap_bp:
        reasons.append(
            _reason("rate.cap", f"加点封顶 {rule.cap_bp}bp", f"spread capped at {rule.cap_bp}bp")
        )
        spread = rule.cap_bp
    reasons.append(
        _reason(
            "rate.spread",
            f"信用评级 {grade} 加点 {spread}bp",
            f"credit rating {grade}: +{spread}bp",
            spread_bp=spread,
        )
    )
    value = (lpr.value + Decimal(spread) / Decimal(10000)).quantize(Decimal("0.000001"))
    return {"value": str(value), "reasons": reasons}


def officer_institution(engine: Engine, officer: str | None) -> str | None:
    """The institution a decision requested by ``officer`` belongs to: that of the platform user
    of that name, if it is a bank user (the rule the bank pages apply), else ``None``."""
    if not officer:
        return None
    from kejin.access.tables import User

    with engine.connect() as conn:
        return conn.scalar(select(User.institution_id).where(User.username == officer))


def _bank_officer(s: Session, officer: str | None) -> Principal | None:
    """The principal of ``officer`` if it names a bank user (whose bank the decision then
    belongs to), else ``None`` (an analyst's decision, which no bank sees)."""
    from kejin.access.service import principal_of
    from kejin.access.tables import User

    if not officer:
        return None
    user = s.scalar(select(User).where(User.username == officer))
    return principal_of(user) if user is not None and user.institution_id else None


def _credit_consent(s: Session, bank: Principal, uscc: str) -> ConsentRef:
    """The firm's live credit-assessment consent to the bank, held until the decision commits.

    The row is locked (FOR UPDATE on PostgreSQL) so a revocation racing the decision waits for
    it and a decision never commits under a consent already revoked.
    """
    now = utcnow()
    s.info.pop(CONSENT_MEMO, None)
    ref = require_consent(s, bank, uscc, "credit_decision", now)
    assert ref is not None
    held = s.scalar(
        select(Consent.id)
        .where(Consent.id == ref.id, Consent.revoked_at.is_(None), Consent.expires_at > now)
        .with_for_update()
    )
    if held is None:  # revoked between the read and the lock
        s.info.pop(CONSENT_MEMO, None)
        require_consent(s, bank, uscc, "credit_decision", now)
    return ref


#: Verified model artefacts by id. The id is the artefact's content hash, so what it names never
#: changes: read and verified once per process, not on every decision.
_ARTEFACTS: dict[str, dict] = {}


def model_artefact(engine: Engine, model_id: str) -> dict:
    """The registered model ``model_id`` (its content hash), verified, read once per process."""
    art = _ARTEFACTS.get(model_id)
    if art is None:
        found, art = registry.fetch(engine, model_id)
        if found != model_id:  # a name, not an id: not cached, names move to new versions
            return art
        _ARTEFACTS[model_id] = art
    return art


def decide(
    engine: Engine,
    uscc: str,
    loaded: LoadedTable,
    as_of: date | None = None,
    officer: str | None = None,
    store: bool = True,
    session: Session | None = None,
    principal: Principal | None = None,
) -> dict:
    """Gather, evaluate and (unless ``store=False``) record the decision; returns its outputs.

    A decision requested by a bank's officer reads the firm's data for credit assessment: it
    needs the firm's live consent to that bank for that purpose with scope ``full``, checked
    and locked before anything is read, in the transaction that reads the firm and records the
    decision, so a revocation waits for the decision and none commits under a consent already
    revoked; the record names the consent (``consent_id``). Every caller — API, pages, CLI —
    passes through here. ``principal``: the requesting user when the caller already knows it
    (the routes), instead of looking ``officer`` up.

    With ``session`` the decision is recorded in the caller's transaction, which then writes the
    audit record beside it: both commit together or neither does. Without, in one of its own.
    """
    day = as_of or datetime.now(UTC).date()
    code = normalize_uscc(uscc)
    with joined(engine, session) as s:
        if principal is not None and principal.username == officer:
            bank = principal if principal.institution_id else None
        else:
            bank = _bank_officer(s, officer)
        ref = _credit_consent(s, bank, code) if bank is not None else None
        snap = gather(engine, code, loaded.table, day, conn=s.connection())
        art = model_artefact(engine, snap["model_id"]) if snap["model_id"] else None
        out = evaluate(snap, loaded.table, art)
        out["table_version"] = loaded.version
        out["model_id"] = snap["model_id"]
        out["consent_id"] = None
        if store:
            out["consent_id"] = ref.id if ref is not None else None
            row = CreditDecision(
                uscc=snap["uscc"],
                product=loaded.table.product,
                table_version=loaded.version,
                model_id=snap["model_id"],
                decided_at=datetime.now(UTC).replace(tzinfo=None),
                as_of=snap["as_of"],
                inputs=json.dumps(snap, ensure_ascii=False, sort_keys=True),
                table=loaded.text,
                outputs="",
                officer=officer,
                consent_id=out["consent_id"],
            )
            s.add(row)
            s.flush()
            out["decision_id"] = row.id
            row.outputs = json.dumps(out, ensure_ascii=False, sort_keys=True)
    return out


ACTIONS = ("approve", "reject", "refer", "override")


def record_action(
    engine: Engine,
    decision_id: int,
    officer: str,
    action: str,
    note: str | None = None,
    contract_no: str | None = None,
    session: Session | None = None,
) -> None:
    """The officer's action on a decision (and the loan it led to): the other half of the evidence.

    ``session``: recorded in the caller's transaction (with its audit record), as in :func:`decide`.
    """
    if action not in ACTIONS:
        raise ValidationError(
            "未知的处理意见",
            "unknown action",
            [Problem(f"可选: {ACTIONS}", f"one of {ACTIONS}", field="action", value=action)],
        )
    if action == "override" and not note:
        raise ValidationError(
            "推翻模型结论必须说明理由", "an override needs a note", [Problem("", "", field="note")]
        )
    with joined(engine, session) as s:
        row = s.get(CreditDecision, decision_id)
        if row is None:
            raise NotFoundError(
                "决策记录不存在",
                "decision not found",
                [Problem("", "", field="decision_id", value=decision_id)],
            )
        row.action_by = officer
        row.action = action
        row.action_note = note
        row.action_at = datetime.now(UTC).replace(tzinfo=None)
        row.contract_no = contract_no
