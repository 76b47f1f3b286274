"""Scoring runs against the store: read the firm-year frame, score, store results with hashes.

The kernels know nothing of the database; this module reads what they need (in bulk, through
:mod:`kejin.frames`), records each run's inputs and the hash of its results, and reads runs back.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kejin.db import joined, transaction
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import read_frame, write_frame
from kejin.points.formula import lag_name
from kejin.points.kernels import score_system
from kejin.points.system import LoadedSystem, System, load_system
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.registry.tables import AnnualIndicator, DataPull, Enterprise, FinancingEvent

#: Financing kinds counted as 获得风险投资 (equity from investors; IPO and bonds are not).
VC_KINDS = ("angel", "vc", "pe")
RESULT_COLUMNS = (
    "uscc", "peer_group", "base", "bonus", "total", "group_size", "rank_group", "pct_group",
    "rank_region", "pct_region", "grade", "list_id",
)  # fmt: skip


def latest_year(engine: Engine) -> int:
    with engine.connect() as conn:
        year = conn.execute(select(func.max(AnnualIndicator.year))).scalar()
    if year is None:
        raise NotFoundError(
            "没有年度指标数据，请先导入或生成数据",
            "no annual indicators: import or synthesise data first",
        )
    return int(year)


def frame_inputs(system: System) -> tuple[list[str], list[str]]:
    """The indicator fields a system reads for its year, and those it also reads a year back."""
    fields = sorted((system.fields | {"revenue"}) - {"vc_financing"})
    lagged = sorted(system.lagged - {"vc_financing"})
    return fields, lagged


def load_frame(engine: Engine, system: System, year: int) -> pl.DataFrame:
    """Firms with indicators for ``year``: identity, stage, chain, fields and last-year lags."""
    fields, lagged = frame_inputs(system)
    ai = AnnualIndicator.__table__
    with engine.connect() as conn:
        firms = read_frame(
            conn, Enterprise.__table__, ["uscc", "stage", "industry_chain", "region_code"]
        )
        cur = read_frame(conn, ai, ["uscc", *fields], where=f"year = {int(year)}")
        prev = (
            read_frame(conn, ai, ["uscc", *lagged], where=f"year = {int(year) - 1}")
            if lagged
            else None
        )
        fin = read_frame(conn, FinancingEvent.__table__, ["uscc", "kind", "occurred_on", "amount"])
    return assemble(firms, cur, prev, fin, system, year)


def assemble(
    firms: pl.DataFrame,
    cur: pl.DataFrame,
    prev: pl.DataFrame | None,
    fin: pl.DataFrame,
    system: System,
    year: int,
) -> pl.DataFrame:
    """The firm-year frame the kernel scores, from the registry's rows for any set of firms.

    Pure, and each firm's row depends on that firm's rows only, so the Spark engine runs it
    on each bucket of firms (:mod:`kejin.points.scale`) and gets the rows this process gets.
    """
    _, lagged = frame_inputs(system)
    frame = cur.join(firms, on="uscc", how="inner")
    if prev is not None:
        frame = frame.join(prev.rename({f: lag_name(f) for f in lagged}), on="uscc", how="left")
    vc = (
        fin.filter(pl.col("kind").is_in(VC_KINDS) & (pl.col("occurred_on").dt.year() == year))
        .group_by("uscc")
        .agg(vc_financing=pl.col("amount").cast(pl.Float64).sum())
    )
    frame = frame.join(vc, on="uscc", how="left").with_columns(
        pl.col("vc_financing").fill_null(0.0)
    )
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64)).sort("uscc")


def frame_sha256(df: pl.DataFrame) -> str:
    """Hash of a frame's canonical CSV (fixed column order, row order, float formatting)."""
    return hashlib.sha256(canonical_csv(df)).hexdigest()


def canonical_csv(df: pl.DataFrame, header: bool = True) -> bytes:
    """The canonical CSV that :func:`frame_sha256` hashes; a results import streams it in
    batches (the header with the first only), so both hash the same text."""
    return df.write_csv(include_header=header, float_precision=7).encode()


def detail_json(scored: pl.DataFrame, system: System) -> pl.Series:
    """Per-firm JSON: for each indicator [raw value, score, contribution, missing]."""
    parts = [
        pl.concat_list(
            pl.col(f"{i.id}__raw").cast(pl.Float64).round(6).cast(pl.String).fill_null("null"),
            pl.col(f"{i.id}__score").cast(pl.Float64).round(6).cast(pl.String),
            pl.col(f"{i.id}__contrib").cast(pl.Float64).round(6).cast(pl.String),
            pl.col(f"{i.id}__missing").cast(pl.Int8).cast(pl.String),
        ).list.join(",")
        for i in system.indicators
    ]
    exprs: list[pl.Expr] = [pl.lit("{")]
    for k, (ind, part) in enumerate(zip(system.indicators, parts, strict=True)):
        exprs += [pl.lit(("," if k else "") + f'"{ind.id}":['), part, pl.lit("]")]
    exprs.append(pl.lit("}"))
    return scored.select(pl.concat_str(exprs).alias("detail")).to_series()


