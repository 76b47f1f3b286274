"""``kejin region``: which region the platform serves, and a check for a region file before use."""

from __future__ import annotations

from pathlib import Path

import typer

region_app = typer.Typer(help="区域配置 / the region's one configuration file (docs/region.md)")


def _print(region: object, file: str, as_json: bool) -> None:
    from rich.table import Table

    from kejin.console import console, print_json
    from kejin.regions import Region

    assert isinstance(region, Region)
    if as_json:
        print_json({"file": file, **region.model_dump(mode="json", by_alias=True)})
        return
    console.print(f"{region.name_zh} / {region.name_en} · 区划 {region.code} · {file}")
    t = Table(title="政策（改编自政策库模板）/ policies, adapted from library templates")
    for c in (
        "政策 policy",
        "模板 template",
        "区域设定的参数 the region's parameters",
        "沿用 kept",
    ):
        t.add_column(c, overflow="fold")
    for p in region.policies:
        t.add_row(
            f"{p.title_zh}\n{p.title_en}\n[dim]{p.id}[/]",
            p.template,
            ", ".join(f"{k}={v.value}" for k, v in p.params.items()),
            ", ".join(p.keeps) or "—",
        )
    console.print(t)
    f = region.fund
    console.print(f"资金池 / fund: {f.name_zh} / {f.name_en} ({f.id}; 模板 template {f.template})")


@region_app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """所服务的区域（KEJIN_REGION）/ The region served (KEJIN_REGION): name, policies, fund."""
    from kejin.config import get_settings
    from kejin.console import console
    from kejin.regions import current, region_path

    region = current()
    if region is None:
        console.print(
            "未配置区域：政策库全部模板生效 / no region configured: every template is active"
        )
        return
    _print(region, str(region_path(get_settings().region.strip())), as_json)


@region_app.command("check")
def check(
    file: Path = typer.Argument(..., help="区域配置文件 / a region file (.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 / print JSON"),
) -> None:
    """校验区域配置文件（不启用）/ Validate a region file without making it the active one."""
    from kejin.regions import load_region

    _print(load_region(str(file)), str(file), as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(region_app, name="region")
