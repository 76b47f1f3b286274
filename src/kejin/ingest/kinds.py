"""One declarative spec per importable kind: which table, which key, which headers are accepted.

Everything a clerk may type as a header is derived from the table itself (the column name and the
Chinese/English labels in ``Column.info``) plus a few synonyms seen in real department exports, so
a new column added to a table becomes importable without touching this module.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import Column, Table

from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import (
    INDICATOR_FIELDS,
    AnnualIndicator,
    Enterprise,
    FinancingEvent,
    Qualification,
)
from kejin.vocab import (
    CLASSIFICATIONS,
    DEPARTMENTS,
    FINANCING_KINDS,
    GUARANTEE_KINDS,
    INDUSTRY_CHAINS,
    INSTITUTION_KINDS,
    LISTING_BOARDS,
    PRODUCT_KINDS,
    QUALIFICATION_KINDS,
    STAGES,
    TAX_CREDIT_GRADES,
    Term,
)

#: Vocabulary of each enum column, by the enum's type name (see ``vocab_enum``).
VOCABS: dict[str, dict[str, Term]] = {
    "stage": STAGES,
    "industry_chain": INDUSTRY_CHAINS,
    "listing_board": LISTING_BOARDS,
    "qualification_kind": QUALIFICATION_KINDS,
    "financing_kind": FINANCING_KINDS,
    "department": DEPARTMENTS,
    "tax_credit_grade": TAX_CREDIT_GRADES,
    "institution_kind": INSTITUTION_KINDS,
    "product_kind": PRODUCT_KINDS,
    "guarantee_type": GUARANTEE_KINDS,
    "classification": CLASSIFICATIONS,
}

#: Headers seen in department exports beyond the labels on the columns.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "企业信用代码", "credit code", "usci"),
    "name": ("名称", "企业名称", "公司名称", "机构名称", "产品名称"),
    "region_code": ("区划代码", "行政区划", "地区代码", "region"),
    "industry_code": ("行业代码", "国民经济行业分类代码", "行业分类代码"),
    "industry_chain": ("产业链", "所属产业链", "chain"),
    "founded_on": ("成立时间", "注册日期", "成立日期", "founded"),
    "year": ("年份", "年度", "fiscal year"),
    "certificate_no": ("证书号", "证书编号", "certificate"),
    "valid_from": ("发证日期", "认定日期", "有效期开始"),
    "valid_to": ("有效期至", "到期日", "有效期结束"),
    "occurred_on": ("融资时间", "日期", "融资日期"),
    "amount": ("金额",),
    "investor": ("投资机构", "投资人"),
    "institution_id": ("机构代码", "金融机构编号"),
    "product_id": ("产品代码",),
    "contract_no": ("合同号", "借款合同编号", "贷款合同编号", "contract"),
    "disbursed_on": ("放款日", "发放日期", "贷款起始日", "start date", "start"),
    "maturity_on": ("到期日", "贷款到期日", "maturity date", "maturity on"),
    "credit_line": ("授信额度", "授信金额"),
    "rate": ("利率", "执行利率"),
    "first_time_borrower": ("是否首贷", "首贷"),
    "month": ("统计月份", "报告月份"),
    "balance": ("余额",),
    "days_past_due": ("逾期天数", "dpd"),
    "classification": ("风险分类", "贷款五级分类"),
    "staff": ("职工人数", "员工人数", "从业人员数"),
    "tax_credit_grade": ("纳税信用级别",),
    "profit": ("利润总额", "利润"),
    "dishonest": ("失信被执行人", "是否失信"),
    "deregistered": ("是否注销",),
    "id": (),
}

#: Units a header may carry in brackets, e.g. ``营业收入（元）``; only yuan, never 万元 (no rescaling).
_UNIT_SUFFIX = re.compile(r"[(（]\s*(元|人民币元|cny|yuan|人|个|项|件|月)\s*[)）]$")
_SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(text: str) -> str:
    """Normalise a header for matching: full-width folded, case-less, no blanks/underscores/units.

    >>> header_key("  营业收入（元） ")
    '营业收入'
    >>> header_key("R&D_Expense")
    'r&dexpense'
    """
    t = unicodedata.normalize("NFKC", text).strip().lower()
    t = _UNIT_SUFFIX.sub("", t).strip()
    return _SEPARATORS.sub("", t)


@dataclass(frozen=True)
class KindSpec:
    """How one kind of file maps onto one table.

    ``key`` is the natural key a department's file identifies rows by (never a surrogate id), so a
    file re-sent later updates the same rows. ``references`` maps a column to the table and column
    it must exist in. ``default_department`` is the pull's source when ``--source`` is not given.
    """

    name: str
    table: Table
    key: tuple[str, ...]
    default_department: str
    references: dict[str, tuple[Table, str]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    #: Columns filled from the pull's department when the file does not carry them.
    department_columns: tuple[str, ...] = ()
    #: Pairs (earlier, later) that must be ordered, and whether equality is allowed.
    date_order: tuple[tuple[str, str, bool], ...] = ()

    @property
    def columns(self) -> list[Column]:
        """Importable columns: everything except surrogate ids and provenance."""
        skip = {"pull_id"} | {f"{f}_pull" for f in INDICATOR_FIELDS}
        return [
            c
            for c in self.table.columns
            if c.name not in skip and not (c.name == "id" and "id" not in self.key)
        ]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Columns a file must have: not nullable, no default, not filled from the pull."""
        return [
            c.name
            for c in self.columns
            if (not c.nullable and c.default is None and c.name not in self.department_columns)
            or c.name in self.key
        ]

    @property
    def field_provenance(self) -> bool:
        """True when every value column has its own ``<field>_pull`` (annual indicators)."""
        return self.table is AnnualIndicator.__table__

    def header_map(self) -> dict[str, str]:
        """Normalised header text → column name, from names, labels and synonyms."""
        out: dict[str, str] = {}
        for c in self.columns:
            texts = [c.name, c.info.get("zh", ""), c.info.get("en", ""), *SYNONYMS.get(c.name, ())]
            for t in texts:
                if t:
                    out.setdefault(header_key(t), c.name)
        return out

    def vocab(self, column: str) -> dict[str, Term] | None:
        t = self.table.columns[column].type
        name = getattr(t, "name", None)
        return VOCABS.get(name) if getattr(t, "enums", None) else None


