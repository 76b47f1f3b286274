"""The registry's schema: firms, their qualifications, annual indicators and financing events.

Annual indicators are one wide row per firm and year (what batch scoring reads), and every value
keeps its own provenance: the ``<field>_pull`` column points at the :class:`DataPull` (department,
pull time, file) that last changed it, so a tax figure and a patent count in the same row can come
from different departments at different times.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from kejin.db import Base, Money
from kejin.vocab import (
    DEPARTMENTS,
    FINANCING_KINDS,
    INDUSTRY_CHAINS,
    LISTING_BOARDS,
    QUALIFICATION_KINDS,
    STAGES,
    TAX_CREDIT_GRADES,
    Term,
)


def vocab_enum(vocab: dict[str, Term], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint, identical on SQLite and PostgreSQL."""
    return Enum(
        *vocab,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(k) for k in vocab),
    )


def label(zh: str, en: str, **extra: str) -> dict[str, str]:
    """Column metadata used for headers, reports and import aliases."""
    return {"zh": zh, "en": en, **extra}


class DataPull(Base):
    """One delivery of data from a department: a file import or a synthetic generation run."""

    __tablename__ = "data_pulls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), info=label("数据类别", "data kind"))
    department: Mapped[str] = mapped_column(vocab_enum(DEPARTMENTS, "department"))
    pulled_at: Mapped[datetime] = mapped_column(DateTime, info=label("拉取时间", "pulled at"))
    file_name: Mapped[str | None] = mapped_column(String(500))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)


class Enterprise(Base):
    """A technology firm, keyed by its 统一社会信用代码."""

    __tablename__ = "enterprises"

    uscc: Mapped[str] = mapped_column(
        String(18), primary_key=True, info=label("统一社会信用代码", "USCC")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("企业名称", "name"))
    region_code: Mapped[str] = mapped_column(
        String(6), index=True, info=label("行政区划代码", "region code")
    )
    industry_code: Mapped[str] = mapped_column(
        String(5), info=label("国民经济行业代码", "industry code (GB/T 4754)")
    )
    industry_chain: Mapped[str | None] = mapped_column(
        vocab_enum(INDUSTRY_CHAINS, "industry_chain"),
        index=True,
        info=label("重点产业链", "industry chain"),
    )
    founded_on: Mapped[date] = mapped_column(Date, info=label("成立日期", "founded on"))
    stage: Mapped[str] = mapped_column(
        vocab_enum(STAGES, "stage"), info=label("生命周期阶段", "lifecycle stage")
    )
    staff: Mapped[int | None] = mapped_column(Integer, info=label("从业人数", "staff"))
    listing_board: Mapped[str] = mapped_column(
        vocab_enum(LISTING_BOARDS, "listing_board"),
        default="none",
        info=label("上市板块", "listing board"),
    )
    dishonest: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("失信", "dishonest (失信)")
    )
    deregistered: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("注销", "deregistered")
    )
    abnormal_operation: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label("经营异常", "abnormal operation")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (CheckConstraint("staff IS NULL OR staff >= 0", name="staff_nonneg"),)

    @classmethod
    def in_good_standing(cls) -> ColumnElement[bool]:
        """Not dishonest, deregistered or in abnormal operation: a firm a demo or a bank can
        show as a customer (the three status flags every status check reads)."""
        return and_(~cls.dishonest, ~cls.deregistered, ~cls.abnormal_operation)


class Qualification(Base):
    """A certified title (高新技术企业 …) with its validity; the whitelist reads it by date."""

    __tablename__ = "qualifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    kind: Mapped[str] = mapped_column(
        vocab_enum(QUALIFICATION_KINDS, "qualification_kind"), info=label("资质类型", "kind")
    )
    certificate_no: Mapped[str] = mapped_column(
        String(60), info=label("证书编号", "certificate number")
    )
    valid_from: Mapped[date] = mapped_column(Date, info=label("有效期起", "valid from"))
    valid_to: Mapped[date] = mapped_column(Date, info=label("有效期止", "valid to"))
    source: Mapped[str] = mapped_column(
        vocab_enum(DEPARTMENTS, "department"), info=label("认定部门", "source department")
    )
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (
        UniqueConstraint("uscc", "kind", "certificate_no"),
        CheckConstraint("valid_to >= valid_from", name="validity_order"),
    )


