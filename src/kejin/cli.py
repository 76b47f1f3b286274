"""The root command ``kejin``: mounts every area's commands and prints errors without tracebacks."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from kejin.console import err_console, get_engine, print_json, progress
from kejin.errors import KejinError
from kejin.ids import check_uscc

#: The modules whose ``register(app)`` mount each area's commands, in mounting order (``stats``:
#: importing ``annual_commands`` adds its commands to ``kejin stats``).
AREA_MODULES: dict[str, tuple[str, ...]] = {
    "access": ("access.commands",),
    "credit": ("credit.commands",),
    "fund": ("fund.commands",),
    "ingest": ("ingest.commands",),
    "matching": ("matching.commands",),
    "points": ("points.commands",),
    "policy": ("policy.commands",),
    "regions": ("regions.commands",),
    "scale": ("scale.commands",),
    "relend": ("relend.commands",),
    "stats": ("stats.commands", "stats.annual_commands"),
    "synth": ("synth.commands",),
    "whitelist": ("whitelist.commands",),
}

#: Every top-level command an area adds: name → (area, the first paragraph of its help).
#: ``kejin --help`` lists them from here and an area's modules (with their SQLAlchemy, Polars,
#: LightGBM or FastAPI imports) are imported only when one of its commands runs.
#: tests/test_cli_startup.py checks this table against what each area registers.
AREA_COMMANDS: dict[str, tuple[str, str]] = {
    "demo-accounts": ("access", "为每个角色创建演示账户（随机密码仅显示一次）/ One demo account per role, random passwords printed once."),
    "serve": ("access", "启动平台服务 / Serve the API and web pages (uvicorn)."),
    "audit": ("access", "审计日志 / audit log"),
    "users": ("access", "用户 / user accounts"),
    "credit": ("credit", "信用风险模型与授信决策 / credit risk models and decisions"),
    "fund": ("fund", "风险补偿资金池 / risk-sharing fund"),
    "import": ("ingest", "导入部门数据文件（全部校验通过才写入）/ Import a file: all rows valid, or nothing written."),
    "match": ("matching", "融资对接 / financing marketplace"),
    "points": ("points", "创新积分与官方评价 / innovation points and official evaluations"),
    "policy": ("policy", "政策引擎 / rules-as-code policy engine"),
    "region": ("regions", "区域配置 / the region's one configuration file (docs/region.md)"),
    "export": ("scale", "导出：供分布式引擎读取的数据快照 / exports: snapshots for distributed engines"),
    "relend": ("relend", "再贷款/再贴现台账 / relending ledger"),
    "stats": ("stats", "科技金融统计 / sci-tech finance statistics"),
    "synth": ("synth", "生成合成区域（企业、指标、资质、融资、机构、贷款） / Build the synthetic region."),
    "summary": ("synth", "区域概览：企业、资质、机构、产品、贷款 / Summary of the region in the database."),
    "whitelist": ("whitelist", "科技型企业白名单 / tech-firm whitelist"),
}  # fmt: skip


def area_commands(area: str) -> dict[str, object]:
    """The click commands the area's modules register, by name (imports the area)."""
    scratch = typer.Typer()
    for module in AREA_MODULES[area]:
        importlib.import_module(f"kejin.{module}").register(scratch)
    return dict(typer.main.get_group(scratch).commands)


class _Areas(TyperGroup):
    """The root group: an area's commands are listed from :data:`AREA_COMMANDS` and loaded when
    one of them is called (or asked for its own help)."""

    def list_commands(self, ctx):  # type: ignore[no-untyped-def]
        own = super().list_commands(ctx)
        return [*own, *(n for n in AREA_COMMANDS if n not in own)]

    def get_command(self, ctx, name):  # type: ignore[no-untyped-def]
        cmd = super().get_command(ctx, name)
        if cmd is None and name in AREA_COMMANDS:  # listed only: its area is not imported
            return TyperCommand(name=name, help=AREA_COMMANDS[name][1])
        return cmd

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] in AREA_COMMANDS and args[0] not in self.commands:
            for name, cmd in area_commands(AREA_COMMANDS[args[0]][0]).items():
                self.add_command(cmd, name)  # type: ignore[arg-type]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_Areas,
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
    # An area adds its commands to AREA_COMMANDS above (the CLI loads it from there).
    for modules in AREA_MODULES.values():
        for module in modules:
            importlib.import_module(f"kejin.{module}").register(app)


def main() -> None:
    """The ``kejin`` program: areas load on demand (:class:`_Areas`), so ``kejin --help`` and
    ``kejin ids check`` start without importing the data stack."""
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