def _spec(name: str, model: type, key: tuple[str, ...], dept: str, **kw: object) -> KindSpec:
    table: Table = model.__table__  # type: ignore[attr-defined]
    refs = {
        fk.parent.name: (fk.column.table, fk.column.name)
        for fk in table.foreign_keys
        if fk.column.table.name != "data_pulls"
    }
    return KindSpec(name, table, key, dept, refs, **kw)  # type: ignore[arg-type]


KINDS: dict[str, KindSpec] = {
    s.name: s
    for s in (
        _spec("enterprises", Enterprise, ("uscc",), "amr", aliases=("enterprise", "firms")),
        _spec(
            "qualifications",
            Qualification,
            ("uscc", "kind", "certificate_no"),
            "most",
            aliases=("qualification",),
            department_columns=("source",),
            date_order=(("valid_from", "valid_to", True),),
        ),
        _spec(
            "indicators",
            AnnualIndicator,
            ("uscc", "year"),
            "stats",
            aliases=("annual_indicators", "indicator"),
        ),
        _spec(
            "financing",
            FinancingEvent,
            ("uscc", "kind", "occurred_on", "investor"),
            "finance",
            aliases=("financing_events",),
        ),
        _spec("institutions", Institution, ("id",), "finance", aliases=("institution",)),
        _spec("products", Product, ("id",), "institution", aliases=("product",)),
        _spec(
            "loans",
            Loan,
            ("contract_no",),
            "institution",
            aliases=("loan",),
            date_order=(("disbursed_on", "maturity_on", False),),
        ),
        _spec(
            "loan-status",
            LoanStatus,
            ("contract_no", "month"),
            "institution",
            aliases=("loan_status", "loan_statuses"),
        ),
    )
}

#: The order in which kinds must be imported so that every reference already exists.
IMPORT_ORDER: tuple[str, ...] = tuple(KINDS)


def find_kind(name: str) -> KindSpec | None:
    n = name.strip().lower().replace("_", "-")
    for spec in KINDS.values():
        if n == spec.name or n in {a.replace("_", "-") for a in spec.aliases}:
            return spec
    return None
