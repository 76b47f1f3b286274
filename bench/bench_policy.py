"""Policy engine benchmarks, ours beside OpenFisca-core on the same rule and data.

1. **Karamay interest subsidy over 1,000,000 loan-years** (seed 004 三(二)8) with every
   intermediate a trace needs. Ours: :func:`kejin.policy.engine.evaluate` (parameter selection by
   date, every step column, eligibility, Decimal amounts). Peer: the same rule written as
   OpenFisca variables with dated parameters; timed from ``build_default_simulation`` through
   ``set_input`` of every input and ``calculate`` of every intermediate (its simulation set-up is
   part of its cost, as building the frame's plan is part of ours). A bare Polars expression is
   printed for reference.
2. **A whole-region run**: every library policy over the entity frames of a 1M-firm region,
   plus the stacking rule across policies and the cost by industry chain. Loan-years and
   investments are derived from the synthetic region's registry tables (``kejin.synth``) by the
   same kernels ``simulate`` uses (timed on their own); entities the registry does not hold are
   drawn with numpy.
"""

from __future__ import annotations

import os
from dataclasses import replace
from decimal import Decimal

import numpy as np
import polars as pl
from rich.console import Console

from bench.timing import measure, measure_both, ratio_line
from kejin.policy import kernels, library
from kejin.policy.engine import MONEY, Policy, Step, cap_per_group, evaluate, zero
from kejin.policy.simulate import evaluate_all

console = Console()
YEAR = 2024


