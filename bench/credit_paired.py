"""Credit methods and their peers on the same splits, and the paired comparison of their AUCs.

Every method takes (train, test) frames with the target ``creditability`` (bad = ``"bad"``) and
returns (test PDs, a zero-argument refit for timing). Peers run with their defaults: optbinning
BinningProcess + Scorecard; toad chi-square Combiner + WOE + the same LogisticRegression;
LightGBM defaults. Nobody is tuned to any data set, kejin included.

The comparison is paired: each split gives every method the same training and test rows, so
the per-split difference removes the split-to-split variance (sd ≈ 0.025 on German) that
dwarfs the differences between methods. The standard error of a mean difference is
sd(differences) / √splits. docs/credit.md (round 6) has the protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from kejin.credit import dataset, metrics, models

TARGET, BAD = "creditability", "bad"
Method = Callable[[pl.DataFrame, pl.DataFrame], tuple[np.ndarray, Callable[[], object]]]


def as_target(df: pl.DataFrame, column: str) -> pl.DataFrame:
    """A frame with a 0/1 column ``column`` renamed to the bench's target (bad = ``"bad"``)."""
    return df.with_columns(
        pl.when(pl.col(column) == 1).then(pl.lit(BAD)).otherwise(pl.lit("good")).alias(TARGET)
    ).drop(column)


def split(df: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stratified 70/30 split with ``random_state=seed`` (rows kept in their order)."""
    y = (df[TARGET] == BAD).to_numpy()
    tr, te = train_test_split(np.arange(df.height), test_size=0.3, stratify=y, random_state=seed)
    return df[np.sort(tr)], df[np.sort(te)]


def kejin(method: str = "scorecard", config: dict | None = None) -> Method:
    def run(train: pl.DataFrame, test: pl.DataFrame):  # type: ignore[no-untyped-def]
        def fit() -> dict:
            return models.fit(dataset.prepare(train, TARGET, BAD), method, config)

        art = fit()
        return models.score(art, test.drop(TARGET))["pd"].to_numpy(), fit

    return run


def optbinning(train, test):  # type: ignore[no-untyped-def]
    from optbinning import BinningProcess, Scorecard

    Xtr = train.drop(TARGET).to_pandas()
    ytr = (train[TARGET] == BAD).to_numpy().astype(int)

    def fit():  # type: ignore[no-untyped-def]
        sc = Scorecard(
            binning_process=BinningProcess(list(Xtr.columns)), estimator=LogisticRegression()
        )
        return sc.fit(Xtr, ytr)

    model = fit()
    return model.predict_proba(test.drop(TARGET).to_pandas())[:, 1], fit


def toad(train, test):  # type: ignore[no-untyped-def]
    import toad as toad_

    # toad cannot fill nulls in unsigned integer columns: cast them to signed.
    def signed(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(pl.col(pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64).cast(pl.Int64))

    tr = signed(train).to_pandas()
    tr[TARGET] = (tr[TARGET] == BAD).astype(int)
    te = signed(test.drop(TARGET)).to_pandas()

    def fit():  # type: ignore[no-untyped-def]
        comb = toad_.transform.Combiner()
        comb.fit(tr, y=TARGET, method="chi", min_samples=0.05)
        binned = comb.transform(tr)
        woe = toad_.transform.WOETransformer()
        X = woe.fit_transform(binned.drop(columns=[TARGET]), binned[TARGET])
        lr = LogisticRegression().fit(X, tr[TARGET])
        return comb, woe, lr

    comb, woe, lr = fit()
    return lr.predict_proba(woe.transform(comb.transform(te)))[:, 1], fit


def lightgbm(train, test):  # type: ignore[no-untyped-def]
    import lightgbm as lgb

    def prep(df: pl.DataFrame):  # type: ignore[no-untyped-def]
        pdf = df.drop(TARGET).to_pandas()
        for c in pdf.columns:
            if pdf[c].dtype == object or str(pdf[c].dtype).startswith(("str", "string")):
                pdf[c] = pdf[c].astype("category")
        return pdf

    Xtr, Xte = prep(train), prep(test)
    ytr = (train[TARGET] == BAD).to_numpy().astype(int)

    def fit():  # type: ignore[no-untyped-def]
        return lgb.LGBMClassifier(verbosity=-1).fit(Xtr, ytr)

    return fit().predict_proba(Xte)[:, 1], fit


def paired_aucs(
    df: pl.DataFrame, seeds: range, methods: dict[str, Method]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Test AUC of every method on every split (same rows for all) and each one's mean fit s."""
    aucs: dict[str, list[float]] = {k: [] for k in methods}
    secs: dict[str, list[float]] = {k: [] for k in methods}
    for seed in seeds:
        train, test = split(df, seed)
        y = (test[TARGET] == BAD).to_numpy().astype(int)
        for label, run in methods.items():
            t0 = time.perf_counter()
            p, _ = run(train, test)
            secs[label].append(time.perf_counter() - t0)
            aucs[label].append(metrics.auc(y, p))
    return (
        {k: np.asarray(v) for k, v in aucs.items()},
        {k: float(np.median(v)) for k, v in secs.items()},
    )


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of the per-split differences a − b and its standard error."""
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
