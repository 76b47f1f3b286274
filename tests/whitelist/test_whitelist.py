"""Whitelist: rules as data, tiers, exclusions, diffs with causes, pushes with checksums."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from sqlalchemy import Engine, func, select, update

sys.path.insert(0, str(Path(__file__).parents[1] / "points"))
from points_region import build_region

from kejin.db import transaction
from kejin.errors import NotFoundError, ValidationError
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.points.service import score_run
from kejin.registry.tables import Enterprise, Qualification
from kejin.whitelist import kernels
from kejin.whitelist.rules import RULES_DIR, load_rules
from kejin.whitelist.service import diff, entries, push, push_log, refresh, refresh_sentence
from kejin.whitelist.tables import WhitelistEntry, WhitelistPush, WhitelistVersion

AS_OF = dt.date(2026, 3, 1)


def _firms(**cols: list) -> pl.DataFrame:
    n = len(cols["uscc"])
    base = {
        "name": [f"F{i}" for i in range(n)], "stage": ["startup"] * n, "industry_chain": ["information"] * n,
        "region_code": ["320706"] * n, "listing_board": ["none"] * n, "dishonest": [False] * n,
        "deregistered": [False] * n, "abnormal_operation": [False] * n,
    }  # fmt: skip
    return pl.DataFrame(base | cols)


def _run(
    firms: pl.DataFrame, quals=None, points=None, tsme=None, dpd=None, tax=None
) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    rules, _ = load_rules()
    empty = lambda schema: pl.DataFrame(schema=schema)  # noqa: E731
    return kernels.refresh(
        rules, AS_OF, firms,
        quals if quals is not None else empty({"uscc": pl.String, "kind": pl.String}),
        points if points is not None else empty({"uscc": pl.String, "total": pl.Float64, "list_id": pl.String}),
        tsme if tsme is not None else empty({"uscc": pl.String, "passed": pl.Boolean}),
        dpd if dpd is not None else empty({"uscc": pl.String, "max_dpd": pl.Int64}),
        tax if tax is not None else empty({"uscc": pl.String, "tax_credit_grade": pl.String}),
    )  # fmt: skip


def test_qualification_validity_is_inclusive_on_the_as_of_date() -> None:
    q = pl.DataFrame(
        {"uscc": ["A", "B", "C"], "kind": ["hnte"] * 3,
         "valid_from": [AS_OF, dt.date(2020, 1, 1), AS_OF + dt.timedelta(days=1)],
         "valid_to": [AS_OF + dt.timedelta(days=9), AS_OF - dt.timedelta(days=1), AS_OF + dt.timedelta(days=9)]}
    )  # fmt: skip
    assert kernels.valid_qualifications(q, AS_OF)["uscc"].to_list() == ["A"]
    q2 = q.with_columns(pl.lit(AS_OF).alias("valid_to"), pl.lit(AS_OF).alias("valid_from"))
    assert sorted(kernels.valid_qualifications(q2, AS_OF)["uscc"].to_list()) == ["A", "B", "C"]


def test_entry_rules_exclusions_and_tiers() -> None:
    firms = _firms(
        uscc=["A", "B", "C", "D", "E", "F", "G", "H"],
        stage=["startup", "growth", "mature", "mature", "growth", "startup", "growth", "seed"],
        listing_board=["none", "none", "star", "none", "none", "none", "none", "none"],
        dishonest=[False, False, False, False, False, True, False, False],
    )
    quals = pl.DataFrame({"uscc": ["A", "C", "F"], "kind": ["hnte", "little_giant", "tsme"]})
    points = pl.DataFrame(
        {
            "uscc": ["B", "D", "E", "G"],
            "total": [60.0, 80.0, 50.0, 70.0],
            "list_id": [None, "top5", "top5_10", None],
        }
    )
    tsme = pl.DataFrame({"uscc": ["H"], "passed": [True]})
    dpd = pl.DataFrame({"uscc": ["G"], "max_dpd": [91]})
    tax = pl.DataFrame({"uscc": ["E"], "tax_credit_grade": ["D"]})
    out = _run(firms, quals, points, tsme, dpd, tax).sort("uscc")
    rows = {r["uscc"]: r for r in out.iter_rows(named=True)}
    assert "B" not in rows  # 60 points, no list, no qualification: no entry rule holds
    assert rows["A"]["entry_rules"] == "qual_hnte" and rows["A"]["tier"] == "base"
    assert rows["C"]["tier"] == "core"  # listed on STAR
    assert (
        rows["D"]["entry_rules"] == "points_list,points_min" and rows["D"]["tier"] == "core"
    )  # mature ≥ 75
    assert (rows["E"]["status"], rows["E"]["exclusion_rules"], rows["E"]["tier"]) == (
        "excluded",
        "tax_grade_d",
        None,
    )
    assert rows["F"]["exclusion_rules"] == "dishonest"
    assert (rows["G"]["status"], rows["G"]["exclusion_rules"]) == ("excluded", "overdue_90")
    assert rows["H"]["entry_rules"] == "eval_tsme"


def test_overdue_boundary_is_more_than_n_days() -> None:
    firms = _firms(uscc=["A", "B"])
    quals = pl.DataFrame({"uscc": ["A", "B"], "kind": ["hnte", "hnte"]})
    dpd = pl.DataFrame({"uscc": ["A", "B"], "max_dpd": [90, 91]})
    out = _run(firms, quals, dpd=dpd).sort("uscc")
    assert out["status"].to_list() == ["member", "excluded"]


def test_selected_tier_by_growth_points_or_list() -> None:
    firms = _firms(uscc=["A", "B", "C"], stage=["growth", "growth", "startup"])
    points = pl.DataFrame(
        {
            "uscc": ["A", "B", "C"],
            "total": [66.0, 54.0, 40.0],
            "list_id": ["top10_20", "top10_20", "top5"],
        }
    )
    out = _run(firms, points=points).sort("uscc")
    assert out["tier"].to_list() == ["selected", "base", "selected"]


def test_diff_names_the_rule_behind_each_change() -> None:
    firms = _firms(uscc=["A", "B", "C", "D"], stage=["growth"] * 4)
    quals = pl.DataFrame({"uscc": ["A", "B", "C"], "kind": ["hnte"] * 3})
    a = _run(firms, quals, points=pl.DataFrame({"uscc": ["C"], "total": [50.0], "list_id": [None]}))
    b = _run(
        firms.with_columns(pl.Series("dishonest", [False, True, False, False])),
        pl.DataFrame({"uscc": ["B", "C", "D"], "kind": ["hnte", "hnte", "tsme"]}),
        points=pl.DataFrame({"uscc": ["C"], "total": [70.0], "list_id": [None]}),
    )
    d = {r["uscc"]: r for r in kernels.diff(a, b).iter_rows(named=True)}
    assert d["A"]["change"] == "removed" and d["A"]["reason"] == "lapsed:qual_hnte"
    assert d["B"]["change"] == "removed" and d["B"]["reason"] == "exclusion:dishonest"
    assert d["C"]["change"] == "tier_changed" and (d["C"]["tier_a"], d["C"]["tier_b"]) == (
        "base",
        "selected",
    )
    assert d["D"]["change"] == "added" and d["D"]["reason"] == "entry:qual_sme"
    c = kernels.diff(b, a).filter(pl.col("uscc") == "B").row(0, named=True)
    assert c["reason"] == "entry:qual_hnte;lifted:dishonest"


def test_bad_rules_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    data["push_fields"].append("total_liabilities")
    data["exclusions"][3]["grades"] = ["Z"]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_rules(str(p))
    text = " ".join(pr.reason_en for pr in e.value.problems)
    assert "tax_grade" in text or "grades" in text
    assert all(pr.file == str(p) for pr in e.value.problems)


def test_push_fields_beyond_the_pushable_set_refused_by_name(tmp_path: Path) -> None:
    """A rule file may only push fields of ``PUSHABLE``: a balance-sheet figure is refused with
    the field named, and nothing else is wrong with the file (switching the rule off fails)."""
    data = yaml.safe_load((RULES_DIR / "default.yaml").read_text(encoding="utf-8"))
    data["push_fields"] = [*data["push_fields"], "total_liabilities"]
    p = tmp_path / "leaky.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_rules(str(p))
    [pr] = e.value.problems
    assert (pr.field, pr.file) == ("push_fields", str(p))
    assert pr.reason_en == "push_fields not pushable: total_liabilities"
    assert pr.reason_zh == "不可推送的字段：total_liabilities"
    data["push_fields"].remove("total_liabilities")
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_rules(str(p))[0].push_fields == tuple(data["push_fields"])


def _institutions(engine: Engine) -> None:
    with transaction(engine) as s:
        s.add_all(
            [
                Institution(
                    id="B001",
                    name="测试银行一",
                    kind="bank",
                    region_code="320700",
                    partner_bank=True,
                ),
                Institution(
                    id="B002",
                    name="测试银行二",
                    kind="bank",
                    region_code="320700",
                    partner_bank=True,
                ),
                Institution(id="G001", name="测试担保", kind="guarantor", region_code="320700"),
            ]
        )


def test_refresh_diff_push_log_end_to_end(engine: Engine, tmp_path: Path) -> None:
    codes = build_region(engine, 150)
    _institutions(engine)
    with pytest.raises(NotFoundError):
        refresh(engine, AS_OF)  # points rules need a points run first
    score_run(engine, "most-v1")
    v1 = refresh(engine, dt.date(2025, 12, 1), who="tester")
    # a loan 120 days past due on a member, and an expired certificate in between
    e1 = entries(engine, v1["version"])
    victim = e1.filter(pl.col("status") == "member")["uscc"][0]
    with transaction(engine) as s:
        s.add(Loan(contract_no="L1", uscc=victim, institution_id="B001", amount=1, credit_line=1, rate=0.04,
                   disbursed_on=dt.date(2025, 1, 1), maturity_on=dt.date(2026, 12, 31), guarantee_type="credit"))  # fmt: skip
        s.flush()
        s.add(
            LoanStatus(
                contract_no="L1",
                month=dt.date(2026, 2, 1),
                balance=1,
                days_past_due=120,
                classification="substandard",
            )
        )
    v2 = refresh(engine, AS_OF, who="tester")
    assert v1["entries_sha256"] != v2["entries_sha256"]
    d = diff(engine, v1["version"], v2["version"])
    by = {c["uscc"]: c for c in d["changes"]}
    assert by[victim]["change"] == "removed" and by[victim]["reason"] == "exclusion:overdue_90"
    lapsed = [c for c in d["changes"] if c["reason"].startswith("lapsed:")]
    assert lapsed and all(
        "qual_hnte" in c["reason"] for c in lapsed
    )  # HNTE certificates expired 2025-12-31
    assert d["rules"]["overdue_90"]["zh"] == "贷款逾期超过90天"
    # push: one file per partner bank, only the allowed fields, checksum logged
    log = push(engine, "all", "csv", tmp_path, v2["version"], who="clerk")
    assert [r["institution"] for r in log] == ["B001", "B002"]
    rules, _ = load_rules()
    for r in log:
        body = Path(r["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == r["sha256"]
        df = pl.read_csv(body)
        assert df.columns == list(rules.push_fields)
        assert df.height == v2["members"] and victim not in df["uscc"].to_list()
        assert set(df["uscc"]) <= set(codes)
    j = push(engine, "B001", "json", tmp_path, v2["version"], who="clerk")[0]
    payload = json.loads(Path(j["file"]).read_text(encoding="utf-8"))
    assert set(payload["firms"][0]) == set(rules.push_fields) and payload["as_of"] == "2026-03-01"
    x = push(engine, "B002", "xlsx", tmp_path, v2["version"], who="clerk")[0]
    assert hashlib.sha256(Path(x["file"]).read_bytes()).hexdigest() == x["sha256"]
    from openpyxl import load_workbook

    sheet = list(load_workbook(x["file"]).active.iter_rows(values_only=True))
    assert list(sheet[0]) == list(rules.push_fields) and len(sheet) == v2["members"] + 1
    again = push(engine, "B002", "csv", tmp_path / "again", v2["version"], who="clerk")[0]
    assert again["sha256"] == log[1]["sha256"]  # same version, same bank, same bytes
    logged = push_log(engine)
    assert len(logged) == 5 and logged[0]["pushed_by"] == "clerk"
    with transaction(engine) as s:
        assert s.scalars(select(WhitelistPush.institution_id).order_by(WhitelistPush.id)).all() == [
            "B001",
            "B002",
            "B001",
            "B002",
            "B002",
        ]
    with pytest.raises(NotFoundError):
        push(engine, "NOPE", "csv", tmp_path, v2["version"])
    with pytest.raises(ValidationError):
        push(engine, "B001", "pdf", tmp_path, v2["version"])


def test_pushed_files_keep_formula_looking_names_as_text(engine: Engine, tmp_path: Path) -> None:
    """A firm name from a department's file reaches the bank's CSV and Excel as inert text."""
    build_region(engine, 60)
    _institutions(engine)
    score_run(engine, "most-v1")
    members = entries(engine, refresh(engine, AS_OF)["version"]).filter(
        pl.col("status") == "member"
    )
    names = ['=HYPERLINK("http://x.example","点我")', "@SUM(A1)", "+1", "－1", "\t=1"]
    firms = members["uscc"].to_list()[: len(names)]
    with transaction(engine) as s:
        for code, name in zip(firms, names, strict=True):
            s.get(Enterprise, code).name = name  # type: ignore[union-attr]
    v = refresh(engine, AS_OF)["version"]
    csv_file = push(engine, "B001", "csv", tmp_path, v)[0]["file"]
    pushed = pl.read_csv(Path(csv_file).read_bytes(), infer_schema=False)
    got = dict(zip(pushed["uscc"], pushed["name"], strict=True))
    assert [got[c] for c in firms] == ["'" + n for n in names]
    from openpyxl import load_workbook

    ws = load_workbook(push(engine, "B001", "xlsx", tmp_path, v)[0]["file"]).active
    cells = {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert all(
        cells[c].value == n and cells[c].quotePrefix for c, n in zip(firms, names, strict=True)
    )


def test_refresh_is_reproducible(engine: Engine) -> None:
    build_region(engine, 60)
    score_run(engine, "most-v1")
    a = refresh(engine, AS_OF)
    b = refresh(engine, AS_OF + dt.timedelta(days=1))
    # Nothing changed: the same version stands (a later as-of date alone is no change), and the
    # refresh says so in a sentence.
    assert a["entries_sha256"] == b["entries_sha256"] and a["version"] == b["version"]
    assert not a["unchanged"] and b["unchanged"] and b["as_of"] == AS_OF
    zh, en = refresh_sentence(b)
    assert "未生成新版本" in zh and f"version {a['version']}" in en and "stands" in en
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(WhitelistVersion)) == 1
        name = s.scalar(
            select(WhitelistEntry.name).where(WhitelistEntry.status == "member").limit(1)
        )
        s.execute(update(Enterprise).where(Enterprise.name == name).values(name=name + "（更名）"))
    c = refresh(engine, AS_OF)
    assert not c["unchanged"] and c["version"] != a["version"]
    assert "已生成白名单版本" in refresh_sentence(c)[0]
    with transaction(engine) as s:
        s.add(Qualification(uscc=entries(engine, a["version"])["uscc"][0], kind="tsme", certificate_no="X1",
                            valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 12, 31), source="most"))  # fmt: skip
        assert s.scalar(select(Enterprise.uscc).limit(1)) is not None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lookup_equals_a_left_join(seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    keys = pl.Series("uscc", sorted({f"K{x:05d}" for x in rng.integers(0, 3000, 500)}))
    side_keys = sorted({f"K{x:05d}" for x in rng.integers(0, 3000, 400)})
    side = pl.DataFrame(
        {
            "uscc": side_keys,
            "v": rng.random(len(side_keys)),
            "s": [f"s{i}" for i in range(len(side_keys))],
        }
    )
    side = side.sample(fraction=1.0, shuffle=True, seed=seed)  # lookup must not rely on input order
    got = kernels.lookup(keys, side)
    want = pl.DataFrame({"uscc": keys}).join(side, on="uscc", how="left").sort("uscc").drop("uscc")
    assert got.equals(want)
    assert kernels.lookup(keys, side.clear()).null_count().row(0) == (len(keys), len(keys))
