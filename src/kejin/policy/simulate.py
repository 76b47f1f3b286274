"""Microsimulation and region-wide evaluation: baseline vs reform, and the precise push.

A reform is data: ``{parameter: value}`` replacing the dated values for every row. Both runs use
the same entity frames, so the difference is the reform alone. Results are joined to the firm
frame for the distribution by industry chain, lifecycle stage and region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from kejin.policy.engine import Policy, evaluate, exact, with_reasons
from kejin.policy.stacking import claims, no_stacking

CENT = Decimal("0.01")

DIMENSIONS = {
    "industry_chain": ("产业链", "industry chain"),
    "stage": ("生命周期", "lifecycle stage"),
    "region_code": ("区县", "region"),
}


def rows_for_year(policy: Policy, frame: pl.DataFrame, year: int | None) -> pl.DataFrame:
    """Rows inside the policy's validity, and of ``year`` when given."""
    cond = policy.in_force()
    if year is not None:
        cond = cond & (policy.period_expr().dt.year() == year)
    return frame.filter(cond)


def latest_year(policy: Policy, frame: pl.DataFrame) -> int | None:
    rows = frame.filter(policy.in_force())
    return None if rows.height == 0 else rows.select(policy.period_expr().dt.year().max()).item()


@dataclass
class Simulation:
    policy: Policy
    year: int | None
    overrides: dict[str, Decimal]
    baseline: pl.DataFrame
    reform: pl.DataFrame
    totals: dict[str, object]
    by: dict[str, pl.DataFrame]


def _summ(result: pl.DataFrame, firm_col: str) -> tuple[Decimal, int]:
    """Exact cost (the sum of the fen amounts) and the number of firms paid."""
    paid = result.filter(pl.col("eligible") & (pl.col("amount") > 0))
    return total(paid["amount"]), paid[firm_col].n_unique()


def total(amounts: pl.Series) -> Decimal:
    """The exact sum of an amount column, ``0.00`` when empty."""
    return (amounts.sum() or Decimal(0)).quantize(CENT)


def simulate(
    policy: Policy,
    frame: pl.DataFrame,
    firms: pl.DataFrame,
    overrides: dict[str, float | Decimal],
    *,
    year: int | None = None,
    as_of: date | None = None,
    master: str | None = None,
    engine: str = "local",
) -> Simulation:
    """Baseline and reform over ``frame``: fiscal cost, beneficiaries and their distribution.
    ``engine="spark"``: both runs are evaluated on Spark (``master``) by the same kernel
    (:mod:`kejin.policy.scale`); the totals and the distribution are summed here as locally."""
    rows = rows_for_year(policy, frame, year)
    if engine == "spark":
        from kejin.policy.scale import evaluate_on_spark

        base = evaluate_on_spark(policy, rows, as_of=as_of, master=master)
        ref = evaluate_on_spark(policy, rows, as_of=as_of, overrides=overrides, master=master)
    else:
        base, _ = evaluate(policy, rows, as_of=as_of)
        ref, _ = evaluate(policy, rows, as_of=as_of, overrides=overrides)
    b_cost, b_n = _summ(base, policy.firm_column)
    r_cost, r_n = _summ(ref, policy.firm_column)
    totals = {
        "rows": rows.height,
        "baseline_cost": b_cost,
        "reform_cost": r_cost,
        "delta_cost": r_cost - b_cost,
        "baseline_beneficiaries": b_n,
        "reform_beneficiaries": r_n,
    }
    by = {}
    if policy.firm_column == "uscc" and firms.height:
        both = pl.concat(
            [
                base.select(policy.firm_column, "eligible", "amount").with_columns(
                    pl.lit("baseline").alias("run")
                ),
                ref.select(policy.firm_column, "eligible", "amount").with_columns(
                    pl.lit("reform").alias("run")
                ),
            ]
        ).join(firms, on="uscc", how="left")
        for dim in DIMENSIONS:
            g = (
                both.with_columns(pl.col(dim).fill_null("(未知)"))
                .group_by(dim, "run")
                .agg(
                    pl.col("amount").sum().alias("cost"),
                    pl.col("uscc").filter(pl.col("amount") > 0).n_unique().alias("beneficiaries"),
                )
                .pivot(on="run", index=dim, values=["cost", "beneficiaries"])
                .fill_null(0)
            )
            for c in (
                "cost_baseline",
                "cost_reform",
                "beneficiaries_baseline",
                "beneficiaries_reform",
            ):
                if c not in g.columns:
                    g = g.with_columns(pl.lit(0).alias(c))
            by[dim] = g.with_columns(
                (pl.col("cost_reform") - pl.col("cost_baseline")).alias("cost_delta")
            ).sort("cost_reform", descending=True)
    exact_overrides = {k: exact(v) for k, v in overrides.items()}
    return Simulation(policy, year, exact_overrides, base, ref, totals, by)


