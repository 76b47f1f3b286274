"""``kejin whitelist …``: refresh a version, diff two, push to banks, read the push log."""

from __future__ import annotations

from pathlib import Path

import typer

from kejin.console import print_json

whitelist_app = typer.Typer(help="科技型企业白名单 / tech-firm whitelist", no_args_is_help=True)


@whitelist_app.command("refresh")
def refresh_cmd(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="基准日 YYYY-MM-DD（默认：数据日期）/ as-of date (default: the data date)",
    ),
    rules: str = typer.Option("default", "--rules", help="规则集 / rule set id or YAML path"),
    run: int | None = typer.Option(None, "--run", help="积分批次 / points run (default latest)"),
    who: str | None = typer.Option(
        None,
        "--who",
        help="操作人（平台用户名；不填则为系统批处理）/ acting person (platform username); "
        "without it, a system batch run",
    ),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
    engine_name: str = typer.Option(
        "local",
        "--engine",
        help="local（本机）或 spark（读 --snapshot）/ local or spark (reads --snapshot)",
    ),
    snapshot: Path | None = typer.Option(
        None, "--snapshot", help="kejin export snapshot 的目录 / a kejin export snapshot directory"
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="jdbc：Spark 经 JDBC 直接读 PostgreSQL / jdbc: Spark reads PostgreSQL directly",
    ),
    results_dir: Path | None = typer.Option(
        None,
        "--results-dir",
        help="Spark 把结果写成结果目录，由 kejin import results 导入 / Spark writes a results "
        "directory for `kejin import results` instead of storing the version",
    ),
    master: str | None = typer.Option(
        None, "--master", help="Spark master（默认 local[2]）/ Spark master (default local[2])"
    ),
) -> None:
    """按规则刷新白名单，生成新版本 / Apply the rules and store a new version.

    With ``--who`` the refresh is that person's act, as the web's button (gov_admin). Without,
    it is a scheduled batch run recorded as the ``system`` principal. Either way the version
    and its audit record commit together. ``--engine spark --snapshot DIR`` (or ``--source
    jdbc``) reads the registry from a snapshot (or PostgreSQL over JDBC) and runs the same
    kernel on Spark (docs/scale.md); with ``--results-dir DIR`` the executors write the entries
    there and the version is stored by ``kejin import results DIR`` (with its ``--who``).
    """
    from kejin.access.acting import acting, system_event
    from kejin.console import console, get_engine
    from kejin.db import transaction
    from kejin.errors import parse_date
    from kejin.scale.jdbc import source_of
    from kejin.whitelist import routes as _rules  # noqa: F401  (the whitelist's rules)
    from kejin.whitelist.service import refresh, refresh_by, refresh_sentence

    date = parse_date(as_of, "as_of") if as_of else None
    engine = get_engine()
    src = source_of(engine_name, snapshot, source, engine)
    if results_dir is not None:
        if src is None:
            raise typer.BadParameter("--results-dir 须与 --engine spark 同用 / --results-dir goes "
                                     "with --engine spark")  # fmt: skip
        from kejin.whitelist.scale import write_entries_on_spark

        print_json(write_entries_on_spark(engine, src, results_dir, date, rules, run, master))
        return
    if who is not None:
        with acting(engine, who) as (s, p):
            res = refresh_by(s, engine, p, date, rules, run, src, master)
    else:
        with transaction(engine) as s:
            res = refresh(engine, date, rules, run, "system", s, src, master)
            system_event(s, "whitelist.refresh", "whitelist_version", res["version"], after=res)
    if json:
        print_json(res)
        return
    zh, en = refresh_sentence(res)
    console.print(f"{zh}\n{en}")


@whitelist_app.command("diff")
def diff_cmd(
    a: int | None = typer.Argument(None, help="旧版本 / from version (default: previous)"),
    b: int | None = typer.Argument(None, help="新版本 / to version (default: latest)"),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
) -> None:
    """两个版本的变化及原因 / What changed between two versions, and which rule caused it."""
    from kejin.console import console, err_console, get_engine
    from kejin.errors import NotFoundError
    from kejin.whitelist.service import diff, latest_versions

    engine = get_engine()
    if a is None or b is None:
        last = latest_versions(engine, 2)
        if len(last) < 2:
            raise NotFoundError("至少需要两个版本", "need two versions to diff")
        b, a = last[0], last[1]
    res = diff(engine, a, b)
    if json:
        print_json(res)
        return
    from rich.table import Table

    console.print(f"版本 {a} → {b}: {res['counts']}")
    from kejin.console import id_column, text_column

    t = Table()
    text_column(t, "变化 change")
    id_column(t, "统一社会信用代码 USCC")
    text_column(t, "原层级 tier A")
    text_column(t, "新层级 tier B")
    text_column(t, "原因 reason")
    for r in res["changes"][:50]:
        _, _, ids = r["reason"].partition(":")
        names = "; ".join(
            res["rules"].get(i.split(":")[-1], {"zh": i})["zh"]
            for i in ids.replace(";", ",").split(",")
            if i
        )
        t.add_row(
            r["change"], r["uscc"], r["tier_a"] or "", r["tier_b"] or "", f"{r['reason']} ({names})"
        )
    console.print(t)
    if len(res["changes"]) > 50:
        err_console.print(
            f"… 共 {len(res['changes'])} 条 / {len(res['changes'])} changes in all (--json for every one)"
        )


@whitelist_app.command("push")
def push_cmd(
    institution: str = typer.Option(
        ..., "--institution", help="机构编号，或 all = 全部合作银行 / institution id or 'all'"
    ),
    format: str = typer.Option("xlsx", "--format", help="xlsx | csv | json"),
    version: int | None = typer.Option(None, "--version", help="版本 / version (default latest)"),
    out_dir: Path = typer.Option(Path("pushes"), "--out-dir", help="输出目录 / output directory"),
    who: str | None = typer.Option(
        None, "--who", help="推送人（平台用户名，须为政府管理员）/ acting person (gov_admin)"
    ),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
) -> None:
    """向银行推送白名单文件并记录 / Write one file per bank and log each push.

    A push makes firms visible to a bank: it is a person's act (``--who``, a gov_admin as on
    the web), each push and its audit record committed together.
    """
    from kejin.access.acting import acting
    from kejin.console import console, get_engine, progress
    from kejin.whitelist import routes as _rules  # noqa: F401  (the whitelist's rules)
    from kejin.whitelist.service import push_by

    engine = get_engine()
    with acting(engine, who) as (s, p), progress(json) as bar:
        task = bar.add_task("推送 / pushing", total=None)

        def tick(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        log = push_by(s, engine, p, institution, format, out_dir, version, tick)
    if json:
        print_json(log)
        return
    for r in log:
        console.print(
            f"推送 push {r['push']}: v{r['version']} → {r['institution']} {r['rows']} 家 firms {r['file']} sha256 {r['sha256'][:16]}…"
        )


@whitelist_app.command("log")
def log_cmd(json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output")) -> None:
    """推送记录 / The push log."""
    from kejin.console import console, get_engine
    from kejin.whitelist.service import push_log

    rows = push_log(get_engine())
    if json:
        print_json(rows)
        return
    from rich.table import Table

    t = Table(
        "推送 push",
        "版本 version",
        "机构 institution",
        "时间 time",
        "推送人 who",
        "行数 rows",
        "sha256",
    )
    for r in rows:
        t.add_row(
            str(r["push"]),
            str(r["version"]),
            r["institution"],
            str(r["pushed_at"]),
            r["pushed_by"],
            str(r["rows"]),
            r["sha256"][:16] + "…",
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(whitelist_app, name="whitelist")
