"""Innovation points at scale: percentile-within-peer-group scoring and the whitelist refresh.

1. Scoring a registry-like frame (30 uneven peer groups, ties, missing values, skewed money) at
   1M and 5M firms: the whole :func:`kejin.points.kernels.score_system` path ``points score``
   runs, beside pandas ``groupby().rank()`` and a naive Polars ``rank().over()/len().over()``
   computing the same totals and min-ranks; region ranks compared with their float64 result.
   Targets: ≥ 8× pandas, ≥ 2× naive Polars, cost per row flat from 1M to 5M.
2. Whitelist refresh (rules → entries with tiers and reasons) twice + diff for 1,000,000 firms.
   Target ≤ 2 s.
3. Validity: Spearman correlation of each system's points with the synthetic region's latent
   innovation capability (the truth table, which scoring never reads), per stage.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import polars as pl

from bench.timing import measure_both, ratio_line
from kejin.heap import keep_large_blocks
from kejin.points import kernels
from kejin.points.system import FORMULA_FIELDS, System, load_system
from kejin.whitelist import kernels as wl
from kejin.whitelist.rules import load_rules

CHAIN_SHARE = np.array([0.24, 0.18, 0.14, 0.11, 0.09, 0.07, 0.06, 0.05, 0.04, 0.02])
STAGE_SHARE = {"seed": 0.10, "startup": 0.25, "growth": 0.45, "mature": 0.20}
MONEY = ("rd_expense", "vc_financing", "tech_contract_turnover", "tax_paid", "high_tech_revenue")


def bench_system() -> System:
    """most-v1 with peer groups stage × industry chain (3 weight vectors × 10 chains = 30 groups)
    and no winsorisation, so that the peers compute exactly the same thing."""
    base = load_system("most-v1").system
    return base.model_copy(
        update={
            "indicators": tuple(i.model_copy(update={"winsor": None}) for i in base.indicators),
            "peer_groups": base.peer_groups.model_copy(update={"extra": "chain"}),
        }
    )


def registry(n: int, seed: int = 20241) -> pl.DataFrame:
    """A registry-like firm-year frame: 30 uneven peer groups (≈4k–108k firms per 1M), skewed
    money in hundreds of yuan with 30% zeros, Poisson counts, 5% missing values, many ties."""
    rng = np.random.default_rng(seed)
    stages = np.array(list(STAGE_SHARE))
    cols: dict[str, object] = {
        "uscc": pl.Series(np.char.add("U", np.arange(n).astype("U9"))),
        "stage": stages[rng.choice(4, n, p=list(STAGE_SHARE.values()))],
        "industry_chain": np.char.add("chain", rng.choice(10, n, p=CHAIN_SHARE).astype("U2")),
    }
    for f in sorted(FORMULA_FIELDS):
        for name in (f, f + "__lag"):
            if f in ("revenue", "total_assets", "total_liabilities", "profit", *MONEY):
                v = np.round(rng.lognormal(14, 2, n), -2)
                if f not in ("revenue", "total_assets"):
                    v[rng.random(n) < 0.3] = 0.0
            elif f == "staff":
                v = rng.poisson(30, n) + 1.0
            else:
                v = rng.poisson(rng.uniform(0.3, 5), n).astype(np.float64)
            s = pl.Series(name, v)
            if f not in ("revenue", "total_assets", "staff"):
                s = pl.select(
                    pl.when(pl.lit(rng.random(n) < 0.05)).then(None).otherwise(s)
                ).to_series()
            cols[name] = s.alias(name)
    return pl.DataFrame(cols)


def _peer_inputs(frame: pl.DataFrame, system: System) -> pl.DataFrame:
    """The indicator values and weights handed to the peers (formulas evaluated, untimed)."""
    raw = kernels.raw_values(frame, system)
    key = frame["stage"].replace_strict(system.peer_groups.stage_map, return_dtype=pl.String)
    df = raw.with_columns(
        g=(key + "|" + frame["industry_chain"]),
        k=key,
    )
    return df


def pandas_score(df: pl.DataFrame, system: System) -> pd.DataFrame:
    """The same computation the obvious way in pandas: missing rule, direction, groupby rank per
    indicator, weights, total rounded to cents, min ranks in group and region."""
    pdf = df.to_pandas()
    total = np.zeros(len(pdf))
    size = pdf.groupby("g")["g"].transform("size").to_numpy()
    for ind in system.indicators:
        x = pdf[ind.id].astype("float64")
        miss = x.isna() | ~np.isfinite(x)
        if ind.normalisation == "banded":
            lowers = np.array([b.lower for b in ind.bands or ()])
            scores = np.array([b.score for b in ind.bands or ()])
            at = np.searchsorted(lowers, x.fillna(0).to_numpy(), side="right") - 1
            score = np.where(at >= 0, scores[np.clip(at, 0, None)], 0.0)
        else:
            sign = 1.0 if ind.direction == "positive" else -1.0
            v = (x.fillna(0.0) if ind.missing == "zero" else x.where(~miss)) * sign
            worst = v.isna()
            r = v.fillna(-np.inf).groupby(pdf["g"]).rank(method="average").to_numpy()
            score = np.where(size > 1, (r - 1) / np.maximum(size - 1, 1), 1.0)
            score = np.where(worst, 0.0, score)
        if ind.bonus_points is not None:
            total += score * ind.bonus_points
        else:
            total += score * pdf["k"].map(lambda k, i=ind.id: system.weights[k][i]).to_numpy()
    out = pd.DataFrame({"g": pdf["g"], "total": np.round(total, 2)})
    out["rank_group"] = out.groupby("g")["total"].rank(method="min", ascending=False)
    out["rank_region"] = out["total"].rank(method="min", ascending=False)
    return out


def polars_score(df: pl.DataFrame, system: System) -> pl.DataFrame:
    """Naive Polars: ``rank().over(g) / len().over(g)`` per indicator, then the same totals."""
    terms = []
    n_g = pl.len().over("g")
    for ind in system.indicators:
        x = pl.col(ind.id).cast(pl.Float64).fill_nan(None)
        x = x.fill_null(0.0) if ind.missing == "zero" else x
        if ind.normalisation == "banded":
            e = pl.lit(0.0)
            for b in ind.bands or ():
                e = pl.when(x.fill_null(0.0) >= b.lower).then(pl.lit(b.score)).otherwise(e)
            score = e
        else:
            v = x if ind.direction == "positive" else -x
            r = v.fill_null(-np.inf).rank("average").over("g")
            score = pl.when(n_g > 1).then((r - 1) / (n_g - 1)).otherwise(1.0)
            score = pl.when(v.is_null()).then(0.0).otherwise(score)
        if ind.bonus_points is not None:
            w = pl.lit(float(ind.bonus_points))
        else:
            w = pl.col("k").replace_strict(
                {k: float(ws[ind.id]) for k, ws in system.weights.items()}, return_dtype=pl.Float64
            )
        terms.append(score * w)
    return df.select("g", pl.sum_horizontal(terms).round(2).alias("total")).with_columns(
        pl.col("total").rank("min", descending=True).over("g").alias("rank_group"),
        pl.col("total").rank("min", descending=True).alias("rank_region"),
    )


def bench_scoring_at(n: int, repeat: int) -> tuple[float, float]:
    """One size: kejin's whole ``points score`` computation beside pandas and naive Polars."""
    system = bench_system()
    frame = registry(n)
    df = _peer_inputs(frame, system)
    sizes = df.group_by("g").len()["len"]
    print(
        f"scoring {n:,} firms × {len(system.indicators)} indicators, {sizes.len()} peer groups "
        f"({sizes.min():,}–{sizes.max():,} firms), load average {os.getloadavg()[0]:.1f}"
    )
    ours = kernels.score_system(frame, system)
    peer = polars_score(df, system)
    agree = np.mean(ours["rank_region"].to_numpy() == peer["rank_region"].to_numpy())
    ties = 1 - ours["total"].n_unique() / n
    print(
        f"  check: region ranks equal a float64 reference (totals rounded to 0.01, min ties) for "
        f"{agree:.4%} of firms; {ties:.0%} of firms share their displayed total with another"
    )
    t_ours, c_ours = measure_both(
        "kejin score_system", lambda: kernels.score_system(frame, system), repeat
    )
    t_pl, c_pl = measure_both("naive Polars rank/len", lambda: polars_score(df, system), repeat)
    t_pd, c_pd = measure_both(
        "pandas groupby-rank", lambda: pandas_score(df, system), max(1, repeat - 2)
    )
    for t in (t_ours, t_pl, t_pd, c_ours, c_pl, c_pd):
        print(" ", t)
    for a, b in ((t_ours, t_pd), (t_ours, t_pl), (c_ours, c_pd), (c_ours, c_pl)):
        print(" ", ratio_line(a, b))
    ns = t_ours.median / n * 1e9
    print(f"  cost per row (wall): kejin {ns:,.0f} ns")
    for kind, ours, pd_, pl_ in (("wall", t_ours, t_pd, t_pl), ("CPU", c_ours, c_pd, c_pl)):
        pd_ok, pl_ok = pd_.median / ours.median >= 8, pl_.median / ours.median >= 2
        print(
            f"  target ≥ 8× pandas: {'met' if pd_ok else 'NOT met'}; ≥ 2× naive Polars: "
            f"{'met' if pl_ok else 'NOT met'} ({kind})"
        )
    cpu_ns = c_ours.median / n * 1e9
    print(f"  cost per row (CPU): kejin {cpu_ns:,.0f} ns")
    return ns, cpu_ns


