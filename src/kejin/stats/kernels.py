"""The monthly statistics kernel: loan, status and qualification frames in, measures out.

Pure Polars, no database, so that the same code serves the command, the tests' hand-made
portfolios and the benchmark. Every month asked for is computed in one pass (with the months a
year earlier, which the growth figures need). Money is summed as integer fen (``Int64``; the
amount × rate products as ``Int128``) so that every total is exact; the indicator formulas are
then evaluated from the definitions as data (:mod:`kejin.stats.definitions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import polars as pl

from kejin.stats.definitions import LIST_QUALIFICATIONS, MEASURES, POPULATIONS, IndicatorSet

#: Breakdowns, and whether their key belongs to the firm (else to the loan).
BREAKDOWNS: dict[str, str] = {
    "bank": "loan",
    "product-kind": "loan",
    "chain": "firm",
    "region": "firm",
    "stage": "firm",
    "tier": "firm",
    "qualification": "firm",
}

#: The group of the whole, and of rows whose key is missing (a loan without a product, a firm
#: without a chain or tier, a firm outside the list population in the qualification breakdown).
TOTAL = "all"
NONE = "none"

NPL_CLASSES = ("substandard", "doubtful", "loss")
_MONEY = [
    "all_balance",
    "balance",
    "credit_balance",
    "medium_long_balance",
    "npl_balance",
    "ip_pledge_balance",
    "all_npl_balance",
]
#: A loan is priced off the five-year LPR when its original term exceeds this many months, else
#: off the one-year LPR (the PBoC's two tenors: 1 year, and over 5 years).
LONG_LPR_MONTHS = 60
RATIO_PLACES = 6
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Frames:
    """The kernel's inputs, with the columns of the registry tables they come from.

    loans: contract_no, uscc, institution_id, product_id, amount, rate, disbursed_on, maturity_on,
    guarantee_type, first_time_borrower (lending.tables.Loan); statuses: contract_no, month (first
    day), balance, classification (LoanStatus); qualifications: uscc, kind, valid_from, valid_to;
    firms: uscc, industry_chain, stage (and region_code for the region breakdown); tiers: uscc,
    tier (the whitelist version in force); products: id, kind; lpr: month (first day), lpr_1y,
    lpr_5y (the LPR published that month; without it the spread is null); members: uscc,
    valid_from, valid_to (whitelist membership spans, for the whitelist-based population).
    """

    loans: pl.DataFrame
    statuses: pl.DataFrame
    qualifications: pl.DataFrame
    firms: pl.DataFrame | None = None
    tiers: pl.DataFrame | None = None
    products: pl.DataFrame | None = None
    lpr: pl.DataFrame | None = None
    members: pl.DataFrame | None = None


def month_start(d: date) -> date:
    return d.replace(day=1)


def shift_months(d: date, n: int) -> date:
    """The first day of the month ``n`` months from ``d``'s month."""
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def month_end(d: date) -> date:
    return shift_months(d, 1) - timedelta(days=1)


def _fen(col: str) -> pl.Expr:
    return (pl.col(col) * 100).cast(pl.Int64)


def population(qualifications: pl.DataFrame, months: Sequence[date]) -> pl.DataFrame:
    """(month, uscc, kind) for every list qualification valid on the month end D (bounds inclusive)."""
    return _spans_on(qualifications.filter(pl.col("kind").is_in(LIST_QUALIFICATIONS)), months)


def whitelist_population(members: pl.DataFrame, months: Sequence[date]) -> pl.DataFrame:
    """(month, uscc) for every whitelist membership span covering the month end D."""
    spans = members.select("uscc", "valid_from", "valid_to", kind=pl.lit("whitelist"))
    return _spans_on(spans, months).select("month", "uscc")


def _month_index(d: pl.Expr) -> pl.Expr:
    return d.dt.year().cast(pl.Int32) * 12 + d.dt.month().cast(pl.Int32) - 1


def _mk(month: str = "month", uscc: str = "uscc") -> pl.Expr:
    """One Int64 key for (month, coded firm): joins on one integer column run several times
    faster than on a (date, integer) pair."""
    return (
        _month_index(pl.col(month)).cast(pl.Int64) * (1 << 32) + pl.col(uscc).cast(pl.Int64)
    ).alias("mk")


