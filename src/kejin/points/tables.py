"""Score runs and per-firm results: every published number can be traced to its inputs.

A run records the indicator system (id, version, sha256 of the YAML bytes), the data snapshot
(scoring year, last data pull, sha256 of the input frame), the parameters, and the sha256 of the
results, so a rerun on the same inputs can be checked byte for byte.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base
from kejin.registry.tables import label


class ScoreRun(Base):
    __tablename__ = "points_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[str] = mapped_column(String(40), index=True, info=label("指标体系", "system"))
    system_version: Mapped[str] = mapped_column(
        String(20), info=label("体系版本", "system version")
    )
    system_sha256: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer, info=label("数据年度", "data year"))
    snapshot_pull_id: Mapped[int | None] = mapped_column(
        Integer, info=label("数据快照(最后一次拉取)", "data snapshot: last pull id")
    )
    input_sha256: Mapped[str] = mapped_column(String(64), info=label("输入数据哈希", "input hash"))
    parameters: Mapped[str] = mapped_column(Text, info=label("参数(JSON)", "parameters (JSON)"))
    firms: Mapped[int] = mapped_column(Integer)
    results_sha256: Mapped[str] = mapped_column(String(64), info=label("结果哈希", "results hash"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ScoreResult(Base):
    __tablename__ = "points_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("points_runs.id"), primary_key=True)
    uscc: Mapped[str] = mapped_column(
        String(18), primary_key=True, info=label("统一社会信用代码", "USCC")
    )
    peer_group: Mapped[str] = mapped_column(String(60), info=label("同业组", "peer group"))
    base: Mapped[float] = mapped_column(Float, info=label("基础分", "base points"))
    bonus: Mapped[float] = mapped_column(Float, info=label("加分", "bonus points"))
    total: Mapped[float] = mapped_column(Float, info=label("创新积分", "total points"))
    group_size: Mapped[int] = mapped_column(Integer)
    rank_group: Mapped[int] = mapped_column(Integer, info=label("组内排名", "rank in group"))
    pct_group: Mapped[float] = mapped_column(Float, info=label("组内百分位", "percentile in group"))
    rank_region: Mapped[int] = mapped_column(Integer, info=label("区域排名", "rank in region"))
    pct_region: Mapped[float] = mapped_column(
        Float, info=label("区域百分位", "percentile in region")
    )
    grade: Mapped[str] = mapped_column(String(8), info=label("等级", "grade"))
    list_id: Mapped[str | None] = mapped_column(String(20), info=label("名单", "list"))
    detail: Mapped[str] = mapped_column(
        Text, info=label("指标明细(JSON)", "per-indicator raw, score, contribution, missing (JSON)")
    )