def bench_scoring(quick: bool) -> None:
    keep_large_blocks()  # as `kejin points score` does (kejin.heap: why); pandas gains as well
    sizes = [100_000, 200_000] if quick else [1_000_000, 5_000_000]
    per_row = [bench_scoring_at(n, 3) for n in sizes]
    for i, kind in ((0, "wall"), (1, "CPU")):
        a, b = per_row[0][i], per_row[1][i]
        print(
            f"  cost per row ({kind}) {sizes[0]:,} → {sizes[1]:,}: {a:,.0f} → {b:,.0f} ns ({b / a:.2f}×)"
        )


def whitelist_frames(n: int, seed: int = 7) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    uscc = pl.Series([f"U{i:09d}" for i in range(n)])
    stages = np.array(["seed", "startup", "growth", "mature"])
    firms = pl.DataFrame(
        {
            "uscc": uscc,
            "name": uscc,
            "stage": stages[rng.integers(0, 4, n)],
            "industry_chain": np.array(["information", "biomedicine", "equipment"])[
                rng.integers(0, 3, n)
            ],
            "region_code": ["320706"] * n,
            "listing_board": np.where(rng.random(n) < 0.01, "star", "none"),
            "dishonest": rng.random(n) < 0.01,
            "deregistered": rng.random(n) < 0.005,
            "abnormal_operation": rng.random(n) < 0.01,
        }
    )
    q = rng.random(n) < 0.3
    quals = pl.DataFrame(
        {
            "uscc": uscc.filter(pl.Series(q)),
            "kind": np.array(["hnte", "tsme", "srdi_sme"])[rng.integers(0, 3, int(q.sum()))],
            "valid_from": [dt.date(2024, 1, 1)] * int(q.sum()),
            "valid_to": pl.Series(
                np.where(
                    rng.random(int(q.sum())) < 0.5, dt.date(2025, 12, 31), dt.date(2026, 12, 31)
                ).tolist(),
                dtype=pl.Date,
            ),
        }
    )
    total = rng.uniform(0, 100, n)
    lists = np.where(
        total > 95, "top5", np.where(total > 90, "top5_10", np.where(total > 80, "top10_20", None))
    )
    points = pl.DataFrame(
        {"uscc": uscc, "total": total, "list_id": pl.Series(lists.tolist(), dtype=pl.String)}
    )
    loans = rng.random(n) < 0.05
    return {
        "firms": firms,
        "quals": quals,
        "points": points,
        "tsme": pl.DataFrame({"uscc": uscc, "passed": rng.random(n) < 0.4}),
        "dpd": pl.DataFrame(
            {
                "uscc": uscc.filter(pl.Series(loans)),
                "max_dpd": rng.integers(0, 200, int(loans.sum())),
            }
        ),
        "tax": pl.DataFrame(
            {"uscc": uscc, "tax_credit_grade": np.where(rng.random(n) < 0.02, "D", "A")}
        ),
    }


