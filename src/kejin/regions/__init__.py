"""The region the platform serves: one YAML file says who it is and what it offers.

The policy library (:mod:`kejin.policy.library`) and the fund schemes (``kejin/fund/schemes``)
hold other cities' rules as *templates*. A region file adapts them: its own name and 区划 code,
its active policies (each a template with the region's own id, titles, document, article and
parameter values) and its fund scheme (a template with the region's own name and figures).
Everything a user sees then belongs to one place, and a second region is a second file, not a
code change (docs/region.md).

``KEJIN_REGION`` names the file: a bundled region by name (``lianyungang``), a path to a YAML
file, or empty for no region (every template active: the test suite's sandbox).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticError

from kejin.errors import Problem, ValidationError

REGIONS_DIR = Path(__file__).parent
ID = r"^[a-z][a-z0-9_]{0,39}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamValue(_Model):
    """The region's own value of one template parameter: in force from ``from``, made known on
    ``published``, resting on ``article`` of the region's document."""

    value: Decimal
    start: date = Field(alias="from")
    published: date
    article: str = Field(min_length=1)
    #: What the value means in the region's own words (replaces the template's description,
    #: which may argue a reading of another city's text). Required where the template's
    #: parameter is such a reading.
    description: str | None = Field(None, min_length=1)


class Label(_Model):
    """A step's wording in the region's terms (a template's may quote its own city's figures)."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RegionPolicy(_Model):
    """One active policy: a library template under the region's own name and figures.

    ``adapts`` cites the template's source document by its real title (and 文号 where it has one),
    so a reader sees where the rule's shape comes from and that the figures are the region's."""

    id: str = Field(pattern=ID)
    template: str = Field(pattern=ID)
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    issuer: str = Field(min_length=1)
    document: str = Field(min_length=1)
    article: str = Field(min_length=1)
    adapts: str = Field(min_length=1)
    summary_zh: str = ""
    summary_en: str = ""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    #: Template parameters the region keeps as they are (a national rate such as the LPR): every
    #: other parameter is the region's own (``params``), so no other city's figure is paid
    #: under the region's name.
    keeps: list[str] = Field(default_factory=list)
    labels: dict[str, Label] = Field(default_factory=dict)


class RegionFund(_Model):
    """The region's risk-compensation scheme: a library scheme (``template``) with the region's
    own id, names, a reference to its own document, and ``overrides`` of the template's keys
    (mappings merged key by key, lists and values replaced). The result is checked as any
    scheme file is (:func:`kejin.fund.scheme.parse_scheme`)."""

    id: str = Field(pattern=ID)
    template: str = Field(pattern=ID)
    #: The region's own version of its rules (shown beside the name; not the template's).
    version: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    document: str = Field(min_length=1)
    article: str = Field(min_length=1)
    adapts: str = Field(min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)


class Region(_Model):
    code: str = Field(pattern=r"^\d{6}$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    note: str = ""
    policies: list[RegionPolicy] = Field(min_length=1)
    fund: RegionFund

    @model_validator(mode="after")
    def _unique_ids(self) -> Region:
        ids = [p.id for p in self.policies]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"policy ids appear twice: {', '.join(twice)}")
        return self

    def policy(self, policy_id: str) -> RegionPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None)


#: pydantic's error types in Chinese (its English message stays the English reason).
ZH_ERRORS = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不认识的字段（拼写？）",
    "string_pattern_mismatch": "格式不符（区划代码为6位数字；编号为小写字母、数字与下划线）",
    "string_too_short": "不得为空",
    "string_type": "应为文本",
    "too_short": "至少需要一项",
    "date_from_datetime_parsing": "日期应为YYYY-MM-DD",
    "date_parsing": "日期应为YYYY-MM-DD",
    "date_type": "日期应为YYYY-MM-DD",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "dict_type": "应为键值映射",
    "list_type": "应为列表",
    "value_error": "取值不合规",
}


def region_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    return p if p.suffix in (".yaml", ".yml") else REGIONS_DIR / f"{name_or_path}.yaml"


def _refuse(file: str, problems: list[Problem]) -> ValidationError:
    return ValidationError("区域配置文件不合规", "invalid region file", problems)


def parse_region(text: str, file: str) -> Region:
    """Read and check a region file whole: its shape (pydantic), then that every template,
    parameter and value it names exists and fits (each problem names the field)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _refuse(
            file, [Problem("YAML格式错误：" + str(e), "bad YAML: " + str(e), file=file)]
        ) from None
    if not isinstance(raw, dict):
        raise _refuse(file, [Problem("应为键值映射", "expected a mapping", file=file)])
    try:
        region = Region.model_validate(raw)
    except PydanticError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            value = e.get("input")
            problems.append(
                Problem(
                    "字段不合规：" + ZH_ERRORS.get(e["type"], e["msg"]),
                    e["msg"],
                    file=file,
                    field=loc or None,
                    value=None if isinstance(value, (dict, list)) else value,
                )
            )
        raise _refuse(file, problems) from None
    problems = _template_problems(region, file)
    if problems:
        raise _refuse(file, problems)
    return region


