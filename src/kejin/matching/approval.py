"""Per-product approval probability: would *this* bank pass *this* need under *this* product?

The firm-level ``1 − PD`` of a credit model is one number per firm, the same for every product
of a need, so it cannot tell a firm which product it would pass (docs/matching.md, "Ranking
quality"). What differs between the products of one need is what the bank would hold and what
it would be asked for. The model here is a logistic regression on what the platform sees of a
pair (:data:`FACTORS`):

* the **credit enhancement the pair would use** — the strongest kind the product accepts that
  the need offers (:data:`STRENGTH`; credit counts as always offered), one intercept per kind;
* the **amount against the firm's capacity** — ``ln(amount / max(revenue, 200,000))``, linear
  and with hinges (a bank is indifferent to small loans and steeply less willing beyond some
  multiple of revenue), each per kind of enhancement (collateral carries more than revenue);
  invention patents under an IP pledge (what a pledge is worth);
* the **amount against the product's range** (``amount / max_amount``);
* the **rate band against the acceptable rate** — percentage points of the band above the
  need's ceiling (a bank prices a riskier firm up the band, past what the firm accepts);
* the **registered credit model's PD** where the product names one (``logit PD``; missing → the
  training mean, so a product without a model is not punished for it), its id in the answer.

Fitted by :func:`fit` on *outcomes* — approved or not — never on a true probability: on the
synthetic region, the outcomes ``kejin match quality`` draws for the eligible pairs of needs
drawn from a training half of the firms (:func:`kejin.matching.quality.measure` measures on the
other half). :func:`explain` words each factor's contribution (zh, en) for every ranked pair.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from kejin.matching.kernels import GUARANTEE_BITS, Frame
from kejin.vocab import GUARANTEE_KINDS

#: A bank uses the strongest security it is offered: the order of preference among the kinds a
#: product accepts and a need offers (credit — no security — last).
STRENGTH = (
    "mortgage",
    "guarantee",
    "ip_pledge",
    "equity_pledge",
    "receivables",
    "inventory_pledge",
    "order_pledge",
    "credit",
)
assert set(STRENGTH) == set(GUARANTEE_KINDS), "STRENGTH must order every guarantee kind"
MIN_CAPACITY = 200_000.0
#: Hinges of the leverage ``ln(amount / revenue)``: 1/8, 1/4, 1/2, 1 and 2 × revenue.
KNOTS = (-math.log(8), -math.log(4), -math.log(2), 0.0, math.log(2))
RIDGE = 1.0
#: Columns a pair frame must carry for :func:`features`.
INPUTS = ("amount", "revenue", "invention_patents", "kind_used", "max_amount", "rate_high",
          "max_rate", "pd")  # fmt: skip

#: Factor groups, as the explanation names them: (zh, en).
FACTORS = {
    "kind": ("增信方式", "credit enhancement"),
    "leverage": ("金额与营收之比", "amount against revenue"),
    "patents": ("质押的发明专利", "invention patents pledged"),
    "range": ("金额在产品额度中的位置", "amount within the product's range"),
    "rate": ("利率区间高于可接受利率", "rate band above the acceptable rate"),
    "pd": ("授信模型违约概率", "the credit model's default probability"),
}


def kind_used(accepts: pl.Expr, offers: pl.Expr) -> pl.Expr:
    """The kind a pair would use: the strongest accepted kind that is offered (bit masks in)."""
    both = accepts & (offers | GUARANTEE_BITS["credit"])
    out = pl.lit(None, pl.String)
    for k in reversed(STRENGTH):  # built inside out: the strongest is tested first
        out = pl.when((both & GUARANTEE_BITS[k]) != 0).then(pl.lit(k)).otherwise(out)
    return out


def _leverage() -> pl.Expr:
    """``ln(amount / max(revenue, 200,000))``: the amount against what the firm can carry."""
    return (
        pl.col("amount").cast(pl.Float64)
        / pl.max_horizontal(pl.col("revenue").cast(pl.Float64).fill_null(0.0), MIN_CAPACITY)
    ).log()


def _columns() -> list[tuple[str, str, pl.Expr]]:
    """(name, factor, expression) of every column of the design, in a fixed order."""
    lev = _leverage()
    kind = pl.col("kind_used")
    cols: list[tuple[str, str, pl.Expr]] = [("intercept", "kind", pl.lit(1.0))]
    for k in STRENGTH[:-1]:  # credit is the base
        is_k = (kind == k).fill_null(False).cast(pl.Float64)
        cols.append((f"kind:{k}", "kind", is_k))
    families = {"credit": kind == "credit", "collateral": kind != "credit"}
    for fam, is_f in families.items():
        on = is_f.fill_null(False).cast(pl.Float64)
        cols.append((f"lev:{fam}", "leverage", lev * on))
        for c in KNOTS:
            cols.append((f"lev>{c:.2f}:{fam}", "leverage", (lev - c).clip(lower_bound=0.0) * on))
    patents = pl.col("invention_patents").cast(pl.Float64).fill_null(0.0)
    cols.append(
        ("patents:ip_pledge", "patents",
         (1 + patents).log() * (kind == "ip_pledge").fill_null(False).cast(pl.Float64))
    )  # fmt: skip
    cols.append(
        (
            "range",
            "range",
            pl.col("amount").cast(pl.Float64) / pl.col("max_amount").cast(pl.Float64),
        )
    )
    above = (pl.col("rate_high") - pl.col("max_rate").cast(pl.Float64)).clip(lower_bound=0.0)
    cols.append(("rate", "rate", (100 * above).fill_null(0.0)))
    pd_ = pl.col("pd").cast(pl.Float64).clip(1e-6, 1 - 1e-6)
    cols.append(("pd", "pd", (pd_ / (1 - pd_)).log()))
    return cols


NAMES = [n for n, _, _ in _columns()]
#: Factors computed per need (see :meth:`Model.need_terms`).
NEED_TERMS = ("lev_credit", "lev_collateral", "patents")
FACTOR_OF = {n: f for n, f, _ in _columns()}


@dataclass(frozen=True)
class Model:
    """Fitted coefficients by column name; ``pd_mean`` imputes a missing PD (its logit)."""

    coef: dict[str, float]
    pd_mean: float
    trained_on: dict[str, object] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> Model:
        """Every coefficient zero (p = ½): a run that only gathers the inputs for :func:`fit`."""
        return cls({}, 0.0)

    def need_terms(self) -> list[pl.Expr]:
        """The factors that depend on the need alone (amount, revenue, patents), before the
        kind chooses among them: :data:`NEED_TERMS`. The bulk path evaluates them once per need
        and gathers them per pair (``contributions(pre=True)``)."""
        c = self.coef.get
        lev = _leverage()

        def levered(fam: str) -> pl.Expr:
            out = pl.lit(c(f"lev:{fam}", 0.0)) * lev
            for k in KNOTS:
                out = out + pl.lit(c(f"lev>{k:.2f}:{fam}", 0.0)) * (lev - k).clip(lower_bound=0.0)
            return out

        patents = pl.col("invention_patents").cast(pl.Float64).fill_null(0.0)
        terms = [
            levered("credit"),
            levered("collateral"),
            pl.lit(c("patents:ip_pledge", 0.0)) * (1 + patents).log(),
        ]
        return [e.alias(f"_{k}") for e, k in zip(terms, NEED_TERMS, strict=True)]

    def contributions(self, pre: bool = False) -> list[pl.Expr]:
        """Per factor, its log-odds contribution against the base — a credit loan of the firm's
        revenue (leverage 0) at the mean PD — as ``why_<factor>`` columns (reads :data:`INPUTS`).

        The same sums as ``design(pairs) @ coef`` (tested), written per factor. ``pre``: the
        need-level terms are already columns ``_lev_credit``, ``_lev_collateral``, ``_patents``
        (:meth:`need_terms`, gathered by the caller).
        """
        c = self.coef.get
        kind = pl.col("kind_used")
        if pre:
            need = {k: pl.col(f"_{k}") for k in NEED_TERMS}
        else:
            need = dict(zip(NEED_TERMS, self.need_terms(), strict=True))
        by_kind = pl.lit(0.0)
        for k in reversed(STRENGTH[:-1]):
            by_kind = pl.when(kind == k).then(pl.lit(c(f"kind:{k}", 0.0))).otherwise(by_kind)
        amount = pl.col("amount").cast(pl.Float64)
        above = (pl.col("rate_high") - pl.col("max_rate").cast(pl.Float64)).clip(lower_bound=0.0)
        pd_ = pl.col("pd").cast(pl.Float64).clip(1e-6, 1 - 1e-6)
        logit_pd = (pd_ / (1 - pd_)).log().fill_null(self.pd_mean)
        return [
            by_kind.fill_null(0.0).alias("why_kind"),
            pl.when(kind == "credit")
            .then(need["lev_credit"])
            .when(kind.is_not_null())
            .then(need["lev_collateral"])
            .otherwise(0.0)
            .alias("why_leverage"),
            pl.when(kind == "ip_pledge").then(need["patents"]).otherwise(0.0).alias("why_patents"),
            (pl.lit(c("range", 0.0)) * amount / pl.col("max_amount").cast(pl.Float64)).alias(
                "why_range"
            ),
            (pl.lit(c("rate", 0.0)) * (100 * above).fill_null(0.0)).alias("why_rate"),
            (pl.lit(c("pd", 0.0)) * (logit_pd - self.pd_mean)).alias("why_pd"),
        ]

    @property
    def base(self) -> float:
        """The log-odds of a credit loan at the mean PD with every other factor at zero."""
        return self.coef.get("intercept", 0.0) + self.coef.get("pd", 0.0) * self.pd_mean

    def from_contributions(self) -> pl.Expr:
        """``approval_prob`` from the ``why_*`` columns (they add up to the log-odds)."""
        z = pl.lit(self.base) + pl.sum_horizontal([pl.col(f"why_{f}") for f in FACTORS])
        return (1 / (1 + (-z).exp())).alias("approval_prob")

    def probability(self) -> pl.Expr:
        """The approval probability of each pair in one expression (reads :data:`INPUTS`)."""
        z = pl.lit(self.base) + pl.sum_horizontal(self.contributions())
        return 1 / (1 + (-z).exp())

    def apply(self, frame: Frame, pre: bool = False) -> Frame:
        """``why_*`` then ``approval_prob`` (the probability from the contributions: no
        factor computed twice)."""
        return frame.with_columns(self.contributions(pre)).with_columns(self.from_contributions())


#: The model the marketplace ranks with: fitted on the demo region's outcomes by
#: ``kejin match quality --save-approval`` (its provenance in ``trained_on``). Absent → the
#: firm-level ranking (1 − PD where a product names a credit model).
PACKAGED = Path(__file__).with_name("approval_model.json")


def save(model: Model, path: Path) -> None:
    path.write_text(json.dumps(asdict(model), ensure_ascii=False, indent=1, sort_keys=True) + "\n")


def load(path: Path = PACKAGED) -> Model | None:
    """The model stored at ``path`` (None when there is none: ranking falls back to 1 − PD)."""
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Model(
        {k: float(v) for k, v in raw["coef"].items()}, float(raw["pd_mean"]), raw["trained_on"]
    )


def design(pairs: pl.DataFrame) -> np.ndarray:
    """The design matrix of ``pairs`` (PD left missing as NaN)."""
    return pairs.select([e.alias(n) for n, _, e in _columns()]).to_numpy().astype(np.float64)


def fit(pairs: pl.DataFrame, approved: np.ndarray, trained_on: dict[str, object]) -> Model:
    """Ridge logistic regression (Newton's method) of ``approved`` on the design of ``pairs``.

    Only outcomes enter: the caller draws them (on the synthetic region, from its truth) and
    hands over the booleans. A missing PD is imputed by the mean logit PD of the pairs that have
    one (0 weight when none has: the column is then all zero).
    """
    x = design(pairs)
    pd_col = NAMES.index("pd")
    known = ~np.isnan(x[:, pd_col])
    pd_mean = float(x[known, pd_col].mean()) if known.any() else 0.0
    x[~known, pd_col] = pd_mean
    scale = np.maximum(x.std(axis=0), 1e-9)
    scale[0] = 1.0
    shift = x.mean(axis=0)
    shift[0] = 0.0
    z = (x - shift) / scale
    z[:, 0] = 1.0
    y = approved.astype(np.float64)
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], RIDGE)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(z @ beta)))
        w = p * (1 - p)
        grad = z.T @ (y - p) - penalty * beta
        hess = (z * w[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    coef = beta / scale
    coef[0] = beta[0] - float((beta[1:] * shift[1:] / scale[1:]).sum())
    return Model(
        {n: round(float(c), 6) for n, c in zip(NAMES, coef, strict=True)},
        round(pd_mean, 6),
        trained_on,
    )


def explain(p: float, why: dict[str, float], kind: str | None) -> tuple[str, str]:
    """The sentence of a pair's approval probability (zh, en): its factors, largest first.

    ``why``: factor → logit contribution against credit at the mean PD (:meth:`Model.contributions`).
    Which credit model's PD entered (its id) is the caller's sentence (``query.rank_note``).
    """
    kinds = {k: (v.zh, v.en) for k, v in GUARANTEE_KINDS.items()}
    kz, ke = kinds.get(kind or "credit", (kind, kind))
    zh = f"预计获批概率 {p:.0%}（按增信方式 {kz}）"
    en = f"estimated approval probability {p:.0%} (with {ke})"
    parts = sorted(((f, v) for f, v in why.items() if abs(v) >= 0.05), key=lambda fv: -abs(fv[1]))
    if parts:
        zh += "，对数几率：" + "，".join(
            f"{FACTORS[f][0]} {'+' if v > 0 else '−'}{abs(v):.2f}" for f, v in parts
        )
        en += ", log-odds: " + ", ".join(
            f"{FACTORS[f][1]} {'+' if v > 0 else '−'}{abs(v):.2f}" for f, v in parts)  # fmt: skip
    return zh, en
