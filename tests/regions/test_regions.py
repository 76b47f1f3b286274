"""One region, one story (issue 16): the region's name, policies and fund come from one file.

The bundled Lianyungang file is checked as a user meets it (every active policy and the fund
are the region's own, adapted from a library template with the region's figures); a second,
tiny region file proves a region is data, not code; a bad file is refused whole, each problem
naming its field in both languages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from tests.policy.conftest import populate_registry
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.policy import library
from kejin.policy.engine import evaluate
from kejin.policy.entities import registry_frames
from kejin.regions import REGIONS_DIR, load_region, parse_region

TINY = Path(__file__).with_name("tiny.yaml")
LYG = REGIONS_DIR / "lianyungang.yaml"


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Configure a region (``KEJIN_REGION``) for one test, forgetting it afterwards."""
    from kejin import regions
    from kejin.config import get_settings

    def use(name: str) -> None:
        monkeypatch.setenv("KEJIN_REGION", name)
        get_settings.cache_clear()
        regions.clear()

    yield use
    monkeypatch.setenv("KEJIN_REGION", "")
    get_settings.cache_clear()
    regions.clear()


def test_lianyungang_offers_only_its_own_policies_and_fund(region) -> None:  # type: ignore[no-untyped-def]
    from kejin.fund.scheme import load_scheme, region_scheme_id

    region("lianyungang")
    r = load_region("lianyungang")
    assert (r.code, r.name_zh) == ("320700", "连云港市")
    active = library.all_policies()
    assert [p.id for p in active] == [p.id for p in r.policies]
    for pol, rp in zip(active, r.policies, strict=True):
        assert pol.id not in library.MODULES and rp.template in library.MODULES
        assert (
            pol.title_zh.startswith("连云港")
            and "连云港" not in library.template(rp.template).title_zh
        )
        assert pol.document == rp.document and pol.articles == (rp.article,)
        assert {st.article for st in pol.steps} == {rp.article}  # traces cite the region's article
        for name, pv in rp.params.items():
            param = pol.params[name]
            assert [v.value for v in param.values] == [pv.value]
            assert (param.document, param.article) == (rp.document, pv.article)
            assert param.description == pv.description and not param.reading
        for name, label in rp.labels.items():
            step = next(st for st in pol.steps if st.name == name)
            assert (step.zh, step.en) == (label.zh, label.en)
        # every parameter is the region's own but those it keeps on purpose (the LPR), which
        # keep the template's values and sources
        assert set(pol.params) == set(rp.params) | set(rp.keeps)
        for name in rp.keeps:
            assert pol.params[name] == library.template(rp.template).params[name]
    scheme = load_scheme(region_scheme_id() or "")
    assert (scheme.name_zh, scheme.version) == (r.fund.name_zh, r.fund.version)
    assert all("安徽" not in p.name_zh for p in scheme.participants)
    assert scheme.references[0].document == r.fund.document
    # the library's scheme the fund adapts is unchanged and still loads by its own id
    assert load_scheme(r.fund.template).id == r.fund.template


