"""Whitelist versions, their entries, and every push of a version to an institution."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base
from kejin.registry.tables import label


class WhitelistVersion(Base):
    __tablename__ = "whitelist_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, info=label("基准日", "as-of date"))
    rules_id: Mapped[str] = mapped_column(String(40), info=label("规则集", "rule set"))
    rules_version: Mapped[str] = mapped_column(String(20))
    rules_sha256: Mapped[str] = mapped_column(String(64))
    score_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("points_runs.id"), info=label("积分批次", "points run")
    )
    members: Mapped[int] = mapped_column(Integer, info=label("入库企业数", "members"))
    entries_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(60))


class WhitelistEntry(Base):
    """A firm that met an entry rule in a version: a member with a tier, or excluded, with reasons."""

    __tablename__ = "whitelist_entries"

    version_id: Mapped[int] = mapped_column(ForeignKey("whitelist_versions.id"), primary_key=True)
    uscc: Mapped[str] = mapped_column(
        String(18), primary_key=True, info=label("统一社会信用代码", "USCC")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("企业名称", "name"))
    stage: Mapped[str] = mapped_column(String(10), info=label("生命周期阶段", "stage"))
    industry_chain: Mapped[str | None] = mapped_column(
        String(30), info=label("重点产业链", "industry chain")
    )
    region_code: Mapped[str] = mapped_column(String(6), info=label("行政区划代码", "region code"))
    status: Mapped[str] = mapped_column(String(10), info=label("状态", "member or excluded"))
    tier: Mapped[str | None] = mapped_column(String(10), info=label("层级", "tier"))
    tier_rule: Mapped[str | None] = mapped_column(String(40), info=label("层级规则", "tier rule"))
    points: Mapped[float | None] = mapped_column(Float, info=label("创新积分", "points"))
    list_id: Mapped[str | None] = mapped_column(String(20), info=label("积分名单", "points list"))
    entry_rules: Mapped[str] = mapped_column(Text, info=label("入库规则", "entry rules met"))
    exclusion_rules: Mapped[str] = mapped_column(
        Text, info=label("排除规则", "exclusion rules hit")
    )


class WhitelistPush(Base):
    """One file sent to one institution: what, when, by whom, and its checksum."""

    __tablename__ = "whitelist_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("whitelist_versions.id"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    format: Mapped[str] = mapped_column(String(5))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), info=label("文件校验和", "file checksum"))
    rows: Mapped[int] = mapped_column(Integer)
    fields: Mapped[str] = mapped_column(Text, info=label("推送字段", "fields sent"))
    pushed_at: Mapped[datetime] = mapped_column(DateTime, info=label("推送时间", "pushed at"))
    pushed_by: Mapped[str] = mapped_column(String(60), info=label("推送人", "pushed by"))
