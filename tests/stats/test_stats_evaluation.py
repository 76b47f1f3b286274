"""Bank evaluation: the scheme refuses bad data, scores computed by hand, ranks, tenancy, marks."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select
from tests.people import add_people
from tests.relend.relendkit import seed

from kejin.access.acting import acting
from kejin.access.rules import Forbidden
from kejin.access.tables import AuditEvent
from kejin.errors import NotFoundError, ValidationError
from kejin.lending.tables import LoanStatus
from kejin.stats.evaluation.scheme import banks_scheme, parse
from kejin.stats.evaluation.score import scorecards
from kejin.stats.evaluation.service import enter_mark, evaluate, evidence_file

SCHEME = """
version: 1
quantitative_points: 30
qualitative_points: 5
indicators:
  - {id: tech_loan_balance, direction: positive, level: 10, change: 10, change_kind: growth}
  - {id: npl_ratio, direction: negative, level: 10, change: 0, change_kind: difference}
qualitative:
  - {id: mechanism, zh: 机制, en: mechanism, max: 5}
"""


def test_scheme_refuses_unknown_field_unknown_indicator_and_bad_sums() -> None:
    with pytest.raises(ValidationError) as e:
        parse(SCHEME.replace("version: 1", "version: 1\ncolour: red"), "s.yaml")
    assert [(p.field, p.reason_en) for p in e.value.problems] == [("colour", "unknown field")]
    bad = SCHEME.replace("level: 10, change: 0", "level: 11, change: 0").replace(
        "npl_ratio", "npl_rate"
    )
    with pytest.raises(ValidationError) as e:
        parse(bad.replace("max: 5", "max: 4"), "s.yaml")
    fields = {p.field: p for p in e.value.problems}
    assert set(fields) == {"indicators[1].id", "indicators", "qualitative"}
    assert fields["indicators"].value == 31
    assert all(p.file == "s.yaml" for p in e.value.problems)


def test_scores_by_hand_with_a_decline_scoring_negative() -> None:
    s = parse(SCHEME, "s.yaml")
    now = {
        "A": {"tech_loan_balance": "200.00", "npl_ratio": 0.01},
        "B": {"tech_loan_balance": "100.00", "npl_ratio": 0.02},
        "C": {"tech_loan_balance": "50.00", "npl_ratio": 0.0},
    }
    last = {
        "A": {"tech_loan_balance": "160.00"},  # +25%
        "B": {"tech_loan_balance": "50.00"},  # +100%: the best change
        "C": {"tech_loan_balance": "100.00"},  # −50%
    }
    cards = {
        c["bank"]: c for c in scorecards(s, now, last, {"C": {"mechanism": Fraction(5)}}, draws=0)
    }
    # A: level 10·200/200 = 10; change 10·0.25/1 = 2.5; npl 10·0/0.01 = 0 → 12.5
    # B: level 5; change 10; npl 0 → 15
    # C: level 2.5; change 10·(−0.5)/1 = −5; npl best (0) → 10; qualitative 5 → 12.5
    assert {b: c["total"] for b, c in cards.items()} == {"A": 12.5, "B": 15.0, "C": 12.5}
    assert {b: c["rank"] for b, c in cards.items()} == {"B": 1, "A": 2, "C": 2}
    c = {r["indicator"]: r for r in cards["C"]["indicators"]}
    assert c["tech_loan_balance"]["change_points"] == -5.0
    assert c["tech_loan_balance"]["lost"] == 22.5  # 20 − 2.5 − (−5)
    assert cards["A"]["indicators"][1]["lost"] == 10.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 10**9), min_size=2, max_size=6), st.integers(0, 2**31))
def test_rank_interval_contains_the_nominal_rank_and_best_scores_full(vals, seed) -> None:
    s = parse(SCHEME, "s.yaml")
    now = {f"B{i}": {"tech_loan_balance": str(v), "npl_ratio": 0.01} for i, v in enumerate(vals)}
    last = {f"B{i}": {"tech_loan_balance": str(v + i)} for i, v in enumerate(vals)}
    cards = scorecards(s, now, last, {}, draws=30, seed=seed)
    for c in cards:
        assert c["rank_p5"] <= c["rank_p95"]
        assert -10 <= c["quantitative"] <= 30
    top = max(vals)
    for c in cards:
        if int(now[c["bank"]]["tech_loan_balance"]) == top:
            assert c["indicators"][0]["level_points"] == 10.0


def test_marks_need_evidence_are_audited_and_a_bank_sees_its_own_card(engine: Engine) -> None:
    seed(
        engine,
        [{"contract": "X1", "firm": 1, "bank": "B1"}, {"contract": "X2", "firm": 2, "bank": "B2"}],
    )
    with engine.begin() as c:
        c.execute(
            insert(LoanStatus),
            [{"contract_no": k, "month": date(2026, 3, 1), "balance": Decimal("900000.00"),
              "days_past_due": 0, "classification": "normal"} for k in ("X1", "X2")],
        )  # fmt: skip
    add_people(engine, ("admin", "gov_admin", None, None), ("b1", "bank_officer", "B1", None))
    with pytest.raises(ValidationError) as e, acting(engine, "admin") as (s, p):
        enter_mark(s, p, year=2026, bank="B1", item="mechanism", points=Decimal("7"),
                   reason="", evidence_name="x.pdf", evidence=b"")  # fmt: skip
    assert {x.field for x in e.value.problems} == {"points", "evidence", "reason"}
    with pytest.raises(Forbidden), acting(engine, "b1") as (s, p):
        enter_mark(s, p, year=2026, bank="B1", item="mechanism", points=Decimal("3"),
                   reason="r", evidence_name="x.pdf", evidence=b"%PDF")  # fmt: skip
    with acting(engine, "admin") as (s, p):
        m = enter_mark(s, p, year=2026, bank="B1", item="mechanism", points=Decimal("5.5"),
                       reason="设立科技支行", evidence_name="x.pdf", evidence=b"%PDF-1.7")  # fmt: skip
        assert m.evidence_sha256 == hashlib.sha256(b"%PDF-1.7").hexdigest()
    with engine.connect() as c:
        ev = c.execute(
            select(AuditEvent.action, AuditEvent.entity_id).where(AuditEvent.action == "stats.mark")
        ).all()
        assert ev == [("stats.mark", "2026:B1:mechanism")]
    with acting(engine, "admin") as (s, p):
        every = evaluate(engine, 2026, s, p, draws=5)
    assert {c["bank"] for c in every["scorecards"]} == {"B1", "B2"}
    assert every["date"] == "2026-03-31"
    with acting(engine, "b1") as (s, p):
        own = evaluate(engine, 2026, s, p, draws=5)
    (card,) = own["scorecards"]
    assert card["bank"] == "B1" and card["qualitative"] == 5.5
    # both banks lend the same: each is the best on every level, and has no last year-end to
    # change from; but neither has a loan over 12 months, and a best of 0 earns no level points
    levels = {i.id: i.level for i in banks_scheme().indicators}
    assert card["quantitative"] == sum(levels.values()) - levels["medium_long_share"]
    rows = {r["indicator"]: r for r in card["indicators"]}
    assert rows["tech_loan_balance"]["no_last"] and rows["tech_loan_balance"]["change_points"] == 0
    with pytest.raises(ValidationError, match="2025"):
        evaluate(engine, 2025)


def test_evidence_downloads_for_the_government_and_the_bank_marked_only(engine: Engine) -> None:
    """Each mark's evidence file comes back byte for byte to the government and to the bank it
    marks, never to another bank or a firm; every download is an audited read."""
    seed(
        engine,
        [{"contract": "X1", "firm": 1, "bank": "B1"}, {"contract": "X2", "firm": 2, "bank": "B2"}],
    )
    add_people(
        engine,
        ("admin", "gov_admin", None, None),
        ("b1", "bank_officer", "B1", None),
        ("b2", "bank_officer", "B2", None),
    )
    body = "科技支行设立批复\n".encode()
    with acting(engine, "admin") as (s, p):
        enter_mark(s, p, year=2026, bank="B1", item="mechanism", points=Decimal("5"),
                   reason="设立科技支行", evidence_name="批复.txt", evidence=body)  # fmt: skip
    for who in ("admin", "b1"):
        with acting(engine, who) as (s, p):
            m = evidence_file(s, p, 2026, "B1", "mechanism")
            assert (m.evidence, m.evidence_name) == (body, "批复.txt")
    with pytest.raises(Forbidden), acting(engine, "b2") as (s, p):
        evidence_file(s, p, 2026, "B1", "mechanism")
    with pytest.raises(NotFoundError), acting(engine, "admin") as (s, p):
        evidence_file(s, p, 2026, "B2", "mechanism")
    with engine.connect() as c:
        reads = c.execute(
            select(AuditEvent.actor, AuditEvent.entity_id).where(
                AuditEvent.action == "stats.evidence.read"
            )
        ).all()
    assert reads == [("admin", "2026:B1:mechanism"), ("b1", "2026:B1:mechanism")]