def chart(sim: Simulation, path: Path) -> Path:
    """Baseline vs reform cost by industry chain, stage and region, with CJK labels."""
    from kejin.plotting import pyplot

    plt = pyplot()
    dims = [d for d in DIMENSIONS if d in sim.by]
    fig, axes = plt.subplots(1, max(len(dims), 1), figsize=(6 * max(len(dims), 1), 5))
    axes = axes if hasattr(axes, "__len__") else [axes]
    from kejin.ids import REGIONS
    from kejin.vocab import INDUSTRY_CHAINS, STAGES

    names = {
        **{k: v.zh for k, v in INDUSTRY_CHAINS.items()},
        **{k: v.zh for k, v in STAGES.items()},
        **{k: v[0] for k, v in REGIONS.items()},
    }
    for ax, dim in zip(axes, dims, strict=False):
        g = sim.by[dim].head(12)
        labels = [names.get(str(v), str(v)) for v in g[dim].to_list()]
        x = range(len(labels))
        ax.bar(
            [i - 0.2 for i in x],
            (g["cost_baseline"] / 1e4).to_list(),
            width=0.4,
            label="基线 baseline",
        )
        ax.bar(
            [i + 0.2 for i in x], (g["cost_reform"] / 1e4).to_list(), width=0.4, label="改革 reform"
        )
        ax.set_xticks(list(x), labels, rotation=45, ha="right")
        ax.set_title(f"按{DIMENSIONS[dim][0]} / by {DIMENSIONS[dim][1]}")
        ax.set_ylabel("财政成本（万元） / fiscal cost (10k CNY)")
        top = max([*(g["cost_baseline"] / 1e4).to_list(), *(g["cost_reform"] / 1e4).to_list(), 1.0])
        ax.set_ylim(0, top * 1.25)
        ax.legend(loc="upper right", fontsize=9)
    reform = ", ".join(f"{k}={v}" for k, v in sim.overrides.items())
    fig.suptitle(
        f"{sim.policy.title_zh}：{reform}（{sim.year or '全部年度'}）\n成本 {sim.totals['baseline_cost']:,.0f} → {sim.totals['reform_cost']:,.0f} 元"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate_all(
    policies: list[Policy],
    frames: dict[str, pl.DataFrame],
    *,
    year: int | None = None,
    as_of: date | None = None,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Every policy whose entity is in ``frames`` (rows of ``year`` in force), then the stacking rule."""
    results = {}
    parts = []
    for p in policies:
        if p.entity not in frames:
            continue
        rows = rows_for_year(p, frames[p.entity], year)
        res, _ = evaluate(p, rows, as_of=as_of)
        results[p.id] = res
        parts.append(claims(p, res))
    return results, no_stacking(parts)


def matches(
    policies: list[Policy], frames: dict[str, pl.DataFrame], *, as_of: date | None = None
) -> dict[str, object]:
    """Every policy one firm qualifies for (all years in force), with amounts, reasons and stacking."""
    results, stacked = evaluate_all(policies, frames, as_of=as_of)
    found = []
    for p in policies:
        if p.id not in results:
            found.append(
                {
                    "policy": p.id,
                    "title_zh": p.title_zh,
                    "title_en": p.title_en,
                    "status": "needs_data",
                    "entity": p.entity,
                    "inputs": [i.name for i in p.inputs],
                    "inputs_zh": [i.zh for i in p.inputs],
                    "inputs_en": [i.en for i in p.inputs],
                }
            )
            continue
        res = with_reasons(p, results[p.id])
        for r in res.iter_rows(named=True):
            entity = "/".join(str(r[k]) for k in p.key)
            st = stacked.filter((pl.col("policy_id") == p.id) & (pl.col("entity") == entity))
            kept = st.height == 0 or st["kept"][0]
            found.append(
                {
                    "policy": p.id,
                    "title_zh": p.title_zh,
                    "title_en": p.title_en,
                    "document": p.document,
                    "status": ("eligible" if kept else "set_aside")
                    if r["eligible"] and r["amount"] > 0
                    else "not_eligible",
                    "entity": entity,
                    "amount": Decimal(f"{r['amount']:.2f}"),
                    "reason_zh": r["reason_zh"],
                    "reason_en": r["reason_en"],
                    "set_aside_by": None if kept else st["set_aside_by"][0],
                }
            )
    return {"matches": found}