def loan_years(n: int, seed: int = 7) -> pl.DataFrame:
    """Loan-years of n/2 firms (USCC-shaped keys, unsorted), contract numbers in row order."""
    rng = np.random.default_rng(seed)
    firms = max(n // 2, 1)
    firm = rng.integers(0, firms, n)
    first = YEAR - rng.integers(0, 5, n)
    return pl.DataFrame(
        {
            "uscc": uscc_keys(firm),  # firms in random order: the keys arrive unsorted
            "contract_no": pl.Series(np.char.add("C", np.char.zfill(np.arange(n).astype("U9"), 9))),
            "year": np.full(n, YEAR, dtype=np.int64),
            "interest": np.round(rng.lognormal(11.5, 1.0, n), 2),
            "credit_line": np.round(rng.lognormal(15.8, 0.8, n), -4),
            "partner_bank": rng.random(n) < 0.6,
            "hnte": rng.random(n) < 0.35,
            "local_little_giant": rng.random(n) < 0.1,
            "first_subsidy_year": first.astype(np.int64),
        }
    )


def bare_polars(df: pl.DataFrame) -> pl.DataFrame:
    """The rule as one expression with constants: the floor our engine is compared with."""
    ok = (
        (pl.col("hnte") | pl.col("local_little_giant"))
        & pl.col("partner_bank")
        & (pl.col("year") - pl.col("first_subsidy_year") < 3)
    )
    rate = pl.when(pl.col("credit_line") <= 10_000_000).then(0.2).otherwise(0.1)
    return df.select(pl.when(ok).then(pl.col("interest") * rate).otherwise(0.0).alias("subsidy"))


def openfisca_system(capped: bool = False):  # type: ignore[no-untyped-def]
    """The Karamay rule as an OpenFisca tax-benefit system (written for this bench).

    ``capped``: loans are members of a ``firm`` group entity and ``subsidy_capped`` shares the
    per-firm cap out to a firm's loans in their order (OpenFisca has no in-group running sum, so
    the formula does it with numpy on the group's member arrays, as an OpenFisca user would)."""
    from openfisca_core.entities import build_entity
    from openfisca_core.parameters import ParameterNode
    from openfisca_core.periods import DateUnit
    from openfisca_core.taxbenefitsystems import TaxBenefitSystem
    from openfisca_core.variables import Variable

    loan_year = build_entity(
        key="loan_year", plural="loan_years", label="loan-year", is_person=True
    )
    firm = build_entity(
        key="firm", plural="firms", label="firm", roles=[{"key": "loan", "plural": "loans"}]
    )
    tbs = TaxBenefitSystem([loan_year, firm] if capped else [loan_year])
    tbs.parameters = ParameterNode(
        "",
        data={
            "karamay": {
                "rate_small": {"values": {"2022-08-15": 0.2}},
                "rate_large": {"values": {"2022-08-15": 0.1}},
                "line_threshold": {"values": {"2022-08-15": 10_000_000}},
                "max_years": {"values": {"2022-08-15": 3}},
                "firm_cap": {"values": {"2022-08-15": FIRM_CAP}},
            }
        },
    )

    def var(name: str, vtype: type, formula=None):  # type: ignore[no-untyped-def]
        attrs = {
            "value_type": vtype,
            "entity": loan_year,
            "definition_period": DateUnit.YEAR,
            "label": name,
        }
        if formula is not None:
            attrs["formula"] = formula
        return type(name, (Variable,), attrs)

    def qualified_firm(e, period):  # type: ignore[no-untyped-def]
        return e("hnte", period) + e("local_little_giant", period) > 0

    def subsidy_year_no(e, period):  # type: ignore[no-untyped-def]
        return e("year", period) - e("first_subsidy_year", period) + 1

    def within_period(e, period, parameters):  # type: ignore[no-untyped-def]
        n = e("subsidy_year_no", period)
        return (n >= 1) * (n <= parameters(period).karamay.max_years)

    def small_line(e, period, parameters):  # type: ignore[no-untyped-def]
        return e("credit_line", period) <= parameters(period).karamay.line_threshold

    def subsidy_rate(e, period, parameters):  # type: ignore[no-untyped-def]
        p = parameters(period).karamay
        return np.where(e("small_line", period), p.rate_small, p.rate_large)

    def eligible(e, period):  # type: ignore[no-untyped-def]
        return e("qualified_firm", period) * e("partner_bank", period) * e("within_period", period)

    def subsidy(e, period):  # type: ignore[no-untyped-def]
        return np.round(
            e("eligible", period) * e("interest", period) * e("subsidy_rate", period), 2
        )

    def subsidy_capped(e, period, parameters):  # type: ignore[no-untyped-def]
        s = e("subsidy", period).astype(np.float64)
        firms = e.simulation.populations["firm"]
        order = np.lexsort((firms.members_position, firms.members_entity_id))
        fid, cs = firms.members_entity_id[order], np.cumsum(s[order])
        start = np.ones(fid.size, dtype=bool)
        start[1:] = fid[1:] != fid[:-1]
        base = np.maximum.accumulate(np.where(start, np.arange(fid.size), 0))
        before = np.empty_like(s)
        before[order] = cs - s[order] - (cs - s[order])[base]
        cap = parameters(period).karamay.firm_cap
        return np.round(np.minimum(s, np.maximum(cap - before, 0.0)), 2)

    if capped:
        tbs.add_variable(var("subsidy_capped", float, subsidy_capped))
    tbs.add_variables(
        var("interest", float),
        var("credit_line", float),
        var("partner_bank", bool),
        var("hnte", bool),
        var("local_little_giant", bool),
        var("year", int),
        var("first_subsidy_year", int),
        var("qualified_firm", bool, qualified_firm),
        var("subsidy_year_no", int, subsidy_year_no),
        var("within_period", bool, within_period),
        var("small_line", bool, small_line),
        var("subsidy_rate", float, subsidy_rate),
        var("eligible", bool, eligible),
        var("subsidy", float, subsidy),
    )
    return tbs


OF_INPUTS = (
    "interest",
    "credit_line",
    "partner_bank",
    "hnte",
    "local_little_giant",
    "year",
    "first_subsidy_year",
)
OF_OUTPUTS = (
    "qualified_firm",
    "subsidy_year_no",
    "within_period",
    "small_line",
    "subsidy_rate",
    "eligible",
    "subsidy",
)


def openfisca_run(tbs, arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    from openfisca_core.simulations import SimulationBuilder

    sim = SimulationBuilder().build_default_simulation(tbs, count=n)
    for k in OF_INPUTS:
        sim.set_input(k, str(YEAR), arrays[k])
    return {k: sim.calculate(k, str(YEAR)) for k in OF_OUTPUTS}


def openfisca_capped_run(tbs, arrays: dict[str, np.ndarray], firm_ids: np.ndarray):  # type: ignore[no-untyped-def]
    """The capped rule: loans joined to their firms (integer ids, handed in), then every
    intermediate as above and the capped subsidy."""
    from openfisca_core.simulations import SimulationBuilder

    n = firm_ids.size
    sb = SimulationBuilder()
    sb.create_entities(tbs)
    sb.declare_person_entity("loan_year", np.arange(n))
    firms = sb.declare_entity("firm", np.unique(firm_ids))
    sb.join_with_persons(firms, firm_ids, np.zeros(n, dtype=np.int64))
    sim = sb.build(tbs)
    for k in OF_INPUTS:
        sim.set_input(k, str(YEAR), arrays[k])
    return {k: sim.calculate(k, str(YEAR)) for k in (*OF_OUTPUTS, "subsidy_capped")}


FIRM_CAP = 50_000  # CNY per firm and year: the capped rule of issue 20


def capped_policy() -> Policy:
    """Karamay with a per-firm cap of 50,000 CNY a year: a firm's loans take the room in
    contract order (:func:`kejin.policy.engine.cap_per_group`, no sort of the USCC strings)."""
    base = library.get("karamay_interest")
    step = Step(
        "subsidy_capped",
        cap_per_group(
            pl.when(pl.col("eligible_all")).then(pl.col("subsidy")).otherwise(zero()),
            pl.lit(Decimal(FIRM_CAP), dtype=MONEY),
            ["uscc", "year"],
            ["contract_no"],
        ),
        "amount",
        "每户每年不超过5万元",
        "at most 50,000 per firm and year",
        "bench",
    )
    return replace(
        base, id="karamay_interest_capped", steps=(*base.steps, step), amount="subsidy_capped"
    )


def uscc_keys(firm: np.ndarray) -> pl.Series:
    """18-character USCC-shaped keys (a real registry's string keys), one per firm index."""
    return pl.Series(np.char.add("91650200MA", np.char.zfill(firm.astype("U8"), 8)))


def reference_fen(df: pl.DataFrame, firm: np.ndarray, capped: bool) -> np.ndarray:
    """The rule in integer fen with numpy, written independently of the engine: interest × 20% or
    10% half up to the fen, then (capped) each firm's loans in contract order take what is left of
    5,000,000 fen. Exact: the one the bench compares kejin with, row by row."""
    interest = np.rint(df["interest"].to_numpy() * 100).astype(np.int64)
    pct = np.where(df["credit_line"].to_numpy() <= 10_000_000, 20, 10)
    ok = (
        (df["hnte"].to_numpy() | df["local_little_giant"].to_numpy())
        & df["partner_bank"].to_numpy()
        & (df["year"].to_numpy() - df["first_subsidy_year"].to_numpy() < 3)
    )
    fen = np.where(ok, (interest * pct * 2 + 100) // 200, 0)  # half up (amounts are ≥ 0)
    if not capped:
        return fen
    order = np.lexsort((np.arange(fen.size), firm))  # contract_no is the row number, padded
    f, cs = firm[order], np.cumsum(fen[order])
    start = np.ones(f.size, dtype=bool)
    start[1:] = f[1:] != f[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(f.size), 0))
    before = np.empty_like(fen)
    before[order] = cs - fen[order] - (cs - fen[order])[first]
    return np.minimum(fen, np.maximum(FIRM_CAP * 100 - before, 0))


def engines_agree(
    ints: pl.DataFrame, scales: dict[str, int], dec: pl.DataFrame, old: pl.DataFrame
) -> bool:
    """The integer result's every scaled column equals the Decimal result's value (compared as
    integers: the Decimal value times the scale's power of ten), and the Decimal result equals
    the Decimal engine's frame, dtypes included."""
    from polars.testing import assert_frame_equal

    assert_frame_equal(dec, old)
    return all(
        ints[c].equals((dec[c] * 10**s).cast(pl.Int64), check_names=False)
        for c, s in scales.items()
    )


def as_fen(amount: pl.Series) -> np.ndarray:
    return (amount * 100).cast(pl.Int64).to_numpy()


def money_check(
    label: str, ours: pl.Series, ref: np.ndarray, peer: np.ndarray, interest: np.ndarray
) -> bool:
    """kejin equal to the exact reference on every row (integer fen, no tolerance); the peer's
    float amounts reported by their largest distance from it. OpenFisca stores floats as
    float32, so its interest is off by up to half a float32 step before the rate applies (0.18
    CNY at the largest amounts); a peer row further off than a fen plus that step is counted."""
    mine = as_fen(ours)
    exact = bool(np.array_equal(mine, ref))
    off = np.abs(np.rint(peer.astype(np.float64) * 100) - ref)
    step = np.spacing(interest.astype(np.float32)).astype(np.float64) * 100
    console.print(
        f"  {label}: kejin equals the integer-fen reference on "
        f"{int((mine == ref).sum()):,} of {ref.size:,} rows ({'exact' if exact else 'NOT exact'}); "
        f"OpenFisca differs on {int((off > 0).sum()):,} rows by up to {off.max() / 100:.2f} CNY, "
        f"{int((off > step + 1).sum()):,} of them by more than a fen plus float32 rounding"
    )
    return exact


def synthetic_registry(firms: int, seed: int = 20241) -> dict[str, pl.DataFrame]:
    """The registry tables of a synthetic region (``kejin.synth``), as frames, without a database."""
    from kejin.synth.model import generate

    return generate(firms, seed).tables


def registry_entities(t: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Registry tables → the loan-year and investment frames (the code ``simulate`` runs)."""
    return {
        "firm": t["enterprises"].select("uscc", "industry_chain", "stage", "region_code"),
        "loan_year": kernels.loan_years(
            t["loans"], t["loan_statuses"], t["institutions"], t["products"], t["qualifications"]
        ),
        "investment": kernels.investments(t["financing_events"], t["qualifications"]),
    }


def region_frames(
    firms: int, seed: int = 11, registry: dict[str, pl.DataFrame] | None = None
) -> dict[str, pl.DataFrame]:
    """Entity frames of a region. Loan-years and investments come from ``registry`` (synthetic
    registry tables) when given; the entities no registry table holds (insurance policies,
    contracts, guaranteed loans, investors' tax years) are drawn with numpy in proportion."""
    rng = np.random.default_rng(seed)
    chains = np.array(
        [
            "silicon_materials",
            "petrochemical",
            "new_energy",
            "equipment",
            "information",
            "biomedicine",
        ]
    )
    stages = np.array(["seed", "startup", "growth", "mature"])
    regions = np.array(["320703", "320706", "320707", "320722", "320723", "320724"])
    uscc = pl.Series(np.arange(firms)).cast(pl.String)
    firm = pl.DataFrame(
        {
            "uscc": uscc,
            "industry_chain": chains[rng.integers(0, 6, firms)],
            "stage": stages[rng.integers(0, 4, firms)],
            "region_code": regions[rng.integers(0, 6, firms)],
        }
    )
    if registry is not None:
        ents = registry_entities(registry)
        firm, ids = ents["firm"], ents["firm"]["uscc"].to_numpy()
    else:
        ids = uscc.to_numpy()

    def pick(n: int) -> pl.Series:
        return pl.Series(ids[rng.integers(0, len(ids), n)])

    n = int(firms * 0.6)
    ly = pl.DataFrame(
        {
            "uscc": pick(n),
            "contract_no": pl.Series(np.arange(n)).cast(pl.String),
            "year": np.full(n, 2025, dtype=np.int64),
            "interest": np.round(rng.lognormal(11.5, 1.0, n), 2),
            "average_balance": np.round(rng.lognormal(14.8, 0.9, n), 2),
            "credit_line": np.round(rng.lognormal(15.8, 0.8, n), -4),
            "partner_bank": rng.random(n) < 0.6,
            "hnte": rng.random(n) < 0.35,
            "local_little_giant": rng.random(n) < 0.1,
            "first_subsidy_year": (2025 - rng.integers(0, 5, n)).astype(np.int64),
            "disbursed_on": pl.Series(
                np.datetime64("2024-01-01") + rng.integers(0, 700, n).astype("timedelta64[D]")
            ).cast(pl.Date),
            "ip_pledge": rng.random(n) < 0.15,
            "digital_transformation": rng.random(n) < 0.1,
        }
    ).sort("uscc", "contract_no")
    m = int(firms * 0.1)
    inv = pl.DataFrame(
        {
            "uscc": pick(m),
            "investment_id": pl.Series(np.arange(m)).cast(pl.String),
            "kind": np.array(["angel", "vc", "pe"])[rng.integers(0, 3, m)],
            "occurred_on": pl.Series(
                np.datetime64("2023-01-01") + rng.integers(0, 1000, m).astype("timedelta64[D]")
            ).cast(pl.Date),
            "investment_amount": np.round(rng.lognormal(16, 1.2, m), 2),
            "tech_firm": rng.random(m) < 0.8,
        }
    )
    k = int(firms * 0.05)
    years = np.tile(np.arange(2023, 2027), k)
    tax = pl.DataFrame(
        {
            "investor_id": pl.Series(np.repeat(np.arange(k) % (k // 3 + 1), 4)).cast(pl.String),
            "investment_id": pl.Series(np.repeat(np.arange(k), 4)).cast(pl.String),
            "uscc": pl.Series(np.repeat(rng.integers(0, firms, k), 4)).cast(pl.String),
            "invested_on": pl.Series(
                np.repeat(
                    np.datetime64("2021-01-01") + rng.integers(0, 900, k).astype("timedelta64[D]"),
                    4,
                )
            ).cast(pl.Date),
            "investment_amount": np.repeat(np.round(rng.lognormal(15, 1, k), 2), 4),
            "year": years.astype(np.int64),
            "taxable_income": np.round(rng.normal(1e6, 8e5, 4 * k), 2),
        }
    ).sort("investment_id", "year")
    q = int(firms * 0.2)
    ins = pl.DataFrame(
        {
            "uscc": pick(q),
            "policy_no": pl.Series(np.arange(q)).cast(pl.String),
            "year": np.full(q, 2025, dtype=np.int64),
            "premium": np.round(rng.lognormal(11, 1, q), 2),
            "tech_insurance": rng.random(q) < 0.7,
        }
    ).sort("uscc", "policy_no")
    c = int(firms * 0.05)
    con = pl.DataFrame(
        {
            "uscc": pick(c),
            "contract_no": pl.Series(np.arange(c)).cast(pl.String).str.pad_start(9, "C"),
            "signed_on": pl.Series(
                np.datetime64("2025-09-26") + rng.integers(0, 400, c).astype("timedelta64[D]")
            ).cast(pl.Date),
            "contract_amount": np.round(rng.lognormal(16, 1.5, c), 2),
            "first_set": rng.random(c) < 0.3,
            "future_industry": rng.random(c) < 0.5,
        }
    )
    g = int(firms * 0.15)
    gl = pl.DataFrame(
        {
            "uscc": pick(g),
            "contract_no": pl.Series(np.arange(g)).cast(pl.String).str.pad_start(9, "G"),
            "signed_on": pl.Series(
                np.datetime64("2024-03-01") + rng.integers(0, 600, g).astype("timedelta64[D]")
            ).cast(pl.Date),
            "guaranteed_amount": np.round(rng.lognormal(15, 0.8, g), 2),
            "fee_rate": np.round(rng.uniform(0.005, 0.015, g), 4),
            "bank_share": np.round(rng.uniform(0.1, 0.4, g), 2),
            "little_giant_or_srdi": rng.random(g) < 0.1,
            "hnte_or_points": rng.random(g) < 0.3,
            "tsme_or_innovative": rng.random(g) < 0.5,
        }
    )
    out = {
        "firm": firm,
        "loan_year": ly,
        "investment": inv,
        "investment_year": tax,
        "insurance_policy": ins,
        "contract": con,
        "guaranteed_loan": gl,
    }
    if registry is not None:
        out |= {k: v for k, v in ents.items() if k != "firm"}
    return out


def region_run(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every policy of the library (the templates, whatever region is configured), the stacking
    rule, and the cost by industry chain after stacking."""
    _, stacked = evaluate_all(library.templates(), frames)
    return (
        stacked.filter("kept")
        .join(frames["firm"], left_on="firm", right_on="uscc", how="left")
        .group_by("policy_id", "industry_chain")
        .agg(pl.col("amount").sum(), pl.len())
    )


def main(quick: bool = False) -> None:
    bench_rules(quick)
    bench_region(quick)


def bench_rules(quick: bool) -> None:
    """The Karamay rule, uncapped and capped, beside OpenFisca on the same 1M loan-years.

    Uncapped, kejin is timed three ways: the engine's result as exact scaled integers
    (``money="fen"``: every trace column, money in fen, rates as integer ratios), the same
    converted to the Decimal columns ``evaluate`` returns by default, and the Decimal engine
    (``arithmetic="decimal"``, the engine before issue 20's second round). All three must agree
    on every column."""
    n = 50_000 if quick else 1_000_000
    repeat = 3 if quick else 7
    policy = library.get("karamay_interest")
    df = loan_years(n)
    ours, ours_cpu = measure_both(
        f"kejin evaluate, integer fen, all trace columns ({n:,} loan-years)",
        lambda: evaluate(policy, df, money="fen"),
        repeat,
    )
    dec, dec_cpu = measure_both(
        "kejin evaluate, integer fen, Decimal result columns",
        lambda: evaluate(policy, df),
        repeat,
    )
    old, old_cpu = measure_both(
        "kejin evaluate, Decimal arithmetic (before)",
        lambda: evaluate(policy, df, arithmetic="decimal"),
        repeat,
    )
    bare = measure(
        "bare Polars expression (no parameters, no trace)", lambda: bare_polars(df), repeat
    )
    tbs = openfisca_system()
    arrays = {k: df[k].to_numpy() for k in OF_INPUTS}
    peer, peer_cpu = measure_both(
        "openfisca-core set-up + calculate, same intermediates",
        lambda: openfisca_run(tbs, arrays, n),
        repeat,
    )
    res_fen, how = evaluate(policy, df, money="fen")
    res, _ = evaluate(policy, df)
    res_old, _ = evaluate(policy, df, arithmetic="decimal")
    of = openfisca_run(tbs, arrays, n)
    firm = df["uscc"].str.slice(10).cast(pl.Int64).to_numpy()  # the integer ids OpenFisca gets
    for t in (ours, dec, old, bare, peer, ours_cpu, dec_cpu, old_cpu, peer_cpu):
        console.print(str(t))
    console.print(ratio_line(ours, peer) + " (target ≥ 5×)")
    console.print(ratio_line(ours_cpu, peer_cpu) + " (CPU, target ≥ 5×)")
    console.print(ratio_line(dec_cpu, peer_cpu) + " (CPU)")
    console.print(ratio_line(old_cpu, peer_cpu) + " (CPU)")
    console.print(f"  arithmetic: {how.engine}; load average {os.getloadavg()[0]:.1f}")
    same = engines_agree(res_fen, how.scales, res, res_old)
    console.print(
        "  integer-fen result, its Decimal columns and the Decimal engine's frame: "
        + ("equal on every row and column" if same else "NOT EQUAL")
    )
    ref = reference_fen(df, firm, False)
    console.print(
        f"  integer amount equals the integer-fen reference: {np.array_equal(res_fen['amount'].to_numpy(), ref)}"
    )
    money_check("uncapped", res["amount"], ref, of["subsidy"], arrays["interest"])
    console.print(
        f"  total subsidy {res['amount'].sum()} CNY, eligible {int(res['eligible'].sum()):,}"
    )

    capped = capped_policy()
    tbs_c = openfisca_system(capped=True)
    ours_c, ours_c_cpu = measure_both(
        f"kejin evaluate, capped 50,000 CNY per firm-year, USCC keys unsorted ({n:,} loan-years)",
        lambda: evaluate(capped, df),
        repeat,
    )
    peer_c, peer_c_cpu = measure_both(
        "openfisca-core, capped (firm group entity, integer ids handed in)",
        lambda: openfisca_capped_run(tbs_c, arrays, firm),
        repeat,
    )
    res_c, _ = evaluate(capped, df)
    of_c = openfisca_capped_run(tbs_c, arrays, firm)
    for t in (ours_c, peer_c, ours_c_cpu, peer_c_cpu):
        console.print(str(t))
    console.print(ratio_line(ours_c, peer_c) + " (target ≥ 5×)")
    console.print(ratio_line(ours_c_cpu, peer_c_cpu) + " (CPU)")
    console.print(
        f"  arithmetic: {evaluate(capped, df.head(10))[1].fallback or 'integer fen'}"
        f"; load average {os.getloadavg()[0]:.1f}"
    )
    ref_c = reference_fen(df, firm, True)
    money_check("capped", res_c["amount"], ref_c, of_c["subsidy_capped"], arrays["interest"])
    cut = int((ref_c < reference_fen(df, firm, False)).sum())
    console.print(
        f"  total capped subsidy {res_c['amount'].sum()} CNY; the cap cut {cut:,} loans' amounts"
    )


def bench_region(quick: bool) -> None:
    firms = 50_000 if quick else 1_000_000
    registry = synthetic_registry(firms)
    kern = measure(
        f"registry tables → loan-year and investment frames ({firms:,} firms)",
        lambda: registry_entities(registry),
        3,
    )
    frames = region_frames(firms, registry=registry)
    rows = sum(f.height for k, f in frames.items() if k != "firm")
    region = measure(
        f"whole region: 9 policies + stacking + cost by chain ({firms:,} firms, {rows:,} entity rows)",
        lambda: region_run(frames),
        3,
    )
    console.print(str(kern))
    console.print(str(region) + f"  (target ≤ 5 s{'' if not quick else ', quick'})")
    console.print("  entity rows: " + ", ".join(f"{k} {f.height:,}" for k, f in frames.items()))


if __name__ == "__main__":
    main(quick=False)
