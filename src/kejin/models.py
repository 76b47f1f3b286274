"""Imports every area's tables so that ``Base.metadata`` holds the whole schema (for Alembic)."""

from kejin.db import Base
from kejin.fund import tables as fund_tables
from kejin.lending import tables as lending_tables
from kejin.registry import tables as registry_tables
from kejin.synth import tables as synth_tables

__all__ = ["Base", "fund_tables", "lending_tables", "registry_tables", "synth_tables"]
