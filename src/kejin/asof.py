"""The one "as of" rule for every figure a page or a command shows.

**Figures are as of the data date unless they say otherwise.** The data date is the day the
region's latest data snapshot describes: the latest data pull's day, or for a synthetic region
the day its generation describes (its data stop there), whichever is later; today only while
nothing has been loaded. Counts judged on a date (firms holding a valid title, say) use it, so
the dashboard, the firm list and ``kejin summary`` give one number for 高新 firms.

Figures that rest on something else name it where they are shown, in the same words everywhere:
innovation points by their run and data year, the whitelist by its version and its own as-of
date, early warnings by their data month, fund balances and claims as of the ledger today
(money moves daily). docs/asof.md states the rule for readers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select

RULE = (
    "除另有注明外，所有数字均截至数据日期（最近一次数据快照所描述的日期）。",
    "Unless stated otherwise, every figure is as of the data date (the day the latest data "
    "snapshot describes).",
)


def data_date(conn: Connection) -> dt.date:
    """The data date: the latest of the last data pull's day and the synthetic region's date;
    today when neither exists."""
    from kejin.registry.tables import DataPull
    from kejin.synth.tables import SynthRun

    days: list[dt.date] = []
    pulled = conn.execute(select(func.max(DataPull.pulled_at))).scalar()
    if pulled is not None:
        days.append(pulled.date() if isinstance(pulled, dt.datetime) else pulled)
    synth = conn.execute(select(SynthRun.as_of).order_by(SynthRun.id.desc()).limit(1)).scalar()
    if synth:
        days.append(dt.date.fromisoformat(synth))
    return max(days) if days else dt.date.today()
