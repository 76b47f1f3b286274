"""Credit's schema: the model registry and the decision record (the 尽职免责 evidence).

A model is stored as its sealed JSON artefact, keyed by the artefact's content hash, so the row
that a decision points at is exactly the model that made it. A decision keeps its whole input
snapshot and outputs as JSON, with the decision table's version and the officer's action, so it
can be replayed years later without the registry rows it was computed from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base
from kejin.registry.tables import label


class CreditModel(Base):
    """One registered model version (scorecard or GBM), its artefact verbatim."""

    __tablename__ = "credit_models"

    id: Mapped[str] = mapped_column(
        String(64), primary_key=True, info=label("模型内容哈希", "artefact content hash")
    )
    name: Mapped[str] = mapped_column(String(100), info=label("模型名称", "model name"))
    version: Mapped[int] = mapped_column(Integer, info=label("版本", "version"))
    method: Mapped[str] = mapped_column(String(20), info=label("方法", "method"))
    schema: Mapped[str] = mapped_column(String(60), info=label("格式版本", "schema"))
    training_sha256: Mapped[str] = mapped_column(
        String(64), info=label("训练数据哈希", "training data hash")
    )
    registered_at: Mapped[datetime] = mapped_column(
        DateTime, info=label("登记时间", "registered at")
    )
    artefact: Mapped[str] = mapped_column(Text, info=label("模型文件", "artefact JSON"))

    __table_args__ = (UniqueConstraint("name", "version"),)


class CreditDecision(Base):
    """A decision on one firm for one product, with everything needed to replay it."""

    __tablename__ = "credit_decisions"

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, info=label("决策编号", "decision id")
    )
    uscc: Mapped[str] = mapped_column(
        String(18), index=True, info=label("统一社会信用代码", "USCC")
    )
    product: Mapped[str] = mapped_column(String(40), info=label("决策表产品", "product"))
    table_version: Mapped[str] = mapped_column(
        String(64), info=label("决策表版本(哈希)", "decision-table version (hash)")
    )
    model_id: Mapped[str | None] = mapped_column(
        ForeignKey("credit_models.id"), info=label("模型", "model")
    )
    decided_at: Mapped[datetime] = mapped_column(DateTime, info=label("决策时间", "decided at"))
    as_of: Mapped[str] = mapped_column(String(10), info=label("数据截止日", "data as of"))
    inputs: Mapped[str] = mapped_column(Text, info=label("输入快照", "input snapshot JSON"))
    table: Mapped[str] = mapped_column(Text, info=label("决策表全文", "decision table text"))
    outputs: Mapped[str] = mapped_column(Text, info=label("决策结果", "outputs JSON"))
    officer: Mapped[str | None] = mapped_column(String(60), info=label("经办人", "officer"))
    action: Mapped[str | None] = mapped_column(String(20), info=label("处理意见", "officer action"))
    #: Who recorded ``action``; ``officer`` stays the one who requested the decision, since the
    #: due-diligence record (尽职免责) must show both the maker and whoever acted on the result.
    action_by: Mapped[str | None] = mapped_column(String(60), info=label("处理人", "acted by"))
    action_note: Mapped[str | None] = mapped_column(Text, info=label("说明", "action note"))
    action_at: Mapped[datetime | None] = mapped_column(
        DateTime, info=label("处理时间", "action at")
    )
    contract_no: Mapped[str | None] = mapped_column(
        String(40), index=True, info=label("合同编号", "loan contract number")
    )
    #: The firm's consent under which a bank's decision read its data (explainability: the
    #: evidence pack names it); empty for an analyst's decision, which belongs to no bank.
    consent_id: Mapped[int | None] = mapped_column(
        ForeignKey("consents.id"), info=label("数据授权", "consent used")
    )