def _spans_on(spans: pl.DataFrame, months: Sequence[date]) -> pl.DataFrame:
    """(month, uscc, kind) for each span valid on the month end D of each of ``months``.

    Valid on D means ``valid_from ≤ D ≤ valid_to``: from the month of ``valid_from`` to the month
    of ``valid_to`` (that month itself only when ``valid_to`` is its last day). The months are
    generated from these two month numbers rather than found by a range join (three times faster).
    """
    idx = sorted({m.year * 12 + m.month - 1 for m in months})
    if not idx:
        return pl.DataFrame(
            schema={"month": pl.Date, "uscc": spans.schema["uscc"], "kind": pl.String}
        )
    lo, hi = idx[0], idx[-1]
    last = _month_index(pl.col("valid_to")) - (
        pl.col("valid_to") != pl.col("valid_to").dt.month_end()
    ).cast(pl.Int32)
    return (
        spans.lazy()
        .select(
            "uscc",
            "kind",
            a=pl.max_horizontal(_month_index(pl.col("valid_from")), pl.lit(lo, pl.Int32)),
            b=pl.min_horizontal(last, pl.lit(hi, pl.Int32)),
        )
        .filter(pl.col("a") <= pl.col("b"))
        .select("uscc", "kind", m=pl.int_ranges("a", pl.col("b") + 1, dtype=pl.Int32))
        .explode("m")
        .filter(pl.col("m").is_in(idx))
        .unique()
        .select(month=pl.date(pl.col("m") // 12, pl.col("m") % 12 + 1, 1), uscc="uscc", kind="kind")
        .collect()
    )


def _key_column(by: str) -> str:
    return f"key_{by}"


def _with_keys(rows: pl.LazyFrame, f: Frames, bys: Sequence[str]) -> pl.LazyFrame:
    """Rows (with uscc, and institution_id and product_id for the loan-keyed breakdowns) given a
    ``key_<by>`` column per breakdown but qualification (whose key depends on the month, see
    :func:`_group_rows`); a missing key is NONE."""
    need = set(bys) - {"qualification"}
    if "bank" in need:
        rows = rows.with_columns(pl.col("institution_id").alias(_key_column("bank")))
    if "product-kind" in need:
        if f.products is None:
            raise ValueError("the product-kind breakdown needs the products frame")
        kinds = f.products.lazy().select(product_id="id", **{_key_column("product-kind"): "kind"})
        rows = rows.join(kinds, on="product_id", how="left")
    firm_cols = {"chain": "industry_chain", "stage": "stage", "region": "region_code"}
    if need & firm_cols.keys():
        if f.firms is None:
            raise ValueError("the chain, stage and region breakdowns need the firms frame")
        firm = f.firms.lazy().select(
            "uscc", **{_key_column(b): firm_cols[b] for b in sorted(need & firm_cols.keys())}
        )
        rows = rows.join(firm, on="uscc", how="left")
    if "tier" in need:
        if f.tiers is None:
            raise ValueError("the tier breakdown needs the tiers frame")
        rows = rows.join(
            f.tiers.lazy().select("uscc", **{_key_column("tier"): "tier"}), on="uscc", how="left"
        )
    keys = [_key_column(b) for b in sorted(need)]
    return rows.with_columns(pl.col(keys).fill_null(NONE)) if keys else rows


def _group_rows(rows: pl.DataFrame, by: str | None, pop: pl.DataFrame) -> pl.LazyFrame:
    """The rows with their ``group`` for one breakdown; a firm holding two kinds is in each."""
    lf = rows.lazy()
    if by is None:
        return lf.with_columns(group=pl.lit(TOTAL))
    if by == "qualification":
        kinds = pop.lazy().select(_mk(), group="kind")
        return lf.join(kinds, on="mk", how="left").with_columns(pl.col("group").fill_null(NONE))
    return lf.with_columns(group=pl.col(_key_column(by)))


@dataclass(frozen=True)
class _Base:
    """What every breakdown shares: status rows, disbursements, the population, months with data."""

    asked: list[date]
    pop: pl.DataFrame
    pop_keyed: pl.DataFrame
    stock: pl.DataFrame
    firm_stock: pl.DataFrame
    flow: pl.DataFrame
    with_data: list[date]
    with_lpr: list[date]


def _coded(f: Frames) -> Frames:
    """The frames with each USCC replaced by a dense integer code (only firms with a loan, a
    qualification or a whitelist membership matter): the joins on (month, firm) run several
    times faster on integers than on 18-character strings. The statuses carry no USCC."""
    held = [f.loans.select("uscc"), f.qualifications.select("uscc")]
    if f.members is not None:  # a member with neither loan nor qualification is still counted
        held.append(f.members.select("uscc"))
    codes = pl.concat(held).unique().with_row_index("code")

    def code(df: pl.DataFrame) -> pl.DataFrame:
        return df.join(codes, on="uscc").drop("uscc").rename({"code": "uscc"})

    return Frames(
        loans=code(f.loans),
        statuses=f.statuses,
        qualifications=code(f.qualifications),
        firms=None if f.firms is None else code(f.firms),
        tiers=None if f.tiers is None else code(f.tiers),
        products=f.products,
        lpr=f.lpr,
        members=None if f.members is None else code(f.members),
    )


def _base(
    f: Frames, months: Sequence[date], bys: Sequence[str | None], variant: str = "list"
) -> _Base:
    for by in bys:
        if by is not None and by not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {by!r}")
    if variant not in POPULATIONS:
        raise ValueError(f"unknown population {variant!r}")
    if variant == "whitelist" and f.members is None:
        raise ValueError("the whitelist-based population needs the members frame")
    f = _coded(f)
    asked = sorted({month_start(m) for m in months})
    every = sorted(
        set(asked) | {shift_months(m, -12) for m in asked} | {shift_months(m, -1) for m in asked}
    )
    pop = population(f.qualifications, every)
    if variant == "whitelist":
        assert f.members is not None
        pop_firms = whitelist_population(f.members, every).unique()
        # The qualification breakdown of the whitelist population: the list kinds its members hold.
        pop = pop.join(pop_firms, on=["month", "uscc"], how="semi")
    else:
        pop_firms = pop.select("month", "uscc").unique()
    pop_firms = pop_firms.with_columns(_mk())
    flagged = pop_firms.lazy().select("mk", pop=pl.lit(True))
    named = [b for b in bys if b is not None]
    loans = f.loans.lazy().with_columns(
        amount_fen=_fen("amount"),
        rate_m=(pl.col("rate") * 1_000_000).cast(pl.Int64),
        medium_long=pl.col("maturity_on") > pl.col("disbursed_on").dt.offset_by("12mo"),
        long_lpr=pl.col("maturity_on")
        > pl.col("disbursed_on").dt.offset_by(f"{LONG_LPR_MONTHS}mo"),
    )
    statuses = f.statuses.lazy().filter(pl.col("month").is_in(every))
    # Balances: a loan has a balance in a month only through its status row for that month.
    stock = (
        statuses.select(
            "contract_no",
            "month",
            bal=_fen("balance"),
            npl=pl.col("classification").is_in(NPL_CLASSES),
        )
        .join(
            loans.select(
                "contract_no",
                "uscc",
                "institution_id",
                "product_id",
                "guarantee_type",
                "medium_long",
            ),
            on="contract_no",
        )
        .with_columns(_mk())
        .join(flagged, on="mk", how="left")
        .select(
            "mk",
            "month",
            "uscc",
            "institution_id",
            "product_id",
            "bal",
            pop=pl.col("pop").fill_null(False),
            credit_bal=pl.when(pl.col("guarantee_type") == "credit").then("bal").otherwise(0),
            ml_bal=pl.when("medium_long").then("bal").otherwise(0),
            npl_bal=pl.when("npl").then("bal").otherwise(0),
            ip_bal=pl.when(pl.col("guarantee_type") == "ip_pledge").then("bal").otherwise(0),
        )
    )
    # Firm-keyed breakdowns need only each firm's month: one row per firm and month, not per loan.
    firm_stock = stock.group_by("mk").agg(
        pl.col("bal", "credit_bal", "ml_bal", "npl_bal", "ip_bal").sum(),
        pl.col("month", "uscc", "pop").first(),
    )
    # Flows: loans of population firms disbursed in the month, first and last day included.
    first = loans.group_by("uscc").agg(first_on=pl.col("disbursed_on").min())
    lpr = (
        pl.LazyFrame(schema={"month": pl.Date, "lpr_1y": pl.Int64, "lpr_5y": pl.Int64})
        if f.lpr is None
        else f.lpr.lazy().select(
            "month",
            *[(pl.col(c) * 1_000_000).cast(pl.Int64).alias(c) for c in ("lpr_1y", "lpr_5y")],
        )
    )
    flow = (
        loans.select(
            "uscc",
            "institution_id",
            "product_id",
            "amount_fen",
            "rate_m",
            "disbursed_on",
            "long_lpr",
        )
        .with_columns(month=pl.col("disbursed_on").dt.month_start())
        .filter(pl.col("month").is_in(every))
        .with_columns(_mk())
        .join(flagged, on="mk", how="inner")
        .join(first, on="uscc")
        .join(lpr, on="month", how="left")
        .with_columns(
            spread_m=pl.col("rate_m")
            - pl.when("long_lpr").then(pl.col("lpr_5y")).otherwise(pl.col("lpr_1y"))
        )
    )
    firm_keyed = [b for b in named if BREAKDOWNS[b] == "firm" and b != "qualification"]
    loan_keyed = [b for b in named if BREAKDOWNS[b] == "loan"]
    pop_keyed, stock, firm_stock, flow, data = pl.collect_all(
        [
            _with_keys(pop_firms.lazy(), f, firm_keyed),
            _with_keys(stock, f, loan_keyed) if loan_keyed else pl.LazyFrame(),
            _with_keys(firm_stock, f, firm_keyed),
            _with_keys(flow, f, named),
            statuses.select(pl.col("month").unique()),
        ]
    )
    lpr_months = [] if f.lpr is None else f.lpr["month"].to_list()
    return _Base(
        asked, pop, pop_keyed, stock, firm_stock, flow, data["month"].to_list(), lpr_months
    )


#: Each list kind's bit in a firm-month's kind mask (the qualification breakdown).
_KIND_BITS = {k: 1 << i for i, k in enumerate(LIST_QUALIFICATIONS)}


def _kind_masks(pop: pl.DataFrame) -> pl.LazyFrame:
    """(mk, mask): the list kinds each firm holds in each month, as bits of one integer."""
    return (
        pop.lazy()
        .select(_mk(), bit=pl.col("kind").replace_strict(_KIND_BITS, return_dtype=pl.Int32))
        .group_by("mk")
        .agg(mask=pl.col("bit").sum())
    )


def _by_kind(rows: pl.LazyFrame, masks: pl.LazyFrame, aggs: list[pl.Expr]) -> pl.LazyFrame:
    """Additive measures of firm-month rows by qualification kind: aggregated per kind mask
    first (a handful of masks rather than a row per firm, month and kind), then each mask's sums
    added to every kind it holds; a firm-month holding no list kind is in NONE."""
    per_mask = (
        rows.join(masks, on="mk", how="left")
        .with_columns(pl.col("mask").fill_null(0))
        .group_by("month", "mask")
        .agg(aggs)
    )
    names = [e.meta.output_name() for e in aggs]
    parts = [
        per_mask.filter((pl.col("mask") & bit) != 0).with_columns(group=pl.lit(kind))
        for kind, bit in _KIND_BITS.items()
    ]
    parts.append(per_mask.filter(pl.col("mask") == 0).with_columns(group=pl.lit(NONE)))
    return pl.concat(parts).group_by("month", "group").agg(pl.col(names).sum())


def _aggregate(b: _Base, by: str | None) -> pl.DataFrame:
    # Loan-keyed breakdowns aggregate loans (a firm may count in several groups); the others one
    # row per firm and month, where a borrower is a row.
    per_loan = by is not None and BREAKDOWNS[by] == "loan"
    rows = b.stock if per_loan else b.firm_stock
    masks = _kind_masks(b.pop) if by == "qualification" else None
    stock_aggs = [
        pl.col("bal").sum().alias("all_balance"),
        pl.col("bal").filter("pop").sum().alias("balance"),
        pl.col("credit_bal").filter("pop").sum().alias("credit_balance"),
        pl.col("ml_bal").filter("pop").sum().alias("medium_long_balance"),
        pl.col("npl_bal").filter("pop").sum().alias("npl_balance"),
        pl.col("ip_bal").filter("pop").sum().alias("ip_pledge_balance"),
        pl.col("npl_bal").sum().alias("all_npl_balance"),
        (
            pl.col("uscc").filter(pl.col("pop") & (pl.col("bal") > 0)).n_unique()
            if per_loan
            else (pl.col("pop") & (pl.col("bal") > 0)).sum()
        ).alias("borrowers"),
    ]
    if masks is not None:
        stock = _by_kind(rows.lazy(), masks, stock_aggs)
    else:
        stock = _group_rows(rows, by, b.pop).group_by("month", "group").agg(stock_aggs)
    flow = (
        _group_rows(b.flow, by, b.pop)
        .group_by("month", "group")
        .agg(
            new_amount=pl.col("amount_fen").sum(),
            new_amount_rate=(pl.col("amount_fen").cast(pl.Int128) * pl.col("rate_m")).sum(),
            first_time=pl.col("uscc")
            .filter(pl.col("disbursed_on") == pl.col("first_on"))
            .n_unique(),
            new_borrowers=pl.col("uscc").n_unique(),
            new_amount_spread=(pl.col("amount_fen").cast(pl.Int128) * pl.col("spread_m")).sum(),
        )
    )
    firm_keyed = by is not None and BREAKDOWNS[by] == "firm"
    out = stock.join(flow, on=["month", "group"], how="full", coalesce=True)
    if firm_keyed:
        firms = (
            _by_kind(b.pop_keyed.lazy(), masks, [pl.len().cast(pl.Int64).alias("firms")])
            if masks is not None
            else _group_rows(b.pop_keyed, by, b.pop)
            .group_by("month", "group")
            .agg(firms=pl.len().cast(pl.Int64))
        )
        out = out.join(firms, on=["month", "group"], how="full", coalesce=True)
    raw = out.collect()

    # A month reports every group present then, a month or a year earlier (a bank whose loans
    # were all repaid still shows its fall), and the whole always.
    keys = (
        pl.concat(
            [
                raw.select("month", "group"),
                raw.select(pl.col("month").dt.offset_by("1mo"), "group"),
                raw.select(pl.col("month").dt.offset_by("12mo"), "group"),
                pl.DataFrame({"month": b.asked, "group": TOTAL}).filter(pl.lit(by is None)),
            ]
        )
        .filter(pl.col("month").is_in(b.asked))
        .unique()
    )
    totals = b.pop_keyed.group_by("month").agg(pop_total=pl.col("uscc").n_unique().cast(pl.Int64))
    res = (
        keys.join(raw, on=["month", "group"], how="left")
        .join(totals, on="month", how="left")
        .with_columns(
            *[
                pl.col(c).fill_null(0)
                for c in [*_MONEY, "borrowers", "first_time", "new_amount", "new_borrowers"]
            ],
            pl.col("new_amount_rate").fill_null(0),
            # A month without a published LPR in the table has no spread (null), never zero.
            pl.when(pl.col("month").is_in(b.with_lpr))
            .then(pl.col("new_amount_spread").fill_null(0))
            .alias("new_amount_spread"),
            firms=pl.col("firms").fill_null(0) if firm_keyed else pl.col("pop_total").fill_null(0),
        )
        # A month without status rows has no balances (null), never zeros.
        .with_columns(
            pl.when(pl.col("month").is_in(b.with_data)).then(pl.col(c)).alias(c)
            for c in [*_MONEY, "borrowers"]
        )
    )
    for lag, suffix in (("12mo", "year_ago"), ("1mo", "month_ago")):
        ago = raw.select(
            pl.col("month").dt.offset_by(lag),
            "group",
            **{f"balance_{suffix}": "balance", f"all_balance_{suffix}": "all_balance"},
        )
        ago_known = pl.col("month").dt.offset_by(f"-{lag}").is_in(b.with_data)
        res = res.join(ago, on=["month", "group"], how="left").with_columns(
            pl.when(ago_known).then(pl.col(c).fill_null(0)).alias(c)
            for c in (f"balance_{suffix}", f"all_balance_{suffix}")
        )
    return res.select("month", "group", *MEASURES).sort("month", "group")


def measures_by(
    f: Frames,
    months: Sequence[date],
    bys: Sequence[str | None],
    population: str = "list",
) -> dict[str | None, pl.DataFrame]:
    """:func:`measures` for several breakdowns, sharing the joins and the population."""
    b = _base(f, months, bys, population)
    return {by: _aggregate(b, by) for by in bys}


def measures(
    f: Frames, months: Sequence[date], by: str | None = None, population: str = "list"
) -> pl.DataFrame:
    """One row per (month, group) with every measure of :data:`MEASURES` (money in fen).

    ``months`` are first days. Year-ago (month-ago) measures come from the month twelve months
    (one month) earlier, its population taken on that earlier date; they are null when that month
    has no status rows. ``population`` is ``list`` (the seven qualification kinds) or
    ``whitelist`` (members of the whitelist on D, from ``Frames.members``).
    """
    return measures_by(f, months, [by], population)[by]


def _value(ind_kind: str, num: object, den: object) -> Fraction | int | None:
    if num is None or (ind_kind != "measure" and den is None):
        return None
    if ind_kind == "measure":
        return int(num)  # type: ignore[call-overload]
    if den == 0:
        return None
    q = Fraction(num) / Fraction(den)  # type: ignore[arg-type]
    return q - 1 if ind_kind == "growth" else q


def _present(unit: str, v: Fraction | int | None) -> object:
    """As the JSON states it: money in yuan (exact), counts as ints, ratios as 6-place fractions."""
    if v is None:
        return None
    if unit == "yuan":
        return (Decimal(int(v)) / 100).quantize(CENT)
    if unit == "firms":
        return int(v)
    places = RATIO_PLACES if unit != "pp" else 4
    if unit == "rate":  # Σ fen × millionths ÷ Σ fen (a spread too)
        v = Fraction(v) / 1_000_000
    return float(round(Fraction(v), places))  # exact, half to even


def indicators(m: pl.DataFrame, defs: IndicatorSet) -> list[dict[str, object]]:
    """Each (month, group) row's indicators by id, in definition order, from its measures."""
    out = []
    for row in m.iter_rows(named=True):
        exact: dict[str, Fraction | int | None] = {}
        shown: dict[str, object] = {}
        for ind in defs.indicators:
            fm = ind.formula
            if fm.kind == "gap_pp":
                a, b = exact.get(fm.numerator), exact.get(fm.denominator or "")
                v = None if a is None or b is None else (Fraction(a) - Fraction(b)) * 100
            else:
                v = _value(
                    fm.kind, row[fm.numerator], row.get(fm.denominator) if fm.denominator else None
                )
            exact[ind.id] = v
            shown[ind.id] = _present(ind.unit, v)
        out.append({"month": row["month"], "group": row["group"], "indicators": shown})
    return out


def flag_disagreements(f: Frames, month: date) -> pl.DataFrame:
    """Loans disbursed in the month whose bank-reported 首贷户 flag contradicts the history.

    The history is every loan in the registry, over every bank: a loan is a first loan when it
    was disbursed on its firm's earliest disbursement date. A refinancing loan is not.
    """
    start = month_start(month)
    end = month_end(start)
    first = f.loans.group_by("uscc").agg(first_on=pl.col("disbursed_on").min())
    return (
        f.loans.filter(pl.col("disbursed_on").is_between(start, end))
        .join(first, on="uscc")
        .with_columns(computed=pl.col("disbursed_on") == pl.col("first_on"))
        .filter(pl.col("computed") != pl.col("first_time_borrower"))
        .select(
            "contract_no",
            "uscc",
            "institution_id",
            "disbursed_on",
            reported="first_time_borrower",
            computed="computed",
            first_disbursed_on="first_on",
        )
        .sort("contract_no")
    )