def _template_problems(region: Region, file: str) -> list[Problem]:
    from kejin.fund.scheme import SCHEMES_DIR
    from kejin.policy import library

    out: list[Problem] = []
    for i, rp in enumerate(region.policies):
        at = f"policies.{i}"
        if rp.template not in library.MODULES:
            out.append(
                Problem(
                    f"政策库中没有模板{rp.template}（可用：{', '.join(library.MODULES)}）",
                    f"no template {rp.template} in the library "
                    f"(available: {', '.join(library.MODULES)})",
                    file=file,
                    field=f"{at}.template",
                    value=rp.template,
                )
            )
            continue
        if rp.id in library.MODULES:
            out.append(
                Problem(
                    "区域政策须有自己的编号，不得与政策库模板同名",
                    "a region's policy has its own id, not a template's",
                    file=file,
                    field=f"{at}.id",
                    value=rp.id,
                )
            )
        template = library.template(rp.template)
        for name, pv in rp.params.items():
            param = template.params.get(name)
            if param is None:
                out.append(
                    Problem(
                        f"模板{rp.template}没有参数{name}（有：{', '.join(template.params)}）",
                        f"template {rp.template} has no parameter {name} "
                        f"(it has: {', '.join(template.params)})",
                        file=file,
                        field=f"{at}.params.{name}",
                    )
                )
            elif param.reading and pv.description is None:
                out.append(
                    Problem(
                        "模板的该参数是对原文的一种读法，区域取值须写明自己的说明（description）",
                        "the template's parameter is a reading of its own text: the region's "
                        "value needs its own description",
                        file=file,
                        field=f"{at}.params.{name}.description",
                    )
                )
            elif param.choices and pv.value not in {k for k, _ in param.choices}:
                out.append(
                    Problem(
                        f"取值须为{', '.join(str(k) for k, _ in param.choices)}之一",
                        f"the value is one of {', '.join(str(k) for k, _ in param.choices)}",
                        file=file,
                        field=f"{at}.params.{name}.value",
                        value=str(pv.value),
                    )
                )
            elif pv.value < 0 or (param.unit == "ratio" and pv.value > 1):
                out.append(
                    Problem(
                        "比例应在0到1之间，其他取值不得为负",
                        "a ratio lies in 0..1; other values are not negative",
                        file=file,
                        field=f"{at}.params.{name}.value",
                        value=str(pv.value),
                    )
                )
        for name in rp.keeps:
            if name not in template.params or name in rp.params:
                out.append(
                    Problem(
                        f"沿用的参数{name}须是模板的参数，且不在params中",
                        f"a kept parameter ({name}) is the template's and not also in params",
                        file=file,
                        field=f"{at}.keeps",
                        value=name,
                    )
                )
        for name in template.params:
            if name not in rp.params and name not in rp.keeps:
                out.append(
                    Problem(
                        f"模板参数{name}须由区域设定（params）或声明沿用（keeps）",
                        f"the template's parameter {name} is set by the region (params) or "
                        "kept on purpose (keeps)",
                        file=file,
                        field=f"{at}.params.{name}",
                    )
                )
        steps = [st.name for st in template.steps]
        for name in rp.labels:
            if name not in steps:
                out.append(
                    Problem(
                        f"模板{rp.template}没有步骤{name}（有：{', '.join(steps)}）",
                        f"template {rp.template} has no step {name} (it has: {', '.join(steps)})",
                        file=file,
                        field=f"{at}.labels.{name}",
                    )
                )
    if not (SCHEMES_DIR / f"{region.fund.template}.yaml").is_file():
        known = ", ".join(sorted(p.stem for p in SCHEMES_DIR.glob("*.yaml")))
        out.append(
            Problem(
                f"方案库中没有{region.fund.template}（可用：{known}）",
                f"no scheme {region.fund.template} in the library (available: {known})",
                file=file,
                field="fund.template",
                value=region.fund.template,
            )
        )
    else:
        from kejin.fund.scheme import parse_scheme

        try:
            parse_scheme(fund_scheme_text(region, file), f"{file}#fund")
        except ValidationError as e:
            for p in e.problems:
                where = f"fund.overrides.{p.field}" if p.field else "fund"
                out.append(
                    Problem(
                        f"资金池方案不合规：{p.reason_zh}",
                        f"the fund scheme is invalid: {p.reason_en}",
                        file=file,
                        field=where,
                        value=p.value,
                    )
                )
    return out


def load_region(name_or_path: str) -> Region:
    path = region_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in REGIONS_DIR.glob("*.yaml")))
        raise ValidationError(
            f"找不到区域配置 {name_or_path}（内置：{known}）",
            f"no region file {name_or_path} (bundled: {known})",
            [Problem("文件不存在", "file not found", file=str(path), field="KEJIN_REGION")],
        )
    return parse_region(path.read_text(encoding="utf-8"), str(path))


@cache
def _cached(name_or_path: str) -> Region:
    return load_region(name_or_path)


def current() -> Region | None:
    """The configured region (``KEJIN_REGION``), or None when none is configured."""
    from kejin.config import get_settings

    name = get_settings().region.strip()
    return _cached(name) if name else None


def clear() -> None:
    """Forget the loaded region and what was built from it (after ``KEJIN_REGION`` changes)."""
    from kejin.fund import scheme
    from kejin.policy import library

    _cached.cache_clear()
    library.get.cache_clear()
    scheme.region_scheme_text.cache_clear()


def fund_scheme_text(region: Region, file: str) -> str:
    """The region's scheme as a scheme file's text: the template with the region's id, names,
    reference and overrides, ready for :func:`kejin.fund.scheme.parse_scheme`."""
    from kejin.fund.scheme import SCHEMES_DIR

    fund = region.fund
    raw = yaml.safe_load((SCHEMES_DIR / f"{fund.template}.yaml").read_text(encoding="utf-8"))
    raw = _merge(raw, fund.overrides)
    raw.update(id=fund.id, version=fund.version, name_zh=fund.name_zh, name_en=fund.name_en)
    raw["references"] = [
        {
            "id": "region",
            "document": fund.document,
            "article": fund.article,
            "note": f"{region.name_zh}的资金池，规则框架采自：{fund.adapts} / "
            f"{region.name_en}'s pool, on the rules of: {fund.adapts} ({file})",
        },
        *raw.get("references", []),
    ]
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over
