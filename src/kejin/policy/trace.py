"""Explain one result: every condition, parameter and intermediate amount, with its article.

Parameters that are readings of the text (``reading: true``) say so, with the alternatives in
their description, and the result names the rounding rule that made the amount.

The trace evaluates the policy over the whole frame the entity belongs to (per-firm caps and
carry-forwards depend on the firm's other rows), then reads the named step columns of the one
row. Nothing is recomputed differently for explaining: the numbers are the batch's numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from kejin.errors import NotFoundError, Problem
from kejin.policy.engine import MONEY, ROUNDING_TEXT, Policy, evaluate
from kejin.policy.params import OPEN_END


def entity_filter(policy: Policy, entity: str) -> pl.Expr:
    """Rows whose key, joined by '/', equals ``entity`` (or whose first key does)."""
    joined = pl.concat_str([pl.col(k).cast(pl.String) for k in policy.key], separator="/")
    return (joined == entity) | (pl.col(policy.key[0]).cast(pl.String) == entity)


def _plain(v: Any, money: bool = False) -> Any:
    """A value as JSON shows it: decimals as exact text (money with at least its two decimals,
    ``245631.565`` or ``0.00``; a rate as written, ``0.2``)."""
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, Decimal):
        n = v.normalize()
        if money and n.as_tuple().exponent > -2:  # type: ignore[operator]
            n = n.quantize(Decimal("0.01"))
        return format(n, "f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def trace(
    policy: Policy,
    frame: pl.DataFrame,
    entity: str,
    *,
    as_of: date | None = None,
    overrides: dict[str, float] | None = None,
    set_aside: pl.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """One explanation per row of ``entity`` (a loan has one row per year)."""
    result, resolved = evaluate(policy, frame, as_of=as_of, overrides=overrides)
    rows = result.filter(entity_filter(policy, entity))
    if rows.height == 0:
        raise NotFoundError(
            f"政策{policy.id}的输入中没有{entity}",
            f"no entity {entity} in the input of {policy.id}",
            [
                Problem(
                    "按键列查找",
                    f"looked up by {'/'.join(policy.key)}",
                    field="entity",
                    value=entity,
                )
            ],
        )
    out = []
    for row in rows.iter_rows(named=True):
        params = []
        for name, p in policy.params.items():
            item: dict[str, Any] = {
                "name": name,
                "description": p.description,
                "unit": p.unit,
                "value": _plain(row[name]),
                "document": p.document,
                "article": p.article,
                "reading": p.reading,
            }
            if p.choices:
                item["choice"] = p.choice_text(row[name])
            if name in resolved.overrides:
                item["selected_by"] = "override (reform)"
            else:
                pd_ = policy.param_dates[name]
                dcol = pd_.name
                day = date(row[pd_.year_column], 12, 31) if pd_.year_column else row[dcol]
                seg = next(s for s in resolved.segments[name] if s.start <= day <= s.end)
                item.update(
                    selected_by=f"{dcol} = {day}",
                    in_force_from=seg.start.isoformat(),
                    in_force_until=None if seg.end == OPEN_END else seg.end.isoformat(),
                    published=seg.published.isoformat(),
                    as_of=None if as_of is None else as_of.isoformat(),
                )
            params.append(item)
        steps = [
            {
                "name": s.name,
                "kind": s.kind,
                "zh": s.zh,
                "en": s.en,
                "article": s.article,
                "value": _plain(row[s.name], money=s.kind == "amount"),
                **({"outcome": "pass" if row[s.name] else "fail"} if s.kind == "condition" else {}),
            }
            for s in policy.steps
        ]
        item = {
            "policy": policy.id,
            "title_zh": policy.title_zh,
            "document": policy.document,
            "entity": "/".join(str(row[k]) for k in policy.key),
            "inputs": {i.name: _plain(row[i.name], money=i.dtype == MONEY) for i in policy.inputs},
            "parameters": params,
            "steps": steps,
            "eligible": row["eligible"],
            "amount": f"{row['amount']:.2f}",
            "rounding": policy.rounding,
            "rounding_zh": ROUNDING_TEXT[policy.rounding][0],
            "rounding_en": ROUNDING_TEXT[policy.rounding][1],
        }
        if set_aside is not None:
            mine = set_aside.filter(
                (pl.col("policy_id") == policy.id) & (pl.col("entity") == item["entity"])
            )
            item["stacking"] = [
                {"cost_item": r["cost_item"], "kept": r["kept"], "set_aside_by": r["set_aside_by"]}
                for r in mine.iter_rows(named=True)
            ]
        out.append(item)
    return out
