"""The synthetic region's ground truth, kept apart so that no scoring code can read it by accident.

Later issues validate points and credit models against these latent values; nothing in points/,
credit/ or whitelist/ may import this module.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kejin.db import Base


class SynthTruth(Base):
    """Latent traits and true default probability of each synthetic firm."""

    __tablename__ = "synth_truth"

    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"), primary_key=True)
    innovation_capability: Mapped[float] = mapped_column(Float)
    credit_quality: Mapped[float] = mapped_column(Float)
    pd_annual: Mapped[float] = mapped_column(Float)
    defaulted: Mapped[bool] = mapped_column(Integer)


class SynthRun(Base):
    """Parameters of the generation run, so the region can be rebuilt identically."""

    __tablename__ = "synth_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer)
    firms: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[str] = mapped_column(String(10))
    generator_version: Mapped[str] = mapped_column(String(20))


class SynthEffect(Base):
    """The planted effect of the synthetic programme (kejin.synth.programme): a multiplicative
    factor on an outcome of the beneficiaries in one year. Only tests and docs read it."""

    __tablename__ = "synth_effects"

    programme_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(40), primary_key=True)
    factor: Mapped[float] = mapped_column(Float)
    year: Mapped[int] = mapped_column(Integer)
