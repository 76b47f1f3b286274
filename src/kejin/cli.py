"""The root command ``kejin``: mounts every area's commands and prints errors without tracebacks."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kejin.console import err_console, get_engine, print_json, progress
from kejin.errors import KejinError
from kejin.ids import check_uscc

app = typer.Typer(
    name="kejin",
    help="科金 kejin — 科技金融服务平台 / sci-tech finance platform",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

db_app = typer.Typer(
    help="数据库：迁移、备份、恢复 / database: migrations, backup, restore", no_args_is_help=True
)
ids_app = typer.Typer(help="统一社会信用代码 / USCC tools", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ids_app, name="ids")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads", help="目标版本 / target revision")) -> None:
    """升级数据库结构 / Apply migrations up to REVISION (default: all heads)."""
    from kejin.access.acting import system_event
    from kejin.db import transaction
    from kejin.migrate import current_heads, upgrade

    engine = get_engine()
    before = sorted(current_heads(engine))
    upgrade(engine, revision)
    after = sorted(current_heads(engine))
    from sqlalchemy import inspect

    if after != before and inspect(engine).has_table("audit_events"):
        # A schema change is the platform's act: recorded as ``system`` once the audit table
        # exists (Alembic runs each revision in its own transaction, so this record follows).
        with transaction(engine) as s:
            system_event(s, "db.upgrade", "schema", ",".join(after), {"from": before, "to": after})
    err_console.print(f"数据库已升级 / schema at: {', '.join(after)}")


@db_app.command("current")
def db_current() -> None:
    """显示数据库当前版本 / Show the revisions the database is at."""
    from kejin.migrate import current_heads, script_heads

    engine = get_engine()
    print_json({"current": sorted(current_heads(engine)), "heads": sorted(script_heads())})


@db_app.command("backup")
def db_backup(
    out: Path = typer.Option(
        ..., "--out", help="备份文件 / dump file to write (never overwritten)"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="不显示进度 / no progress display"),
) -> None:
    """备份数据库并记录各表校验和 / Dump the database, with a manifest of table checksums beside it.

    PostgreSQL: pg_dump -Fc (the server's own major version); SQLite: the backup API.
    """
    from kejin.backup import backup, manifest_path

    with progress(quiet) as p:
        task = p.add_task("备份 / backing up", total=None)

        def tick(name: str, total: int) -> None:
            p.update(task, advance=1, total=total, description=f"校验和 / checksum: {name}")

        m = backup(get_engine(), out, tick)
    print_json(
        {
            "dump": str(out),
            "manifest": str(manifest_path(out)),
            "tables": len(m["tables"]),
            "rows": sum(t["rows"] for t in m["tables"].values()),
            "audit_head": m["audit_head"],
        }
    )


@db_app.command("restore")
def db_restore(
    file: Path = typer.Argument(..., help="备份文件 / dump written by kejin db backup"),
    into: str = typer.Option(
        ..., "--into", help="新建的空数据库 URL / URL of a fresh, empty database"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
    quiet: bool = typer.Option(False, "--quiet", help="不显示进度 / no progress display"),
) -> None:
    """恢复备份并校验 / Restore into a fresh database, then prove it: table checksums against the
    manifest and the audit chain verified. Exit 1 if either fails."""
    from kejin.backup import restore

    with progress(quiet) as p:
        task = p.add_task("恢复 / restoring", total=None)

        def step(what: str) -> None:
            p.update(task, description=what)

        def tick(name: str, total: int) -> None:
            p.update(task, advance=1, total=total, description=f"校验和 / checksum: {name}")

        rep = restore(file, into, tick, step)
    if as_json:
        print_json(rep.to_dict())
        raise typer.Exit(0 if rep.ok else 1)
    for prob in rep.problems:
        err_console.print(prob.render(), markup=False, highlight=False)
    audit = rep.audit or {"ok": True, "problems": [], "notes": []}
    for a in audit["problems"]:
        err_console.print(
            f"audit_events 第{a['row']}行/row {a['row']}: {a['reason_zh']} / {a['reason_en']}",
            markup=False,
            highlight=False,
        )
    for n in audit["notes"]:
        err_console.print(f"注意 / note: {n['zh']} / {n['en']}", markup=False, highlight=False)
    state = (
        "已恢复并校验一致 / restored and verified" if rep.ok else "恢复后校验不符 / VERIFY FAILED"
    )
    err_console.print(f"{state}: {rep.tables} tables, {rep.rows} rows", markup=False)
    raise typer.Exit(0 if rep.ok else 1)


@ids_app.command("check")
def ids_check(
    codes: list[str] = typer.Argument(..., help="统一社会信用代码 / codes to check"),
) -> None:
    """校验统一社会信用代码 (GB 32100-2015) / Validate USCCs; exit 1 if any is invalid."""
    results = [check_uscc(c) for c in codes]
    for r in results:
        print_json(r.to_dict())
    raise typer.Exit(0 if all(r.valid for r in results) else 1)


_mounted = False


def _mount_areas() -> None:
    """Areas register here; each owns a Typer app in its commands.py. Idempotent, because tests
    that drive the CLI in-process call it too and a group mounted twice would be listed twice."""
    global _mounted
    if _mounted:
        return
    _mounted = True
    # Each area adds two lines here, kept sorted by area:
    #     from kejin.<area>.commands import register as register_<area>
    #     register_<area>(app)
    from kejin.access.commands import register as register_access
    from kejin.credit.commands import register as register_credit
    from kejin.fund.commands import register as register_fund
    from kejin.ingest.commands import register as register_ingest
    from kejin.matching.commands import register as register_matching
    from kejin.points.commands import register as register_points
    from kejin.policy.commands import register as register_policy
    from kejin.scale.commands import register as register_scale
    from kejin.stats.commands import register as register_stats
    from kejin.synth.commands import register as register_synth
    from kejin.whitelist.commands import register as register_whitelist

    register_access(app)
    register_credit(app)
    register_fund(app)
    register_ingest(app)
    register_matching(app)
    register_points(app)
    register_policy(app)
    register_scale(app)
    register_stats(app)
    register_synth(app)
    register_whitelist(app)


def main() -> None:
    _mount_areas()
    try:
        rc = app(standalone_mode=False)
    except KejinError as e:
        err_console.print(e.render(), markup=False, highlight=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except OSError as e:
        # A path the user named cannot be read or written: their problem to fix, not a crash.
        err_console.print(
            f"文件错误 / file error: {e.strerror or e} ({e.filename or ''})",
            markup=False,
            highlight=False,
        )
        sys.exit(1)
    except typer.Abort:
        err_console.print("已中止 / aborted")
        sys.exit(130)
    except Exception as e:
        # Usage errors arrive here in non-standalone mode. Typer >= 0.29 vendors its own click,
        # so the class is matched by its interface rather than by importing a click package.
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
