"""``kejin import KIND FILE``: load a department file, or say precisely what is wrong with it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from kejin.console import console, err_console, get_engine, print_json, progress
from kejin.errors import Problem, ValidationError
from kejin.ingest.kinds import KINDS

#: Above this many problems the report is printed as plain lines: still every row, but fast.
_TABLE_LIMIT = 1000


def _report(e: ValidationError) -> None:
    err_console.print(f"[bold red]{e.reason_zh}[/]\n{e.reason_en}", highlight=False)
    if not e.problems:
        return
    if len(e.problems) > _TABLE_LIMIT:
        for p in e.problems:
            err_console.print(p.render(), markup=False, highlight=False)
        return
    table = Table(show_lines=False, header_style="bold")
    for head in ("行 row", "列 column", "值 value", "原因", "reason"):
        table.add_column(head, overflow="fold")
    for p in e.problems:
        table.add_row(
            "" if p.row is None else str(p.row),
            p.field or "",
            "" if p.value is None else str(p.value),
            p.reason_zh,
            p.reason_en,
        )
    err_console.print(table)


def import_cmd(
    kind: str = typer.Argument(
        ...,
        help=f"数据类别 / kind: {', '.join(KINDS)}; results = Spark 结果目录 / a Spark results directory",
    ),
    file: Path = typer.Argument(
        ..., help="CSV / XLSX / Parquet 文件，或结果目录 / file, or results directory"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="只校验并统计，不写入 / validate and count only"
    ),
    source: str | None = typer.Option(
        None, "--source", help="数据来源部门 (tax、税务局 …) / source department"
    ),
    pulled_at: datetime | None = typer.Option(
        None, "--pulled-at", help="部门提取数据的时间 / when the department pulled the data"
    ),
    who: str | None = typer.Option(
        None,
        "--who",
        help="操作人（平台用户名，政府管理员；不填则为系统定时导入）/ acting person (gov_admin); "
        "without it, a scheduled system feed",
    ),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON / machine-readable output"),
) -> None:
    """导入部门数据文件（全部校验通过才写入）/ Import a file: all rows valid, or nothing written.

    The same audited import as the web's upload: with ``--who`` it is that person's (a
    gov_admin's) act, without it a scheduled department feed recorded as ``system``. The rows
    and the audit record (with the file's SHA-256) commit together; a refused file is recorded.
    Exit status 0 on success, 2 when any row is bad (every bad row is listed).
    """
    if kind == "results":
        # A Spark run's results directory (docs/scale.md): verified whole, then stored as its
        # command stores a run.
        from kejin.scale.commands import import_results_cmd

        return import_results_cmd(file, dry_run, who, as_json)
    from kejin.access.acting import person
    from kejin.access.service import SYSTEM
    from kejin.db import transaction
    from kejin.ingest import routes as _rules  # noqa: F401  (registers ingest.import)
    from kejin.ingest.upload import import_audited

    quiet = as_json or not err_console.is_terminal
    try:
        if not file.is_file():
            # Nothing was attempted: a mistyped path is the command's usage, not an import.
            raise ValidationError(
                f"文件 {file.name} 不存在",
                f"no such file {file.name}",
                [Problem("文件不存在", "no such file", file=file.name, value=str(file))],
            )
        with progress(quiet) as bar:
            task = bar.add_task("读取 / reading", total=3)

            def step(msg: str) -> None:
                bar.update(task, description=msg, advance=0 if msg.startswith("读取") else 1)

            def rows_read(n: int) -> None:
                bar.update(task, description=f"读取 / reading: {n:,}+ 行 rows")

            engine = get_engine()
            with transaction(engine) as s:
                p = SYSTEM if who is None else person(s, who, "ingest.import")
                outcome = import_audited(
                    s,
                    engine,
                    p,
                    kind=kind,
                    path=file,
                    source=source,
                    dry_run=dry_run,
                    pulled_at=pulled_at,
                    step=step,
                    rows_read=rows_read,
                )
            bar.update(task, completed=3, description="完成 / done")
    except ValidationError as e:
        if as_json:
            print_json(e.to_dict())
        else:
            _report(e)
        raise typer.Exit(2) from None
    if as_json:
        print_json(outcome.to_dict())
        return
    head = "试运行（未写入）/ dry run (nothing written)" if dry_run else "导入完成 / imported"
    table = Table(title=f"{head}: {outcome.kind} ← {outcome.file}", header_style="bold")
    for col in ("行数 rows", "新增 inserted", "更新 updated", "未变 unchanged", "批次 pull"):
        table.add_column(col, justify="right")
    table.add_row(
        str(outcome.rows),
        str(outcome.inserted),
        str(outcome.updated),
        str(outcome.unchanged),
        "-" if outcome.pull_id is None else str(outcome.pull_id),
    )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