class AnnualIndicator(Base):
    """What a firm reported or was observed to do in one fiscal year."""

    __tablename__ = "annual_indicators"

    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), primary_key=True, info=label("统一社会信用代码", "USCC")
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True, info=label("年度", "year"))
    revenue: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("营业收入", "revenue", unit="CNY", dept="tax")
    )
    profit: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("净利润", "net profit", unit="CNY", dept="tax", signed="1")
    )
    total_assets: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("资产总额", "total assets", unit="CNY", dept="stats")
    )
    total_liabilities: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("负债总额", "total liabilities", unit="CNY", dept="stats")
    )
    total_cost: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("成本费用总额", "total cost and expenses", unit="CNY", dept="tax")
    )
    rd_expense: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("研发费用", "R&D expense", unit="CNY", dept="tax")
    )
    rd_staff: Mapped[int | None] = mapped_column(
        Integer, info=label("研发人员数", "R&D staff", unit="person", dept="most")
    )
    staff: Mapped[int | None] = mapped_column(
        Integer, info=label("从业人数", "staff", unit="person", dept="hrss")
    )
    high_tech_revenue: Mapped[Decimal | None] = mapped_column(
        Money(),
        info=label("高新技术产品收入", "high-tech product revenue", unit="CNY", dept="most"),
    )
    invention_patents: Mapped[int | None] = mapped_column(
        Integer, info=label("发明专利数", "invention patents", unit="item", dept="ip")
    )
    utility_patents: Mapped[int | None] = mapped_column(
        Integer, info=label("实用新型专利数", "utility-model patents", unit="item", dept="ip")
    )
    design_patents: Mapped[int | None] = mapped_column(
        Integer, info=label("外观设计专利数", "design patents", unit="item", dept="ip")
    )
    software_copyrights: Mapped[int | None] = mapped_column(
        Integer, info=label("软件著作权数", "software copyrights", unit="item", dept="ip")
    )
    pct_applications: Mapped[int | None] = mapped_column(
        Integer, info=label("PCT专利申请数", "PCT applications", unit="item", dept="ip")
    )
    tech_contract_turnover: Mapped[Decimal | None] = mapped_column(
        Money(),
        info=label("技术合同成交额", "technology-contract turnover", unit="CNY", dept="most"),
    )
    graduates_hired: Mapped[int | None] = mapped_column(
        Integer,
        info=label(
            "当年吸纳高校应届毕业生人数", "fresh graduates hired", unit="person", dept="hrss"
        ),
    )
    awards: Mapped[int | None] = mapped_column(
        Integer, info=label("科技奖励数", "science and technology awards", unit="item", dept="most")
    )
    science_programmes: Mapped[int | None] = mapped_column(
        Integer,
        info=label("承担科技计划项目数", "science programmes undertaken", unit="item", dept="most"),
    )
    rd_platforms: Mapped[int | None] = mapped_column(
        Integer, info=label("研发平台数", "R&D platforms", unit="item", dept="most")
    )
    standards_led: Mapped[int | None] = mapped_column(
        Integer, info=label("主导制定标准数", "standards led", unit="item", dept="amr")
    )
    tax_paid: Mapped[Decimal | None] = mapped_column(
        Money(), info=label("纳税总额", "tax paid", unit="CNY", dept="tax")
    )
    tax_credit_grade: Mapped[str | None] = mapped_column(
        vocab_enum(TAX_CREDIT_GRADES, "tax_credit_grade"),
        info=label("纳税信用等级", "tax credit grade", dept="tax"),
    )


#: Indicator value columns, in declaration order (everything except the key).
INDICATOR_FIELDS: tuple[str, ...] = tuple(
    c.name for c in AnnualIndicator.__table__.columns if c.name not in ("uscc", "year")
)

# Each value's provenance: a pull id per field, added after the value columns so the pairing is
# generated from the single list above rather than written twice. These are plain integers, not
# foreign keys: 22 FK checks per row made PostgreSQL bulk loads ~5x slower (measured: 9.5 s for
# 20k fully populated rows), and the only writers (ingest, synth) create the pull in the same
# transaction as the values, so the reference cannot dangle.
for _f in INDICATOR_FIELDS:
    setattr(
        AnnualIndicator,
        f"{_f}_pull",
        mapped_column(f"{_f}_pull", Integer, nullable=True),
    )

for _c in AnnualIndicator.__table__.columns:
    if _c.name in INDICATOR_FIELDS and _c.info.get("unit") and not _c.info.get("signed"):
        AnnualIndicator.__table__.append_constraint(
            CheckConstraint(f"{_c.name} IS NULL OR {_c.name} >= 0", name=f"{_c.name}_nonneg")
        )


class FinancingEvent(Base):
    """Equity or bond financing received (angel → VC → PE → IPO → bond: the relay of seed 003)."""

    __tablename__ = "financing_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc"), index=True, info=label("统一社会信用代码", "USCC")
    )
    kind: Mapped[str] = mapped_column(
        vocab_enum(FINANCING_KINDS, "financing_kind"), info=label("融资类型", "kind")
    )
    occurred_on: Mapped[date] = mapped_column(Date, info=label("融资日期", "date"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("融资金额", "amount", unit="CNY"))
    investor: Mapped[str] = mapped_column(String(200), info=label("投资方", "investor"))
    pull_id: Mapped[int | None] = mapped_column(ForeignKey("data_pulls.id"))

    __table_args__ = (
        UniqueConstraint("uscc", "kind", "occurred_on", "investor"),
        CheckConstraint("amount > 0", name="amount_pos"),
    )
