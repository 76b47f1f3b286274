"""The development protocol of docs/credit.md (round 6): candidates on development splits only.

``python -m bench.credit_dev NAME=JSON [NAME=JSON ...] [--sets german,codes,synthetic,cancer]``
fits the scorecard with each config (``{}`` = the defaults; a ``"method"`` key picks another
kejin method) on every development split of every set, and prints each candidate's set means,
the mean of the set means and the paired difference ± SE against the first candidate. The
held-out seeds (7000..7019, and the older 0..19 and 42) never appear here.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from bench import credit_paired as cp

SYNTHETIC = Path(__file__).parent / ".data" / "synth20250.parquet"


def synthetic_region() -> pl.DataFrame:
    """The synthetic-region development set of rounds 3–6: 100,000 firms, seed 20250 (not the
    bench's 20241), the tech-firm model's features and 12-month outcomes of both windows pooled.
    Built once (about a minute) and cached beside the bench."""
    if not SYNTHETIC.exists():
        import tempfile
        from datetime import date

        from kejin.credit import features, tech_model
        from kejin.db import make_engine
        from kejin.migrate import upgrade
        from kejin.synth.service import build_region

        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'region.db'}")
            upgrade(engine)
            build_region(engine, firms=100_000, seed=20250)
            with engine.connect() as conn:
                r = features.load(conn)
            engine.dispose()
        s = tech_model.split(r, date(2025, 7, 1), date(2026, 1, 1), date(2026, 7, 1))
        SYNTHETIC.parent.mkdir(parents=True, exist_ok=True)
        pl.concat([s.train, s.test]).drop("uscc").write_parquet(SYNTHETIC)
    return pl.read_parquet(SYNTHETIC)


def dev_sets(names: list[str]) -> dict[str, list[tuple[pl.DataFrame, range]]]:
    """Each set as (frame, split seeds) pairs: one frame and many splits, or many frames."""
    from kejin.credit import synthetic_codes

    out: dict[str, list[tuple[pl.DataFrame, range]]] = {}
    if "german" in names:
        from bench.german import german_credit

        out["german"] = [(german_credit(), range(100, 140))]
    if "codes" in names:
        out["codes"] = [
            (cp.as_target(synthetic_codes.generate(seed=s), "bad"), range(100, 101))
            for s in range(1, 11)
        ]
    if "synthetic" in names:
        out["synthetic"] = [(cp.as_target(synthetic_region(), "bad"), range(100, 112))]
    if "cancer" in names:
        from bench.bench_credit import _breast_cancer

        out["cancer"] = [(_breast_cancer(), range(100, 120))]
    return out


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("candidates", nargs="+", help="NAME=JSON config")
    ap.add_argument("--sets", default="german,codes,synthetic")
    args = ap.parse_args()
    methods = {}
    for c in args.candidates:
        name, _, text = c.partition("=")
        if name in ("optbinning", "toad", "lightgbm"):
            methods[name] = getattr(cp, name)
            continue
        cfg = json.loads(text or "{}")
        method = cfg.pop("method", "scorecard")
        methods[name] = cp.kejin(method, cfg or None)
    first = next(iter(methods))
    means: dict[str, list[float]] = {k: [] for k in methods}
    for set_name, parts in dev_sets(args.sets.split(",")).items():
        aucs: dict[str, list[float]] = {k: [] for k in methods}
        secs: dict[str, list[float]] = {k: [] for k in methods}
        for df, seeds in parts:
            a, s = cp.paired_aucs(df, seeds, methods)
            for k in methods:
                aucs[k].extend(a[k])
                secs[k].append(s[k])
        print(f"== {set_name} ({len(aucs[first])} splits)")
        for k in methods:
            v = np.asarray(aucs[k])
            means[k].append(float(v.mean()))
            d, se = cp.paired(v, np.asarray(aucs[first]))
            up = int(np.sum(v > np.asarray(aucs[first]) + 1e-12))
            down = int(np.sum(v < np.asarray(aucs[first]) - 1e-12))
            print(
                f"{k:>18}: {v.mean():.4f} ± {v.std(ddof=1):.4f}  Δ {d:+.4f} ± {se:.4f} "
                f"({up} up / {down} down)  fit {np.median(secs[k]):.3f} s"
            )
    print("== mean of set means")
    for k, v in means.items():
        print(f"{k:>18}: {np.mean(v):.5f}")


if __name__ == "__main__":
    main()