def test_region_figures_are_the_ones_paid(region, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Over the same loan-years, the region's policy pays by the region's rate: its amount is
    the template's scaled by the ratio of the two rates (all else equal)."""
    populate_registry(engine)
    rows = registry_frames(engine)["loan_year"].filter(pl.col("year") == 2025)
    base, _ = evaluate(library.template("jian_digital"), rows, as_of=date(2025, 12, 31))
    region(str(TINY))
    own = library.get("tiny_digital")
    assert [p.id for p in library.all_policies()] == ["tiny_digital"]
    mine, _ = evaluate(own, rows, as_of=date(2025, 12, 31))
    paid = [(a, b) for a, b in zip(base["amount"], mine["amount"], strict=True) if a]
    assert paid, "the registry has a digital-transformation loan-year"
    for a, b in paid:
        assert Decimal(str(b)) == (Decimal(str(a)) * Decimal("0.008") / Decimal("0.005")).quantize(
            Decimal("0.01")
        )
    # a programme made before the region changed still finds its template by id
    assert library.get("jian_digital").id == "jian_digital"
    with pytest.raises(Exception, match="lyg_ip_pledge"):
        library.get("lyg_ip_pledge")  # Lianyungang's policy is not this region's


def test_second_region_file_drives_the_cli(region, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kejin.cli import _mount_areas, app

    region(str(TINY))
    _mount_areas()
    res = CliRunner().invoke(app, ["policy", "list", "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [(p["id"], p["title_zh"]) for p in listed] == [
        ("tiny_digital", "连云区数字化转型贷款贴息")
    ]
    res = CliRunner().invoke(app, ["policy", "list", "--templates", "--json"])
    assert "jian_digital" in [p["id"] for p in json.loads(res.stdout)]  # the library, to adapt
    res = CliRunner().invoke(app, ["fund", "schemes", "--json"])
    assert res.exit_code == 0, res.output
    ids = [s["id"] for s in json.loads(res.stdout)]
    assert ids[0] == "tiny" and "pingshan" in ids  # the region's own first, then the library
    assert json.loads(res.stdout)[0]["name"] == "连云区科技贷款风险补偿资金"


def _bad(tmp_path: Path, change) -> ValidationError:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(LYG.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        load_region(str(path))
    assert (e.value.reason_zh, e.value.reason_en) == ("区域配置文件不合规", "invalid region file")
    assert all(p.file == str(path) and p.reason_zh and p.reason_en for p in e.value.problems)
    return e.value


def _set(path: str, value: object):  # type: ignore[no-untyped-def]
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        *head, last = path.split(".")
        node = doc
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("code", "3207", "code", "String should match"),
        ("name_zh", None, "name_zh", "Field required"),
        ("policies.0.template", "atlantis_grant", "policies.0.template", "available"),
        ("policies.0.id", "karamay_interest", "policies.0.id", "its own id"),
        ("policies.1.params.no_such", {"value": 1, "from": "2024-01-01", "published": "2024-01-01",
         "article": "1"}, "policies.1.params.no_such", "has no parameter"),
        ("policies.2.params.lpr_share.value", 1.5, "policies.2.params.lpr_share.value", "ratio"),
        ("policies.2.params.firm_cap.from", "someday", "policies.2.params.firm_cap.from", "date"),
        ("policies.0.title_en", "", "policies.0.title_en", "at least 1"),
        ("policies.0.colour", "blue", "policies.0.colour", "Extra inputs"),
        ("policies.0.params.max_years", None, "policies.0.params.max_years", "kept on purpose"),
        ("policies.2.keeps", ["lpr_share"], "policies.2.keeps", "not also in params"),
        ("policies.2.labels.no_step", {"zh": "无", "en": "none"}, "policies.2.labels.no_step",
         "has no step"),
        ("policies.2.params.lpr_share.description", None, "policies.2.params.lpr_share.description",
         "reading"),
        ("fund.template", "atlantis", "fund.template", "available"),
        ("fund.overrides", {"categories": [{"id": "all", "name_zh": "全部", "name_en": "all",
         "shares": {"pool": "0.5", "bank": "0.2"}}]}, "fund.overrides", "add up to"),
    ],
)  # fmt: skip
def test_a_bad_region_file_names_the_field(  # type: ignore[no-untyped-def]
    tmp_path: Path, path: str, value: object, field: str, words: str
) -> None:
    err = _bad(tmp_path, _set(path, value))
    hits = [p for p in err.problems if p.field and p.field.startswith(field)]
    assert hits, err.render()
    assert any(words.lower() in p.reason_en.lower() for p in hits), err.render()


def test_duplicate_policy_ids_are_refused(tmp_path: Path) -> None:
    def twice(doc: dict) -> None:  # type: ignore[type-arg]
        doc["policies"].append(dict(doc["policies"][0]))

    err = _bad(tmp_path, twice)
    assert "lyg_loan_interest" in err.render()


def test_a_missing_region_file_says_which_are_bundled() -> None:
    with pytest.raises(ValidationError) as e:
        load_region("atlantis")
    assert "lianyungang" in e.value.reason_en and e.value.problems[0].field == "KEJIN_REGION"


def test_not_yaml_is_refused_in_both_languages() -> None:
    with pytest.raises(ValidationError) as e:
        parse_region("code: [unclosed", "x.yaml")
    assert e.value.problems[0].reason_zh.startswith("YAML格式错误")


def test_region_cli_shows_the_region_and_checks_a_file(region, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kejin.cli import _mount_areas, app

    region(str(TINY))
    _mount_areas()
    res = CliRunner().invoke(app, ["region", "show", "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    assert (shown["code"], shown["policies"][0]["id"], shown["fund"]["id"]) == (
        "320703",
        "tiny_digital",
        "tiny",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text('code: "12"\nname_zh: 某地\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["region", "check", str(bad)])
    assert isinstance(res.exception, ValidationError)
    by_field = {p.field: p for p in res.exception.problems}
    assert {"code", "name_en", "policies", "fund"} <= set(by_field)
    assert "缺少必填字段" in by_field["fund"].reason_zh and by_field["fund"].reason_en
    assert "6位数字" in by_field["code"].reason_zh


@settings(max_examples=30, deadline=None)
@given(share=st.decimals(min_value=-2, max_value=3, places=3))
def test_a_ratio_is_taken_exactly_when_in_0_1_and_refused_otherwise(share: Decimal) -> None:
    """The region's value of a ratio parameter is the one the policy resolves, to the digit,
    for every value in 0..1; any other is refused, naming the field."""
    doc = yaml.safe_load(LYG.read_text(encoding="utf-8"))
    i = next(i for i, p in enumerate(doc["policies"]) if "lpr_share" in p.get("params", {}))
    doc["policies"][i]["params"]["lpr_share"]["value"] = str(share)
    text = yaml.safe_dump(doc, allow_unicode=True)
    if 0 <= share <= 1:
        region = parse_region(text, "h.yaml")
        pol = library.adapt(region.policies[i], region)
        (seg,) = pol.params["lpr_share"].segments(date(2025, 12, 31))
        assert seg.value == share
    else:
        with pytest.raises(ValidationError) as e:
            parse_region(text, "h.yaml")
        assert [p.field for p in e.value.problems] == [f"policies.{i}.params.lpr_share.value"]
