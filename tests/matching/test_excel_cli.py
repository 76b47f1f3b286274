"""Excel round trip, surveys (every bad row named, nothing written), the CLI's --json, the matches."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from kejin import cli
from kejin.access.rules import ConsentRequired
from kejin.db import transaction
from kejin.errors import ValidationError
from kejin.lending.tables import Product
from kejin.matching import excel, products, query, service
from kejin.matching.tables import Need, ProductVersion

from .conftest import F1, F2, Market, ip_terms
from .test_lifecycle import GOOD


def _sheet(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_products_round_trip_through_excel(market: Market, tmp_path: Path) -> None:
    m = market
    formula_like = '=HYPERLINK("http://x","y")'
    with transaction(m.engine) as s:
        v = products.draft(s, m.who("bank"), ip_terms(name=formula_like), submit=True)
        products.approve(s, m.who("bank2"), v.id)
    out = tmp_path / "catalogue.xlsx"
    with transaction(m.engine) as s:
        assert excel.export_products(s, m.who("gov"), out) == 1
        before = products.catalogue(s, m.who("gov"))
    cell = load_workbook(out).active["C2"]
    assert (cell.value, cell.data_type) == (formula_like, "s")  # text stays text
    with transaction(m.engine) as s:
        [v2] = excel.import_products(s, m.who("bank"), out)
    with transaction(m.engine) as s:
        products.approve(s, m.who("bank2"), v2["version_id"])
    with transaction(m.engine) as s:
        after = products.catalogue(s, m.who("gov"))
    same = ("version_id", "version", "approved_at")
    assert [{k: r[k] for k in r if k not in same} for r in after] == [
        {k: r[k] for k in r if k not in same} for r in before
    ]
    assert after[0]["version"] == before[0]["version"] + 1


def test_product_import_names_every_bad_row_and_writes_nothing(
    market: Market, tmp_path: Path
) -> None:
    m = market
    header = [zh for _, zh, _ in excel.PRODUCT_HEADERS]
    good = [
        "BKA-N1",
        "BKA",
        "新产品",
        "贷款",
        100000,
        500000,
        1,
        12,
        0,
        50,
        "信用",
        "随借随还",
        "否",
        "否",
        "hnte",
        "",
    ]
    bad_range = [
        "BKA-N2",
        "BKA",
        "倒挂",
        "loan",
        900000,
        100,
        1,
        12,
        0,
        50,
        "credit",
        "",
        "no",
        "no",
        "",
        "",
    ]
    bad_rule = [
        "BKA-N3",
        "BKA",
        "未知字段",
        "loan",
        1,
        100,
        1,
        12,
        0,
        50,
        "credit",
        "",
        "no",
        "no",
        "turnover >= 1",
        "",
    ]
    path = _sheet(tmp_path / "p.xlsx", header, [good, bad_range, bad_rule])
    n0 = _versions(m)
    with pytest.raises(ValidationError) as e, transaction(m.engine) as s:
        excel.import_products(s, m.who("bank"), path)
    assert {(p.row, p.field) for p in e.value.problems} == {(3, "min_amount"), (4, "eligibility")}
    assert _versions(m) == n0


def _versions(m: Market) -> int:
    with transaction(m.engine) as s:
        return s.scalar(select(func.count()).select_from(ProductVersion))


def test_survey_import_all_or_nothing(market: Market, tmp_path: Path) -> None:
    m = market
    header = [
        "统一社会信用代码",
        "融资需求金额(元)",
        "期限(月)",
        "资金用途",
        "可提供增信方式",
        "研发阶段",
        "技术需求",
    ]
    rows = [
        [F1, "3,000,000", 12, "研发", "知识产权质押", "中试", "检测设备"],
        [F2, 0, 12, "流动资金", "", "", ""],
        ["91320700MA0000099X", 100, 0, "", "黄金", "", ""],
    ]
    path = _sheet(tmp_path / "survey.xlsx", header, rows)
    with pytest.raises(ValidationError) as e, transaction(m.engine) as s:
        excel.import_needs(s, m.who("gov"), path)
    named = {(p.row, p.field) for p in e.value.problems}
    assert {
        (3, "amount"),
        (4, "uscc"),
        (4, "term_months"),
        (4, "purpose"),
        (4, "guarantee_offered"),
    } <= named
    with transaction(m.engine) as s:
        assert s.scalar(select(func.count()).select_from(Need)) == 0
    path = _sheet(tmp_path / "ok.xlsx", header, rows[:1])
    with transaction(m.engine) as s:
        [nid] = excel.import_needs(s, m.who("gov"), path)
        n = service.get(s, nid)
        assert (n.amount, n.state, n.survey) == (
            Decimal("3000000.00"),
            "published",
            {"rd_stage": "中试", "technology": "检测设备"},
        )


def test_for_need_ranks_and_explains(market: Market) -> None:
    m = market
    with transaction(m.engine) as s:
        v = products.draft(s, m.who("bank"), _strict(), submit=True)
        products.approve(s, m.who("rev"), v.id)
        need = service.post(s, m.who("ent"), F1, GOOD).id
    with transaction(m.engine) as s:
        res = query.for_need(s, m.who("ent"), need)
    by = {r["product_id"]: r for r in res["products"]}
    assert by["BKA-IP1"]["eligible"] and by["BKA-IP1"]["rank"] == 1
    assert "未指定授信模型" in by["BKA-IP1"]["model_note"]
    strict = by["BKA-STRICT"]
    assert not strict["eligible"] and strict["rank"] is None
    assert {r["reason_zh"] for r in strict["reasons"]} == {
        "近两年营业收入低于 1,000 万元",
        "不属于白名单企业",
    }
    with transaction(m.engine) as s:
        with pytest.raises(ConsentRequired) as e:
            query.for_need(s, m.who("bankb"), need)  # F1 consented to BKA only
        assert any(p.field == "consent" for p in e.value.problems)


def _strict() -> products.ProductTerms:
    return ip_terms(
        product_id="BKA-STRICT",
        guarantee_kinds=["credit"],
        eligibility=["revenue_2y >= 10000000", "whitelisted"],
    )


def test_for_product_shows_only_whitelist_fields_without_consent(market: Market) -> None:
    m = market
    with transaction(m.engine) as s:
        service.post(s, m.who("ent"), F1, GOOD)
        res = query.for_product(s, m.who("bank"), "BKA-IP1")
    [row] = res["needs"]
    assert row["firm"]["uscc"] == F1 and row["firm"]["detail"] == "consent"
    assert "revenue" in row["firm"]


def test_cli_json_goes_through_the_services(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = market
    monkeypatch.setattr("kejin.matching.commands.get_engine", lambda: m.engine)
    cli._mount_areas()
    runner = CliRunner()
    with transaction(m.engine) as s:
        need = service.post(s, m.who("ent"), F1, GOOD).id

    def run(*args: str) -> object:
        r = runner.invoke(cli.app, ["match", *args, "--json"])
        assert r.exit_code == 0, (r.output, r.exception)
        return json.loads(r.stdout)

    audit0 = m.audit_count()
    res = run("for-need", str(need), "--who", "ent")
    assert res["products"][0]["product_id"] == "BKA-IP1"
    assert run("take", str(need), "--institution", "BKA", "--who", "bank")["state"] == "taken"
    r = runner.invoke(cli.app, ["match", "decide", str(need), "--decline", "nope", "--who", "bank"])
    assert r.exit_code != 0 and isinstance(r.exception, ValidationError)
    assert (
        run("decide", str(need), "--decline", "revenue", "--who", "bank")["decline_reason"]
        == "revenue"
    )
    funnel = run("funnel", "--by", "bank", "--who", "gov")
    assert [(f["bank"], f["posted"], f["taken"], f["declined"]) for f in funnel] == [
        ("BKA", 1, 1, 1)
    ]
    assert m.audit_count() - audit0 == 4  # for-need read, take, decline, funnel read
    r = runner.invoke(cli.app, ["match", "take", str(need), "--institution", "BKA", "--who", "ent"])
    assert type(r.exception).__name__ == "Forbidden"


def test_adopt_brings_registry_products_live(market: Market) -> None:
    m = market
    with transaction(m.engine) as s:
        adopted = products.adopt_registry(s, m.who("gov"), m.who("rev"))
    assert adopted == ["BKA-P1"]
    with transaction(m.engine) as s:
        live = {v.product_id: v for v in products.live(s)}
        p = s.get(Product, "BKA-P1")
        assert live["BKA-P1"].approved_by == "rev" and p.rate_floor == Decimal("0.030000")


def test_approval_probability_from_the_named_model_with_its_id(market: Market) -> None:
    import numpy as np
    import polars as pl

    from kejin.credit import dataset, registry, scorecard

    rng = np.random.default_rng(0)
    lev, g = rng.uniform(0, 1, 800), rng.normal(0, 0.3, 800)
    y = (rng.uniform(size=800) < 1 / (1 + np.exp(-(-2 + 3 * lev - 2 * g)))).astype(int)
    frame = pl.DataFrame({"leverage": lev, "revenue_growth": g, "bad": y})
    model_id = registry.register(
        market.engine, scorecard.fit(dataset.prepare(frame, "bad")), "tech_firm"
    ).id
    m = market
    with transaction(m.engine) as s:
        for pid, model in (("BKA-M1", "tech_firm"), ("BKA-M2", "no_such_model")):
            v = products.draft(
                s, m.who("bank"), ip_terms(product_id=pid, credit_model=model), submit=True
            )
            products.approve(s, m.who("bank2"), v.id)
        need = service.post(s, m.who("ent"), F1, GOOD).id
    with transaction(m.engine) as s:
        by = {r["product_id"]: r for r in query.for_need(s, m.who("ent"), need)["products"]}
    assert by["BKA-M1"]["model_id"] == model_id and 0 < by["BKA-M1"]["approval_prob"] < 1
    assert model_id[:12] in by["BKA-M1"]["model_note"]
    # the pair's own probability (kejin.matching.approval, the packaged model) is there either
    # way; the unregistered model's PD is not, and the note says so
    assert by["BKA-M2"]["model_id"] is None and "未登记" in by["BKA-M2"]["model_note"]
    assert 0 < by["BKA-M2"]["approval_prob"] < 1
    assert by["BKA-M1"]["approval_prob"] != by["BKA-M2"]["approval_prob"]  # the PD counts
    for r in by.values():  # every rank says why, in both languages
        if r["rank"] is not None:
            zh, en = r["model_note"].split(" / ")
            assert zh.startswith(f"第 {r['rank']} 位") and "预计获批概率" in zh
            assert en.startswith(f"rank {r['rank']}:") and "estimated approval probability" in en