def results_frame(scored: pl.DataFrame, system: System) -> pl.DataFrame:
    out = scored.select(RESULT_COLUMNS).with_columns(
        pl.col("base", "bonus", "total").cast(pl.Float64).round(4),
        pl.col("pct_group", "pct_region").cast(pl.Float64).round(6),
    )
    return out.with_columns(detail_json(scored, system))


def score_run(
    engine: Engine,
    system_name: str,
    year: int | None = None,
    peer: str | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """Score every firm for ``year`` (default: latest) and store the run; returns its summary.

    ``session``: stored in the caller's transaction, beside the audit record it writes
    (:func:`kejin.db.joined`); without, in a transaction of its own."""
    loaded = load_system(system_name)
    system = loaded.system
    check_peer(peer)
    year = year or latest_year(engine)
    frame = load_frame(engine, system, year)
    if frame.height == 0:
        raise NotFoundError(f"{year}年没有企业数据", f"no firm has indicators for {year}")
    scored = score_system(frame, system, peer=peer)
    with engine.connect() as conn:
        pull = conn.execute(select(func.max(DataPull.id))).scalar()
    return store_run(
        engine,
        loaded,
        year,
        peer,
        results_frame(scored, system),
        frame_sha256(frame),
        pull,
        session,
    )


def check_peer(peer: str | None) -> None:
    if peer is not None and peer not in ("none", "chain", "revenue_band"):
        raise ValidationError(
            "同业组选项无效", "invalid peer-group option",
            [Problem("应为 none/chain/revenue_band", "expected none, chain or revenue_band",
                     field="peer", value=peer)],
        )  # fmt: skip


def store_run(
    engine: Engine,
    loaded: LoadedSystem,
    year: int,
    peer: str | None,
    results: pl.DataFrame,
    input_sha256: str,
    pull: int | None,
    session: Session | None = None,
) -> dict[str, Any]:
    """Store a run and its results (from this process or from Spark) with their hashes."""
    system = loaded.system
    results_hash = frame_sha256(results)
    params = {"system": system.id, "year": year, "peer": peer or system.peer_groups.extra}
    with joined(engine, session) as unit:
        run = ScoreRun(
            system_id=system.id,
            system_version=system.version,
            system_sha256=loaded.sha256,
            year=year,
            snapshot_pull_id=pull,
            input_sha256=input_sha256,
            parameters=json.dumps(params, sort_keys=True),
            firms=results.height,
            results_sha256=results_hash,
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )
        unit.add(run)
        unit.flush()
        write_frame(
            unit.connection(), ScoreResult.__table__, results.with_columns(run_id=pl.lit(run.id))
        )
        run_id = run.id
    return summary(results, system, loaded, run_id, params, results_hash)


def summary(
    results: pl.DataFrame | pl.LazyFrame,
    system: System,
    loaded: LoadedSystem,
    run_id: int,
    params: dict,
    digest: str,
) -> dict[str, Any]:
    """A run's summary. ``results`` may be lazy (a run imported from Parquet parts): only the
    lists, grades and top ten are computed, never the whole frame held."""
    lazy = results.lazy()
    lists = (
        lazy.filter(pl.col("list_id").is_not_null()).group_by("list_id").len().sort("list_id")
    ).collect()
    grades = lazy.group_by("grade").len().sort("grade").collect()
    top = (
        lazy.sort("rank_region", maintain_order=True)
        .head(10)
        .select("uscc", "peer_group", "total", "rank_region", "grade", "list_id")
        .collect()
    )
    firms = lazy.select(pl.len()).collect().item()
    return {
        "run_id": run_id,
        "system": system.id,
        "version": system.version,
        "system_sha256": loaded.sha256,
        "parameters": params,
        "firms": firms,
        "results_sha256": digest,
        "lists": dict(lists.iter_rows()),
        "grades": dict(grades.iter_rows()),
        "top": top.to_dicts(),
    }


def latest_run(engine: Engine, system_id: str | None = None) -> ScoreRun:
    with transaction(engine) as session:
        q = select(ScoreRun).order_by(ScoreRun.id.desc()).limit(1)
        if system_id:
            q = q.where(ScoreRun.system_id == system_id)
        run = session.scalars(q).first()
        if run is None:
            raise NotFoundError(
                "还没有评分记录，请先运行 kejin points score",
                "no score run yet: run `kejin points score` first",
                [Problem("无评分记录", "no run", field="system", value=system_id)],
            )
        session.expunge(run)
        return run


def run_results(engine: Engine, run_id: int, where: str | None = None) -> pl.DataFrame:
    cond = f"run_id = {int(run_id)}" + (f" AND {where}" if where else "")
    with engine.connect() as conn:
        return read_frame(conn, ScoreResult.__table__, where=cond).drop("run_id").sort("uscc")
