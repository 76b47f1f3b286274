"""The model report: discrimination, calibration, stability and the points table, as Excel + PNG.

A risk committee reads the workbook; the PNGs go into slides. Every number in a chart is also a
cell in the workbook, so nothing is only a picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from kejin.credit import metrics, models, scorecard
from kejin.credit.dataset import prepare
from kejin.credit.monitoring import characteristic_stability, psi_points
from kejin.exports import Book
from kejin.plotting import pyplot

plt = pyplot()


def build(art: dict, df: pl.DataFrame, out_dir: str | Path, source: str = "<data>") -> dict:
    """Write ``report.xlsx`` and the PNG charts into ``out_dir``; return the headline figures."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare(
        df.select([*models.feature_names(art), art["target"]]),
        art["target"],
        art["bad_value"],
        source=source,
        check_features=False,
    )
    scored = models.score(art, data.X)
    y, p = data.y, scored["pd"].to_numpy()
    pts = scored["points"].to_numpy()
    head = metrics.summary(y, p)
    psi, psi_rows = psi_points(art, pts)
    head["psi_vs_training"] = round(psi, 10)
    head["model"] = art["content_hash"]
    head["method"] = art["method"]
    dec = metrics.deciles(y, p)
    rel = metrics.reliability(y, p)
    stab = characteristic_stability(art, data.X)
    charts = {
        "roc.png": _roc(y, p, head),
        "ks.png": _ks(y, p, head),
        "deciles.png": _deciles(dec),
        "calibration.png": _calibration(rel, head),
        "psi.png": _psi(psi_rows, psi),
    }
    for name, fig in charts.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
    wb = Book()
    ws = wb.sheet("summary 概览")
    ws.row(["指标 / measure", "值 / value"])
    ws.rows([k, v] for k, v in head.items())
    _sheet(wb, "deciles 十分位", dec)
    _sheet(wb, "calibration 校准", rel)
    _sheet(wb, "psi 稳定性", psi_rows)
    if stab:
        _sheet(wb, "characteristics 特征稳定", stab)
    if art["method"] == "scorecard":
        _sheet(wb, "points 评分表", scorecard.points_table(art).to_dicts())
    cws = wb.sheet("charts 图表")
    for i, name in enumerate(charts):
        cws.image(out / name, f"A{1 + i * 22}", scale=0.6)
    wb.save(out / "report.xlsx")
    head["files"] = sorted([*charts, "report.xlsx"])
    return head


def _sheet(wb: Book, title: str, rows: list[dict]) -> None:
    ws = wb.sheet(title)
    if not rows:
        return
    ws.row(list(rows[0]))
    ws.rows(r.values() for r in rows)


def _roc(y: np.ndarray, p: np.ndarray, head: dict) -> plt.Figure:
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    tpr = np.concatenate([[0], np.cumsum(ys) / ys.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - ys) / (1 - ys).sum()])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {head['auc']:.3f}, Gini = {head['gini']:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="误拒率 false positive rate", ylabel="坏客户识别率 true positive rate")
    ax.set_title("ROC 曲线 / ROC curve")
    ax.legend(loc="lower right")
    return fig


def _ks(y: np.ndarray, p: np.ndarray, head: dict) -> plt.Figure:
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    share = np.arange(1, len(ys) + 1) / len(ys)
    cb = np.cumsum(ys) / ys.sum()
    cg = np.cumsum(1 - ys) / (1 - ys).sum()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(share, cb, label="坏客户累计 cum. bad")
    ax.plot(share, cg, label="好客户累计 cum. good")
    ax.plot(share, cb - cg, label=f"KS = {head['ks']:.3f}")
    ax.set(xlabel="按风险排序的样本占比 share of population, riskiest first", ylabel="累计占比")
    ax.set_title("KS 曲线 / KS curve")
    ax.legend()
    return fig


def _deciles(dec: list[dict]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [d["decile"] for d in dec]
    ax.bar(x, [d["bad_rate"] for d in dec], color="#c0504d")
    ax2 = ax.twinx()
    ax2.plot(x, [d["lift"] for d in dec], "o-", color="#1f4e79")
    ax.set(xlabel="十分位（1 = 风险最高）decile (1 = riskiest)", ylabel="坏账率 bad rate")
    ax2.set_ylabel("提升度 lift")
    ax.set_title("十分位坏账率与提升度 / decile bad rate and lift")
    return fig


def _calibration(rel: list[dict], head: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    xs = [r["mean_pd"] for r in rel]
    ys = [r["bad_rate"] for r in rel]
    top = max([*xs, *ys, 0.05]) * 1.05
    ax.plot([0, top], [0, top], "--", color="grey")
    ax.plot(xs, ys, "o-", label=f"Brier = {head['brier']:.4f}")
    ax.set(xlabel="预测违约率 mean predicted PD", ylabel="实际坏账率 observed bad rate")
    ax.set_title("校准（可靠性图）/ reliability")
    ax.legend(loc="upper left")
    return fig


def _psi(rows: list[dict], psi: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["train_share"] for r in rows], 0.4, label="训练 training")
    ax.bar(x + 0.2, [r["data_share"] for r in rows], 0.4, label="本数据 this data")
    ax.set_xticks(x, [r["band"] for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="占比 share", xlabel="分数段 points band")
    ax.set_title(f"分数分布稳定性 PSI = {psi:.4f}")
    ax.set_ylim(0, max([r["train_share"] for r in rows] + [r["data_share"] for r in rows]) * 1.3)
    ax.legend(loc="upper center", ncol=2, frameon=False)
    return fig
