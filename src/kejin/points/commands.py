"""``kejin points …``: official evaluations, scoring runs, profiles and sensitivity (thin layer)."""

from __future__ import annotations

from pathlib import Path

import typer

from kejin.console import err_console, print_json

points_app = typer.Typer(
    help="创新积分与官方评价 / innovation points and official evaluations", no_args_is_help=True
)


@points_app.command("official")
def official(
    scheme: str = typer.Option(..., "--scheme", help="tsme | innovative-sme"),
    input: Path = typer.Option(..., "--input", help="输入 CSV/XLSX / input file"),
    out: Path = typer.Option(..., "--out", help="输出 CSV/XLSX / output file"),
    json: bool = typer.Option(False, "--json", help="JSON 摘要 / print a JSON summary"),
    engine_name: str = typer.Option(
        "local", "--engine", help="local（本机）或 spark / local or spark"
    ),
    master: str | None = typer.Option(
        None, "--master", help="Spark master（默认 local[2]）/ Spark master (default local[2])"
    ),
) -> None:
    """官方评价（科技型/创新型中小企业）/ Evaluate a spreadsheet under an official scheme
    (``--engine spark``: the same kernel, partition by partition on Spark)."""
    from kejin.points.official.batch import evaluate_file

    if engine_name not in ("local", "spark"):
        raise typer.BadParameter("--engine: local | spark")
    summary = evaluate_file(scheme, input, out, engine_name, master)
    if json:
        print_json(summary)
    else:
        err_console.print(
            f"{summary['firms']} 家企业，{summary['passed']} 家通过 / {summary['firms']} firms, "
            f"{summary['passed']} passed → {summary['output']}"
        )


