"""The generative model on its own (no database): determinism, valid codes, internal logic."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kejin.ids import REGIONS, check_uscc, org_code_check_char
from kejin.registry.tables import INDICATOR_FIELDS
from kejin.synth.model import (
    AS_OF,
    CHAIN_INDUSTRIES,
    STATUS_MONTHS,
    WINDOW_MONTHS,
    Region,
    generate,
    uscc_codes,
)
from kejin.vocab import NON_PERFORMING


@pytest.fixture(scope="module")
def region() -> Region:
    return generate(4000, 11)


def test_same_seed_gives_identical_frames() -> None:
    a, b = generate(800, 5), generate(800, 5)
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name


def test_different_seeds_give_different_regions() -> None:
    a, b = generate(800, 5), generate(800, 6)
    assert not a.tables["enterprises"].equals(b.tables["enterprises"])
    assert not a.tables["annual_indicators"].equals(b.tables["annual_indicators"])


def test_every_uscc_is_valid_unique_and_local(region: Region) -> None:
    ent = region.tables["enterprises"]
    codes = ent["uscc"].to_list()
    assert len(set(codes)) == len(codes)
    for code, region_code in zip(codes, ent["region_code"].to_list(), strict=True):
        check = check_uscc(code)
        assert check.valid, (code, check.reason_en)
        assert check.region_code == region_code
        assert region_code in REGIONS


@given(serials=st.lists(st.integers(0, 31**8 - 1), min_size=1, max_size=50, unique=True))
@settings(max_examples=50, deadline=None)
def test_vectorised_uscc_matches_the_scalar_check(serials: list[int]) -> None:
    codes = uscc_codes(np.zeros(len(serials), dtype=np.int64), np.array(serials, dtype=np.int64))
    texts = [c.decode() for c in codes]
    assert all(check_uscc(t).valid for t in texts)
    assert all(org_code_check_char(t[8:16]) == t[16] for t in texts)  # GB 11714 inside
    assert len(set(texts)) == len(texts)


def test_industry_codes_belong_to_the_firm_chain(region: Region) -> None:
    ent = region.tables["enterprises"]
    for chain, code in ent.select("industry_chain", "industry_code").unique().iter_rows():
        assert code in CHAIN_INDUSTRIES[chain]


def test_every_stage_and_chain_is_populated(region: Region) -> None:
    ent = region.tables["enterprises"]
    assert ent["stage"].n_unique() == 4
    assert ent["industry_chain"].n_unique() == 10


def test_indicators_cover_three_years_with_skew_zeros_and_gaps(region: Region) -> None:
    ind = region.tables["annual_indicators"]
    assert sorted(ind["year"].unique().to_list()) == [
        AS_OF.year - 3,
        AS_OF.year - 2,
        AS_OF.year - 1,
    ]
    revenue = ind["revenue"].cast(pl.Float64).drop_nulls()
    assert revenue.mean() > 1.5 * revenue.median()  # right-skewed
    assert (ind["invention_patents"] == 0).sum() > 0
    for field in INDICATOR_FIELDS:
        assert ind[field].null_count() > 0, field  # some values missing
    # Each firm reports only for years it existed in.
    founded = region.tables["enterprises"].select("uscc", "founded_on")
    joined = ind.join(founded, on="uscc")
    assert (joined["founded_on"].dt.year() <= joined["year"]).all()


def test_latent_traits_drive_what_is_observed(region: Region) -> None:
    truth = region.tables["synth_truth"]
    z = truth.select("innovation_capability", "credit_quality").to_numpy()
    assert 0.2 < np.corrcoef(z[:, 0], z[:, 1])[0, 1] < 0.6
    last = region.tables["annual_indicators"].filter(pl.col("year") == AS_OF.year - 1)
    j = last.join(truth, on="uscc").drop_nulls(["invention_patents"])
    rho = np.corrcoef(j["innovation_capability"], np.log1p(j["invention_patents"]))[0, 1]
    assert rho > 0.3
    hnte = region.tables["qualifications"].filter(pl.col("kind") == "hnte")["uscc"]
    holders = truth.filter(pl.col("uscc").is_in(hnte.implode()))
    others = truth.filter(~pl.col("uscc").is_in(hnte.implode()))
    assert holders["innovation_capability"].mean() > others["innovation_capability"].mean() + 0.5


def test_dates_amounts_and_balances_are_consistent(region: Region) -> None:
    t = region.tables
    q = t["qualifications"]
    assert (q["valid_from"] <= q["valid_to"]).all()
    assert q["valid_from"].max() <= AS_OF
    loans = t["loans"]
    assert (loans["disbursed_on"] < loans["maturity_on"]).all()
    assert (loans["disbursed_on"] <= AS_OF).all()
    assert (loans["amount"] > 0).all()
    assert (loans["credit_line"] >= loans["amount"]).all()
    assert loans["contract_no"].n_unique() == loans.height
    st_ = t["loan_statuses"].join(
        loans.select("contract_no", "amount", "disbursed_on"), on="contract_no"
    )
    assert (st_["balance"] >= 0).all()
    assert (st_["balance"] <= st_["amount"]).all()
    assert (st_["month"] >= st_["disbursed_on"].dt.month_start()).all()
    months = st_["month"].unique()
    assert months.max() == AS_OF.replace(day=1)
    assert months.n_unique() == STATUS_MONTHS
    assert st_.select("contract_no", "month").is_unique().all()
    fin = t["financing_events"]
    assert (fin["amount"] > 0).all()
    assert (fin["occurred_on"] <= AS_OF).all()
    ent = t["enterprises"].select("uscc", "founded_on")
    for name, col in (("financing_events", "occurred_on"), ("qualifications", "valid_from")):
        j = t[name].join(ent, on="uscc")
        assert (j[col] >= j["founded_on"]).all(), name


def test_classification_follows_days_past_due(region: Region) -> None:
    s = region.tables["loan_statuses"]
    bad = s.filter(pl.col("classification").is_in(sorted(NON_PERFORMING)))
    assert (bad["days_past_due"] >= 90).all()
    assert (s.filter(pl.col("days_past_due") == 0)["classification"] == "normal").all()


def test_defaults_rank_by_true_pd() -> None:
    """Observed default (any 90+ dpd status) against the hidden true PD, per borrowing firm."""
    r = generate(20000, 3)
    t = r.tables
    bad = t["loan_statuses"].filter(pl.col("classification").is_in(sorted(NON_PERFORMING)))
    firms = (
        t["loans"]
        .select("uscc", pl.col("contract_no").is_in(bad["contract_no"].implode()).alias("d"))
        .group_by("uscc")
        .agg(pl.col("d").any())
        .join(t["synth_truth"], on="uscc")
    )
    assert _auc(firms["pd_annual"].to_numpy(), firms["d"].to_numpy()) > 0.7
    assert 0.005 < firms["d"].mean() < 0.08


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(score)) + 1
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@given(firms=st.integers(1, 60), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_tiny_regions_are_well_formed(firms: int, seed: int) -> None:
    r = generate(firms, seed)
    assert r.tables["enterprises"].height == firms
    assert r.tables["synth_truth"].height == firms
    assert r.tables["institutions"].height == 15
    assert r.tables["loans"]["uscc"].is_in(r.tables["enterprises"]["uscc"].implode()).all()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        generate(0, 1)
    with pytest.raises(ValueError):
        generate(10, 1, as_of=dt.date(2026, 6, 30), years=0)


#: SHA-256 (first 16 hex digits) of each table's CSV for generate(3000, 11), recorded before the
#: history was added; loans and statuses restricted to the window and sorted by primary key.
WINDOW_HASHES = {
    "annual_indicators": "f2face1f048b3ac9",
    "enterprises": "1fd46f5849e35b13",
    "financing_events": "a53a92e12f0aafa7",
    "institutions": "a7f0ef0a5760aa35",
    "loan_statuses": "6a58ddf950aa13d7",
    "loans": "a947f43b8ed6fdd7",
    "policy_applications": "bd4de8656e7a3c84",
    "policy_payments": "5d33f99c2415496f",
    "policy_programmes": "a2b4220c19a5d99f",
    "products": "e01513190a6b4059",
    "qualifications": "2bb1c215fb3d8c5d",
    "synth_effects": "56e71e6f8ad4bc27",
    "synth_runs": "754e2a2a7cef4080",
    "synth_truth": "576dd65db859b44d",
}


def _window_start() -> dt.date:
    k = AS_OF.year * 12 + AS_OF.month - WINDOW_MONTHS
    return dt.date(k // 12, k % 12 + 1, 1)


def test_the_history_leaves_every_draw_of_the_window_as_it_was() -> None:
    """The history comes from its own stream: firms, the window's loans, their statuses and
    outcomes are bit for bit those of the region generated before the history existed."""
    t = generate(3000, 11).tables
    first = _window_start()
    window = t["loan_statuses"].filter(pl.col("month") >= first)
    current = window["contract_no"].unique().implode()
    got = {}
    for name, df in t.items():
        if name == "data_pulls":  # its row counts include the history's rows
            continue
        if name == "loans":
            df = df.filter(pl.col("contract_no").is_in(current)).sort("contract_no")
        if name == "loan_statuses":
            df = window.sort("contract_no", "month")
        got[name] = hashlib.sha256(df.write_csv().encode()).hexdigest()[:16]
    assert got == WINDOW_HASHES
    assert t["loans"].height > t["loans"].filter(pl.col("contract_no").is_in(current)).height


def test_every_loan_has_its_status_in_every_month_of_the_history(region: Region) -> None:
    """A loan outstanding in a month of the 24 has that month's row: the window's loans from
    their disbursement (or the history's start), the matured ones until maturity; the history is
    performing and in primary-key order."""
    t = region.tables
    first = _window_start()
    hist_first = dt.date(first.year - 1, first.month, 1)
    st_ = t["loan_statuses"]
    assert st_.select("contract_no", "month").rows() == sorted(
        st_.select("contract_no", "month").rows()
    )
    assert t["loans"]["contract_no"].to_list() == sorted(t["loans"]["contract_no"].to_list())
    hist = st_.filter(pl.col("month") < first)
    assert hist.height > 0 and (hist["days_past_due"] == 0).all()
    span = (
        st_.group_by("contract_no")
        .agg(pl.col("month").min().alias("lo"), pl.col("month").max().alias("hi"), pl.len())
        .join(t["loans"].select("contract_no", "disbursed_on", "maturity_on"), on="contract_no")
    )
    assert span.height == t["loans"].height  # every loan has status rows
    months = (pl.col("hi").dt.year() - pl.col("lo").dt.year()) * 12 + (
        pl.col("hi").dt.month().cast(pl.Int64) - pl.col("lo").dt.month().cast(pl.Int64)
    )
    assert (span["len"] == span.select(months + 1).to_series()).all()  # no month missing
    want_lo = pl.max_horizontal(pl.col("disbursed_on").dt.month_start(), pl.lit(hist_first))
    assert (span.select(pl.col("lo") == want_lo).to_series()).all()
    matured = span.filter(pl.col("hi") < first)
    assert matured.height > 0
    assert (matured["hi"] == matured["maturity_on"].dt.month_start().dt.offset_by("-1mo")).all()
