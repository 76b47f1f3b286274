"""``kejin export snapshot``: the registry as Parquet for the Spark engine (docs/scale.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from kejin.access.acting import who_option
from kejin.console import print_json

export_app = typer.Typer(
    help="导出：供分布式引擎读取的数据快照 / exports: snapshots for distributed engines",
    no_args_is_help=True,
)


@export_app.command("snapshot")
def snapshot_cmd(
    out: Path = typer.Option(..., "--out", help="新的或空的目录 / a new or empty directory"),
    who: str | None = who_option(),
    json_: bool = typer.Option(False, "--json", help="只输出 JSON / JSON only"),
) -> None:
    """登记库快照（Parquet，分片，含数据批次）/ Snapshot the registry as Parquet parts with
    provenance, in one consistent read; the export is audited as the person named by --who."""
    from kejin.access.acting import acting
    from kejin.access.service import log
    from kejin.console import get_engine, progress
    from kejin.scale import snapshot

    engine = get_engine()
    with progress(json_) as bar:
        task = bar.add_task("快照 / snapshot", total=len(snapshot.TABLES))
        with acting(engine, who, "registry.snapshot") as (s, p):
            manifest = snapshot.write_snapshot(
                engine, out, on_table=lambda name, rows: bar.update(task, advance=1)
            )
            rows = {k: v["rows"] for k, v in manifest["tables"].items()}
            log(s, p, "registry.snapshot", "snapshot", str(out), detail={"rows": rows,
                "taken_at": manifest["taken_at"]})  # fmt: skip
    print_json({"out": str(out), "taken_at": manifest["taken_at"], "rows": rows})


def check_engine(engine_name: str, snapshot: Path | None) -> None:
    """``--engine local`` (the default) reads the database; ``--engine spark`` reads a snapshot
    and only it (the statistics; points and whitelist also read over JDBC,
    :func:`kejin.scale.jdbc.source_of`): refuse any other pairing before anything is read."""
    if engine_name not in ("local", "spark") or (engine_name == "spark") != (snapshot is not None):
        raise typer.BadParameter(
            "--engine spark 须与 --snapshot 同用 / --engine spark goes with --snapshot (and only it)"
        )


def import_results_cmd(out: Path, dry_run: bool, who: str | None, as_json: bool) -> None:
    """``kejin import results DIR``: store a Spark run's results directory in one transaction,
    with the audit record its command writes (``--who``: that person's act, e.g. a gov_admin's
    whitelist refresh; without, the system's batch run). The whole directory is verified first;
    a refused one writes nothing and exits with status 2, naming every problem."""
    from kejin.access.acting import person
    from kejin.access.service import SYSTEM
    from kejin.console import get_engine, progress
    from kejin.db import transaction
    from kejin.errors import ValidationError
    from kejin.ingest.commands import _report
    from kejin.scale.results import import_results
    from kejin.whitelist import routes as _rules  # noqa: F401  (the whitelist's rules)

    engine = get_engine()
    try:
        with progress(as_json) as bar, transaction(engine) as s:
            bar.add_task(f"导入结果 / importing results {out}", total=None)
            p = SYSTEM if who is None else person(s, who)
            outcome = import_results(s, engine, p, out, dry_run)
    except ValidationError as e:
        if as_json:
            print_json(e.to_dict())
        else:
            _report(e)
        raise typer.Exit(2) from None
    print_json(outcome)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
