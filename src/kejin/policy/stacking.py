"""The stacking rule "从优、就高、不重复" (seed 002, 沪府办规〔2025〕8号 closing clause).

Text: 政策措施与其他市级政策有重复的，按照从优、就高、不重复的原则执行。

When several policies pay for the same cost item of the same firm (the interest of one loan in
one year, one investment, one premium), only the highest amount is paid; ties go to the policy id
that sorts first, so the outcome is deterministic. The others are kept in the result, marked
``kept = false`` with the policy that displaced them, so a trace can say what was set aside.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from kejin.policy.engine import MONEY, Policy, run_starts

ARTICLE = "沪府办规〔2025〕8号：从优、就高、不重复"

SCHEMA = {
    "policy_id": pl.String,
    "firm": pl.String,
    "entity": pl.String,
    "cost_kind": pl.String,
    "cost_item": pl.String,
    "amount": MONEY,
}


def claims(policy: Policy, result: pl.DataFrame) -> pl.DataFrame:
    """The eligible, positive payments of one policy's result, keyed by cost item."""
    if policy.cost_item is None:
        return pl.DataFrame(schema=SCHEMA)
    return result.filter(pl.col("eligible") & (pl.col("amount") > 0)).select(
        pl.lit(policy.id).alias("policy_id"),
        pl.col(policy.firm_column).alias("firm"),
        pl.concat_str([pl.col(k).cast(pl.String) for k in policy.key], separator="/").alias(
            "entity"
        ),
        pl.lit(policy.cost_kind).alias("cost_kind"),
        policy.cost_item.alias("cost_item"),
        pl.col("amount"),
    )


def no_stacking(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Keep the highest claim per (firm, cost item); mark the rest as set aside and by whom.

    Only claims of one ``cost_kind`` can collide, so each kind is screened on its own (a file may
    also repeat a row, which the same screen catches). Within a kind, a 64-bit hash of (firm,
    cost item) finds the candidates cheaply; only those rows are then ranked on the exact
    strings, so a hash collision can never merge two different cost items.
    """
    frames = [p for p in parts if p.height]
    out_schema = {**SCHEMA, "kept": pl.Boolean, "set_aside_by": pl.String}
    if not frames:
        return pl.DataFrame(schema=out_schema)
    by_kind: dict[str, list[pl.DataFrame]] = {}
    for f in frames:
        by_kind.setdefault(f["cost_kind"][0], []).append(f)
    out = []
    for parts_of_kind in by_kind.values():
        allc = pl.concat(parts_of_kind)
        dup = allc.select(pl.struct("firm", "cost_item").hash().is_duplicated()).to_series()
        single = allc.filter(~dup).with_columns(
            pl.lit(True).alias("kept"), pl.lit(None, dtype=pl.String).alias("set_aside_by")
        )
        multi = allc.filter(dup).sort(
            ["firm", "cost_item", "amount", "policy_id"], descending=[False, False, True, False]
        )
        multi = multi.with_columns(run_starts(["firm", "cost_item"]).alias("kept")).with_columns(
            pl.when(pl.col("kept"))
            .then(None)
            .otherwise(pl.when(pl.col("kept")).then(pl.col("policy_id")).forward_fill())
            .alias("set_aside_by")
        )
        out += [single, multi.select(list(out_schema))]
    return pl.concat(out)
