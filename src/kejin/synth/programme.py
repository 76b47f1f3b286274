"""A planted policy effect: one programme of the synthetic region with a known effect.

The programme (``karamay_interest`` of year ``as_of.year − 2``, paid in December of that year)
chooses its beneficiaries by lottery within quotas by lifecycle stage and chain — observables the
effect evaluation matches on — so a difference-in-differences on matched firms is unbiased. The
following fiscal year, each beneficiary's R&D expense and revenue are multiplied by the planted
factors (loans are left alone: their planted effect is zero). The factors go to ``synth_effects``
only, beside ``synth_truth``: no estimating code reads them (kejin.stats.effect does not import
this module or those tables); the test and docs/effect.md compare the estimate with them.

Its draws come from a generator of their own (``[seed, 18]``), taken after the region is drawn,
so the rest of the region is the same as without the programme.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

#: The programme and its planted multiplicative effects on the year after payment.
POLICY_ID = "karamay_interest"
EFFECTS = {"rd_expense": 1.12, "revenue": 1.06, "loans": 1.0}
#: Chance of being drawn, by stage (seed, startup, growth, mature) and for firms in the two
#: chains the programme favours (equipment, information).
STAGE_P = {"seed": 0.05, "startup": 0.15, "growth": 0.25, "mature": 0.10}
FAVOURED = ("equipment", "information")
FAVOUR = 1.6


def programme_id(as_of: dt.date) -> str:
    return f"{POLICY_ID}-{as_of.year - 2}"


def plant(tables: dict[str, pl.DataFrame], seed: int, as_of: dt.date) -> dict[str, pl.DataFrame]:
    """The region's tables with the programme's rows added and its effect applied."""
    year = as_of.year - 2
    rng = np.random.default_rng([seed, 18])
    ent = tables["enterprises"].select("uscc", "stage", "industry_chain", "founded_on")
    p = ent["stage"].replace_strict(STAGE_P, return_dtype=pl.Float64).to_numpy()
    p = p * np.where(ent["industry_chain"].is_in(FAVOURED).to_numpy(), FAVOUR, 1.0)
    existed = (ent["founded_on"] < dt.date(year, 1, 1)).to_numpy()
    chosen = (rng.random(ent.height) < p) & existed
    usccs = ent["uscc"].filter(pl.Series(chosen))
    amounts = np.round(rng.uniform(50_000, 500_000, usccs.len()), -2)
    ind = tables["annual_indicators"]
    treated_next = pl.col("uscc").is_in(usccs.implode()) & (pl.col("year") == year + 1)
    dtype = ind.schema["revenue"]
    ind = ind.with_columns(
        pl.when(treated_next)
        .then((pl.col(c).cast(pl.Float64) * EFFECTS[c]).round(0).cast(dtype))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("rd_expense", "revenue")
    )
    pid = programme_id(as_of)
    paid = dt.datetime(year, 12, 15, 10, 0)
    total = float(amounts.sum())
    n = usccs.len()
    ids = np.arange(1, n + 1)
    programmes = pl.DataFrame(
        {
            "id": [pid], "policy_id": [POLICY_ID], "year": [year], "budget": [total],
            "reserved": [total], "paid": [total], "allocation": ["fcfs"], "state": ["published"],
            "params_as_of": [dt.date(year, 1, 1)], "made_by": ["synth"],
            "made_at": [dt.datetime(year, 1, 10)], "approved_by": ["synth_checker"],
            "approved_at": [dt.datetime(year, 1, 11)],
        }
    )  # fmt: skip
    money = pl.Decimal(18, 2)
    applications = pl.DataFrame(
        {
            "id": ids,
            "programme_id": [pid] * n,
            "firm": usccs,
            "entity": [f"{u}:{year}" for u in usccs],
            "cost_item": [None] * n,
            "inputs": ["{}"] * n,
            "state": ["paid"] * n,
            "claimed": amounts,
            "approved_amount": amounts,
            "paid_total": amounts,
            "note": ["抽签入选 / drawn by lottery"] * n,
            "applied_at": [dt.datetime(year, 3, 1)] * n,
            "applied_by": ["synth"] * n,
            "reviewed_by": ["synth"] * n,
            "reviewed_at": [dt.datetime(year, 6, 1)] * n,
            "approved_by": ["synth_checker"] * n,
            "approved_at": [dt.datetime(year, 6, 2)] * n,
        },
        schema_overrides={
            "cost_item": pl.String,
            "claimed": money,
            "approved_amount": money,
            "paid_total": money,
        },
    )
    payments = pl.DataFrame(
        {
            "id": ids,
            "application_id": ids,
            "seq": [0] * n,
            "kind": ["payment"] * n,
            "amount": amounts,
            "idempotency_key": [f"synth:{pid}:{u}" for u in usccs],
            "payload_sha256": [
                hashlib.sha256(f"{u}:{a}".encode()).hexdigest()
                for u, a in zip(usccs, amounts, strict=True)
            ],
            "reason": ["贴息拨付 / subsidy paid"] * n,
            "paid_by": ["synth"] * n,
            "paid_at": [paid] * n,
        },
        schema_overrides={"amount": money},
    )
    effects = pl.DataFrame(
        {
            "programme_id": [pid] * len(EFFECTS),
            "outcome": list(EFFECTS),
            "factor": list(EFFECTS.values()),
            "year": [year + 1] * len(EFFECTS),
        }
    )
    return {
        **tables,
        "annual_indicators": ind,
        "policy_programmes": programmes.with_columns(
            pl.col("budget", "reserved", "paid").cast(money)
        ),
        "policy_applications": applications,
        "policy_payments": payments,
        "synth_effects": effects,
    }
