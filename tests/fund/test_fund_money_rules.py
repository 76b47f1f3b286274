"""Money rules as a policy officer reads them (issue #17): each case computed by hand from the
scheme text and written as a business table (see test_fund_scenarios for the columns)."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml
from fundkit import add_hnte_profitable, region_scheme, seed_loans
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, update
from test_fund_scenarios import run_table

from kejin.errors import ValidationError
from kejin.fund import money
from kejin.fund.ledger import ACC, BAL
from kejin.fund.scheme import SCHEMES_DIR, figures, library, load_scheme
from kejin.lending.tables import Institution, Loan

# Item 3 and the 90-day trigger: no per-loan cap in Zhengzhou's text, so an 8M pure-credit loan
# to a profitable high-tech firm pays 80% = 6,400,000 and the bank bears 1,600,000; the trigger
# holds at exactly 90 days past due and not at 89.
ZHENGZHOU_8M = """
| day        | actor    | step    | arg                               | expect                                     |
| 2026-01-02 | manager  | create  | zhengzhou                         | scheme=zhengzhou                           |
| 2026-01-02 | manager  | deposit | 7000000.00                        | balance=7000000.00                         |
| 2026-01-12 | bank     | enrol   | L00000                            | category=credit_hnte covered_amount=8000000.00 |
| 2026-05-31 | bank     | status  | L00000 8000000.00 89 special_mention | covered_balance=8000000.00              |
| 2026-06-01 | bank     | claim   | L00000                            | refused: trigger not reached               |
| 2026-06-30 | bank     | status  | L00000 8000000.00 90 special_mention | covered_balance=8000000.00              |
| 2026-07-01 | bank     | claim   | L00000                            | pool_amount=6400000.00 bank_share=1600000.00 loss_base=8000000.00 |
| 2026-07-01 | bank     | shares  |                                   | pool=6400000.00 B1=1600000.00 total=8000000.00 |
"""

# A region that sets a 5M per-loan cover in its own configuration: the pool pays 80% of 5M and
# the claim shows what the bank really bears, 8M − 4M.
ZHENGZHOU_REGION_CAP = """
| day        | actor    | step    | arg                               | expect                                     |
| 2026-01-02 | manager  | create  | region                            | scheme=zhengzhou                           |
| 2026-01-02 | manager  | deposit | 7000000.00                        | balance=7000000.00                         |
| 2026-01-12 | bank     | enrol   | L00000                            | covered_amount=5000000.00                  |
| 2026-05-31 | bank     | status  | L00000 8000000.00 120 substandard | covered_balance=5000000.00                 |
| 2026-06-01 | bank     | claim   | L00000                            | pool_amount=4000000.00 bank_share=4000000.00 loss_base=8000000.00 |
| 2026-06-01 | bank     | shares  |                                   | pool=4000000.00 B1=4000000.00 total=8000000.00 |
"""


def test_zhengzhou_has_no_cap_its_text_does_not_state(engine: Engine) -> None:
    seed_loans(engine, n=1, amount=Decimal("8000000.00"))
    add_hnte_profitable(engine, 0)
    run_table(engine, ZHENGZHOU_8M)


def test_a_regions_own_cap_leaves_the_bank_its_real_share(engine: Engine, tmp_path: Path) -> None:
    seed_loans(engine, n=1, amount=Decimal("8000000.00"))
    add_hnte_profitable(engine, 0)
    path = region_scheme(tmp_path, "zhengzhou", {"per_loan": "5000000"})
    run_table(engine, ZHENGZHOU_REGION_CAP, {"region": path})


# Item 2: Anhui pays guaranteed loans 20% to the government guarantor, which bears the other 80%.
ANHUI_GUARANTEED = """
| day        | actor     | step    | arg                              | expect                                  |
| 2026-01-02 | manager   | create  | anhui                            | scheme=anhui                            |
| 2026-01-02 | manager   | deposit | 5000000.00                       | balance=5000000.00                      |
| 2026-01-12 | bank      | enrol   | L00001                           | refused: names no guarantor             |
| 2026-01-12 | bank      | enrol   | L00000                           | category=guaranteed                     |
| 2026-05-31 | bank      | status  | L00000 1000000.00 120 substandard | covered_balance=1000000.00             |
| 2026-06-01 | bank      | claim   | L00000                           | pool_amount=200000.00 paid_to=G1 bank_share=0.00 |
| 2026-06-02 | reviewer  | review  |                                  | status=reviewed                         |
| 2026-06-03 | approver  | approve |                                  | status=approved                         |
| 2026-06-04 | treasurer | pay     |                                  | paid=200000.00                          |
| 2026-06-04 | treasurer | shares  |                                  | pool=200000.00 G1=800000.00 total=1000000.00 |
| 2026-07-01 | bank      | recover | 500000.00                        | to_pool=100000.00                       |
"""


def _guarantor(engine: Engine, contracts: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Institution),
            {"id": "G1", "name": "省担保集团", "kind": "guarantor", "region_code": "340100"},
        )
        conn.execute(
            update(Loan)
            .where(Loan.contract_no.in_(contracts))
            .values(guarantee_type="guarantee", guarantor_id="G1", guarantee_contract="DB-1")
        )
        conn.execute(
            update(Loan).where(Loan.contract_no == "L00001").values(guarantee_type="guarantee")
        )


def test_anhui_pays_a_guaranteed_loan_to_its_guarantor(engine: Engine) -> None:
    seed_loans(engine, n=2)
    _guarantor(engine, ["L00000"])
    run_table(engine, ANHUI_GUARANTEED)
    with engine.connect() as conn:
        got = dict(
            conn.execute(
                select(ACC.c.party, BAL.c.balance)
                .join(BAL, BAL.c.account_id == ACC.c.id)
                .where(ACC.c.purpose == "compensation")
            ).all()
        )
    assert got == {"G1": Decimal("200000.00")}  # the guarantor was paid, not the bank


# Item 4: Anhui's +5 points go to receivable and inventory pledges (and credit, IP pledges), not
# to an equity pledge; every pledge is a direct loan.
ANHUI_PLEDGES = """
| day        | actor    | step    | arg                              | expect                                  |
| 2026-01-02 | manager  | create  | anhui                            | scheme=anhui                            |
| 2026-01-02 | manager  | deposit | 5000000.00                       | balance=5000000.00                      |
| 2026-01-12 | bank     | enrol   | L00000                           | category=direct                         |
| 2026-01-12 | bank     | enrol   | L00001                           | category=direct                         |
| 2026-01-12 | bank     | enrol   | L00002                           | category=direct                         |
| 2026-05-31 | bank     | status  | L00000 1000000.00 120 substandard | covered_balance=1000000.00             |
| 2026-05-31 | bank     | status  | L00001 1000000.00 120 substandard | covered_balance=1000000.00             |
| 2026-05-31 | bank     | status  | L00002 1000000.00 120 substandard | covered_balance=1000000.00             |
| 2026-06-01 | bank     | claim   | L00000                           | pool_amount=350000.00 bank_share=650000.00 |
| 2026-06-01 | bank     | claim   | L00001                           | pool_amount=350000.00                   |
| 2026-06-01 | bank     | claim   | L00002                           | pool_amount=300000.00                   |
"""


def test_anhui_bonus_for_receivable_and_inventory_pledges(engine: Engine) -> None:
    seed_loans(engine, n=3)
    kinds = {"L00000": "receivables", "L00001": "inventory_pledge", "L00002": "equity_pledge"}
    with engine.begin() as conn:
        for c, k in kinds.items():
            conn.execute(update(Loan).where(Loan.contract_no == c).values(guarantee_type=k))
    run_table(engine, ANHUI_PLEDGES)


# Item 9: 35% of 2,456,315.65 is 859,710.4775: 四舍五入 pays 859,710.48 (rounding down paid .47);
# the bank bears the rest to the fen.
ANHUI_ROUNDING = """
| day        | actor    | step    | arg                              | expect                                  |
| 2026-01-02 | manager  | create  | anhui                            | scheme=anhui                            |
| 2026-01-02 | manager  | deposit | 5000000.00                       | balance=5000000.00                      |
| 2026-01-12 | bank     | enrol   | L00000                           | category=direct                         |
| 2026-05-31 | bank     | status  | L00000 2456315.65 120 substandard | covered_balance=2456315.65             |
| 2026-06-01 | bank     | claim   | L00000                           | pool_amount=859710.48 bank_share=1596605.17 |
"""


def test_shares_are_rounded_half_up_per_line(engine: Engine) -> None:
    seed_loans(engine, n=1, amount=Decimal("3000000.00"))
    run_table(engine, ANHUI_ROUNDING)


# Item 10: a scheme where the 80% cap on the government share binds (95% before the cap): the
# pool pays 80% rounded down to the fen, the bank bears the rest, the shares add up to the loss.
CAP_BINDS = """
| day        | actor    | step    | arg                              | expect                                  |
| 2026-01-02 | manager  | create  | capped                           | scheme=anhui                            |
| 2026-01-02 | manager  | deposit | 5000000.00                       | balance=5000000.00                      |
| 2026-01-12 | bank     | enrol   | L00000                           | category=direct                         |
| 2026-05-31 | bank     | status  | L00000 333333.33 120 substandard | covered_balance=333333.33               |
| 2026-06-01 | bank     | claim   | L00000                           | pool_amount=266666.66 bank_share=66666.67 |
| 2026-06-01 | bank     | shares  |                                  | pool=266666.66 B1=66666.67 total=333333.33 |
"""


def test_the_liability_cap_binds_and_the_bank_bears_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    seed_loans(engine, n=1)
    data = yaml.safe_load((SCHEMES_DIR / "anhui.yaml").read_text(encoding="utf-8"))
    direct = next(c for c in data["categories"] if c["id"] == "direct")
    direct["shares"] = {"pool": "0.90", "bank": "0.10"}
    path = tmp_path / "capped.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    run_table(engine, CAP_BINDS, {"capped": str(path)})


# ---------------------------------------------------------------- exact arithmetic


RATES = st.lists(st.integers(1, 10_000), min_size=2, max_size=4).map(
    lambda ws: [Decimal(w) / Decimal(sum(ws)) for w in ws]
)


@given(
    st.integers(1, 10**13),
    st.lists(st.integers(0, 10_000), min_size=2, max_size=5),
    st.sampled_from(["half_up", "down"]),
)
def test_split_adds_up_and_each_line_is_the_decimal_rounding(
    fen: int, weights: list[int], mode: str
) -> None:
    total = Decimal(fen) / 100
    whole = sum(weights) or 1
    rates = {
        f"p{i}": (Decimal(w) / whole).quantize(Decimal("0.0001")) for i, w in enumerate(weights)
    }
    rates["rest"] = Decimal(1) - sum(rates.values())
    if rates["rest"] < 0:
        rates = {k: v for k, v in rates.items() if k != "rest"} | {"rest": Decimal(0)}
    out = money.split(total, rates, "rest", mode)  # type: ignore[arg-type]
    assert sum(out.values()) == total
    rule = ROUND_HALF_UP if mode == "half_up" else ROUND_DOWN
    for p, r in rates.items():
        if p != "rest":
            assert out[p] == (total * r).quantize(Decimal("0.01"), rounding=rule)


@given(st.integers(1, 10**12), st.integers(1, 99), st.integers(1, 99))
def test_a_capped_claim_adds_up_to_the_loss(fen: int, pool_pct: int, cap_pct: int) -> None:
    from kejin.fund.service import compute_claim

    s = load_scheme("anhui")
    cat = next(c for c in s.categories if c.id == "direct")
    cat = cat.model_copy(
        update={
            "bonuses": [],
            "shares": {"pool": Decimal(pool_pct) / 100, "bank": Decimal(100 - pool_pct) / 100},
        }
    )
    s = s.model_copy(
        update={
            "caps": s.caps.model_copy(update={"max_share_of_liability": Decimal(cap_pct) / 100})
        }
    )
    loss = Decimal(fen) / 100
    facts = {"guarantee_type": "mortgage", "first_time_borrower": False}
    _, amounts, _ = compute_claim(s, cat, facts, loss, loss, {"bank": "B"})
    assert sum(amounts.values()) == loss
    want = min(
        (loss * Decimal(pool_pct) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        (loss * Decimal(cap_pct) / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN),
    )
    assert amounts["pool"] == want and amounts["B"] == loss - want


# ---------------------------------------------------------------- every figure cited


@pytest.mark.parametrize("path", sorted(SCHEMES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_figure_of_every_scheme_file_is_cited(path: Path) -> None:
    s = load_scheme(str(path))
    for fig in figures(s):
        c = s.citation(fig)
        assert c["article"], (path.name, fig)
    # and no library scheme carries a per-loan or per-firm cap (no source states one)
    assert s.caps.per_loan is None and s.caps.per_firm is None


def test_a_figure_without_a_source_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((SCHEMES_DIR / "zhengzhou.yaml").read_text(encoding="utf-8"))
    data["caps"] = {"per_loan": "5000000"}
    bad = tmp_path / "z.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as ei:
        load_scheme(str(bad))
    assert "sources.caps.per_loan" in [p.field for p in ei.value.problems]
    assert {s.id for s in library()} == {"anhui", "zhengzhou", "pingshan", "jiangsu_suke"}


# ---------------------------------------------------------------- the loan import


@pytest.mark.parametrize(
    "head",
    [
        "合同编号,统一社会信用代码,机构编号,贷款金额,单户授信,年利率,放款日期,到期日期,担保方式,"
        "担保机构编号,担保合同编号",
        "contract number,uscc,institution id,amount,credit line,annual rate,disbursed on,maturity,"
        "guarantee type,guarantor id,guarantee contract",
    ],
    ids=["zh", "en"],
)
def test_a_loan_imports_its_guarantor_and_any_guarantee_label(
    engine: Engine, tmp_path: Path, head: str
) -> None:
    from fundkit import make_uscc

    from kejin.ingest.service import import_file

    seed_loans(engine, n=3)
    with engine.begin() as conn:
        conn.execute(
            insert(Institution),
            {"id": "G1", "name": "担保集团", "kind": "guarantor", "region_code": "320700"},
        )
    rows = [
        f"N1,{make_uscc(0)},B1,100.00,100.00,0.03,2026-01-01,2027-01-01,保证,G1,DB-7",
        f"N2,{make_uscc(1)},B1,100.00,100.00,0.03,2026-01-01,2027-01-01,存货质押,,",
        f"N3,{make_uscc(2)},B1,100.00,100.00,0.03,2026-01-01,2027-01-01,应收账款,,",
    ]
    f = tmp_path / "loans.csv"
    f.write_text(head + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    import_file(engine, "loans", f)
    with engine.connect() as conn:
        got = conn.execute(
            select(
                Loan.contract_no, Loan.guarantee_type, Loan.guarantor_id, Loan.guarantee_contract
            )
            .where(Loan.contract_no.like("N%"))
            .order_by(Loan.contract_no)
        ).all()
    assert [tuple(r) for r in got] == [
        ("N1", "guarantee", "G1", "DB-7"),
        ("N2", "inventory_pledge", None, None),
        ("N3", "receivables", None, None),
    ]