def bench_whitelist(quick: bool) -> None:
    """One refresh (as of 2026-03-01) + its diff against the stored previous version."""
    n = 100_000 if quick else 1_000_000
    f = whitelist_frames(n)
    rules, _ = load_rules()

    def refresh(as_of: dt.date) -> pl.DataFrame:
        valid = wl.valid_qualifications(f["quals"], as_of)
        return wl.refresh(
            rules, as_of, f["firms"], valid, f["points"], f["tsme"], f["dpd"], f["tax"]
        )

    previous = refresh(dt.date(2025, 12, 1))  # the stored version A (read back, not rebuilt)

    def run() -> pl.DataFrame:
        return wl.diff(previous, refresh(dt.date(2026, 3, 1)))

    d = run()
    print(
        f"whitelist: {n:,} firms, refresh (as of 2026-03-01) + diff against the previous version: {d.height:,} changes"
    )
    t, c = measure_both("refresh + diff", run, 3)
    print(" ", t)
    print(" ", c)
    print(
        f"  target ≤ 2 s for refresh + diff: {'met' if t.median <= 2.0 else 'NOT met'} (wall), {'met' if c.median <= 2.0 else 'NOT met'} (CPU)"
    )


def bench_validity(quick: bool) -> None:
    """Spearman(points, latent innovation capability) per stage on a synthetic region."""
    import tempfile

    from kejin.db import make_engine
    from kejin.frames import read_frame
    from kejin.migrate import upgrade
    from kejin.points.service import latest_year, load_frame
    from kejin.points.system import available_systems, load_system
    from kejin.synth.service import build_region
    from kejin.synth.tables import SynthTruth

    firms = 5_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        build_region(engine, firms=firms, seed=20241)
        with engine.connect() as conn:
            truth = read_frame(conn, SynthTruth.__table__, ["uscc", "innovation_capability"])
        year = latest_year(engine)
        print(f"validity: synthetic region of {firms:,} firms (seed 20241), year {year}")
        for name in available_systems():
            system = load_system(name).system
            frame = load_frame(engine, system, year)
            scored = (
                kernels.score_system(frame, system)
                .select("uscc", "total")
                .join(frame.select("uscc", "stage"), on="uscc")
                .join(truth, on="uscc")
            )
            rho = (
                scored.group_by("stage")
                .agg(
                    pl.corr("total", "innovation_capability", method="spearman").alias("rho"),
                    pl.len(),
                )
                .sort("stage")
            )
            overall = scored.select(
                pl.corr("total", "innovation_capability", method="spearman")
            ).item()
            parts = ", ".join(f"{st} {r:.3f} (n={n})" for st, r, n in rho.iter_rows())
            print(f"  {name}: Spearman by stage: {parts}; all firms {overall:.3f}")
        engine.dispose()


def main(quick: bool = False) -> None:
    bench_scoring(quick)
    bench_whitelist(quick)
    bench_validity(quick)
