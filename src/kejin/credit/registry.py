"""The model registry: sealed artefacts stored verbatim, versioned per name.

Registering the same artefact twice is a no-op (its id is its content hash), so re-running a
training script does not invent a new version; a changed model gets the next version number.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kejin.credit.artefact import dumps, loads
from kejin.credit.tables import CreditModel
from kejin.db import joined, transaction
from kejin.errors import NotFoundError, Problem


def register(engine: Engine, art: dict, name: str, session: Session | None = None) -> CreditModel:
    """Store ``art`` under ``name``; returns the (new or existing) registry row.

    ``session``: stored in the caller's transaction, beside the audit record it writes
    (:func:`kejin.db.joined`); without, in a transaction of its own."""
    text = dumps(art)
    sealed = loads(text)
    with joined(engine, session) as s:
        row = s.get(CreditModel, sealed["content_hash"])
        if row is not None:
            s.expunge(row)
            return row
        last = s.scalar(select(func.max(CreditModel.version)).where(CreditModel.name == name))
        row = CreditModel(
            id=sealed["content_hash"],
            name=name,
            version=(last or 0) + 1,
            method=sealed["method"],
            schema=sealed["schema"],
            training_sha256=sealed["training_sha256"],
            registered_at=datetime.now(UTC).replace(tzinfo=None),
            artefact=text,
        )
        s.add(row)
        s.flush()
        s.expunge(row)
        return row


def fetch(engine: Engine, name_or_id: str, version: int | None = None) -> tuple[str, dict]:
    """(id, verified artefact) by content hash, or by name (latest version unless given)."""
    with transaction(engine) as s:
        row = s.get(CreditModel, name_or_id)
        if row is None:
            q = select(CreditModel).where(CreditModel.name == name_or_id)
            q = q.where(CreditModel.version == version) if version else q
            row = s.scalars(q.order_by(CreditModel.version.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(
                "模型未登记",
                "model not registered",
                [Problem("", "", field="model", value=name_or_id)],
            )
        return row.id, loads(row.artefact, f"credit_models/{row.id}")
