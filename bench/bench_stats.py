"""Monthly statistics: every indicator for every month and breakdown, ours beside pandas groupby.

The data: loans to a region's firms, one status row per loan per month it is outstanding
(10,000,000 loan-months at full size, 36 months), qualifications with validity windows, chains,
stages, tiers and product kinds. Ours: :func:`kejin.stats.kernels.measures` for all months at
once, the joins shared by every breakdown (:func:`kejin.stats.kernels.measures_by`), then :func:`kejin.stats.kernels.indicators`. Peer: the same definitions
written as pandas merges and groupbys (money as int64 fen, as ours sums it), evaluated by the same
indicator step. The two measure tables are compared before any time is printed.
"""

from __future__ import annotations

import os
from dataclasses import fields
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from rich.console import Console

from bench.timing import measure_both, ratio_line
from kejin.stats import kernels
from kejin.stats.definitions import LIST_QUALIFICATIONS, MEASURES, monthly

console = Console()
FIRST = date(2023, 1, 1)
N_MONTHS = 36
BYS: list[str | None] = [None, *kernels.BREAKDOWNS]


def synth(loan_months: int, seed: int = 18) -> kernels.Frames:
    """A portfolio of about ``loan_months`` status rows over 36 months."""
    rng = np.random.default_rng(seed)
    n_loans = max(loan_months // 12, 10)
    n_firms = max(n_loans // 3, 5)
    firm = rng.integers(0, n_firms, n_loans)
    start = np.datetime64(FIRST) - 365 + rng.integers(0, 365 * 4, n_loans)
    term_m = rng.choice([6, 12, 12, 24, 36, 72], n_loans)
    maturity = start + term_m * 30 + rng.integers(-3, 4, n_loans)
    amount = rng.integers(10_000_00, 5_000_000_00, n_loans)  # fen
    loans = pl.DataFrame(
        {
            "contract_no": pl.Series(np.arange(n_loans)).cast(pl.String),
            "uscc": pl.Series(firm).cast(pl.String),
            "institution_id": pl.Series(rng.integers(0, 12, n_loans)).cast(pl.String),
            "product_id": pl.Series(rng.integers(0, 6, n_loans)).cast(pl.String),
            "amount": pl.Series(amount, dtype=pl.Int64).cast(pl.Decimal(18, 0)) / 100,
            "rate": pl.Series(rng.integers(25_000, 60_000, n_loans)).cast(pl.Decimal(9, 0))
            / 1_000_000,
            "disbursed_on": pl.Series(start).cast(pl.Date),
            "maturity_on": pl.Series(maturity).cast(pl.Date),
            "guarantee_type": rng.choice(["credit", "guarantee", "mortgage", "ip_pledge"], n_loans),
            "first_time_borrower": rng.random(n_loans) < 0.2,
        }
    ).with_columns(
        pl.col("amount").cast(pl.Decimal(18, 2)),
        pl.col("rate").cast(pl.Decimal(9, 6)),
        pl.col("maturity_on").clip(lower_bound=pl.col("disbursed_on").dt.offset_by("1d")),
    )
    months = pl.date_range(FIRST, kernels.shift_months(FIRST, N_MONTHS - 1), "1mo", eager=True)
    span = loans.select(
        "contract_no",
        "amount",
        a=pl.col("disbursed_on").dt.month_start(),
        b=pl.col("maturity_on").dt.month_start(),
    )
    statuses = (
        span.with_columns(month=pl.date_ranges("a", "b", "1mo"))
        .explode("month")
        .filter(pl.col("month").is_between(months.min(), months.max()))
    )
    k = statuses.height
    statuses = statuses.select(
        "contract_no",
        "month",
        balance=(pl.col("amount") * pl.Series(rng.random(k).round(2)).cast(pl.Decimal(4, 2))).cast(
            pl.Decimal(18, 2)
        ),
        classification=pl.Series(
            rng.choice(
                ["normal"] * 45 + ["special_mention"] * 2 + ["substandard", "doubtful", "loss"], k
            )
        ),
    )
    kinds = [*LIST_QUALIFICATIONS, "local_little_giant"]
    nq = n_firms * 2
    q_from = np.datetime64(FIRST) - 730 + rng.integers(0, 365 * 4, nq)
    quals = pl.DataFrame(
        {
            "uscc": pl.Series(rng.integers(0, n_firms, nq)).cast(pl.String),
            "kind": rng.choice(kinds, nq),
            "valid_from": pl.Series(q_from).cast(pl.Date),
            "valid_to": pl.Series(q_from + 365 * 3).cast(pl.Date),
        }
    )
    ids = pl.Series(np.arange(n_firms)).cast(pl.String)
    firms = pl.DataFrame(
        {
            "uscc": ids,
            "industry_chain": rng.choice(
                ["information", "new_energy", "equipment", "petrochemical"], n_firms
            ),
            "stage": rng.choice(["seed", "startup", "growth", "mature"], n_firms),
            "region_code": rng.choice(["320703", "320706", "320707", "320722"], n_firms),
        }
    )
    tiers = pl.DataFrame({"uscc": ids, "tier": rng.choice(["A", "B", "C"], n_firms)}).sample(
        fraction=0.5, seed=seed
    )
    products = pl.DataFrame(
        {
            "id": [str(i) for i in range(6)],
            "kind": ["loan", "loan", "guarantee", "insurance", "loan", "equity"],
        }
    )
    # The LPR of every month but two (a month without a published value has no spread).
    lpr_months = [m for i, m in enumerate(months.to_list()) if i not in (20, 30)]
    lpr = pl.DataFrame(
        {
            "month": lpr_months,
            "lpr_1y": [
                Decimal("0.0345") - Decimal("0.0005") * (i % 4) for i in range(len(lpr_months))
            ],
            "lpr_5y": [
                Decimal("0.0420") - Decimal("0.0005") * (i % 3) for i in range(len(lpr_months))
            ],
        },
        schema={"month": pl.Date, "lpr_1y": pl.Decimal(9, 6), "lpr_5y": pl.Decimal(9, 6)},
    )
    return kernels.Frames(loans, statuses, quals, firms, tiers, products, lpr)


def asked_months() -> list[date]:
    """Every month that has a month twelve earlier in the data."""
    return [kernels.shift_months(FIRST, i) for i in range(12, N_MONTHS)]


def ours(f: kernels.Frames) -> dict[str | None, pl.DataFrame]:
    out = kernels.measures_by(f, asked_months(), BYS)
    for m in out.values():
        kernels.indicators(m, monthly())
    return out


# ---- the peer: the same definitions as pandas merges and groupbys ---------------------------


def to_pandas(f: kernels.Frames) -> dict[str, pd.DataFrame]:
    """The inputs as pandas frames (untimed, as our reading is untimed): money as int64 fen, only
    the columns the definitions read, and every string key a categorical. The contract number
    and the USCC share one set of categories across the frames they join, so pandas merges
    them on integer codes; at 10M loan-months the object-string version needed more memory than
    this machine had to spare."""

    def shared(*cols: pl.Series) -> pd.CategoricalDtype:
        return pd.CategoricalDtype(pl.concat(cols).unique().sort().to_list())

    frames = [x for x in (f.loans, f.qualifications, f.firms, f.tiers) if x is not None]
    dtypes = {
        "contract_no": shared(f.loans["contract_no"]),
        "uscc": shared(*[x["uscc"] for x in frames]),
        "product_id": shared(
            f.loans["product_id"], *([f.products["id"]] if f.products is not None else [])
        ),
    }
    dtypes["id"] = dtypes["product_id"]

    def cats(df: pl.DataFrame) -> pd.DataFrame:
        out = df.to_pandas()
        for c, dtype in df.schema.items():
            if dtype == pl.String:
                out[c] = out[c].astype(dtypes.get(c, "category"))
        return out

    loans = f.loans.select(
        "contract_no",
        "uscc",
        "institution_id",
        "product_id",
        "disbursed_on",
        "maturity_on",
        "guarantee_type",
        amount_fen=(pl.col("amount") * 100).cast(pl.Int64),
        rate_m=(pl.col("rate") * 1_000_000).cast(pl.Int64),
    )
    st = f.statuses.select(
        "contract_no", "month", "classification", bal=(pl.col("balance") * 100).cast(pl.Int64)
    )
    return {
        "loans": cats(loans),
        "statuses": cats(st),
        "quals": cats(f.qualifications),
        "firms": cats(f.firms) if f.firms is not None else None,
        "tiers": cats(f.tiers) if f.tiers is not None else None,
        "products": cats(f.products) if f.products is not None else None,
        "lpr": (
            f.lpr.with_columns(
                (pl.col(c) * 1_000_000).cast(pl.Int64) for c in ("lpr_1y", "lpr_5y")
            ).to_pandas()
            if f.lpr is not None
            else None
        ),
    }


def _pd_keys(
    p: dict[str, pd.DataFrame], rows: pd.DataFrame, by: str | None, pop: pd.DataFrame
) -> pd.DataFrame:
    if by is None:
        return rows.assign(group=kernels.TOTAL)
    if by == "bank":
        out = rows.assign(group=rows["institution_id"])
    elif by == "product-kind":
        kinds = p["products"].rename(columns={"id": "product_id", "kind": "group"})
        out = rows.merge(kinds, on="product_id", how="left")
    elif by == "qualification":
        out = rows.merge(pop.rename(columns={"kind": "group"}), on=["month", "uscc"], how="left")
    else:
        src, col = (
            (p["tiers"], "tier")
            if by == "tier"
            else (
                p["firms"],
                {"chain": "industry_chain", "stage": "stage", "region": "region_code"}[by],
            )
        )
        out = rows.merge(src[["uscc", col]].rename(columns={col: "group"}), on="uscc", how="left")
    if isinstance(out["group"].dtype, pd.CategoricalDtype):
        out["group"] = out["group"].cat.add_categories([kernels.NONE])
    out["group"] = out["group"].fillna(kernels.NONE)
    return out


def pandas_measures(p: dict[str, pd.DataFrame], months: list[date], by: str | None) -> pd.DataFrame:
    every = sorted(
        set(months)
        | {kernels.shift_months(m, -12) for m in months}
        | {kernels.shift_months(m, -1) for m in months}
    )
    mf = pd.DataFrame({"month": pd.to_datetime(every)})
    mf["month_end"] = mf["month"] + pd.offsets.MonthEnd(0)
    q = p["quals"]
    q = q[q["kind"].isin(LIST_QUALIFICATIONS)]
    pop = q.merge(mf, how="cross")
    pop = pop[(pop["valid_from"] <= pop["month_end"]) & (pop["month_end"] <= pop["valid_to"])]
    pop = pop[["month", "uscc", "kind"]].drop_duplicates()
    pop_firms = pop[["month", "uscc"]].drop_duplicates()
    loans = p["loans"].copy()
    loans["medium_long"] = loans["maturity_on"] > loans["disbursed_on"] + pd.DateOffset(months=12)
    loans["long_lpr"] = loans["maturity_on"] > loans["disbursed_on"] + pd.DateOffset(months=60)

    st = p["statuses"]
    st = st[st["month"].isin(mf["month"])]
    rows = st.merge(
        loans[
            ["contract_no", "uscc", "institution_id", "product_id", "guarantee_type", "medium_long"]
        ],
        on="contract_no",
    )
    rows = rows.merge(pop_firms.assign(pop=True), on=["month", "uscc"], how="left")
    rows["pop"] = rows["pop"].fillna(False).astype(bool)
    rows = _pd_keys(p, rows, by, pop)
    pb = rows["bal"].where(rows["pop"], 0)
    rows = rows.assign(
        balance=pb,
        credit_balance=pb.where(rows["guarantee_type"] == "credit", 0),
        medium_long_balance=pb.where(rows["medium_long"], 0),
        npl_balance=pb.where(rows["classification"].isin(kernels.NPL_CLASSES), 0),
        ip_pledge_balance=pb.where(rows["guarantee_type"] == "ip_pledge", 0),
        all_npl_balance=rows["bal"].where(rows["classification"].isin(kernels.NPL_CLASSES), 0),
    )
    g = rows.groupby(["month", "group"], observed=True)
    stock = g[
        [
            "bal",
            "balance",
            "credit_balance",
            "medium_long_balance",
            "npl_balance",
            "ip_pledge_balance",
            "all_npl_balance",
        ]
    ].sum()
    stock = stock.rename(columns={"bal": "all_balance"})
    lent = rows[rows["pop"] & (rows["bal"] > 0)]
    stock["borrowers"] = lent.groupby(["month", "group"], observed=True)["uscc"].nunique()

    first = loans.groupby("uscc", observed=True)["disbursed_on"].min().rename("first_on")
    d = loans.assign(month=loans["disbursed_on"].dt.to_period("M").dt.to_timestamp())
    d = (
        d[d["month"].isin(mf["month"])]
        .merge(pop_firms, on=["month", "uscc"])
        .join(first, on="uscc")
    )
    d = _pd_keys(p, d, by, pop)
    d["amount_rate"] = d["amount_fen"].astype(object) * d["rate_m"].astype(object)
    d = d.merge(p["lpr"], on="month", how="left")
    lpr = d["lpr_5y"].where(d["long_lpr"], d["lpr_1y"])
    d["amount_spread"] = d["amount_fen"].astype(object) * (d["rate_m"] - lpr).astype(object)
    gd = d.groupby(["month", "group"], observed=True)
    flow = pd.DataFrame(
        {
            "new_amount": gd["amount_fen"].sum(),
            "new_amount_rate": gd["amount_rate"].sum(),
            "new_borrowers": gd["uscc"].nunique(),
            "new_amount_spread": gd["amount_spread"].sum(min_count=1),
        }
    )
    flow["first_time"] = (
        d[d["disbursed_on"] == d["first_on"]]
        .groupby(["month", "group"], observed=True)["uscc"]
        .nunique()
    )
    raw = stock.join(flow, how="outer")
    if by is not None and kernels.BREAKDOWNS[by] == "firm":
        raw = raw.join(
            _pd_keys(p, pop_firms.copy(), by, pop)
            .groupby(["month", "group"], observed=True)
            .size()
            .rename("firms"),
            how="outer",
        )
    raw = raw.reset_index()
    raw["group"] = raw["group"].astype(str)

    asked = pd.to_datetime(months)
    keys = pd.concat(
        [
            raw[["month", "group"]],
            raw[["month", "group"]].assign(month=raw["month"] + pd.DateOffset(months=1)),
            raw[["month", "group"]].assign(month=raw["month"] + pd.DateOffset(months=12)),
        ]
        + ([pd.DataFrame({"month": asked, "group": kernels.TOTAL})] if by is None else [])
    )
    keys = keys[keys["month"].isin(asked)].drop_duplicates()
    res = keys.merge(raw, on=["month", "group"], how="left")
    zero = [
        "all_balance",
        "balance",
        "credit_balance",
        "medium_long_balance",
        "npl_balance",
        "ip_pledge_balance",
        "all_npl_balance",
        "borrowers",
        "first_time",
        "new_amount",
        "new_amount_rate",
        "new_borrowers",
    ]
    res[zero] = res[zero].fillna(0)
    has_lpr = res["month"].isin(pd.to_datetime(p["lpr"]["month"]))
    res["new_amount_spread"] = res["new_amount_spread"].where(
        ~has_lpr, res["new_amount_spread"].fillna(0)
    )
    res.loc[~has_lpr, "new_amount_spread"] = None
    if by is None or kernels.BREAKDOWNS[by] == "loan":
        res["firms"] = res["month"].map(pop_firms.groupby("month").size()).fillna(0)
    else:
        res["firms"] = res["firms"].fillna(0)
    for lag, suffix in ((12, "year_ago"), (1, "month_ago")):
        cols = [f"balance_{suffix}", f"all_balance_{suffix}"]
        ago = raw[["month", "group", "balance", "all_balance"]].rename(
            columns={"balance": cols[0], "all_balance": cols[1]}
        )
        ago["month"] = ago["month"] + pd.DateOffset(months=lag)
        res = res.merge(ago, on=["month", "group"], how="left")
        res[cols] = res[cols].fillna(0)
    return res[["month", "group", *MEASURES]].sort_values(["month", "group"]).reset_index(drop=True)


def peer(p: dict[str, pd.DataFrame]) -> dict[str | None, pd.DataFrame]:
    out = {}
    for by in BYS:
        m = pandas_measures(p, asked_months(), by)
        kernels.indicators(_as_polars(m), monthly())
        out[by] = m
    return out


_BIG = ("new_amount_rate", "new_amount_spread")


def _as_polars(m: pd.DataFrame) -> pl.DataFrame:
    ints = [c for c in MEASURES if c not in _BIG]
    big = {c: m[c].map(lambda v: None if pd.isna(v) else str(int(v))) for c in _BIG}
    return pl.from_pandas(
        m.astype({c: "int64" for c in ints}).assign(month=m["month"].dt.date, **big)
    ).with_columns(pl.col(c).cast(pl.Int128) for c in _BIG)


def check_equal(a: dict[str | None, pl.DataFrame], b: dict[str | None, pd.DataFrame]) -> None:
    for by in BYS:
        x = a[by].with_columns(pl.col(c).cast(pl.Int128) for c in MEASURES)
        y = _as_polars(b[by]).with_columns(pl.col(c).cast(pl.Int128) for c in MEASURES)
        if not x.equals(y.select(x.columns)):
            raise AssertionError(f"ours and pandas differ for --by {by}")


CACHE = Path(__file__).parent / ".data"


def cached(loan_months: int) -> kernels.Frames:
    """:func:`synth`, kept as Parquet under ``bench/.data`` (generating 10M rows takes longer
    than computing them)."""
    where = CACHE / f"stats-{loan_months}"
    names = [fl.name for fl in fields(kernels.Frames)]
    if not all((where / f"{n}.parquet").exists() for n in names):
        f = synth(loan_months)
        where.mkdir(parents=True, exist_ok=True)
        for n in names:
            frame = getattr(f, n)
            if frame is not None:
                frame.write_parquet(where / f"{n}.parquet")
        return f
    read = {
        n: pl.read_parquet(where / f"{n}.parquet")
        for n in names
        if (where / f"{n}.parquet").exists()
    }
    return kernels.Frames(**read)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(quick: bool = False) -> None:
    for n in [200_000] if quick else [10_000_000]:
        f = cached(n)
        p = to_pandas(f)
        console.print(
            f"{f.statuses.height:,} loan-months, {f.loans.height:,} loans, {len(asked_months())} months × "
            f"{len(BYS)} breakdowns (whole + {', '.join(kernels.BREAKDOWNS)})"
        )
        check_equal(ours(f), peer(p))
        console.print("results equal: every measure, every month, every group")
        console.print(_load())
        a, a_cpu = measure_both("kejin (Polars)", lambda f=f: ours(f), repeat=5)
        console.print(f"{a}\n{a_cpu}\n{_load()}")
        # The peer takes minutes at 10M on this machine: one timed run beside the equality run.
        b, b_cpu = measure_both("pandas groupby", lambda p=p: peer(p), repeat=3 if quick else 1)
        console.print(f"{b}\n{b_cpu}\n{_load()}")
        console.print(ratio_line(a, b))
        console.print(ratio_line(a_cpu, b_cpu))
