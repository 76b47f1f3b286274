"""The catalogue and the needs surveys as Excel: export, import (every bad row named, all-or-nothing).

Files are read by the ingest reader (:func:`kejin.ingest.read.read_file`: CSV, XLSX or Parquet,
cells as text, row numbers as a clerk sees them) and written through the one xlsx writer
(:class:`kejin.exports.Book`, which keeps formula-looking text as text). Headers are the
Chinese labels; the English label or the identifier is accepted too. Every row is validated by
the same functions as the API (:func:`kejin.matching.products.problems_of`,
:func:`kejin.matching.service.need_problems`); one bad row means nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Principal, authorize
from kejin.errors import Problem, ValidationError
from kejin.exports import Book
from kejin.ingest.read import ROW, read_file
from kejin.matching import products as catalogue
from kejin.matching import service
from kejin.matching.products import ProductTerms
from kejin.policy.predicates import split_rules
from kejin.registry.tables import Enterprise
from kejin.vocab import GUARANTEE_KINDS, PRODUCT_KINDS, REPAYMENT_OPTIONS, lookup

#: Product columns: identifier, Chinese header, English header.
PRODUCT_HEADERS = (
    ("product_id", "产品编号", "product id"),
    ("institution_id", "机构编号", "institution id"),
    ("name", "产品名称", "name"),
    ("kind", "产品类型", "kind"),
    ("min_amount", "最低金额(元)", "minimum amount (CNY)"),
    ("max_amount", "最高金额(元)", "maximum amount (CNY)"),
    ("min_term_months", "最短期限(月)", "minimum term (months)"),
    ("max_term_months", "最长期限(月)", "maximum term (months)"),
    ("spread_min_bp", "LPR加点下限(基点)", "spread low (bp)"),
    ("spread_max_bp", "LPR加点上限(基点)", "spread high (bp)"),
    ("guarantee_kinds", "担保方式", "guarantee kinds"),
    ("repayment", "还款方式", "repayment options"),
    ("talent_loan", "人才贷", "talent loan"),
    ("invest_loan_link", "投贷联动", "investment-loan linkage"),
    ("eligibility", "准入条件", "eligibility rules"),
    ("credit_model", "授信模型", "credit model"),
)
#: Survey columns (Ji'an-style: funding need, R&D stage, repayment source, credit enhancement).
NEED_HEADERS = (
    ("uscc", "统一社会信用代码", "USCC"),
    ("amount", "融资需求金额(元)", "amount (CNY)"),
    ("term_months", "期限(月)", "term (months)"),
    ("purpose", "资金用途", "purpose"),
    ("guarantee_offered", "可提供增信方式", "credit enhancement offered"),
    ("max_rate", "可接受最高年利率", "highest acceptable rate"),
    ("repayment_source", "还款来源", "repayment source"),
    ("rd_stage", "研发阶段", "R&D stage"),
    ("technology", "技术需求", "technology need"),
    ("market", "市场需求", "market need"),
    ("talent", "人才需求", "talent need"),
)
REQUIRED_NEED = ("uscc", "amount", "term_months", "purpose")
YES = {"是", "yes", "y", "true", "1"}
NO = {"否", "no", "n", "false", "0", ""}


def _columns(
    raw: Any, headers: tuple[tuple[str, str, str], ...], required: tuple[str, ...]
) -> dict[str, str]:
    """Map the file's headers to identifiers; refuse the file for a missing required column."""
    by_text = {t.strip().lower(): ident for ident, zh, en in headers for t in (ident, zh, en)}
    found = {by_text[h.strip().lower()]: h for h in raw.headers if h.strip().lower() in by_text}
    missing = [h for h in headers if h[0] in required and h[0] not in found]
    if missing:
        raise ValidationError(
            "文件缺少必需列",
            "the file lacks required columns",
            [
                Problem(f"缺少列：{zh}", f"missing column: {en}", file=raw.name, row=1, field=ident)
                for ident, zh, en in missing
            ],
        )
    return found


class _Row:
    """One row's typed values, collecting every problem instead of stopping at the first."""

    def __init__(
        self, raw: dict[str, Any], cols: dict[str, str], file: str, problems: list[Problem]
    ) -> None:
        self.raw, self.cols, self.file, self.problems = raw, cols, file, problems
        self.row = raw[ROW]

    def text(self, ident: str) -> str | None:
        h = self.cols.get(ident)
        v = None if h is None else self.raw.get(h)
        return None if v is None or not str(v).strip() else str(v).strip()

    def _bad(self, ident: str, value: Any, zh: str, en: str) -> None:
        self.problems.append(
            Problem(zh, en, file=self.file, row=self.row, field=ident, value=value)
        )

    def required(self, ident: str) -> str:
        v = self.text(ident)
        if v is None:
            self._bad(ident, None, "必填项为空", "required value is empty")
        return v or ""

    def number(self, ident: str, parse: Callable[[str], Any], required: bool = True) -> Any:
        v = self.required(ident) if required else self.text(ident)
        if not v:
            return None
        try:
            return parse(v.replace(",", ""))
        except (InvalidOperation, ValueError):
            self._bad(ident, v, "不是有效数字", "not a valid number")
            return None

    def flag(self, ident: str) -> bool:
        v = (self.text(ident) or "").lower()
        if v not in YES | NO:
            self._bad(ident, v, "应为“是”或“否”", "must be yes or no")
        return v in YES

    def one(self, ident: str, vocab: dict) -> str:
        v = self.required(ident)
        k = lookup(vocab, v) if v else None
        if v and k is None:
            self._bad(ident, v, "取值不在词表中", "value not in the vocabulary")
        return k or v

    def terms(self, ident: str, vocab: dict) -> list[str]:
        out = []
        for t in split_rules((self.text(ident) or "").replace("、", ";").replace(",", ";")):
            k = lookup(vocab, t)
            if k is None:
                self._bad(ident, t, "取值不在词表中", "value not in the vocabulary")
            else:
                out.append(k)
        return out