@points_app.command("score")
def score(
    system: str = typer.Option("most-v1", "--system", help="指标体系 / system id or YAML path"),
    year: int | None = typer.Option(None, "--year", help="数据年度 / data year (default latest)"),
    peer: str | None = typer.Option(
        None, "--peer", help="同业组附加维度 / none|chain|revenue_band"
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
    master: str | None = typer.Option(
        None, "--master", help="Spark master（默认 local[2]）/ Spark master (default local[2])"
    ),
) -> None:
    """按指标体系为全部企业评分并保存 / Score every firm and store the run.

    A batch run, no one's decision: recorded as the ``system`` principal, the run and its audit
    record committed together. ``--engine spark`` scores a snapshot on Spark with the same
    kernels (docs/scale.md) and stores the run the same way."""
    from kejin.access.acting import system_event
    from kejin.console import get_engine, progress
    from kejin.db import transaction
    from kejin.heap import keep_large_blocks
    from kejin.scale.commands import check_engine

    check_engine(engine_name, snapshot)
    keep_large_blocks()  # a batch process: large per-row arrays reuse the heap (kejin.heap)
    engine = get_engine()
    with progress(json) as bar, transaction(engine) as s:
        bar.add_task(f"评分 / scoring {system}", total=None)
        if snapshot is not None:
            from kejin.points.scale import score_run_on_spark

            result = score_run_on_spark(engine, snapshot, system, year, peer, master, session=s)
        else:
            from kejin.points.service import score_run

            result = score_run(engine, system, year, peer, session=s)
        keep = ("system", "version", "year", "firms", "results_sha256")
        system_event(
            s, "points.score", "score_run", result["run_id"],
            {**{k: result.get(k) for k in keep}, "engine": engine_name},
        )  # fmt: skip
    if json:
        print_json(result)
        return
    from rich.table import Table

    from kejin.console import console

    console.print(
        f"评分批次 / run {result['run_id']}: {result['system']} v{result['version']}, "
        f"{result['firms']} 家企业 / firms, 结果哈希 / results sha256 {result['results_sha256'][:16]}…"
    )
    console.print(
        f"名单 / lists: {result['lists']}  创新积分等级 / innovation grades: {result['grades']}"
    )
    from kejin.console import id_column, text_column

    t = Table()
    t.add_column("区域排名 rank", no_wrap=True)
    id_column(t, "统一社会信用代码 USCC")
    text_column(t, "同业组 peer group")
    t.add_column("积分 points", no_wrap=True, justify="right")
    t.add_column("创新积分等级 innovation grade", no_wrap=True)
    text_column(t, "名单 list")
    for r in result["top"]:
        t.add_row(
            str(r["rank_region"]),
            r["uscc"],
            r["peer_group"],
            f"{r['total']:.2f}",
            r["grade"],
            r["list_id"] or "",
        )
    console.print(t)


@points_app.command("explain")
def explain_cmd(
    uscc: str = typer.Argument(..., help="统一社会信用代码 / USCC"),
    system: str | None = typer.Option(
        None, "--system", help="指标体系 / system (default: latest run)"
    ),
    chart_dir: Path = typer.Option(
        Path("profiles"), "--chart-dir", help="雷达图目录 / radar chart directory"
    ),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
) -> None:
    """企业精准画像 / Profile a firm: contributions, peer percentiles, what would raise it most."""
    from kejin.console import console, get_engine
    from kejin.points.profile import explain, radar_chart

    profile = explain(get_engine(), uscc, system)
    charts = radar_chart(profile, chart_dir)
    profile["charts"] = [str(p) for p in charts]
    if json:
        print_json(profile)
        return
    from rich.table import Table

    from kejin.points.labels import list_name, peer_name, target_name
    from kejin.points.system import load_system

    spec = load_system(profile["system"]).system
    console.print(
        f"[bold]{profile['uscc']}[/] {spec.zh} / {spec.en} v{profile['version']} (run {profile['run_id']}, {profile['year']}): "
        f"积分 points {profile['total']:.2f} (基础 base {profile['base']:.2f} + 加分 bonus {profile['bonus']:.2f}), "
        f"创新积分等级 innovation grade {profile['grade']}, 名单 list {list_name(spec, profile['list_id'], 'zh')}"
    )
    console.print(
        f"同业组 peer group {peer_name(profile['peer_group'], 'zh')} / {peer_name(profile['peer_group'], 'en')}: "
        f"排名 rank {profile['rank_group']}/{profile['group_size']} "
        f"(百分位 percentile {profile['pct_group']:.3f}); 区域 region rank {profile['rank_region']}"
    )
    t = Table(
        "指标 indicator",
        "值 value",
        "同业百分位 peer pct",
        "得分 score",
        "贡献/权重 contrib/weight",
        "缺失 missing",
    )
    for i in profile["indicators"]:
        raw = _num(i["raw"])
        pp = "—" if i["peer_percentile"] is None else f"{i['peer_percentile']:.2f}"
        t.add_row(
            i["zh"],
            raw,
            pp,
            f"{i['score']:.3f}",
            f"{i['contribution']:.2f}/{i['weight']:g}",
            "是" if i["missing"] else "",
        )
    console.print(t)
    name = {i["id"]: i["zh"] for i in profile["indicators"]}
    console.print("优势 strengths: " + "、".join(name[i] for i in profile["strengths"]))
    console.print("短板 weaknesses: " + "、".join(name[i] for i in profile["weaknesses"]))
    console.print("缺失 missing: " + ("、".join(name[i] for i in profile["missing"]) or "无 none"))
    for target in profile["targets"]:
        rows = [r for r in profile["improvements"] if r["target"] == target["id"]][:5]
        console.print(
            f"达到 {target_name(spec, target['id'], 'zh')} / to reach "
            f"{target_name(spec, target['id'], 'en')}: 需总分 total ≥ "
            f"{target['total_needed']:.2f}，最小单项改进 / smallest single changes:"
        )
        for r in rows:
            cur = _num(r["current"])
            console.print(
                f"  {r['zh']}: {cur} → {_num(r['needed'])} (超越同业 +{r['score_gain'] * 100:.1f} 个百分点)"
            )
        if not rows:
            console.print("  单项指标无法达到 / no single indicator reaches it")
    steps = Table(
        "指标 indicator", "当前 now", "需达到 needed", "可增加积分 points gained",
        "单独即可达到 reaches on its own", title="如何提升 / how to improve",
    )  # fmt: skip
    for r in profile["steps"]:
        reaches = [
            f"{target_name(spec, x, 'zh')} {target_name(spec, x, 'en')}" for x in r["reaches"]
        ]
        steps.add_row(
            f"{r['zh']} {r['en']}",
            _num(r["current"]),
            _num(r["needed"]),
            f"+{r['points_gained']:.2f}",
            "；".join(reaches) or "—",
        )
    console.print(steps)
    console.print("雷达图 radar: " + ", ".join(profile["charts"]))


@points_app.command("sensitivity")
def sensitivity_cmd(
    system: str = typer.Option("most-v1", "--system", help="指标体系 / system"),
    draws: int = typer.Option(200, "--draws", help="抽样次数 / Monte Carlo draws"),
    seed: int = typer.Option(20241, "--seed", help="随机种子 / seed"),
    concentration: float = typer.Option(
        100.0, "--concentration", help="Dirichlet 集中度 / concentration"
    ),
    year: int | None = typer.Option(None, "--year", help="数据年度 / data year"),
    json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
) -> None:
    """权重与归一化敏感性分析 / Rank intervals and list stability under uncertain weights."""
    from kejin.console import console, get_engine
    from kejin.points.sensitivity import sensitivity

    rep = sensitivity(get_engine(), system, draws, seed, concentration=concentration, year=year)
    if json:
        print_json(rep)
        return
    from rich.table import Table

    console.print(
        f"{rep['system']} v{rep['version']} {rep['year']}: {rep['draws']} 次抽样 draws (seed {rep['seed']}, "
        f"concentration {rep['concentration']:g}); 归一化 normalisations {rep['normalisations_drawn']}"
    )
    t = Table(
        "名单 list",
        "成员 members",
        f"≥{rep['stable_threshold']:.0%} 次留在名单 stable",
        "稳定比例 share",
    )
    for lid, v in rep["lists"].items():
        share = "—" if v["stable_share"] is None else f"{v['stable_share']:.1%}"
        t.add_row(lid, str(v["members"]), str(v["stable_members"]), share)
    console.print(t)
    f = Table("排名 rank", "USCC", "5%–95% 排名区间 rank interval", "名单 list", "留在名单 in list")
    for r in rep["firms"][:15]:
        f.add_row(
            str(r["rank"]),
            r["uscc"],
            f"{r['rank_p5']}–{r['rank_p95']}",
            r["list_id"] or "",
            f"{r['list_share']:.0%}",
        )
    console.print(f)
    console.print(f"排名区间宽度中位数 / median interval width: {rep['median_interval_width']:.0f}")


def _num(x: float | None) -> str:
    """Readable figures for officers: thousands separators for amounts, not 1.567e+07."""
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def register(app: typer.Typer) -> None:
    app.add_typer(points_app, name="points")
