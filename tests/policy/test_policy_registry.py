"""The library over the registry: entity frames, matches, trace, simulation and the CLI."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import Engine
from typer.testing import CliRunner

from kejin.cli import app
from kejin.errors import KejinError
from kejin.policy import library
from kejin.policy.entities import registry_frames
from kejin.policy.simulate import evaluate_all, matches, simulate

runner = CliRunner()


def test_loan_years_from_monthly_statuses(engine: Engine, policy_registry: dict[str, str]) -> None:
    ly = registry_frames(engine)["loan_year"]
    h = ly.filter(pl.col("contract_no") == "L-H1").sort("year")
    assert h["year"].to_list() == [2023, 2024, 2025]
    assert h["interest"].to_list() == [240000.0] * 3  # 6,000,000 × 4% over 12 months
    assert h["first_subsidy_year"].to_list() == [2023, 2024, 2025]  # never paid: its own year
    assert h["hnte"].all() and h["partner_bank"].all() and h["digital_transformation"].all()
    i = ly.filter(pl.col("contract_no") == "L-I1")
    assert i["ip_pledge"].to_list() == [True]
    assert i["average_balance"].to_list() == [3_000_000.0]


def test_matches_apply_stacking_over_the_registry(
    engine: Engine, policy_registry: dict[str, str]
) -> None:
    frames = registry_frames(engine, policy_registry["hnte"])
    out = matches(library.all_policies(), frames)["matches"]
    by = {(m["policy"], m.get("entity")): m for m in out}
    # 2025 interest 240,000: Karamay 20% = 48,000 beats Ji'an digital 0.5% × 6M = 30,000.
    assert by[("karamay_interest", "L-H1/2025")]["amount"] == Decimal("48000.00")
    assert by[("karamay_interest", "L-H1/2025")]["status"] == "eligible"
    digital = by[("jian_digital", "L-H1/2025")]
    assert (digital["status"], digital["set_aside_by"]) == ("set_aside", "karamay_interest")
    inv = next(m for m in out if m["policy"] == "karamay_investment")
    assert inv["amount"] == Decimal("200000.00")
    assert by[("tech_insurance", "insurance_policy")]["status"] == "needs_data"


def test_simulation_reform_raises_cost(
    engine: Engine, policy_registry: dict[str, str], tmp_path: Path
) -> None:
    frames = registry_frames(engine)
    p = library.get("karamay_interest")
    sim = simulate(p, frames["loan_year"], frames["firm"], {"rate_small": 0.25}, year=2025)
    assert sim.totals["baseline_cost"] == 48000.0
    assert sim.totals["reform_cost"] == 60000.0
    assert sim.totals["reform_beneficiaries"] == 1
    chain = sim.by["industry_chain"].row(0, named=True)
    assert (chain["industry_chain"], chain["cost_delta"]) == ("information", 12000.0)


def test_evaluate_all_keeps_one_payment_per_cost_item(
    engine: Engine, policy_registry: dict[str, str]
) -> None:
    _, stacked = evaluate_all(library.all_policies(), registry_frames(engine), year=2025)
    kept = stacked.filter("kept")
    assert kept.select(pl.struct("firm", "cost_item").is_unique().all()).item()
    assert stacked.filter(~pl.col("kept")).height >= 1


def _run(*args: str) -> object:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output + str(res.exception)
    return res


def test_cli_eval_with_chinese_headers_and_missing_column(
    cli_registry: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "统一社会信用代码,投资编号,融资类型,融资日期,投资额,科技型企业\n"
        'A,I1,angel,2024-05-01,"80,000,000",是\n'
        "B,I2,pe,2024-05-01,1000000,是\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    _run("policy", "eval", "karamay_investment", "--input", str(src), "--out", str(out))
    res = pl.read_csv(out)
    assert res["amount"].to_list() == [500000.0, 0.0]
    assert res["eligible"].to_list() == [True, False]
    assert "天使投资" in res["reason_zh"][1]
    bad = tmp_path / "bad.csv"
    bad.write_text("统一社会信用代码,投资编号\nA,I1\n", encoding="utf-8")
    r = runner.invoke(
        app, ["policy", "eval", "karamay_investment", "--input", str(bad), "--out", str(out)]
    )
    assert isinstance(r.exception, KejinError)
    assert "investment_amount" in str(r.exception) and "bad.csv" in str(r.exception)


def test_cli_eval_reads_financing_kinds_as_the_import_does(
    cli_registry: dict[str, str], tmp_path: Path
) -> None:
    """创业投资 / 天使投资 / VC are what `kejin import financing` accepts: they pay, and an unknown
    kind is refused with its spreadsheet row and field instead of "不符合, 0.00"."""
    src = tmp_path / "in.csv"
    head = "统一社会信用代码,投资编号,融资类型,融资日期,投资额,科技型企业\n"
    rows = [
        "A,I1,创业投资,2024-05-01,10000000,是",
        "A,I2,天使投资,2024-05-01,10000000,是",
        "A,I3,VC,2024-05-01,10000000,是",
    ]
    src.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    _run("policy", "eval", "karamay_investment", "--input", str(src), "--out", str(out))
    res = pl.read_csv(out)
    assert res["kind"].to_list() == ["vc", "angel", "vc"]
    assert res["amount"].to_list() == [100000.0] * 3
    src.write_text(head + "\n".join([*rows, "A,I4,风投,2024-05-01,10000000,是"]) + "\n")
    r = runner.invoke(
        app, ["policy", "eval", "karamay_investment", "--input", str(src), "--out", str(out)]
    )
    assert isinstance(r.exception, KejinError)
    [pr] = r.exception.problems
    assert (pr.file, pr.row, pr.field, pr.value) == (str(src), 5, "kind", "风投")
    assert "融资类型" in pr.reason_zh and "financing kind" in pr.reason_en


def test_cli_xlsx_round_trip_and_bad_value_row(
    cli_registry: dict[str, str], tmp_path: Path
) -> None:
    from kejin.policy.files import write_xlsx

    src = tmp_path / "in.xlsx"
    frame = pl.DataFrame(
        {
            "uscc": ["A", "B"],
            "policy_no": ["P1", "P2"],
            "year": ["2025", "2025"],
            "premium": ["100000", "x"],
            "tech_insurance": ["是", "否"],
        }
    )
    write_xlsx(frame, src)
    r = runner.invoke(
        app,
        [
            "policy",
            "eval",
            "tech_insurance",
            "--input",
            str(src),
            "--out",
            str(tmp_path / "o.xlsx"),
        ],
    )
    assert isinstance(r.exception, KejinError)
    err = r.exception
    assert (err.problems[0].row, err.problems[0].field, err.problems[0].value) == (
        3,
        "premium",
        "x",
    )
    write_xlsx(frame.with_columns(pl.lit("600000").alias("premium")), src)
    _run("policy", "eval", "tech_insurance", "--input", str(src), "--out", str(tmp_path / "o.xlsx"))
    from openpyxl import load_workbook

    ws = load_workbook(tmp_path / "o.xlsx").active
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("amount") + 1).value == 300000.0


DEMO = ("--who", "dg", "--checker", "dr")


def _people(engine: Engine, registry: dict[str, str]) -> None:
    from tests.people import add_people

    add_people(
        engine,
        ("ann", "gov_admin", None, None),
        ("ben", "gov_reviewer", None, None),
        ("cai", "gov_admin", None, None),
        ("dg", "gov_admin", None, None),
        ("dr", "gov_reviewer", None, None),
        ("firm", "enterprise_user", None, registry["hnte"]),
        ("firmp", "enterprise_user", None, registry["plain"]),
    )


def test_cli_workflow_end_to_end(cli_registry: dict[str, str], sqlite_engine: Engine) -> None:
    """create → publish (other officer) → apply from the registry → review → approve → pay twice,
    each step as a platform user; the demo as two officers."""
    _people(sqlite_engine, cli_registry)
    _run(
        "policy",
        "create",
        "karamay_interest",
        "--year",
        "2025",
        "--budget",
        "50000",
        "--by",
        "ann",
        "--json",
    )
    r = runner.invoke(
        app, ["policy", "publish", "karamay_interest-2025", "--by", "ann", "--as-of", "2025-12-31"]
    )
    assert isinstance(r.exception, KejinError) and "maker-checker" in str(r.exception)
    _run("policy", "publish", "karamay_interest-2025", "--by", "ben", "--as-of", "2025-12-31")
    (app_row,) = json.loads(
        _run(
            "policy",
            "apply",
            "karamay_interest-2025",
            "--uscc",
            cli_registry["hnte"],
            "--by",
            "firm",
            "--json",
        ).stdout
    )
    assert (app_row["entity"], app_row["claimed"]) == ("L-H1/2025", "48000.00")
    r = runner.invoke(
        app,
        [
            "policy",
            "apply",
            "karamay_interest-2025",
            "--uscc",
            cli_registry["plain"],
            "--by",
            "firmp",
        ],
    )
    assert isinstance(r.exception, KejinError)
    _run("policy", "review", str(app_row["id"]), "--by", "ann")
    (approved,) = json.loads(
        _run("policy", "approve", "karamay_interest-2025", "--by", "ben", "--json").stdout
    )
    assert approved["approved_amount"] == "48000.00"
    p1 = json.loads(
        _run("policy", "pay", str(app_row["id"]), "--key", "k-1", "--by", "cai", "--json").stdout
    )
    p2 = json.loads(
        _run("policy", "pay", str(app_row["id"]), "--key", "k-1", "--by", "cai", "--json").stdout
    )
    assert p1["payment"] == p2["payment"]
    r = runner.invoke(app, ["policy", "pay", str(app_row["id"]), "--key", "k-2", "--by", "cai"])
    assert isinstance(r.exception, KejinError)
    status = json.loads(_run("policy", "status", "karamay_interest-2025", "--json").stdout)
    assert (status["paid"], status["remaining"]) == ("48000.00", "2000.00")
    assert (
        json.loads(
            _run(
                "policy", "correct", "karamay_interest-2025", "--as-of", "2026-01-01", "--json"
            ).stdout
        )[0]["delta"]
        == "0.00"
    )


def test_cli_trace_matches_notify_simulate(cli_registry: dict[str, str], tmp_path: Path) -> None:
    r = _run("policy", "trace", "karamay_interest", "--entity", "L-H1/2025", "--json")
    (item,) = json.loads(r.stdout)
    steps = {s["name"]: s for s in item["steps"]}
    # Never paid by the platform: 2025 is its own first subsidised year.
    assert steps["within_period"]["outcome"] == "pass" and steps["subsidy_year_no"]["value"] == 1
    params = {p["name"]: p for p in item["parameters"]}
    assert (params["rate_small"]["reading"], params["max_years"]["reading"]) == (False, True)
    assert "备选" in params["max_years"]["description"]
    assert (item["rounding"], item["rounding_zh"]) == ("half_up", "四舍五入到分（每笔支付）")
    rate = params["rate_small"]
    assert (rate["value"], rate["in_force_from"], rate["article"]) == (
        "0.2",
        "2022-08-15",
        "三(二)8",
    )
    r = _run("policy", "matches", "--uscc", cli_registry["hnte"], "--json")
    assert any(
        m["policy"] == "karamay_investment" and m["amount"] == "200000.00"
        for m in json.loads(r.stdout)["matches"]
    )
    # the terminal table names the policy that pays instead, and says statuses in words
    wide = runner.invoke(
        app, ["policy", "matches", "--uscc", cli_registry["hnte"]], env={"COLUMNS": "400"}
    )
    assert wide.exit_code == 0, wide.output
    assert (
        "由「克拉玛依科技信贷融资贴息」支付" in wide.stdout and "不予叠加 set aside" in wide.stdout
    )
    assert "karamay_interest" not in wide.stdout and " set_aside " not in wide.stdout
    _run("policy", "notify", "karamay_interest", "--out", str(tmp_path / "n.xlsx"))
    assert (tmp_path / "n.xlsx").exists()
    r = _run(
        "policy",
        "simulate",
        "karamay_interest",
        "--set",
        "rate_small=0.25",
        "--year",
        "2025",
        "--out",
        str(tmp_path),
        "--json",
    )
    sim = json.loads(r.stdout)
    assert (sim["baseline_cost"], sim["reform_cost"]) == ("48000.00", "60000.00")  # exact text
    assert Path(sim["chart"]).exists()


def test_cli_list_and_demo(cli_registry: dict[str, str], sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    _people(sqlite_engine, cli_registry)
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from kejin.policy.tables import Application, Programme

    items = json.loads(_run("policy", "list", "--json").stdout)
    assert [i["id"] for i in items][:2] == ["karamay_interest", "karamay_investment"]
    ki = items[0]
    assert ki["parameters"]["rate_small"]["reference"].endswith("三(二)8")
    assert any(i["zh"] == "单户授信" for i in ki["inputs"])
    out = _run("policy", "demo", *DEMO).stdout
    # Every programme the demo publishes has firms that qualify (and so applications); a
    # policy nobody qualifies for is listed as not created, not published with a token budget.
    with Session(sqlite_engine) as s:
        progs = list(s.scalars(select(Programme)))
        apps_of = dict(
            s.execute(
                select(Application.programme_id, func.count()).group_by(Application.programme_id)
            ).all()
        )
    assert progs and all(apps_of.get(p.id, 0) > 0 and p.budget > 1 for p in progs)
    assert "not created" not in out
    status = json.loads(_run("policy", "status", "karamay_interest-2025", "--json").stdout)
    assert (status["state"], status["made_by"], status["approved_by"]) == (
        "published",
        "dg",
        "dr",
    )
    assert Decimal(status["budget"]) >= Decimal("48000")
    # The demo walks its largest eligible applications through the workflow: whatever was
    # approved was paid (up to three), the rest wait in the states the web pages act on.
    apps = status["applications"]
    assert apps and {a["state"] for a in apps} <= {"applied", "approved", "paid", "rejected"}
    paid = [a for a in apps if a["state"] == "paid"]
    assert 1 <= len(paid) <= 3
    assert Decimal(status["paid"]) == sum(Decimal(a["paid_total"]) for a in paid) > 0
    _run("policy", "demo", *DEMO)  # a second run leaves the published programmes as they are
    again = json.loads(_run("policy", "status", "karamay_interest-2025", "--json").stdout)
    assert len(again["applications"]) == len(apps)


def test_demo_publishes_no_programme_nobody_qualifies_for(
    cli_registry: dict[str, str], sqlite_engine
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from kejin.lending.tables import Product
    from kejin.policy.tables import Programme

    _people(sqlite_engine, cli_registry)
    with Session(sqlite_engine) as s, s.begin():  # no loan is a digital-transformation loan now
        s.execute(update(Product).values(name="科技贷"))
    _run("policy", "demo", *DEMO)
    with Session(sqlite_engine) as s:
        ids = set(s.scalars(select(Programme.id)))
    assert "karamay_interest-2025" in ids
    assert not any(i.startswith("jian_digital") for i in ids)


def test_cli_trace_from_a_file_for_a_policy_outside_the_registry(
    cli_registry: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "tax.csv"
    src.write_text(
        "投资机构,投资编号,被投企业统一社会信用代码,投资日期,投资额,纳税年度,应纳税所得额\n"
        "V1,T1,F1,2023-01-15,1000000,2025,300000\n"
        "V1,T1,F1,2023-01-15,1000000,2026,250000\n"
        "V1,T1,F1,2023-01-15,1000000,2027,400000\n",
        encoding="utf-8",
    )
    r = _run(
        "policy", "trace", "vc_tax_deduction", "--entity", "T1/2027", "--input", str(src), "--json"
    )
    (item,) = json.loads(r.stdout)
    steps = {s["name"]: s["value"] for s in item["steps"]}
    assert (steps["held_full_year"], steps["carry_forward"], item["amount"]) == (
        2025,
        "0.00",
        "150000.00",
    )
    r = runner.invoke(app, ["policy", "trace", "vc_tax_deduction", "--entity", "T1/2027"])
    assert isinstance(r.exception, KejinError) and "--input" in str(r.exception)
