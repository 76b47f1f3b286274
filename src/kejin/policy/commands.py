"""``kejin policy …``: the library, evaluation from files, trace, precise push, simulation, workflow.

Thin: parse, call the engine or the service, print. ``--json`` gives machine-readable output.
Every workflow step acts as the platform user ``--who`` names (``--by`` is kept as an alias),
through the same operation as the web (:mod:`kejin.policy.operations`): the same permission, the
same maker-checker on these users and the same audit record, in the step's own transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.table import Table

from kejin.access.acting import acting, who_option
from kejin.console import console, err_console, get_engine, print_json, progress
from kejin.db import transaction
from kejin.errors import Problem, ValidationError, parse_date
from kejin.ids import normalize_uscc
from kejin.policy.operations import application_view, programme_view

policy_app = typer.Typer(help="政策引擎 / rules-as-code policy engine", no_args_is_help=True)

AS_OF = typer.Option(
    None, "--as-of", help="按此日已公布的参数计算 / parameters as known on DATE (YYYY-MM-DD)"
)
JSON = typer.Option(False, "--json", help="输出JSON / JSON output")
BY = who_option("操作人（平台用户名）/ acting person (platform username)", "--by")


def _date(text: str | None, field: str = "as_of") -> date | None:
    return None if text is None else parse_date(text, field)


def _overrides(sets: list[str]) -> dict[str, Decimal]:
    """``NAME=VALUE`` pairs as exact decimals (``0.3`` is 0.3, not a binary float)."""
    out = {}
    for item in sets:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = Decimal(value.strip())
            if not out[name.strip()].is_finite():
                raise ValueError
        except (ValueError, InvalidOperation):
            raise ValidationError(
                "--set 应为 NAME=VALUE",
                "--set takes NAME=VALUE",
                [Problem("格式错误", "bad format", field="--set", value=item)],
            ) from None
    return out


ENGINE = typer.Option("local", "--engine", help="local（本机）或 spark / local or spark")
MASTER = typer.Option(
    None, "--master", help="Spark master（默认 local[2]）/ Spark master (default local[2])"
)


def _engine(name: str) -> None:
    if name not in ("local", "spark"):
        raise typer.BadParameter("--engine: local | spark")


def _frame_for(policy_id: str, input_file: Path | None, uscc: str | None = None) -> pl.DataFrame:
    from kejin.policy import library
    from kejin.policy.entities import REGISTRY_ENTITIES, registry_frames
    from kejin.policy.files import read_input

    policy = library.get(policy_id)
    if input_file is not None:
        return read_input(policy, input_file)
    if policy.entity not in REGISTRY_ENTITIES:
        raise ValidationError(
            f"登记库没有{policy.entity}数据，请用 --input 提供",
            f"the registry holds no {policy.entity} data; give --input FILE",
            [
                Problem(
                    "需要输入文件", "an input file is needed", field="--input", value=policy.entity
                )
            ],
        )
    return registry_frames(get_engine(), uscc)[policy.entity]


@policy_app.command("list")
def list_policies(
    json_out: bool = JSON,
    templates: bool = typer.Option(
        False,
        "--templates",
        help="列出政策库模板（区域据以改编） / the library's templates (what a region adapts)",
    ),
) -> None:
    """列出本区域政策 / The active policies (the region's) with document, inputs and parameters."""
    from kejin.policy import library

    items = []
    for p in library.templates() if templates else library.all_policies():
        items.append(
            {
                "id": p.id,
                "title_zh": p.title_zh,
                "title_en": p.title_en,
                "issuer": p.issuer,
                "document": p.document,
                "articles": list(p.articles),
                "valid_from": p.valid_from,
                "valid_to": p.valid_to,
                "entity": p.entity,
                "inputs": [
                    {"name": i.name, "zh": i.zh, "en": i.en, "type": str(i.dtype)} for i in p.inputs
                ],
                "parameters": {
                    n: {
                        "unit": q.unit,
                        "description": q.description,
                        "reference": f"{q.document} {q.article}",
                        "values": [v.to_dict() for v in q.values],
                    }
                    for n, q in p.params.items()
                },
            }
        )
    if json_out:
        print_json(items)
        return
    t = Table(title="政策库 / policy library")
    for c in (
        "id",
        "政策 / policy",
        "文件·条款 / document",
        "对象 / entity",
        "输入列 / inputs",
        "参数 / parameters",
    ):
        t.add_column(c)
    for it in items:
        params = ", ".join(
            f"{n}={q['values'][-1]['value']} {q['unit']}" for n, q in it["parameters"].items()
        )
        t.add_row(
            it["id"],
            it["title_zh"],
            f"{it['document']} {' '.join(it['articles'])}",
            it["entity"],
            ", ".join(i["name"] for i in it["inputs"]),
            params,
        )
    console.print(t)


@policy_app.command("eval")
def eval_file(
    policy_id: str = typer.Argument(..., help="政策编号 / policy id"),
    input_file: Path = typer.Option(..., "--input", help="CSV或XLSX输入 / input file"),
    out: Path = typer.Option(..., "--out", help="输出CSV或XLSX / output file"),
    as_of: str | None = AS_OF,
    sets: list[str] = typer.Option([], "--set", help="改革参数 NAME=VALUE / reform parameter"),
    engine_name: str = ENGINE,
    master: str | None = MASTER,
) -> None:
    """按文件批量测算 / Evaluate a policy over a file; adds eligible, amount, reason_zh, reason_en.
    ``--engine spark``: the same kernel on Spark, a bucket of firms per task; the file is
    written only once every row is back."""
    from kejin.policy import library
    from kejin.policy.engine import evaluate, money, with_reasons
    from kejin.policy.files import read_input, write_output

    _engine(engine_name)
    policy = library.get(policy_id)
    frame = read_input(policy, input_file)
    if engine_name == "spark":
        from kejin.policy.scale import evaluate_on_spark

        result = evaluate_on_spark(
            policy, frame, as_of=_date(as_of), overrides=_overrides(sets),
            file=str(input_file), master=master,
        )  # fmt: skip
    else:
        result, _ = evaluate(
            policy, frame, as_of=_date(as_of), overrides=_overrides(sets), file=str(input_file)
        )
    result = with_reasons(policy, result)
    write_output(
        money(result.select(*frame.columns, "eligible", "amount", "reason_zh", "reason_en")), out
    )
    n = int(result["eligible"].sum())
    err_console.print(
        f"{result.height}行，符合{n}行，金额合计{result['amount'].sum()}元 → {out} / {result.height} rows, {n} eligible"
    )


@policy_app.command("trace")
def trace_cmd(
    policy_id: str = typer.Argument(..., help="政策编号 / policy id"),
    entity: str = typer.Option(
        ..., "--entity", help="对象键，如 合同号/年度 / entity key, e.g. CONTRACT/YEAR"
    ),
    input_file: Path | None = typer.Option(
        None, "--input", help="输入文件（默认读登记库） / input file (default: registry)"
    ),
    as_of: str | None = AS_OF,
    sets: list[str] = typer.Option([], "--set", help="改革参数 / reform parameter NAME=VALUE"),
    json_out: bool = JSON,
) -> None:
    """解释一个结果 / Explain one result: conditions, parameters (and the dates that chose them), amounts, articles."""
    from kejin.policy import library
    from kejin.policy.entities import REGISTRY_ENTITIES, registry_frames
    from kejin.policy.simulate import evaluate_all, rows_for_year
    from kejin.policy.trace import trace

    policy = library.get(policy_id)
    frame = _frame_for(policy_id, input_file)
    stacked = None
    if input_file is None and policy.entity in REGISTRY_ENTITIES:
        _, stacked = evaluate_all(
            library.all_policies(), registry_frames(get_engine()), as_of=_date(as_of)
        )
    items = trace(
        policy,
        rows_for_year(policy, frame, None),
        entity,
        as_of=_date(as_of),
        overrides=_overrides(sets),
        set_aside=stacked,
    )
    if json_out:
        print_json(items)
        return
    for it in items:
        console.rule(f"{it['title_zh']} · {it['entity']} · {it['document']}")
        console.print(
            "输入 / inputs: " + ", ".join(f"{k}={v}" for k, v in it["inputs"].items()),
            highlight=False,
        )
        t = Table(title="参数 / parameters")
        for c in (
            "参数",
            "值 value",
            "单位",
            "选取依据 selected by",
            "生效 in force",
            "公布 published",
            "条款 article",
        ):
            t.add_column(c)
        for p in it["parameters"]:
            t.add_row(
                p["name"],
                str(p["value"]),
                p["unit"],
                p["selected_by"],
                f"{p.get('in_force_from', '')}–{p.get('in_force_until') or ''}",
                str(p.get("published", "")),
                f"{p['document']} {p['article']}",
            )
        console.print(t)
        s = Table(title="步骤 / steps")
        for c in ("步骤 step", "含义", "值 value", "结果 outcome", "条款 article"):
            s.add_column(c)
        for st in it["steps"]:
            s.add_row(st["name"], st["zh"], str(st["value"]), st.get("outcome", ""), st["article"])
        console.print(s)
        for p in it["parameters"]:
            if p["reading"]:
                console.print(f"解读选择 reading · {p['name']} = {p['value']}: {p['description']}")
        console.print(f"[bold]符合 eligible: {it['eligible']} · 金额 amount: {it['amount']} 元")
        console.print(f"舍入 rounding: {it['rounding_zh']} / {it['rounding_en']}")
        for st in it.get("stacking", []):
            if not st["kept"]:
                console.print(
                    f"从优、就高、不重复：{st['cost_item']} 由「{_policy_title(st['set_aside_by'])}」支付，"
                    "本项不予叠加 / set aside"
                )


def _policy_title(policy_id: str) -> str:
    """A policy by its title (its id is a code no reader knows)."""
    from kejin.policy import library

    return library.get(policy_id).title_zh


@policy_app.command("matches")
def matches_cmd(
    uscc: str = typer.Option(..., "--uscc", help="统一社会信用代码 / USCC"),
    as_of: str | None = AS_OF,
    json_out: bool = JSON,
) -> None:
    """政策精准推送 / Every policy a firm qualifies for, with estimated amounts and why."""
    from kejin.policy import library
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import matches

    code = normalize_uscc(uscc)
    frames = registry_frames(get_engine(), code)
    if frames["firm"].height == 0:
        from kejin.errors import NotFoundError

        raise NotFoundError(
            f"登记库中没有企业{code}",
            f"no firm {code} in the registry",
            [Problem("未找到", "not found", field="uscc", value=code)],
        )
    out = matches(library.all_policies(), frames, as_of=_date(as_of))
    out["uscc"] = code
    out["name"] = frames["firm"]["name"][0]
    if json_out:
        print_json(out)
        return
    t = Table(title=f"{out['name']}（{code}）可享政策 / matching policies")
    for c in ("政策 policy", "对象 entity", "状态 status", "金额 amount", "原因 why"):
        t.add_column(c)
    for m in out["matches"]:
        if m["status"] == "needs_data":
            t.add_row(
                m["title_zh"],
                m["entity"],
                "需提交数据 needs data",
                "",
                "输入列: " + ", ".join(m["inputs"]),
            )
        elif m["status"] != "not_eligible":
            why = (
                m["reason_zh"]
                if m["status"] == "eligible"
                else f"从优就高：由「{_policy_title(m['set_aside_by'])}」支付"
            )
            status = "符合 eligible" if m["status"] == "eligible" else "不予叠加 set aside"
            t.add_row(m["title_zh"], m["entity"], status, str(m["amount"]), why)
    console.print(t)


@policy_app.command("notify")
def notify_cmd(
    policy_id: str = typer.Argument(..., help="政策编号 / policy id"),
    out: Path = typer.Option(..., "--out", help="Excel输出 / .xlsx file"),
    year: int | None = typer.Option(
        None, "--year", help="年度（默认最近） / year (default: latest)"
    ),
    as_of: str | None = AS_OF,
) -> None:
    """待通知企业清单 / The firms to notify, with amounts and reasons, as Excel."""
    from kejin.policy import library
    from kejin.policy.engine import evaluate, money, with_reasons
    from kejin.policy.entities import registry_frames
    from kejin.policy.files import write_xlsx
    from kejin.policy.simulate import latest_year, rows_for_year

    policy = library.get(policy_id)
    frames = registry_frames(get_engine())
    if policy.entity not in frames:
        raise ValidationError(
            f"登记库没有{policy.entity}数据",
            f"the registry holds no {policy.entity} data",
            [
                Problem(
                    "请用eval按文件测算", "use eval with a file", field="policy", value=policy_id
                )
            ],
        )
    frame = frames[policy.entity]
    y = year or latest_year(policy, frame)
    res, _ = evaluate(policy, rows_for_year(policy, frame, y), as_of=_date(as_of))
    res = money(with_reasons(policy, res).filter(pl.col("eligible") & (pl.col("amount") > 0)))
    res = res.join(frames["firm"].select("uscc", "name", "region_code"), on="uscc", how="left")
    keycols = [k for k in policy.key if k != "uscc"]
    sheet = res.select(
        "uscc", "name", "region_code", *keycols, "amount", "reason_zh", "reason_en"
    ).sort("amount", descending=True)
    sheet = sheet.rename(
        {
            "uscc": "统一社会信用代码",
            "name": "企业名称",
            "region_code": "行政区划",
            "amount": "预计金额（元）",
            "reason_zh": "依据",
            "reason_en": "basis",
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_xlsx(sheet, out, sheet=policy_id[:30])
    err_console.print(f"{sheet.height}家/条待通知，合计{res['amount'].sum()}元（{y}年）→ {out}")


@policy_app.command("simulate")
def simulate_cmd(
    policy_id: str = typer.Argument(..., help="政策编号 / policy id"),
    sets: list[str] = typer.Option(..., "--set", help="改革参数 NAME=VALUE / reform parameter"),
    year: int | None = typer.Option(
        None, "--year", help="年度（默认最近） / year (default: latest)"
    ),
    out: Path = typer.Option(Path("out/policy"), "--out", help="图表目录 / chart directory"),
    input_file: Path | None = typer.Option(
        None, "--input", help="输入文件（默认登记库） / input file"
    ),
    as_of: str | None = AS_OF,
    json_out: bool = JSON,
    engine_name: str = ENGINE,
    master: str | None = MASTER,
) -> None:
    """微观模拟 / Baseline vs reform: fiscal cost, beneficiaries, distribution; table and PNG chart.
    ``--engine spark``: both runs evaluated on Spark by the same kernel."""
    from kejin.policy import library
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import chart, latest_year, simulate

    policy = library.get(policy_id)
    frame = _frame_for(policy_id, input_file)
    firms = (
        registry_frames(get_engine())["firm"]
        if input_file is None
        else pl.DataFrame(schema={"uscc": pl.String})
    )
    y = year or latest_year(policy, frame)
    _engine(engine_name)
    sim = simulate(
        policy, frame, firms, _overrides(sets), year=y, as_of=_date(as_of), master=master,
        engine=engine_name,
    )  # fmt: skip
    png = chart(sim, out / f"simulate_{policy_id}_{y}.png")
    if json_out:
        print_json(
            {
                "policy": policy_id,
                "year": y,
                "overrides": sim.overrides,
                **sim.totals,
                "chart": str(png),
                "by": {k: v.to_dicts() for k, v in sim.by.items()},
            }
        )
        return
    t = Table(title=f"{policy.title_zh} {y}：基线 vs 改革 / baseline vs reform ({', '.join(sets)})")
    for c in ("", "基线 baseline", "改革 reform", "差额 delta"):
        t.add_column(c, justify="right")
    tt = sim.totals
    t.add_row(
        "财政成本 fiscal cost",
        f"{tt['baseline_cost']:,.2f}",
        f"{tt['reform_cost']:,.2f}",
        f"{tt['delta_cost']:,.2f}",
    )
    t.add_row(
        "受益主体 beneficiaries",
        str(tt["baseline_beneficiaries"]),
        str(tt["reform_beneficiaries"]),
        str(int(tt["reform_beneficiaries"]) - int(tt["baseline_beneficiaries"])),
    )
    console.print(t)
    for dim, g in sim.by.items():
        d = Table(title=f"按 {dim}")
        for c in (dim, "基线成本", "改革成本", "差额", "受益(改革)"):
            d.add_column(c, justify="right")
        for r in g.iter_rows(named=True):
            d.add_row(
                str(r[dim]),
                f"{r['cost_baseline']:,.0f}",
                f"{r['cost_reform']:,.0f}",
                f"{r['cost_delta']:,.0f}",
                str(r["beneficiaries_reform"]),
            )
        console.print(d)
    err_console.print(f"图表 / chart: {png}")


def _show(obj: Any, json_out: bool) -> None:
    if json_out:
        print_json(obj)
    else:
        console.print(obj)


def _acting(who: str | None, action: str, target: Any = None) -> Any:
    """A workflow step's unit of work as ``--who``, permitted as the route permits it."""
    from kejin.policy import routes as _rules  # noqa: F401  (registers the policy's rules)

    return acting(get_engine(), who, action, target)


@policy_app.command("create")
def create_cmd(
    policy_id: str = typer.Argument(..., help="政策编号 / policy id"),
    year: int = typer.Option(..., "--year", help="预算年度 / budget year"),
    budget: str = typer.Option(..., "--budget", help="年度预算（元） / budget (CNY)"),
    allocation: str = typer.Option("fcfs", "--allocation", help="fcfs | pro_rata"),
    by: str = BY,
    json_out: bool = JSON,
) -> None:
    """新建项目（草稿） / Create a draft programme with a yearly budget."""
    from kejin.policy import operations as ops

    with _acting(by, "policy.create") as (s, p):
        out = ops.create(s, p, policy_id=policy_id, year=year, budget=budget, allocation=allocation)
    _show(out, json_out)


@policy_app.command("publish")
def publish_cmd(
    programme: str = typer.Argument(...),
    by: str = BY,
    as_of: str | None = AS_OF,
    json_out: bool = JSON,
) -> None:
    """发布项目（须另一人审批） / Publish a programme (checker ≠ maker)."""
    from kejin.policy import operations as ops

    with _acting(by, "policy.publish") as (s, p):
        out = ops.publish(s, p, programme, _date(as_of))
    _show(out, json_out)


@policy_app.command("apply")
def apply_cmd(
    programme: str = typer.Argument(...),
    uscc: str = typer.Option(..., "--uscc", help="申请企业 / the applying firm"),
    entity: str | None = typer.Option(None, "--entity", help="只申请此对象 / only this entity"),
    input_file: Path | None = typer.Option(
        None, "--input", help="该企业对象的输入文件 / input file of the firm's entities"
    ),
    by: str = BY,
    json_out: bool = JSON,
) -> None:
    """申请 / Apply as the firm's own user, for its eligible entities (registry) or for its rows
    of a file (policies whose data the registry does not hold)."""
    from kejin.access import service as access
    from kejin.access.rules import authorize
    from kejin.policy import library, service
    from kejin.policy import operations as ops
    from kejin.policy.simulate import rows_for_year
    from kejin.policy.trace import entity_filter

    code = normalize_uscc(uscc)
    with _acting(by, "policy.apply", code) as (s, p):
        if input_file is None:
            out = ops.apply(s, get_engine(), p, code, programme, entity)
        else:
            authorize(s, p, "policy.apply", code)
            prog = service.get_programme(s, programme)
            policy = library.get(prog.policy_id)
            frame = rows_for_year(policy, _frame_for(prog.policy_id, input_file), prog.year)
            frame = frame.filter(pl.col(policy.firm_column).cast(pl.String) == code)
            if entity:
                frame = frame.filter(entity_filter(policy, entity))
            if frame.height == 0:
                raise ValidationError(
                    "没有可申请的对象",
                    "nothing eligible to apply for",
                    [
                        Problem(
                            "文件中没有本企业的对象",
                            "no entity of this firm in the file",
                            field="entity",
                            value=entity or code,
                        )
                    ],
                )
            out = [application_view(a) for a in service.apply(s, programme, frame, by=p.username)]
            for a in out:
                access.log(
                    s,
                    p,
                    "policy.apply",
                    "application",
                    a["id"],
                    after={k: a[k] for k in ("programme", "firm", "entity", "state", "claimed")},
                )
    _show(out, json_out)


@policy_app.command("review")
def review_cmd(
    application: int = typer.Argument(...),
    by: str = BY,
    reject: bool = typer.Option(False, "--reject"),
    note: str | None = typer.Option(None, "--note"),
    json_out: bool = JSON,
) -> None:
    """审核（经办） / Review an application (the maker)."""
    from kejin.policy import operations as ops

    with _acting(by, "policy.review") as (s, p):
        out = ops.review(s, p, application, accept=not reject, note=note)
    _show(out, json_out)


@policy_app.command("approve")
def approve_cmd(programme: str = typer.Argument(...), by: str = BY, json_out: bool = JSON) -> None:
    """审批并占用预算（复核） / Approve reviewed applications, reserving budget (checker ≠ reviewer)."""
    from kejin.policy import operations as ops

    with _acting(by, "policy.approve") as (s, p):
        out = ops.approve(s, p, programme)
    _show(out, json_out)


@policy_app.command("pay")
def pay_cmd(
    application: int = typer.Argument(...),
    key: str = typer.Option(..., "--key", help="幂等键 / idempotency key"),
    by: str = BY,
    json_out: bool = JSON,
) -> None:
    """支付 / Pay an approved application once (idempotent by key)."""
    from kejin.policy import operations as ops

    with _acting(by, "policy.pay") as (s, p):
        pm = ops.pay(s, p, application, key)
    _show(
        {
            "payment": pm["id"],
            "application": pm["application"],
            "amount": pm["amount"],
            "key": pm["idempotency_key"],
            "paid_at": pm["paid_at"],
        },
        json_out,
    )


@policy_app.command("correct")
def correct_cmd(
    programme: str = typer.Argument(...),
    as_of: str = typer.Option(
        ..., "--as-of", help="按此日已公布的参数重算 / recompute as known on DATE"
    ),
    record: bool = typer.Option(
        False, "--apply", help="记录补发/追回 / record the top-ups and claw-backs"
    ),
    key_prefix: str | None = typer.Option(
        None, "--key-prefix", help="幂等键前缀 / idempotency key prefix"
    ),
    by: str | None = who_option(
        "操作人（记录时必填）/ acting person (needed with --apply)", "--by"
    ),
    json_out: bool = JSON,
) -> None:
    """追溯更正 / Per-beneficiary top-up or claw-back after a parameter revision."""
    from kejin.policy import operations as ops
    from kejin.policy import service

    day = _date(as_of)
    assert day is not None
    if not record:
        with transaction(get_engine()) as s:
            _show(service.corrections(s, programme, as_of=day), json_out)
        return
    if not key_prefix:
        raise ValidationError(
            "--apply 需要 --key-prefix",
            "--apply needs --key-prefix",
            [Problem("缺少幂等键前缀", "no key prefix", field="--key-prefix")],
        )
    with _acting(by, "policy.correct") as (s, p):
        pays = ops.record_corrections(s, p, programme, day, key_prefix)
    _show(
        [
            {
                "payment": x["id"],
                "application": x["application"],
                "kind": x["kind"],
                "amount": x["amount"],
                "key": x["idempotency_key"],
            }
            for x in pays
        ],
        json_out,
    )


@policy_app.command("status")
def status_cmd(programme: str = typer.Argument(...), json_out: bool = JSON) -> None:
    """项目预算与申请 / A programme's budget, reservations and applications."""
    from sqlalchemy import select

    from kejin.policy.service import get_programme
    from kejin.policy.tables import Application

    with transaction(get_engine()) as s:
        p = get_programme(s, programme)
        apps = [
            application_view(a)
            for a in s.scalars(
                select(Application)
                .where(Application.programme_id == programme)
                .order_by(Application.id)
            )
        ]
        _show({**programme_view(p), "applications": apps}, json_out)


#: Applications the demo files per programme, largest amounts first: four are reviewed and
#: approved (three of them paid, one awaiting payment), the last two await review — so the policy centre
#: opens with work in every state and the dashboard shows budget in use.
DEMO_APPLICATIONS = 6


def _demo_applications(
    s: Any, policy: Any, programme_id: str, rows: pl.DataFrame, maker: Any, checker: Any
) -> None:
    """The largest eligible applications, walked through the workflow. The applicants are the
    region's firms replayed (no one's act on the platform: ``system``, marked simulated); the
    review, approval and payments are the officers' own acts through the web's operations."""
    from kejin.access.acting import system_event
    from kejin.access.rules import authorize
    from kejin.policy import operations as ops
    from kejin.policy import service
    from kejin.policy.engine import evaluate

    prog = service.get_programme(s, programme_id)
    res, _ = evaluate(policy, rows, as_of=prog.params_as_of)
    ok = (res["eligible"] & (res["amount"] > 0)).to_list()
    top = (
        rows.with_columns(pl.Series("_amount", res["amount"].to_list()))
        .filter(pl.Series(ok))
        .sort("_amount", descending=True)
        .head(DEMO_APPLICATIONS)
        .drop("_amount")
    )
    apps = []
    for i in range(top.height):
        a = service.apply(s, programme_id, top[i : i + 1], by="system")[0]
        view = application_view(a)
        after = {k: view[k] for k in ("programme", "firm", "entity", "state", "claimed")}
        system_event(
            s, "policy.apply", "application", a.id, {"simulated": "policy demo"}, after=after
        )
        apps.append(a)
    for a in apps[:4]:
        authorize(s, maker, "policy.review")
        ops.review(s, maker, a.id, accept=True, note=None)
    authorize(s, checker, "policy.approve")
    decided = ops.approve(s, checker, programme_id)
    # Approval may still refuse one (a cost another programme already covers: stacking).
    for a in [a for a in decided if a["state"] == "approved"][:3]:
        authorize(s, maker, "policy.pay")
        ops.pay(s, maker, a["id"], f"demo:{programme_id}:{a['id']}")


@policy_app.command("demo")
def demo_cmd(
    year: int | None = typer.Option(
        None, "--year", help="年度（默认上一完整年度） / year (default: the last complete one)"
    ),
    maker: str = who_option(
        "经办人（平台用户名）：建项目、审核、支付 / maker: creates, reviews, pays", "--maker"
    ),
    checker: str = typer.Option(
        None, "--checker", help="复核人（另一人）：发布、审批 / checker: publishes, approves"
    ),
) -> None:
    """演示：在登记库上发布本区域政策并测算 / Publish the region's computable policies, show costs.

    The officers act as on the web: ``--who`` (a gov_admin) creates each programme, reviews and
    pays; ``--checker`` (a second government user) publishes and approves.
    """
    from kejin.access.acting import person
    from kejin.access.rules import authorize
    from kejin.policy import library
    from kejin.policy import operations as ops
    from kejin.policy import routes as _rules  # noqa: F401  (registers the policy's rules)
    from kejin.policy.entities import registry_frames
    from kejin.policy.operations import claim_year
    from kejin.policy.simulate import evaluate_all, rows_for_year
    from kejin.policy.tables import Programme

    engine = get_engine()
    with transaction(engine) as s:
        gov = person(s, maker, "policy.create")
        second = person(s, checker, "policy.publish", option="--checker")
    frames = registry_frames(engine)
    pols = [p for p in library.all_policies() if p.entity in frames]
    t = Table(title="本区域政策测算 / the region's policies over the registry")
    for c in (
        "政策 policy",
        "年度 year",
        "符合 eligible",
        "金额 amount",
        "从优就高后 after stacking",
        "项目 programme",
    ):
        t.add_column(c)
    by_year: dict[int, tuple[dict[str, pl.DataFrame], pl.DataFrame]] = {}

    def one(p: Any) -> None:
        """One policy: its cost over the registry, and its programme when anyone qualifies
        (created by the maker, published by the checker, in one audited transaction)."""
        # The year every programme pays for, by the rule the firm's page uses too.
        y = year or claim_year(date.today())
        if rows_for_year(p, frames[p.entity], y).height == 0:
            t.add_row(p.id, "-", "0", "0", "0", "无数据 / no rows in force")
            return
        if y not in by_year:
            by_year[y] = evaluate_all(pols, frames, year=y)
        results, stacked = by_year[y]
        res = results[p.id]
        kept = stacked.filter(pl.col("kept") & (pl.col("policy_id") == p.id))["amount"].sum()
        total = res["amount"].sum()
        if total <= 0:
            # A government publishes no programme that nobody qualifies for (it would show a
            # budget of 1.00 with nothing to spend it on).
            t.add_row(
                p.id, str(y), "0", "0", "0", "无符合企业，未建项目 / none eligible: not created"
            )
            return
        budget = Decimal(str(total)).quantize(Decimal("1")) + Decimal("1")
        with transaction(engine) as s:
            pid = f"{p.id}-{y}"
            if s.get(Programme, pid) is None:
                authorize(s, gov, "policy.create")
                ops.create(s, gov, policy_id=p.id, year=y, budget=str(budget), allocation="fcfs")
                authorize(s, second, "policy.publish")
                ops.publish(s, second, pid, date(y, 12, 31))
                _demo_applications(s, p, pid, rows_for_year(p, frames[p.entity], y), gov, second)
        t.add_row(
            p.id, str(y), str(int(res["eligible"].sum())), f"{total:,.2f}", f"{kept:,.2f}", pid
        )

    with progress() as bar:
        task = bar.add_task("政策演示 / policy demo", total=len(pols))
        for p in pols:
            bar.update(task, description=f"政策 / policy {p.id}")
            one(p)
            bar.advance(task)
    console.print(t)
    err_console.print(f"已发布 / published at {datetime.now():%Y-%m-%d %H:%M}")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
