"""The monthly statistics on Spark equal the local engine's, measure for measure and report for
report (money to the fen: both are exact integers of fen); a snapshot without the statistics'
tables, or a month without data, is refused as locally."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import typer
from polars.testing import assert_frame_equal
from sqlalchemy import Engine
from typer.testing import CliRunner

from kejin.errors import ValidationError
from kejin.points.service import score_run
from kejin.scale import spark
from kejin.scale.snapshot import MANIFEST, write_snapshot
from kejin.scale.stats import measures_on_spark, month_facts, month_reports_on_spark
from kejin.stats import kernels, service
from kejin.synth.service import build_region
from kejin.whitelist.service import refresh

BYS: list[str | None] = [None, *kernels.BREAKDOWNS]


@pytest.fixture
def region(sqlite_engine: Engine, tmp_path: Path) -> tuple[Engine, Path, list[date]]:
    """A synthetic region with the LPR table (some of its months without a published LPR) and
    a whitelist version (tiers, and the whitelist population), and its snapshot."""
    build_region(sqlite_engine, 500, seed=7)
    service.import_lpr(sqlite_engine)
    score_run(sqlite_engine, "most-v1")
    refresh(sqlite_engine)
    snap = tmp_path / "snap"
    write_snapshot(sqlite_engine, snap)
    return sqlite_engine, snap, service.months_with_data(sqlite_engine)


def _cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from kejin.stats.commands import register

    monkeypatch.setattr("kejin.console.get_engine", lambda: engine)
    cli = typer.Typer()
    register(cli)
    return cli


@pytest.mark.parametrize("population", ["list", "whitelist"])
def test_spark_measures_equal_the_local_measures_for_every_breakdown(
    spark_session, region: tuple[Engine, Path, list[date]], population: str
) -> None:
    engine, snap, have = region
    through = have[-1]
    local = kernels.measures_by(service.gather(engine, through, months=have), have, BYS, population)
    with_data = month_facts(spark_session, snap)["month"].to_list()
    assert with_data == have
    on_spark, flags = measures_on_spark(
        spark_session, snap, have, BYS, population, with_data, through, through
    )
    for by in BYS:
        assert_frame_equal(on_spark[by], local[by])
    whole = local[None]
    # Not a vacuous equality: balances, first-time borrowers, a spread where the LPR is
    # published and none where it is not, month-ago figures, tiers, banks, kinds.
    assert whole["balance"].sum() > 0 and whole["first_time"].sum() > 0
    assert whole["new_amount_spread"].null_count() > 0
    assert whole["new_amount_spread"].drop_nulls().len() > 0
    assert whole["balance_month_ago"].drop_nulls().len() > 0
    assert local["tier"]["group"].n_unique() >= 2 and local["bank"]["group"].n_unique() >= 3
    assert local["qualification"]["group"].n_unique() >= 3
    f = service.gather(engine, through)
    assert flags is not None
    assert_frame_equal(flags, kernels.flag_disagreements(f, through))


def test_spark_reports_through_the_command_equal_the_local_reports(
    spark_session, region: tuple[Engine, Path, list[date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, snap, have = region
    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    month = f"{have[-1]:%Y-%m}"
    spark_args = ["--engine", "spark", "--snapshot", str(snap)]
    for args in (
        ["stats", "month", month, "--by", "bank", "--json"],
        ["stats", "trend", month, "--by", "tier", "--population", "whitelist", "--json"],
    ):
        a = invoke(cli, args)
        assert a.exit_code == 0, a.output
        b = invoke(cli, [*args, *spark_args])
        assert b.exit_code == 0, b.output
        ra, rb = json.loads(a.stdout), json.loads(b.stdout)
        assert rb == ra
        assert rb.get("data_as_of", "x") is not None  # the data date (provenance) is stated
    assert len(ra["rows"]) > len(have)  # every month, several tiers
    # The terminal table names the banks from the snapshot: a Spark run reads no database,
    # and prints what the local run prints.
    local = invoke(cli, ["stats", "month", month, "--by", "bank"])
    assert local.exit_code == 0, local.output

    def no_database() -> Engine:
        raise AssertionError("the Spark run read the database")

    monkeypatch.setattr("kejin.console.get_engine", no_database)
    r = invoke(cli, ["stats", "month", month, "--by", "bank", *spark_args])
    assert r.exit_code == 0, r.output
    assert r.output == local.output and "LYG-B01" not in r.output  # names, not ids


def test_a_month_without_data_or_a_snapshot_without_the_statistics_tables_is_refused(
    spark_session, region: tuple[Engine, Path, list[date]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, snap, _ = region
    with pytest.raises(ValidationError) as e:
        month_reports_on_spark(snap, "2019-01", [None], "list", "local[2]")
    assert e.value.problems[0].value == "2019-01"

    # A snapshot of before the statistics' tables were in it lacks them: named, not guessed.
    manifest = json.loads((snap / MANIFEST).read_text())
    del manifest["tables"]["lpr_rates"]
    (snap / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValidationError) as e:
        month_reports_on_spark(snap, "2026-01", [None], "list", "local[2]")
    assert any(p.file.endswith("lpr_rates") for p in e.value.problems)

    invoke, cli = CliRunner().invoke, _cli(engine, monkeypatch)
    r = invoke(cli, ["stats", "trend", "2026-01", "--engine", "spark"])
    assert r.exit_code != 0 and "--snapshot" in r.output
    assert spark.unavailable_reason() is None


def test_partials_of_disjoint_firms_add_up_to_the_whole(
    region: tuple[Engine, Path, list[date]],
) -> None:
    """The split the Spark engine relies on, without Spark: the kernel's partial sums of two
    halves of the firms, added and finished, are the measures of all of them."""
    engine, _, have = region
    f = service.gather(engine, have[-1], months=have)
    halves = []
    for k in (0, 1):
        keep = pl.col("uscc").hash(7) % 2 == k
        loans = f.loans.filter(keep)
        sub = kernels.Frames(
            loans=loans,
            statuses=f.statuses.join(loans.select("contract_no"), on="contract_no", how="semi"),
            qualifications=f.qualifications.filter(keep),
            firms=f.firms.filter(keep) if f.firms is not None else None,
            tiers=f.tiers.filter(keep) if f.tiers is not None else None,
            products=f.products,
            lpr=f.lpr,
            members=f.members.filter(keep) if f.members is not None else None,
        )
        halves.append(kernels.partials_by(sub, have, BYS))
    whole = kernels.measures_by(f, have, BYS)
    totals = pl.concat([h[1] for h in halves]).group_by("month").agg(pl.col("pop_total").sum())
    lpr = f.lpr["month"].to_list() if f.lpr is not None else []
    for by in BYS:
        parts = pl.concat([h[0][by] for h in halves])
        schema = parts.schema
        raw = (
            parts.group_by("month", "group")
            .agg(pl.all().sum())
            .select([pl.col(c).cast(t) for c, t in schema.items()])
        )
        assert_frame_equal(kernels.finish(raw, totals, by, have, have, lpr), whole[by])


def test_a_share_of_firms_without_loans_has_partials_all_the_same(
    region: tuple[Engine, Path, list[date]],
) -> None:
    """A Spark bucket may hold firms with qualifications but no loans: the kernel's first stage
    still runs and counts them, its groups typed as every other bucket's (once a crash on
    empty label arrays)."""
    engine, _, have = region
    f = service.gather(engine, have[-1], months=have)
    no_loans = kernels.Frames(
        loans=f.loans.head(0),
        statuses=f.statuses.head(0),
        qualifications=f.qualifications,
        firms=f.firms,
        tiers=f.tiers,
        products=f.products,
        lpr=f.lpr,
        members=f.members,
    )
    partials, totals = kernels.partials_by(no_loans, have, BYS)
    assert totals["pop_total"].sum() > 0
    for by in BYS:
        assert partials[by].schema["group"] == pl.String
        assert partials[by].filter(pl.col("balance") > 0).is_empty()
    assert partials["bank"].is_empty() and partials["stage"]["firms"].sum() > 0
