"""`kejin synth --to-parquet`: a region in parts, as a snapshot the Spark engine reads, with keys
distinct across parts and the same content whatever the part size."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.scale import snapshot
from kejin.synth.parquet import write_region


def test_parts_make_one_region_with_distinct_keys_and_a_verified_manifest(tmp_path: Path) -> None:
    m = write_region(tmp_path / "r", 2500, seed=3, chunk=1000)
    assert snapshot.read_manifest(tmp_path / "r") == m
    assert len(m["tables"]["enterprises"]["parts"]) == 3
    assert len(m["tables"]["institutions"]["parts"]) == 1  # the same banks in every part
    t = {n: snapshot.table(tmp_path / "r", n).collect() for n in m["tables"]}
    assert t["enterprises"].height == 2500 and t["enterprises"]["uscc"].is_unique().all()
    for name in snapshot.TABLES:
        key = [c.name for c in name.primary_key.columns]
        assert not t[name.name].select(key).is_duplicated().any(), name.name
        assert m["tables"][name.name]["rows"] == t[name.name].height
    # Every row belongs to a firm of the region, every month to a loan.
    firms = t["enterprises"]["uscc"]
    for name in ("qualifications", "annual_indicators", "financing_events", "loans"):
        assert t[name]["uscc"].is_in(firms.implode()).all(), name
    assert t["loan_statuses"]["contract_no"].is_in(t["loans"]["contract_no"].implode()).all()
    assert m["tables"]["loans"]["pull_ids"] == sorted(t["data_pulls"]["id"].to_list())[-1:]
    # A part does not depend on how many parts follow it.
    one = write_region(tmp_path / "one", 1000, seed=3, chunk=1000)
    assert (
        one["tables"]["enterprises"]["parts"][0]["sha256"]
        == (m["tables"]["enterprises"]["parts"][0]["sha256"])
    )
    with pytest.raises(ValidationError, match="not empty"):
        write_region(tmp_path / "r", 10, seed=3)


def test_the_command_writes_a_snapshot_without_a_database(tmp_path: Path) -> None:
    import typer

    from kejin.synth.commands import synth

    cli = typer.Typer()
    cli.command()(synth)
    r = CliRunner().invoke(
        cli, ["--firms", "700", "--seed", "5", "--to-parquet", str(tmp_path / "s"), "--chunk",
              "300", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rows"]["enterprises"] == 700
    ent = pl.read_parquet(tmp_path / "s" / "enterprises" / "*.parquet")
    assert_frame_equal(ent, snapshot.table(tmp_path / "s", "enterprises").collect())