def import_products(s: Session, p: Principal, path: Path) -> list[dict[str, Any]]:
    """Each row becomes a submitted version awaiting a second person's approval."""
    authorize(s, p, "match.product.edit")
    raw = read_file(path)
    cols = _columns(raw, PRODUCT_HEADERS, tuple(h[0] for h in PRODUCT_HEADERS[:11]))
    problems: list[Problem] = []
    rows: list[ProductTerms] = []
    day = utcnow().date()
    seen: dict[str, int] = {}
    for rec in raw.frame.iter_rows(named=True):
        r = _Row(rec, cols, raw.name, problems)
        t = ProductTerms(
            product_id=r.required("product_id"),
            institution_id=r.required("institution_id"),
            name=r.required("name"),
            kind=r.one("kind", PRODUCT_KINDS),
            min_amount=r.number("min_amount", Decimal) or Decimal(0),
            max_amount=r.number("max_amount", Decimal) or Decimal(0),
            min_term_months=r.number("min_term_months", int) or 0,
            max_term_months=r.number("max_term_months", int) or 0,
            spread_min_bp=r.number("spread_min_bp", int) or 0,
            spread_max_bp=r.number("spread_max_bp", int) or 0,
            guarantee_kinds=r.terms("guarantee_kinds", GUARANTEE_KINDS),
            repayment=r.terms("repayment", REPAYMENT_OPTIONS),
            talent_loan=r.flag("talent_loan"),
            invest_loan_link=r.flag("invest_loan_link"),
            eligibility=split_rules(r.text("eligibility")),
            credit_model=r.text("credit_model"),
        )
        if t.product_id in seen:
            r._bad(
                "product_id",
                t.product_id,
                f"与第{seen[t.product_id]}行重复",
                f"duplicates row {seen[t.product_id]}",
            )
        seen[t.product_id] = r.row
        problems += catalogue.problems_of(t, day, row=r.row, file=raw.name) if t.product_id else []
        rows.append(t)
    if problems:
        raise ValidationError(
            "文件有错误，未导入任何产品", "the file has errors; no product was imported", problems
        )
    return [catalogue.view(catalogue.draft(s, p, t, submit=True)) for t in rows]


def _cell(v: Any) -> Any:
    if isinstance(v, list):
        return ";".join(v)
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, Decimal):
        return float(v)
    return v


def export_products(s: Session, p: Principal, path: Path) -> int:
    """The live catalogue in the import layout (Chinese headers), so it round-trips."""
    rows = catalogue.catalogue(s, p)
    wb = Book()
    ws = wb.sheet("产品 products")
    ws.row([zh for _, zh, _ in PRODUCT_HEADERS])
    ws.rows([_cell(r[ident]) for ident, _, _ in PRODUCT_HEADERS] for r in rows)
    wb.save(path)
    return len(rows)


def import_needs(s: Session, p: Principal, path: Path) -> list[int]:
    """A Ji'an-style survey: each row a published need of the named firm (government import)."""
    authorize(s, p, "match.need.import")
    raw = read_file(path)
    cols = _columns(raw, NEED_HEADERS, REQUIRED_NEED)
    problems: list[Problem] = []
    now = utcnow()
    parsed: list[tuple[str, service.NeedIn]] = []
    for rec in raw.frame.iter_rows(named=True):
        r = _Row(rec, cols, raw.name, problems)
        uscc = r.required("uscc")
        if uscc and s.get(Enterprise, uscc) is None:
            r._bad("uscc", uscc, "登记库中没有该企业", "no such firm in the registry")
        survey = {k: r.text(k) for k in ("rd_stage", "technology", "market", "talent") if r.text(k)}
        n = service.NeedIn(
            amount=r.number("amount", Decimal) or Decimal(0),
            term_months=r.number("term_months", int) or 0,
            purpose=r.required("purpose"),
            guarantee_offered=r.terms("guarantee_offered", GUARANTEE_KINDS),
            max_rate=r.number("max_rate", Decimal, required=False),
            repayment_source=r.text("repayment_source"),
            survey=survey or None,
        )
        problems += service.need_problems(n, now, row=r.row, file=raw.name)
        parsed.append((uscc, n))
    if problems:
        raise ValidationError(
            "文件有错误，未导入任何需求", "the file has errors; no need was imported", problems
        )
    return [service.post(s, p, u, n, now=now, action="match.need.import").id for u, n in parsed]
