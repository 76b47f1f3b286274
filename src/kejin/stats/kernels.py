"""The monthly statistics kernel: loan, status and qualification frames in, measures out.

Pure Polars, no database, so that the same code serves the command, the tests' hand-made
portfolios and the benchmark. Every month asked for is computed in one pass (with the months a
year earlier, which the growth figures need). Money is summed as integer fen (``Int64``; the
amount × rate products as ``Int128``) so that every total is exact; the indicator formulas are
then evaluated from the definitions as data (:mod:`kejin.stats.definitions`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import polars as pl

from kejin.stats.definitions import (
    LIST_QUALIFICATIONS,
    MEASURES,
    POPULATIONS,
    IndicatorSet,
    monthly,
)

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


def _fen(col: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """A money column as Int64 fen. A Decimal of scale 2 already *is* fen underneath (its
    physical integer), so no multiplication runs over the rows; any other type is multiplied."""
    if isinstance(dtype, pl.Decimal) and dtype.scale == 2:
        return pl.col(col).to_physical().cast(pl.Int64)
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


def _flow_groups(rows: pl.DataFrame, by: str | None) -> pl.LazyFrame:
    """Disbursement rows with their ``group`` for one breakdown; in the qualification breakdown
    a firm holding two kinds is in each (``mask``: the kinds it holds that month), a population
    firm holding none (a whitelist member) in NONE."""
    lf = rows.lazy()
    if by is None:
        return lf.with_columns(group=pl.lit(TOTAL))
    if by == "qualification":
        parts = [
            lf.filter((pl.col("mask") & bit) != 0).with_columns(group=pl.lit(kind))
            for kind, bit in _KIND_BITS.items()
        ]
        parts.append(lf.filter(pl.col("mask") == 0).with_columns(group=pl.lit(NONE)))
        return pl.concat(parts)
    return lf.with_columns(group=pl.col(_key_column(by)))


@dataclass(frozen=True)
class _Base:
    """What every breakdown shares: the status rows joined to their loans once, as arrays.

    Each status row is a month ``slot``, a ``firm`` code, the loan index ``li``, its balance in
    fen, whether its firm is in the population that month (``pop_row``) and its ``combo`` (the
    loan's guarantee type, term and classification as one digit). The population, the list
    kinds held and whether a firm has a balance are arrays over (slot, firm) *cells*. A
    breakdown then sums these by dense integer keys (:func:`_partial`): no join or hash
    group-by runs per breakdown. ``dims`` holds each breakdown's labels by code, ``lo`` the
    month index of slot 0.
    """

    asked: list[date]
    lo: int
    slots: int
    n_firms: int
    dims: dict[str, pl.Series]
    firm_codes: dict[str, np.ndarray]
    loan_codes: dict[str, np.ndarray]
    kind_mask: np.ndarray
    pop_cells: np.ndarray
    has_balance: np.ndarray
    li: np.ndarray
    slot: np.ndarray
    firm: np.ndarray
    pop_row: np.ndarray
    slot_kind: np.ndarray
    bal: np.ndarray
    bal_float: np.ndarray
    bal_top: int
    pop_firm: np.ndarray
    pop_slot: np.ndarray
    pop_lent: np.ndarray
    lent: np.ndarray
    row_cells: np.ndarray
    flow: pl.DataFrame
    with_data: list[date]
    with_lpr: list[date]


def _coded(f: Frames) -> tuple[Frames, int]:
    """The frames with each USCC replaced by a dense integer code (only firms with a loan, a
    qualification or a whitelist membership matter), and the number of codes: every (month,
    firm) fact is then kept in an array indexed by month slot and code rather than found by
    joins. The statuses carry no USCC."""
    held = [f.loans.select("uscc"), f.qualifications.select("uscc")]
    if f.members is not None:  # a member with neither loan nor qualification is still counted
        held.append(f.members.select("uscc"))
    codes = pl.concat(held).unique().with_row_index("code")

    def code(df: pl.DataFrame) -> pl.DataFrame:
        return df.join(codes, on="uscc").drop("uscc").rename({"code": "uscc"})

    coded = Frames(
        loans=code(f.loans),
        statuses=f.statuses,
        qualifications=code(f.qualifications),
        firms=None if f.firms is None else code(f.firms),
        tiers=None if f.tiers is None else code(f.tiers),
        products=f.products,
        lpr=f.lpr,
        members=None if f.members is None else code(f.members),
    )
    return coded, codes.height


def _labels(values: pl.Series) -> pl.Series:
    """A key's distinct values, sorted: a value's code is its index."""
    return values.unique().sort()


def _encode(values: pl.Series, labels: pl.Series) -> np.ndarray:
    codes = pl.int_range(len(labels), eager=True, dtype=pl.Int64)
    # Integers even when there is nothing to encode (a share of firms without loans, as a
    # Spark bucket can be): an empty replacement comes back as objects.
    out = values.replace_strict(labels, codes, return_dtype=pl.Int64).to_numpy()
    return out.astype(np.int64, copy=False)


#: Each list kind's bit in a firm-month's kind mask (the qualification breakdown).
_KIND_BITS = {k: 1 << i for i, k in enumerate(LIST_QUALIFICATIONS)}
_MASKS = 1 << len(LIST_QUALIFICATIONS)
#: Which kind-mask groups each mask adds to: every kind it holds, NONE for no kind.
_MASK_GROUPS = np.array(
    [[int(m & bit != 0) for bit in _KIND_BITS.values()] + [int(m == 0)] for m in range(_MASKS)],
    dtype=np.int64,
)
#: A status row's kind, one digit of the keys: guarantee (0 other, 1 信用, 2 知识产权质押) × term
#: (medium/long) × NPL class, so that every balance is one sum per key.
_COMBOS = 12
_C = np.arange(_COMBOS)
_GUARANTEE, _LONG, _NPL = _C // 4, _C // 2 % 2 == 1, _C % 2 == 1


def _combo(guarantee: pl.Expr, medium_long: pl.Expr) -> pl.Expr:
    """The loan's part of the combo digit (the status row adds its NPL bit)."""
    g = pl.when(guarantee == "credit").then(1).when(guarantee == "ip_pledge").then(2).otherwise(0)
    return (g * 2 + medium_long.cast(pl.Int64)).cast(pl.Int64)


def _held(spans: pl.DataFrame, idx: list[int], n_firms: int) -> np.ndarray:
    """Whether some span covers each (slot, firm) cell on the slot's month end D.

    Valid on D means ``valid_from ≤ D ≤ valid_to``: from the month of ``valid_from`` to the month
    of ``valid_to`` (that month itself only when ``valid_to`` is its last day). Each span adds
    one at its first slot and takes it back after its last (a difference array over slots), so
    no span is expanded into months.
    """
    lo, hi = idx[0], idx[-1]
    slots = hi - lo + 1
    last = _month_index(pl.col("valid_to")) - (
        pl.col("valid_to") != pl.col("valid_to").dt.month_end()
    ).cast(pl.Int32)
    s = spans.select(
        firm=pl.col("uscc").cast(pl.Int64),
        a=(pl.max_horizontal(_month_index(pl.col("valid_from")), pl.lit(lo, pl.Int32)) - lo).cast(
            pl.Int64
        ),
        b=(pl.min_horizontal(last, pl.lit(hi, pl.Int32)) - lo).cast(pl.Int64),
    ).filter(pl.col("a") <= pl.col("b"))
    firm, a, b = (s[c].to_numpy() for c in ("firm", "a", "b"))
    size = (slots + 1) * n_firms
    diff = np.bincount(a * n_firms + firm, minlength=size) - np.bincount(
        (b + 1) * n_firms + firm, minlength=size
    )
    held = np.cumsum(diff.reshape(slots + 1, n_firms), axis=0)[:slots] > 0
    asked = set(idx)
    held[np.array([i not in asked for i in range(lo, hi + 1)])] = False
    return held.ravel()


def _kind_masks(quals: pl.DataFrame, idx: list[int], n_firms: int) -> np.ndarray:
    """The list kinds each (slot, firm) cell holds on the slot's month end, as a bit mask.

    :func:`_held` for the seven kinds at once: each kind counts its spans in its own byte of one
    Int64 per cell (a difference array over slots, one cumulative sum), and a cell holds the
    kind when its byte is not zero; the bytes become the mask's bits by one ``packbits``. More
    than 255 overlapping spans of one kind for one firm would overflow a byte: then kind by kind.
    """
    lo, hi = idx[0], idx[-1]
    slots = hi - lo + 1
    kinds = list(_KIND_BITS)
    q = quals.filter(pl.col("kind").is_in(kinds))
    if q.height and q.group_by("uscc", "kind").len()["len"].max() > 255:  # type: ignore[operator]
        mask = np.zeros(slots * n_firms, dtype=np.uint8)
        for kind, bit in _KIND_BITS.items():
            mask[_held(q.filter(pl.col("kind") == kind), idx, n_firms)] |= bit
        return mask
    last = _month_index(pl.col("valid_to")) - (
        pl.col("valid_to") != pl.col("valid_to").dt.month_end()
    ).cast(pl.Int32)
    s = q.select(
        firm=pl.col("uscc").cast(pl.Int64),
        byte=pl.col("kind").replace_strict(kinds, list(range(len(kinds))), return_dtype=pl.Int64),
        a=(pl.max_horizontal(_month_index(pl.col("valid_from")), pl.lit(lo, pl.Int32)) - lo).cast(
            pl.Int64
        ),
        b=(pl.min_horizontal(last, pl.lit(hi, pl.Int32)) - lo).cast(pl.Int64),
    ).filter(pl.col("a") <= pl.col("b"))
    firm, byte, a, b = (s[c].to_numpy() for c in ("firm", "byte", "a", "b"))
    one = np.left_shift(np.int64(1), 8 * byte)
    diff = np.zeros((slots + 1) * n_firms, dtype=np.int64)
    np.add.at(diff, a * n_firms + firm, one)
    np.subtract.at(diff, (b + 1) * n_firms + firm, one)
    counts = diff.reshape(slots + 1, n_firms)[:slots]
    np.cumsum(counts, axis=0, out=counts)
    held = counts.reshape(-1, 1).view(np.uint8) != 0  # little-endian: byte k is kind k
    mask = np.packbits(held, axis=1, bitorder="little").ravel()
    asked = set(idx)
    gaps = np.array([i not in asked for i in range(lo, hi + 1)])
    mask.reshape(slots, n_firms)[gaps] = 0
    return mask


#: Float64 adds integers exactly while every partial sum stays below this.
_EXACT = 1 << 53


def _sums(
    key: np.ndarray, bins: int, w: np.ndarray, w_float: np.ndarray, top: int, count: np.ndarray
) -> np.ndarray:
    """Exact Int64 sums of ``w`` per key. One float bincount when no key's rows can reach 2**53
    in absolute sum (``count`` rows per key, each at most max |w|: every partial sum is then an
    integer a float holds exactly); else the low 20 and high bits apart, each within that
    bound; else a hash group-by. ``top`` is max |w|."""
    rows = int(count.max()) if len(count) else 0
    if rows * top < _EXACT:
        return np.bincount(key, weights=w_float, minlength=bins).astype(np.int64)
    if rows * (top >> 20) < _EXACT:
        low = np.bincount(key, weights=(w & 0xFFFFF).astype(np.float64), minlength=bins)
        high = np.bincount(key, weights=(w >> 20).astype(np.float64), minlength=bins)
        return high.astype(np.int64) * (1 << 20) + low.astype(np.int64)
    s = pl.DataFrame({"k": key, "w": w}).group_by("k").agg(pl.col("w").sum())
    out = np.zeros(bins, dtype=np.int64)
    out[s["k"].to_numpy()] = s["w"].to_numpy()
    return out


def _counts(key: np.ndarray, bins: int) -> np.ndarray:
    return np.bincount(key, minlength=bins).astype(np.int64)


def _distinct_firms(group: np.ndarray, firm: np.ndarray, n_groups: int, n_firms: int) -> np.ndarray:
    """Distinct firms per group code, from a bitmap of (group, firm) when it fits in memory,
    else by hashing."""
    if n_groups * n_firms <= 1 << 30:
        seen = np.zeros(n_groups * n_firms, dtype=np.bool_)
        seen[group * n_firms + firm] = True
        return np.count_nonzero(seen.reshape(n_groups, n_firms), axis=1).astype(np.int64)
    s = pl.DataFrame({"g": group, "firm": firm}).unique().group_by("g").agg(n=pl.len())
    out = np.zeros(n_groups, dtype=np.int64)
    out[s["g"].to_numpy()] = s["n"].to_numpy()
    return out


def _status_slots(
    month: pl.Series, every: list[date], lo: int, slots: int
) -> tuple[np.ndarray, list[date]]:
    """Each status row's month slot (−1 for a month not asked), by a lookup on its day number,
    and the asked months that have status rows."""
    epoch = date(1970, 1, 1)
    days = month.to_physical().to_numpy()
    start = date(lo // 12, lo % 12 + 1, 1)
    first = (start - epoch).days
    lut = np.full((shift_months(start, slots) - start).days, -1, dtype=np.int64)
    for m in every:
        lut[(m - epoch).days - first] = m.year * 12 + m.month - 1 - lo
    rel = days.astype(np.int64) - first
    inside = (rel >= 0) & (rel < len(lut))
    slot = np.where(inside, lut[np.where(inside, rel, 0)], -1)
    seen = np.bincount(slot[slot >= 0], minlength=slots)
    return slot, [m for m in every if seen[m.year * 12 + m.month - 1 - lo] > 0]


def _loan_index(contract: pl.Series, loans: pl.DataFrame) -> np.ndarray:
    """Each status row's loan index (−1 when no loan has its contract number).

    A loan's status rows usually come together (the table's key is contract, month), so only the
    first row of each run of one contract number is looked up: the string join runs over about
    one row per loan instead of one per loan-month; rows in any other order are still right,
    just looked up more often.
    """
    starts = np.flatnonzero(contract.ne_missing(contract.shift(1)).fill_null(True).to_numpy())
    heads = pl.DataFrame({"contract_no": contract.gather(starts), "run": np.arange(len(starts))})
    found = (
        heads.join(loans, on="contract_no", how="left")
        .sort("run")["li"]
        .fill_null(-1)
        .cast(pl.Int64)
        .to_numpy()
    )
    return np.repeat(found, np.diff(np.append(starts, len(contract))))


def _base(
    f: Frames,
    months: Sequence[date],
    bys: Sequence[str | None],
    variant: str = "list",
    kinds_on: Callable[[date], Sequence[str]] | None = None,
) -> _Base:
    for by in bys:
        if by is not None and by not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {by!r}")
    if variant not in POPULATIONS:
        raise ValueError(f"unknown population {variant!r}")
    if variant == "whitelist" and f.members is None:
        raise ValueError("the whitelist-based population needs the members frame")
    f, n_firms = _coded(f)
    n_firms = max(n_firms, 1)
    asked = sorted({month_start(m) for m in months})
    every = sorted(
        set(asked) | {shift_months(m, -12) for m in asked} | {shift_months(m, -1) for m in asked}
    )
    idx = sorted({m.year * 12 + m.month - 1 for m in every})
    lo, slots = idx[0], idx[-1] - idx[0] + 1

    # The population and the list kinds each firm holds, as arrays over (slot, firm) cells.
    kind_mask = _kind_masks(f.qualifications, idx, n_firms)
    # Only the kinds on the list in effect on each month end count (the list may change).
    on_list = kinds_on or monthly().kinds_on
    allowed = np.array(
        [
            sum(_KIND_BITS[k] for k in set(on_list(month_end(shift_months(every[0], i)))))
            for i in range(slots)
        ],
        dtype=np.uint8,
    )
    kind_mask.reshape(slots, n_firms)[...] &= allowed[:, None]
    if variant == "whitelist":
        assert f.members is not None
        in_pop = _held(f.members, idx, n_firms)
        # The qualification breakdown of the whitelist population: the list kinds its members hold.
        kind_mask *= in_pop
    else:
        in_pop = kind_mask != 0

    named = [b for b in bys if b is not None]
    firm_keyed = [b for b in named if BREAKDOWNS[b] == "firm" and b != "qualification"]
    loan_keyed = [b for b in named if BREAKDOWNS[b] == "loan"]
    dims: dict[str, pl.Series] = {}
    firm_codes: dict[str, np.ndarray] = {}
    if firm_keyed:
        every_firm = pl.LazyFrame(
            {"uscc": pl.int_range(n_firms, eager=True, dtype=f.loans.schema["uscc"])}
        )
        keyed = _with_keys(every_firm, f, firm_keyed).collect().sort("uscc")
        for b in firm_keyed:
            dims[b] = _labels(keyed[_key_column(b)])
            firm_codes[b] = _encode(keyed[_key_column(b)], dims[b])

    loans = f.loans.with_columns(
        amount_fen=_fen("amount", f.loans.schema["amount"]),
        rate_m=(pl.col("rate") * 1_000_000).cast(pl.Int64),
        medium_long=pl.col("maturity_on") > pl.col("disbursed_on").dt.offset_by("12mo"),
        long_lpr=pl.col("maturity_on")
        > pl.col("disbursed_on").dt.offset_by(f"{LONG_LPR_MONTHS}mo"),
    ).with_row_index("li")
    loan_firm = loans["uscc"].cast(pl.Int64).to_numpy()
    loan_combo = (
        loans.select(_combo(pl.col("guarantee_type"), pl.col("medium_long"))).to_series().to_numpy()
    )
    loan_codes: dict[str, np.ndarray] = {}
    if loan_keyed:
        # A join need not keep the rows' order: back in loan order, to index by ``li``.
        lk = _with_keys(loans.lazy(), f, loan_keyed).collect().sort("li")
        for b in loan_keyed:
            dims[b] = _labels(lk[_key_column(b)])
            loan_codes[b] = _encode(lk[_key_column(b)], dims[b])

    # Balances: a loan has a balance in a month only through its status row for that month.
    st = f.statuses
    slot, with_data = _status_slots(st["month"], every, lo, slots)
    li = _loan_index(st["contract_no"], loans.select("contract_no", "li"))
    bal = st.select(_fen("balance", st.schema["balance"])).to_series().to_numpy()
    npl = st.select(pl.col("classification").is_in(NPL_CLASSES)).to_series().to_numpy()
    keep = (slot >= 0) & (li >= 0)
    if not keep.all():
        slot, li, bal, npl = slot[keep], li[keep], bal[keep], npl[keep]
    firm = loan_firm[li]
    row_cells = slot * n_firms + firm
    has_balance = np.zeros(slots * n_firms, dtype=np.bool_)
    has_balance[row_cells[bal > 0]] = True
    pop_row = in_pop[row_cells]
    pop_cells = np.flatnonzero(in_pop)
    # (slot, in the population, combo) as one number: a breakdown's key adds its group. Built
    # in place: at 10M rows each temporary array is ~100 MB of fresh pages to fault in.
    slot_kind = (loan_combo * 2)[li]
    slot_kind += npl
    slot_kind += slot * (2 * _COMBOS)
    slot_kind[pop_row] += _COMBOS

    # Flows: loans of population firms disbursed in the month, first and last day included.
    lpr = (
        pl.LazyFrame(schema={"month": pl.Date, "lpr_1y": pl.Int64, "lpr_5y": pl.Int64})
        if f.lpr is None
        else f.lpr.lazy().select(
            "month",
            *[(pl.col(c) * 1_000_000).cast(pl.Int64).alias(c) for c in ("lpr_1y", "lpr_5y")],
        )
    )
    lent_in = (
        loans.lazy()
        .with_columns(
            first_on=pl.col("disbursed_on").min().over("uscc"),
            month=pl.col("disbursed_on").dt.month_start(),
        )
        .filter(pl.col("month").is_in(every))
        .with_columns(
            cell=(_month_index(pl.col("month")) - lo).cast(pl.Int64) * n_firms
            + pl.col("uscc").cast(pl.Int64)
        )
        .collect()
    )
    flow_cells = lent_in["cell"].to_numpy()
    flow = (
        lent_in.with_columns(mask=pl.Series(kind_mask[flow_cells].astype(np.int64)))
        .filter(pl.Series(in_pop[flow_cells]))
        .lazy()
        .join(lpr, on="month", how="left")
        .with_columns(
            spread_m=pl.col("rate_m")
            - pl.when("long_lpr").then(pl.col("lpr_5y")).otherwise(pl.col("lpr_1y"))
        )
    )
    flow = _with_keys(flow, f, named).collect()
    return _Base(
        asked=asked,
        lo=lo,
        slots=slots,
        n_firms=n_firms,
        dims=dims,
        firm_codes=firm_codes,
        loan_codes=loan_codes,
        kind_mask=kind_mask,
        pop_cells=pop_cells,
        has_balance=has_balance,
        li=li,
        slot=slot,
        firm=firm,
        pop_row=pop_row,
        slot_kind=slot_kind,
        bal=bal,
        bal_float=bal.astype(np.float64),
        bal_top=max(abs(int(bal.max())), abs(int(bal.min()))) if len(bal) else 0,
        pop_firm=pop_cells % n_firms,
        pop_slot=pop_cells // n_firms,
        pop_lent=has_balance[pop_cells],
        lent=pop_row & (bal > 0),
        row_cells=row_cells,
        flow=flow,
        with_data=with_data,
        with_lpr=[] if f.lpr is None else f.lpr["month"].to_list(),
    )


#: Most bins one pass of :func:`_row_sums` may count into (a joint key of several breakdowns).
_PASS_BINS = 1 << 22


def _groups(b: _Base, by: str | None) -> tuple[int, list[str]]:
    """A breakdown's number of row groups and their labels (the qualification breakdown's row
    groups are the 128 kind masks, its labels the kinds)."""
    if by is None:
        return 1, [TOTAL]
    if by == "qualification":
        return _MASKS, [*LIST_QUALIFICATIONS, NONE]
    return len(b.dims[by]), b.dims[by].to_list()


def _row_sums(
    b: _Base, bys: Sequence[str | None]
) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
    """Per breakdown, the balance sums by (group, slot, in population, combo) and the status
    rows by (group, slot), from as few passes over the rows as fit.

    Breakdowns are packed into passes whose joint key (one digit per breakdown) has at most
    :data:`_PASS_BINS` bins; each pass is one gather of the loan part and one of the firm part
    of the key, one count and one weighted ``bincount``, and each breakdown of the pass is the
    sum of that small array over the others' digits. The whole is any breakdown's total.
    """
    cells = b.slots * 2 * _COMBOS
    named = [by for by in bys if by is not None]
    passes: list[list[str]] = []
    for by in sorted(named, key=lambda x: _groups(b, x)[0]):
        n = _groups(b, by)[0]
        if passes and np.prod([_groups(b, x)[0] for x in passes[-1]]) * n * cells <= _PASS_BINS:
            passes[-1].append(by)
        else:
            passes.append([by])
    if not passes:
        passes = [[]]
    out: dict[str | None, tuple[np.ndarray, np.ndarray]] = {}
    for members in passes:
        sizes = [_groups(b, by)[0] for by in members]
        loan_part: np.ndarray | None = None
        firm_part: np.ndarray | None = None
        key = b.slot_kind.copy() if members else b.slot_kind
        stride = cells
        for by, n in zip(reversed(members), reversed(sizes), strict=True):
            if by == "qualification":
                key += b.kind_mask[b.row_cells].astype(np.int64) * stride
            elif BREAKDOWNS[by] == "loan":
                part = b.loan_codes[by] * stride
                loan_part = part if loan_part is None else loan_part + part
            else:
                part = b.firm_codes[by] * stride
                firm_part = part if firm_part is None else firm_part + part
            stride *= n
        # The group digits are summed per loan and per firm (small arrays), then gathered once.
        if loan_part is not None:
            key += loan_part[b.li]
        if firm_part is not None:
            key += firm_part[b.firm]
        bins = stride
        count = np.bincount(key, minlength=bins)
        sums = _sums(key, bins, b.bal, b.bal_float, b.bal_top, count)
        shape = (*sizes, b.slots, 2, _COMBOS)
        sums, count = sums.reshape(shape), count.reshape(shape)
        for i, by in enumerate(members):
            other = tuple(j for j in range(len(members)) if j != i)
            out[by] = (sums.sum(axis=other), count.sum(axis=other).sum(axis=(2, 3)))
        if None in bys and None not in out:
            lead = tuple(range(len(members)))
            out[None] = (sums.sum(axis=lead)[None], count.sum(axis=lead).sum(axis=(1, 2))[None])
    return out


def _stock(b: _Base, by: str | None, sums: np.ndarray, row_count: np.ndarray) -> pl.DataFrame:
    """The balances and borrowers (and, firm-keyed, the population firms) of one breakdown by
    (month, group), from its row sums (:func:`_row_sums`) and the population cells."""
    per_loan = by is not None and BREAKDOWNS[by] == "loan"
    n, labels = _groups(b, by)
    if by is None:
        g_pop: np.ndarray | int = 0
    elif by == "qualification":
        g_pop = b.kind_mask[b.pop_cells]
    elif per_loan:
        g_pop = 0
    else:
        g_pop = b.firm_codes[by][b.pop_firm]
    bins = b.slots * n
    s = sums.swapaxes(0, 1)
    inside = s[:, :, 1, :]
    cols = {
        "all_balance": s.sum(axis=(2, 3)),
        "balance": inside.sum(axis=2),
        "credit_balance": inside[:, :, _GUARANTEE == 1].sum(axis=2),
        "medium_long_balance": inside[:, :, _LONG].sum(axis=2),
        "npl_balance": inside[:, :, _NPL].sum(axis=2),
        "ip_pledge_balance": inside[:, :, _GUARANTEE == 2].sum(axis=2),
        "all_npl_balance": s[:, :, :, _NPL].sum(axis=(2, 3)),
        "rows": row_count.T,
    }
    if per_loan:
        group_row = b.slot[b.lent] * n + b.loan_codes[by][b.li[b.lent]]
        cols["borrowers"] = _distinct_firms(group_row, b.firm[b.lent], bins, b.n_firms)
        cols["borrowers"] = cols["borrowers"].reshape(b.slots, n)
        cols["firms"] = np.zeros((b.slots, n), dtype=np.int64)
    else:
        group_pop = b.pop_slot * n + g_pop
        cols["borrowers"] = _counts(group_pop[b.pop_lent], bins).reshape(b.slots, n)
        cols["firms"] = _counts(group_pop, bins).reshape(b.slots, n)
    if by == "qualification":  # each mask's sums added to every kind it holds
        cols = {c: v @ _MASK_GROUPS for c, v in cols.items()}
    present = (cols["rows"] > 0) | (cols["firms"] > 0)
    at_slot, at_group = np.nonzero(present)
    out = pl.DataFrame(
        {
            "slot": at_slot.astype(np.int64),
            # Labels are strings (NONE fills a missing key); none at all in a share of firms
            # without loans, whose empty series would otherwise have no type.
            "group": pl.Series(labels, dtype=pl.String).gather(at_group),
            **{c: v[present] for c, v in cols.items() if c != "rows"},
        }
    ).with_columns(_slot_month(b.lo))
    return out.drop("slot") if not per_loan else out.drop("slot", "firms")


def _slot_month(lo: int) -> pl.Expr:
    m = pl.col("slot") + lo
    return pl.date(m // 12, m % 12 + 1, 1).alias("month")


def _partial(b: _Base, by: str | None, sums: np.ndarray, row_count: np.ndarray) -> pl.DataFrame:
    """The sums and counts of one breakdown by (month, group), before any ratio, lag or fill.

    Every column is a sum of money or a count of distinct firms, so the partials of disjoint
    sets of firms add up to the partial of their union (the Spark engine computes one per
    bucket of firms and adds them, docs/scale.md); :func:`finish` then makes the measures.
    ``sums`` and ``row_count`` are the breakdown's row sums (:func:`_row_sums`)."""
    firm_keyed = by is not None and BREAKDOWNS[by] == "firm"
    stock = _stock(b, by, sums, row_count)
    if not firm_keyed:
        stock = stock.drop("firms", strict=False)
    flow = (
        _flow_groups(b.flow, by)
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
    return stock.lazy().join(flow, on=["month", "group"], how="full", coalesce=True).collect()


def _pop_totals(b: _Base) -> pl.DataFrame:
    """Firms in the population by month (what a loan-keyed breakdown's groups share)."""
    return pl.DataFrame(
        {"slot": np.arange(b.slots), "pop_total": _counts(b.pop_slot, b.slots)}
    ).select(_slot_month(b.lo), "pop_total")


def finish(
    raw: pl.DataFrame,
    totals: pl.DataFrame,
    by: str | None,
    asked: Sequence[date],
    with_data: Sequence[date],
    with_lpr: Sequence[date],
) -> pl.DataFrame:
    """The measures of one breakdown from its partial sums (:func:`partials_by`, added up over
    every firm): the groups each month reports, the fills, and the year- and month-ago figures.

    ``totals``: (month, pop_total); ``with_data``: the months that have status rows at all,
    ``with_lpr``: those with a published LPR — facts of the whole data, never of one part.
    """
    firm_keyed = by is not None and BREAKDOWNS[by] == "firm"
    # A month reports every group present then, a month or a year earlier (a bank whose loans
    # were all repaid still shows its fall), and the whole always.
    keys = (
        pl.concat(
            [
                raw.select("month", "group"),
                raw.select(pl.col("month").dt.offset_by("1mo"), "group"),
                raw.select(pl.col("month").dt.offset_by("12mo"), "group"),
                pl.DataFrame({"month": asked, "group": TOTAL}).filter(pl.lit(by is None)),
            ]
        )
        .filter(pl.col("month").is_in(asked))
        .unique()
    )
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
            pl.when(pl.col("month").is_in(with_lpr))
            .then(pl.col("new_amount_spread").fill_null(0))
            .alias("new_amount_spread"),
            firms=pl.col("firms").fill_null(0) if firm_keyed else pl.col("pop_total").fill_null(0),
        )
        # A month without status rows has no balances (null), never zeros.
        .with_columns(
            pl.when(pl.col("month").is_in(with_data)).then(pl.col(c)).alias(c)
            for c in [*_MONEY, "borrowers"]
        )
    )
    for lag, suffix in (("12mo", "year_ago"), ("1mo", "month_ago")):
        ago = raw.select(
            pl.col("month").dt.offset_by(lag),
            "group",
            **{f"balance_{suffix}": "balance", f"all_balance_{suffix}": "all_balance"},
        )
        ago_known = pl.col("month").dt.offset_by(f"-{lag}").is_in(with_data)
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
    kinds_on: Callable[[date], Sequence[str]] | None = None,
) -> dict[str | None, pl.DataFrame]:
    """:func:`measures` for several breakdowns, sharing the joins and the population.

    ``kinds_on`` gives the list-based population's kinds in effect on a date (default: the
    shipped definitions' ``population_lists``)."""
    b = _base(f, months, bys, population, kinds_on)
    rows = _row_sums(b, bys)
    totals = _pop_totals(b)
    return {
        by: finish(_partial(b, by, *rows[by]), totals, by, b.asked, b.with_data, b.with_lpr)
        for by in bys
    }


def partials_by(
    f: Frames,
    months: Sequence[date],
    bys: Sequence[str | None],
    population: str = "list",
    kinds_on: Callable[[date], Sequence[str]] | None = None,
) -> tuple[dict[str | None, pl.DataFrame], pl.DataFrame]:
    """The first stage of :func:`measures_by` alone: each breakdown's partial sums and the
    population totals by month, for frames holding a share of the firms (every row of each of
    its firms). Added up over disjoint shares, they are the whole's; :func:`finish` does the rest."""
    b = _base(f, months, bys, population, kinds_on)
    rows = _row_sums(b, bys)
    return {by: _partial(b, by, *rows[by]) for by in bys}, _pop_totals(b)


def measures(
    f: Frames,
    months: Sequence[date],
    by: str | None = None,
    population: str = "list",
    kinds_on: Callable[[date], Sequence[str]] | None = None,
) -> pl.DataFrame:
    """One row per (month, group) with every measure of :data:`MEASURES` (money in fen).

    ``months`` are first days. Year-ago (month-ago) measures come from the month twelve months
    (one month) earlier, its population taken on that earlier date; they are null when that month
    has no status rows. ``population`` is ``list`` (the seven qualification kinds) or
    ``whitelist`` (members of the whitelist on D, from ``Frames.members``).
    """
    return measures_by(f, months, [by], population, kinds_on)[by]


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
    in_effect: dict[date, list] = {}
    for row in m.iter_rows(named=True):
        exact: dict[str, Fraction | int | None] = {}
        shown: dict[str, object] = {}
        d = month_end(row["month"])
        if d not in in_effect:  # each month with the definitions in effect on its month end
            in_effect[d] = defs.as_of(d)
        for ind in in_effect[d]:
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
