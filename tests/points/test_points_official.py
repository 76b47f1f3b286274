"""Official evaluations: every band boundary (lower bounds inclusive), gates, direct routes, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.points.official import innovative_sme, tsme
from kejin.points.official.batch import evaluate_file, evaluate_frame

USCC = "91350100M000100Y43"
Y = 100  # fen per yuan

TSME_BASE = dict(
    uscc=USCC,
    staff=100,
    tech_staff=30,
    sales_revenue=10_000_000 * Y,
    total_assets=5_000_000 * Y,
    rd_expense=600_000 * Y,
    total_cost=9_000_000 * Y,
    ip_class1=1,
    ip_class2=0,
    resident=True,
    prohibited_product=False,
    major_incident=False,
    abnormal_or_dishonest=False,
    high_tech_cert_valid=False,
    national_award_top3_5y=False,
    provincial_rd_institution=False,
    led_standard_5y=False,
)


def tsme_row(**kw: object) -> dict:
    df = pl.DataFrame([TSME_BASE | kw | {"row": 2}])
    return evaluate_frame("tsme", df).row(0, named=True)


@pytest.mark.parametrize(
    ("tech", "points"),
    [
        (30, 20),
        (29, 16),
        (25, 16),
        (24, 12),
        (20, 12),
        (19, 8),
        (15, 8),
        (14, 4),
        (10, 4),
        (9, 0),
        (0, 0),
    ],
)
def test_tsme_staff_bands_lower_bound_inclusive(tech: int, points: int) -> None:
    assert tsme_row(tech_staff=tech)["staff_points"] == points


def test_tsme_staff_band_just_below_30_percent_is_16() -> None:
    # 299/1000 = 29.9% < 30% (lower bound inclusive, upper exclusive)
    assert tsme_row(staff=1000, tech_staff=299)["staff_points"] == 16
    assert tsme_row(staff=1000, tech_staff=300)["staff_points"] == 20


@pytest.mark.parametrize(
    ("pct100", "points"),  # R&D / sales in hundredths of a percent, sales = 10M
    [
        (600, 50),
        (599, 40),
        (500, 40),
        (499, 30),
        (400, 30),
        (399, 20),
        (300, 20),
        (299, 10),
        (200, 10),
        (199, 0),
    ],
)
def test_tsme_rd_sales_bands(pct100: int, points: int) -> None:
    rd = 10_000_000 * Y * pct100 // 10_000
    r = tsme_row(rd_expense=rd, total_cost=10**12)  # cost basis negligible
    assert (r["rd_points"], r["rd_basis"]) == (points, "sales")


@pytest.mark.parametrize(
    ("pct", "points"),
    [
        (30, 50),
        (29, 40),
        (25, 40),
        (24, 30),
        (20, 30),
        (19, 20),
        (15, 20),
        (14, 10),
        (10, 10),
        (9, 0),
    ],
)
def test_tsme_rd_cost_bands(pct: int, points: int) -> None:
    cost = 1_000_000 * Y
    r = tsme_row(rd_expense=cost * pct // 100, total_cost=cost, sales_revenue=10**13)
    assert r["rd_points"] == points
    if points:
        assert r["rd_basis"] == "cost"


def test_tsme_rd_takes_the_better_basis_and_exact_boundary_in_fen() -> None:
    # 6% of 10,000,000.01 yuan is 600,000.0006: 600,000.00 is just below -> 40 by sales
    r = tsme_row(sales_revenue=1_000_000_001, rd_expense=60_000_000, total_cost=10**13)
    assert r["rd_points"] == 40
    r = tsme_row(sales_revenue=10**13, rd_expense=300, total_cost=1000)  # 30% of cost
    assert (r["rd_points"], r["rd_basis"]) == (50, "cost")


@pytest.mark.parametrize(
    ("c1", "c2", "points"),
    [(1, 0, 30), (2, 9, 30), (0, 4, 24), (0, 9, 24), (0, 3, 18), (0, 2, 12), (0, 1, 6), (0, 0, 0)],
)
def test_tsme_ip_bands(c1: int, c2: int, points: int) -> None:
    assert tsme_row(ip_class1=c1, ip_class2=c2)["ip_points"] == points


def test_tsme_pass_at_60_but_not_59_or_zero_staff_points() -> None:
    # staff 4 (10%) + rd 50 (6%) + ip 6 (1 class II) = 60 -> pass
    r = tsme_row(tech_staff=10, ip_class1=0, ip_class2=1)
    assert (r["total"], r["passed"], r["route"]) == (60, True, "score")
    r = tsme_row(tech_staff=10, ip_class1=0, ip_class2=1, rd_expense=599_999 * Y)
    assert (r["total"], r["passed"]) == (50, False)
    r = tsme_row(tech_staff=9)  # 0 + 50 + 30 = 80, but staff points are 0
    assert (r["total"], r["passed"]) == (80, False)
    assert "科技人员指标得分为0" in r["reason_zh"]


@pytest.mark.parametrize(
    ("field", "value", "gate"),
    [
        ("resident", False, "resident"),
        ("staff", 501, "staff"),
        ("sales_revenue", 200_000_000 * Y + 1, "sales_revenue"),
        ("total_assets", 200_000_000 * Y + 1, "total_assets"),
        ("prohibited_product", True, "prohibited_product"),
        ("major_incident", True, "major_incident"),
        ("abnormal_or_dishonest", True, "abnormal_or_dishonest"),
    ],
)
def test_tsme_gates_fail_even_with_direct_route(field: str, value: object, gate: str) -> None:
    r = tsme_row(**{field: value, "high_tech_cert_valid": True})
    assert (r["passed"], r["route"]) == (False, f"gate:{gate}")
    assert "第六条" in r["reason_zh"]


def test_tsme_gate_limits_are_inclusive() -> None:
    r = tsme_row(
        staff=500,
        tech_staff=150,
        sales_revenue=200_000_000 * Y,
        total_assets=200_000_000 * Y,
        rd_expense=12_000_000 * Y,
    )
    assert (r["passed"], r["route"]) == (True, "score")


@pytest.mark.parametrize(
    "cond",
    [
        "high_tech_cert_valid",
        "national_award_top3_5y",
        "provincial_rd_institution",
        "led_standard_5y",
    ],
)
def test_tsme_direct_routes(cond: str) -> None:
    r = tsme_row(tech_staff=0, rd_expense=0, ip_class1=0, **{cond: True})
    assert (r["total"], r["passed"], r["route"]) == (0, True, f"direct:{cond}")
    assert "第七条" in r["reason_zh"]


INNO_BASE = dict(
    uscc=USCC,
    domestic_legal_person=True,
    sme_size=True,
    prohibited_product=False,
    major_incident_3y=False,
    abnormal_or_dishonest=False,
    ip_class1_high_value=0,
    ip_class1_self_developed=0,
    ip_class1=1,
    ip_class2=0,
    rd_expense=1_000_000 * Y,
    operating_revenue=10_000_000 * Y,
    main_revenue=8_000_000 * Y,
    main_revenue_prior=7_000_000 * Y,
    total_assets=10_000_000 * Y,
    total_liabilities=5_000_000 * Y,
    strategic_emerging=True,
    award_3y=False,
    valid_honour=False,
    provincial_rd_institution=False,
    equity_financing_3y=0,
)


def inno_row(**kw: object) -> dict:
    df = pl.DataFrame([INNO_BASE | kw | {"row": 2}])
    return evaluate_frame("innovative-sme", df).row(0, named=True)


@pytest.mark.parametrize(
    ("hv", "sd", "c1", "c2", "points"),
    [(1, 1, 1, 0, 20), (0, 1, 1, 0, 15), (0, 0, 1, 0, 10), (0, 0, 0, 1, 5), (0, 0, 0, 0, 0)],
)
def test_inno_ip_bands(hv: int, sd: int, c1: int, c2: int, points: int) -> None:
    assert (
        inno_row(ip_class1_high_value=hv, ip_class1_self_developed=sd, ip_class1=c1, ip_class2=c2)[
            "ip_points"
        ]
        == points
    )


@pytest.mark.parametrize(
    ("wan", "points"),  # R&D amount in 万元 with a huge revenue so the share band is 0
    [
        (500, 20),
        (499.99, 15),
        (400, 15),
        (399.99, 10),
        (300, 10),
        (299.99, 5),
        (200, 5),
        (199.99, 0),
    ],
)
def test_inno_rd_amount_bands(wan: float, points: int) -> None:
    rd = round(wan * 10_000 * Y)
    r = inno_row(
        rd_expense=rd,
        operating_revenue=10**14,
        main_revenue=7 * 10**13,
        main_revenue_prior=7 * 10**13,
    )
    assert (r["rd_points"], r["rd_basis"]) == (points, "amount")


@pytest.mark.parametrize(
    ("pct", "points"),
    [(10, 20), (9.99, 15), (8, 15), (7.99, 10), (6, 10), (5.99, 5), (3, 5), (2.99, 0)],
)
def test_inno_rd_share_bands(pct: float, points: int) -> None:
    revenue = 10_000_000 * Y  # 1000万; amounts stay below 200万 up to 10% -> 100万
    r = inno_row(rd_expense=round(revenue * pct / 100), operating_revenue=revenue)
    assert r["rd_points"] == points
    if points > 0:  # the amount (≤ 100万) scores 0: the share is the basis
        assert r["rd_basis"] == "ratio"


@pytest.mark.parametrize(
    ("cur", "points"),  # prior = 10000 (fen) so cur/prior is exact
    [
        (11500, 20),
        (11499, 15),
        (11000, 15),
        (10999, 10),
        (10500, 10),
        (10499, 5),
        (10000, 5),
        (9999, 0),
    ],
)
def test_inno_growth_bands(cur: int, points: int) -> None:
    r = inno_row(main_revenue=cur, main_revenue_prior=10000, operating_revenue=cur)
    assert r["growth_points"] == points


def test_inno_growth_from_zero_prior() -> None:
    assert inno_row(main_revenue=100, main_revenue_prior=0)["growth_points"] == 20
    assert inno_row(main_revenue=0, main_revenue_prior=0)["growth_points"] == 5


@pytest.mark.parametrize(
    ("liab", "points"), [(5499, 10), (5500, 5), (7499, 5), (7500, 0), (9000, 0)]
)
def test_inno_debt_ratio_bands(liab: int, points: int) -> None:
    assert inno_row(total_liabilities=liab, total_assets=10000)["debt_points"] == points


@pytest.mark.parametrize(
    ("main", "points"),
    [(7000, 20), (6999, 15), (6000, 15), (5999, 10), (5500, 10), (5499, 5), (5000, 5), (4999, 0)],
)
def test_inno_main_share_bands(main: int, points: int) -> None:
    r = inno_row(main_revenue=main, operating_revenue=10000, main_revenue_prior=main)
    assert r["main_share_points"] == points


def test_inno_field_points() -> None:
    assert inno_row(strategic_emerging=True)["field_points"] == 10
    assert inno_row(strategic_emerging=False)["field_points"] == 5


def test_inno_pass_needs_total_and_each_subtotal() -> None:
    r = inno_row()  # ip 10 + rd 10(10%... 1M/10M=10% -> 20) ; see assertion
    assert r["innovation_subtotal"] == 30 and r["passed"]
    # growth subtotal 14 < 15 although total >= 60: negative growth (0) + debt 10 -> 10
    r = inno_row(
        main_revenue=6_900_000 * Y, main_revenue_prior=7_000_000 * Y, ip_class1_high_value=1
    )
    assert r["growth_subtotal"] == 10 and r["total"] >= 60 and not r["passed"]
    assert "成长性低于15" in r["reason_zh"]


def test_inno_pass_mark_is_60_inclusive_and_55_fails() -> None:
    """附件1 二: 总分60分以上. Every indicator scores in steps of 5, so the total just below 60 is
    55 (no 59 exists); both rows meet every subtotal minimum, so only the pass mark decides."""
    base = dict(
        ip_class1=1,  # 10
        rd_expense=3_000_000 * Y,  # 300万: amount band 10 (share 3% → 5)
        operating_revenue=100_000_000 * Y,
        main_revenue=55_000_000 * Y,  # 55% of revenue → 10
        main_revenue_prior=52_000_000 * Y,  # growth 5.8% → 10
        total_liabilities=5_000_000 * Y,  # 50% debt ratio → 10
        total_assets=10_000_000 * Y,
    )
    r = inno_row(**base, strategic_emerging=True)  # field 10
    subtotals = (r["innovation_subtotal"], r["growth_subtotal"], r["specialisation_subtotal"])
    assert (subtotals, r["total"], r["passed"], r["route"]) == ((20, 20, 20), 60, True, "score")
    r = inno_row(**base, strategic_emerging=False)  # field 5
    subtotals = (r["innovation_subtotal"], r["growth_subtotal"], r["specialisation_subtotal"])
    assert (subtotals, r["total"], r["passed"]) == ((20, 20, 15), 55, False)
    assert r["reason_zh"].endswith("；总分低于60，不通过（附件1 二）")


def test_inno_subtotal_minimums_are_inclusive() -> None:
    """成长性 and 专业化 exactly at 15 (and 创新能力 above 20) with a total of 60 pass: the
    minimums are "不低于" (found by `make mutate`: `>=` → `>` survived)."""
    r = inno_row(
        ip_class1_high_value=1,  # 20
        rd_expense=3_000_000 * Y,  # 10 by amount
        operating_revenue=100_000_000 * Y,
        main_revenue=55_000_000 * Y,  # 55% → 10
        main_revenue_prior=55_000_000 * Y,  # growth 0% → 5
        total_liabilities=5_000_000 * Y,  # 50% → 10
        total_assets=10_000_000 * Y,
        strategic_emerging=False,  # 5
    )
    subtotals = (r["innovation_subtotal"], r["growth_subtotal"], r["specialisation_subtotal"])
    assert (subtotals, r["total"], r["passed"]) == ((30, 15, 15), 60, True)


@pytest.mark.parametrize("cond", ["award_3y", "valid_honour", "provincial_rd_institution"])
def test_inno_direct_routes(cond: str) -> None:
    r = inno_row(ip_class1=0, rd_expense=0, **{cond: True})
    assert (r["passed"], r["route"]) == (True, f"direct:{cond}")


def test_inno_equity_direct_route_at_5m_inclusive() -> None:
    weak = dict(ip_class1=0, rd_expense=0)
    assert (
        inno_row(equity_financing_3y=5_000_000 * Y, **weak)["route"] == "direct:equity_financing_3y"
    )
    r = inno_row(equity_financing_3y=5_000_000 * Y - 1, **weak)
    assert (r["route"], r["passed"]) == ("score", False)


@pytest.mark.parametrize("gate", ["sme_size", "domestic_legal_person"])
def test_inno_gates(gate: str) -> None:
    r = inno_row(**{gate: False, "award_3y": True})
    assert (r["passed"], r["route"]) == (False, f"gate:{gate}")


# ---------------------------------------------------------------- files and bad input

HEAD = [c.zh for c in tsme.COLUMNS]
GOOD = [
    USCC,
    "100",
    "30",
    "10000000",
    "5000000",
    "600000",
    "9000000",
    "1",
    "0",
    "是",
    "否",
    "否",
    "否",
    "false",
    "否",
    "否",
    "否",
]


def write_csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def test_file_round_trip_csv_with_chinese_headers_and_exact_output_columns(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", HEAD, GOOD)
    out = tmp_path / "out.csv"
    summary = evaluate_file("tsme", src, out)
    assert summary["passed"] == 1
    df = pl.read_csv(out)
    assert df.columns == [c.id for c in tsme.COLUMNS] + list(tsme.OUTPUT_COLUMNS)
    assert df["total"][0] == 100 and df["route"][0] == "score"


def test_file_round_trip_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    wb.active.append([c.id for c in tsme.COLUMNS])
    wb.active.append(GOOD)
    wb.save(tmp_path / "in.xlsx")
    evaluate_file("tsme", tmp_path / "in.xlsx", tmp_path / "out.xlsx")
    rows = list(load_workbook(tmp_path / "out.xlsx").active.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[-9:] == list(tsme.OUTPUT_COLUMNS)
    assert rows[1][header.index("total")] == 100


def test_missing_column_is_named(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", HEAD[:-1], GOOD[:-1])
    with pytest.raises(ValidationError) as e:
        evaluate_file("tsme", src, tmp_path / "out.csv")
    p = e.value.problems[0]
    assert (p.file, p.field) == (str(src), "led_standard_5y")
    assert not (tmp_path / "out.csv").exists()


def test_bad_boolean_negative_value_and_cross_field_reported_with_row(tmp_path: Path) -> None:
    bad_bool = list(GOOD)
    bad_bool[9] = "maybe"
    negative = list(GOOD)
    negative[5] = "-1"
    src = write_csv(tmp_path / "in.csv", HEAD, GOOD, bad_bool, negative)
    with pytest.raises(ValidationError) as e:
        evaluate_file("tsme", src, tmp_path / "out.csv")
    got = {(p.row, p.field, p.value) for p in e.value.problems}
    assert got == {(3, "resident", "maybe"), (4, "rd_expense", "-1")}
    assert not (tmp_path / "out.csv").exists()
    more_tech = list(GOOD)
    more_tech[2] = "101"
    src = write_csv(tmp_path / "in2.csv", HEAD, more_tech)
    with pytest.raises(ValidationError) as e:
        evaluate_file("tsme", src, tmp_path / "out.csv")
    assert [(p.row, p.field) for p in e.value.problems] == [(2, "tech_staff")]


def test_invalid_uscc_and_extra_decimals_refused(tmp_path: Path) -> None:
    row = list(GOOD)
    row[0] = "91350100M000100Y44"
    row[3] = "1.005"
    src = write_csv(tmp_path / "in.csv", HEAD, row)
    with pytest.raises(ValidationError) as e:
        evaluate_file("tsme", src, tmp_path / "out.csv")
    assert {p.field for p in e.value.problems} == {"uscc", "sales_revenue"}


def test_cli_official_prints_summary_and_errors_without_traceback(tmp_path: Path) -> None:
    from kejin.cli import _mount_areas, app

    _mount_areas()
    src = write_csv(
        tmp_path / "in.csv",
        [c.id for c in innovative_sme.COLUMNS],
        [
            USCC,
            "是",
            "是",
            "否",
            "否",
            "否",
            "0",
            "0",
            "1",
            "0",
            "100000",
            "1000000",
            "800000",
            "700000",
            "1000000",
            "500000",
            "是",
            "否",
            "否",
            "否",
            "0",
        ],
    )
    res = CliRunner().invoke(
        app,
        [
            "points",
            "official",
            "--scheme",
            "innovative-sme",
            "--input",
            str(src),
            "--out",
            str(tmp_path / "o.csv"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert '"passed": 1' in res.output
    df = pl.read_csv(tmp_path / "o.csv")
    assert df.columns[-len(innovative_sme.OUTPUT_COLUMNS) :] == list(innovative_sme.OUTPUT_COLUMNS)
