"""One firm's decision path equals the batch path: features, score and decision.

A credit decision reads one firm's rows in one round trip and computes its model features
without Polars (``features.load_rows``, ``features.firm_row_features``); training, monitoring and
warnings build the same features for a whole region with the batch kernel
(``features.firm_features``, ``tech_model.model_frame``). The rule is the kernel's: these tests
hold the one-firm reading to it, value for value (NaN for NaN), over generated firms with edge
values (zero, negative and missing figures, null dates) and over every firm of synthetic regions
on SQLite and PostgreSQL, together with the decision's snapshot, model score and outputs.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from tests.credit.firms import add_firm, points_run

from kejin.credit import (
    dataset,
    decisions,
    features,
    models,
    points_link,
    registry,
    scorecard,
    tech_model,
)
from kejin.frames import table_schema
from kejin.lending.tables import Loan, LoanStatus
from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent, Qualification
from kejin.synth.service import build_region

TABLE = decisions.load_table("points_credit")
CODE = "91320700MA0000001X"


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, bit for bit otherwise (no tolerance)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def diff(a: dict, b: dict) -> dict:
    """The keys (features flattened) where two snapshots differ, with both values."""
    fa, fb = {**a, **a.get("features", {})}, {**b, **b.get("features", {})}
    return {
        k: (fa.get(k), fb.get(k)) for k in fa.keys() | fb.keys() if not same(fa.get(k), fb.get(k))
    }


def frame(table: Any, rows: list[dict[str, Any]], cols: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        [tuple(r[c] for c in cols) for r in rows], schema=table_schema(table, cols), orient="row"
    )


money = st.one_of(
    st.none(),
    st.sampled_from([Decimal("0.00"), Decimal("-1.00"), Decimal("-5000.00")]),
    st.decimals(min_value=-(10**9), max_value=10**12, places=2, allow_nan=False),
)
count = st.one_of(st.none(), st.integers(0, 500))
day = st.dates(date(2018, 1, 1), date(2027, 12, 31))


@st.composite
def firms(draw: st.DrawFn) -> tuple[features.FirmRows, features.RegistryFrames]:
    years = draw(st.lists(st.integers(2019, 2027), unique=True, max_size=4))
    ind = [
        {
            "uscc": CODE,
            "year": y,
            **{
                c: draw(money)
                for c in (
                    "revenue",
                    "profit",
                    "total_assets",
                    "total_liabilities",
                    "rd_expense",
                    "high_tech_revenue",
                    "tax_paid",
                )
            },
            **{
                c: draw(count)
                for c in (
                    "rd_staff",
                    "staff",
                    "invention_patents",
                    "utility_patents",
                    "software_copyrights",
                )
            },
            "tax_credit_grade": draw(st.sampled_from([None, "A", "B", "M", "C", "D"])),
        }
        for y in sorted(years)
    ]
    quals = [
        {"uscc": CODE, "kind": draw(st.sampled_from(["hnte", "little_giant", "srdi"]))}
        | {"valid_from": draw(day), "valid_to": draw(st.one_of(st.none(), day))}
        for _ in range(draw(st.integers(0, 4)))
    ]
    fin = [
        {"uscc": CODE, "kind": "equity", "occurred_on": draw(day), "amount": draw(money)}
        for _ in range(draw(st.integers(0, 3)))
    ]
    loans = [f"C{i}" for i in range(draw(st.integers(0, 3)))]
    statuses = [
        {
            "contract_no": c,
            "month": m,
            "balance": Decimal(1),
            "days_past_due": draw(st.integers(0, 400)),
            "classification": "normal",
        }
        for c in loans
        for m in draw(st.lists(day.map(lambda d: d.replace(day=1)), unique=True, max_size=4))
    ]
    ent = {
        "uscc": CODE,
        "name": "测试",
        "founded_on": draw(st.one_of(st.none(), day)),
        "stage": draw(st.sampled_from(["seed", "growth"])),
        "industry_chain": "ic",
        "dishonest": False,
        "deregistered": False,
        "abnormal_operation": False,
    }
    loan_rows = [
        {
            "contract_no": c,
            "uscc": CODE,
            "amount": Decimal(1),
            "disbursed_on": date(2020, 1, 1),
            "maturity_on": date(2030, 1, 1),
            "guarantee_type": "credit",
        }
        for c in loans
    ]
    ind_cols = ["uscc", "year", *features.INDICATORS]
    r = features.RegistryFrames(
        enterprises=frame(Enterprise.__table__, [ent], list(ent)),
        indicators=frame(AnnualIndicator.__table__, ind, ind_cols),
        qualifications=frame(
            Qualification.__table__,
            quals,
            [*features.ONE_FIRM_COLUMNS["qualifications"], "uscc"],
        ),
        financing=frame(FinancingEvent.__table__, fin, ["uscc", "kind", "occurred_on", "amount"]),
        loans=frame(
            Loan.__table__, loan_rows, list(loan_rows[0]) if loan_rows else ["contract_no", "uscc"]
        ),
        statuses=frame(
            LoanStatus.__table__,
            statuses,
            ["contract_no", "month", "balance", "days_past_due", "classification"],
        ),
    )
    one = features.FirmRows(
        enterprise=ent,
        indicators=ind,
        qualifications=quals,
        financing=fin,
        statuses=statuses,
    )
    return one, r


@settings(max_examples=400, deadline=None)
@given(firms(), day)
def test_one_firm_features_equal_the_kernel(firm: tuple, as_of: date) -> None:
    one, r = firm
    batch = features.firm_features(r, as_of).select(*features.MODEL_FEATURES).row(0, named=True)
    got = features.firm_row_features(one, as_of)
    assert list(got) == list(batch)
    assert same(got, batch), {k: (got[k], batch[k]) for k in got if not same(got[k], batch[k])}


def _reference_snapshot(
    r: features.RegistryFrames, pts: pl.DataFrame | None, code: str, as_of: date, model_id: Any
) -> dict:
    """The snapshot as the batch frames give it (what gather computed before the one-firm path)."""
    mine = pl.col("uscc") == code
    contracts = r.loans.filter(mine)["contract_no"]
    one = features.RegistryFrames(
        enterprises=r.enterprises.filter(mine),
        indicators=r.indicators.filter(mine),
        qualifications=r.qualifications.filter(mine),
        financing=r.financing.filter(mine),
        loans=r.loans.filter(mine),
        statuses=r.statuses.filter(pl.col("contract_no").is_in(contracts.implode())),
    )
    firm = one.enterprises.row(0, named=True)
    ind = one.indicators.sort("year")
    revenue = {
        str(y): (str(v) if v is not None else None)
        for y, v in zip(ind["year"], ind["revenue"], strict=True)
        if y in (as_of.year - 1, as_of.year - 2)
    }
    quals = one.qualifications.filter(
        (pl.col("valid_from") <= as_of) & (pl.col("valid_to") >= as_of)
    )
    latest = one.statuses.filter(pl.col("month") <= as_of).sort("month")
    current_dpd = 0
    if latest.height:
        last_month = latest["month"].max()
        current_dpd = int(latest.filter(pl.col("month") == last_month)["days_past_due"].max())
    points = None
    if pts is not None:
        last = points_link.latest(pts.filter(mine))
        if last.height:
            points = {
                "total": float(last["total"][0]),
                "year": int(last["year"][0]),
                "system": last["system"][0],
            }
    # the whole region's model frame, this firm's row: the batch kernel's reading
    feats = tech_model.model_frame(r, as_of, pts).filter(mine).drop("uscc").row(0, named=True)
    return decisions._jsonable(
        {
            "uscc": code,
            "as_of": as_of,
            "firm": {
                k: firm[k]
                for k in ("name", "stage", "dishonest", "deregistered", "abnormal_operation")
            },
            "qualifications": sorted(set(quals["kind"].to_list())),
            "revenue": revenue,
            "tax_credit_grade": ind["tax_credit_grade"][-1] if ind.height else None,
            "current_days_past_due": current_dpd,
            "points": points,
            "points_area": pts is not None,
            "model_id": model_id,
            "features": feats,
        }
    )


def test_one_firm_decisions_equal_the_batch_over_a_region(engine: Engine) -> None:
    """Every firm of a synthetic region (and hand-made edge firms), three decision dates: the
    one-firm snapshot equals the batch one, the model scores it as it scores the batch row,
    and the decision is the same."""
    build_region(engine, firms=250, seed=11)
    edges = [
        add_firm(engine, 9_000_001, revenue=("0", "0")),
        add_firm(engine, 9_000_002, revenue=(None, "0"), dpd=95),
        add_firm(engine, 9_000_003, revenue=("1000", None), quals=(), tax_grade="D"),
        add_firm(engine, 9_000_004, year=2024, dpd=0, classification="normal"),
    ]
    with engine.connect() as conn:
        r = features.load(conn)
    codes = r.enterprises["uscc"].to_list()
    rng = np.random.default_rng(3)
    scored = [c for c in codes if rng.uniform() < 0.7]
    points_run(engine, 1, "lyg", 2024, {c: float(rng.uniform(20, 100)) for c in scored})
    points_run(engine, 2, "lyg", 2025, {c: float(rng.uniform(20, 100)) for c in scored[10:]})
    with engine.connect() as conn:
        pts = points_link.points_frame(conn)
    # A scorecard fitted on the region's own batch features, so the score is the model's.
    train = tech_model.model_frame(r, date(2026, 1, 1), pts)
    lev = train["leverage"].fill_null(0.5).fill_nan(0.5).to_numpy()
    bad = (rng.uniform(size=train.height) < 1 / (1 + np.exp(1 - 2 * lev))).astype(int)
    data = dataset.prepare(
        train.select("leverage", "points_total", "log_revenue").with_columns(bad=pl.Series(bad)),
        "bad",
    )
    model_id = registry.register(engine, scorecard.fit(data), "tech_firm").id
    art = registry.fetch(engine, model_id)[1]
    assert len(edges) == 4 and len(codes) > 200
    for as_of in (date(2025, 3, 1), date(2026, 1, 1), date(2026, 6, 1)):
        batch = tech_model.model_frame(r, as_of, pts)
        batch_pd = dict(
            zip(batch["uscc"], models.score(art, batch.drop("uscc"))["pd"], strict=True)
        )
        for code in codes:
            snap = decisions.gather(engine, code, TABLE.table, as_of)
            ref = _reference_snapshot(r, pts, code, as_of, model_id)
            assert same(snap, ref), (code, as_of, diff(snap, ref))
            out = decisions.evaluate(snap, TABLE.table, art)
            assert same(out, decisions.evaluate(ref, TABLE.table, art))
            assert out["pd"] == round(float(batch_pd[code]), 10)


def test_model_artefact_is_verified_once_and_scores_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artefact is read and verified once per process (its id is its content hash); a later
    decision scores with the kept one and gives the same output."""
    rng = np.random.default_rng(2)
    lev = rng.uniform(0, 1, 800)
    y = (rng.uniform(size=800) < 1 / (1 + np.exp(1 - 3 * lev))).astype(int)
    art = scorecard.fit(dataset.prepare(pl.DataFrame({"leverage": lev, "bad": y}), "bad"))
    model_id = registry.register(engine, art, "tech_firm").id
    code = add_firm(engine, 31)
    decisions._ARTEFACTS.clear()
    first = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1), store=False)
    assert first["model_id"] == model_id and first["pd"] is not None
    monkeypatch.setattr(registry, "fetch", lambda *a, **k: pytest.fail("artefact read again"))
    again = decisions.decide(engine, code, TABLE, as_of=date(2026, 6, 1), store=False)
    assert again == first
    assert decisions.load_table("points_credit") is decisions.load_table("points_credit")
