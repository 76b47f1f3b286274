"""The official evaluations (科技型 / 创新型中小企业) on Spark equal the local kernel's, row for row:
points, routes, pass/fail and both reason texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kejin.ids import uscc_check_char
from kejin.points.official.batch import SCHEMES, evaluate_file, evaluate_frame, evaluate_on_spark


def _firms(scheme: str, n: int, seed: int) -> pl.DataFrame:
    """``n`` firms over the scheme's whole input space: small counts and amounts near the bands,
    gates and direct routes set now and then."""
    rng = np.random.default_rng(seed)
    cols = {}
    for c in SCHEMES[scheme].COLUMNS:
        if c.kind == "uscc":
            cols[c.id] = [(b := f"91350100MA{i:07d}") + uscc_check_char(b) for i in range(n)]
        elif c.kind == "int":
            cols[c.id] = rng.integers(0, 60, n)
        elif c.kind == "money":  # fen, 0 to 50 million yuan, log-spread
            cols[c.id] = (10 ** rng.uniform(2, 9.7, n)).astype(np.int64)
        else:
            cols[c.id] = rng.random(n) < 0.15
    return pl.DataFrame(cols)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_spark_evaluates_every_firm_as_the_local_kernel_does(spark_session, scheme: str) -> None:
    firms = _firms(scheme, 3000, seed=len(scheme))
    local = evaluate_frame(scheme, firms)
    assert local["passed"].sum() > 20 and (~local["passed"]).sum() > 100
    assert local["route"].n_unique() >= 2
    assert_frame_equal(evaluate_on_spark(scheme, firms, "local[2]"), local)


def test_the_command_writes_the_same_file_on_either_engine(spark_session, tmp_path: Path) -> None:
    from kejin.points.official.io import money_out, write_table

    mod = SCHEMES["tsme"]
    firms = _firms("tsme", 400, seed=7)
    firms = firms.with_columns(pl.min_horizontal("tech_staff", "staff").alias("tech_staff"))
    write_table(tmp_path / "in.csv", money_out(firms, mod.COLUMNS))
    a = evaluate_file("tsme", tmp_path / "in.csv", tmp_path / "local.csv")
    b = evaluate_file("tsme", tmp_path / "in.csv", tmp_path / "spark.csv", "spark", "local[2]")
    assert (
        a["firms"] == b["firms"] == 400
        and a["passed"] == b["passed"]
        and a["routes"] == b["routes"]
    )
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "spark.csv").read_bytes()
