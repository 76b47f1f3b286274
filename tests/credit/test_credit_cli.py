"""The CSV interface an analyst uses first: fit → score → report, and refusals that say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from openpyxl import load_workbook
from tests.credit.test_credit_scorecard import synthetic

KEJIN = [sys.executable, "-c", "from kejin.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "2000"}  # Rich must not wrap the messages we match
    return subprocess.run([*KEJIN, *args], capture_output=True, text=True, check=False, env=env)


def test_fit_score_report_roundtrip(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    df = (
        synthetic(1500)
        .with_columns(
            pl.when(pl.col("bad") == 1)
            .then(pl.lit("bad"))
            .otherwise(pl.lit("good"))
            .alias("status")
        )
        .drop("bad")
    )
    df.write_csv(csv)
    model = tmp_path / "m.json"
    r = run(
        "credit",
        "fit",
        "--data",
        str(csv),
        "--target",
        "status",
        "--bad",
        "bad",
        "--out",
        str(model),
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["train"]["auc"] > 0.7
    new = tmp_path / "new.csv"
    df.head(5).with_columns(
        pl.Series("region", ["north", "atlantis", None, "west", "east"])
    ).write_csv(new)
    out = tmp_path / "scored.csv"
    r = run("credit", "score", "--model", str(model), "--data", str(new), "--out", str(out))
    assert r.returncode == 0, r.stderr
    scored = pl.read_csv(out)
    assert scored.columns[: len(df.columns)] == df.columns
    assert {"pd", "points", "reasons", "flags"} <= set(scored.columns)
    assert scored["flags"][1] == "out_of_domain:region"
    assert json.loads(r.stdout)["flagged_rows"] >= 1
    rep = tmp_path / "rep"
    r = run("credit", "report", "--model", str(model), "--data", str(csv), "--out", str(rep))
    assert r.returncode == 0, r.stderr
    head = json.loads(r.stdout)
    assert head["psi_vs_training"] < 1e-6  # same data as training
    wb = load_workbook(rep / "report.xlsx")
    assert "points 评分表" in wb.sheetnames and "deciles 十分位" in wb.sheetnames
    assert {p.name for p in rep.glob("*.png")} == {
        "roc.png",
        "ks.png",
        "deciles.png",
        "calibration.png",
        "psi.png",
    }


def test_gbm_via_cli_with_monotone(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    synthetic(800).write_csv(csv)
    model = tmp_path / "g.json"
    r = run(
        "credit",
        "fit",
        "--data",
        str(csv),
        "--target",
        "bad",
        "--method",
        "gbm",
        "--monotone",
        "income=-1",
        "--out",
        str(model),
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(model.read_text())["config"]["monotone"] == {"income": -1}


def test_bad_input_is_refused_in_both_languages(tmp_path: Path) -> None:
    csv = tmp_path / "one.csv"
    synthetic(100).with_columns(pl.lit(0).alias("bad"), pl.lit(1).alias("flat")).write_csv(csv)
    r = run(
        "credit", "fit", "--data", str(csv), "--target", "bad", "--out", str(tmp_path / "x.json")
    )
    assert r.returncode == 2
    assert "只有一个类别" in r.stderr and "only one class" in r.stderr
    assert not (tmp_path / "x.json").exists()
    r = run(
        "credit", "fit", "--data", str(csv), "--target", "nope", "--out", str(tmp_path / "x.json")
    )
    assert r.returncode == 2 and "target column not found" in r.stderr
    tampered = tmp_path / "t.json"
    tampered.write_text(
        json.dumps({"schema": "kejin.credit.scorecard/1", "content_hash": "0" * 64})
    )
    r = run(
        "credit",
        "score",
        "--model",
        str(tampered),
        "--data",
        str(csv),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert r.returncode == 2 and "content hash mismatch" in r.stderr


def test_config_file_is_validated(tmp_path: Path) -> None:
    csv = tmp_path / "train.csv"
    synthetic(400).write_csv(csv)
    cfg = tmp_path / "card.toml"
    cfg.write_text("min_bin_size = 0.1\npdo = 40\n")  # pdo belongs under [scaling]
    r = run(
        "credit",
        "fit",
        "--data",
        str(csv),
        "--target",
        "bad",
        "--config",
        str(cfg),
        "--out",
        str(tmp_path / "m.json"),
    )
    assert r.returncode == 2 and "invalid model config" in r.stderr and "pdo" in r.stderr
    cfg.write_text("min_bin_size = 0.1\n[scaling]\npdo = 40\n")
    r = run(
        "credit",
        "fit",
        "--data",
        str(csv),
        "--target",
        "bad",
        "--config",
        str(cfg),
        "--out",
        str(tmp_path / "m.json"),
    )
    assert r.returncode == 0, r.stderr
    art = json.loads((tmp_path / "m.json").read_text())
    assert art["config"]["scaling"]["pdo"] == 40 and art["config"]["min_bin_size"] == 0.1
