"""Imports every area's tables so that ``Base.metadata`` holds the whole schema (for Alembic)."""

from kejin.access import tables as access_tables
from kejin.credit import tables as credit_tables
from kejin.db import Base
from kejin.fund import tables as fund_tables
from kejin.lending import tables as lending_tables
from kejin.matching import tables as matching_tables
from kejin.points import tables as points_tables
from kejin.policy import tables as policy_tables
from kejin.registry import tables as registry_tables
from kejin.relend import tables as relend_tables
from kejin.stats import tables as stats_tables
from kejin.stats.evaluation import tables as evaluation_tables
from kejin.synth import tables as synth_tables
from kejin.whitelist import tables as whitelist_tables

__all__ = [
    "Base",
    "access_tables",
    "credit_tables",
    "evaluation_tables",
    "fund_tables",
    "lending_tables",
    "matching_tables",
    "points_tables",
    "policy_tables",
    "registry_tables",
    "relend_tables",
    "stats_tables",
    "synth_tables",
    "whitelist_tables",
]
