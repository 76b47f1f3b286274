"""Start-up (issue 20 item 4): the CLI imports an area — and its SQLAlchemy, Polars, LightGBM,
scikit-learn or FastAPI — only when one of the area's commands runs. ``kejin --help`` lists every
command from :data:`kejin.cli.AREA_COMMANDS`, which must say what the areas really register."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("lightgbm", "sklearn", "optbinning", "polars", "sqlalchemy", "fastapi", "numpy")


def _loaded_after(code: str, names: tuple[str, ...] = HEAVY) -> set[str]:
    """The modules of ``names`` in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport sys\n"
        f"print('LOADED:' + ','.join(m for m in {names!r} if m in sys.modules), file=sys.stderr)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    line = next(x for x in r.stderr.splitlines() if x.startswith("LOADED:"))
    return set(filter(None, line.removeprefix("LOADED:").split(",")))


def _run_main(*args: str) -> str:
    return (
        "import sys\n"
        f"sys.argv = ['kejin', *{list(args)!r}]\n"
        "import kejin.cli\n"
        "try:\n    kejin.cli.main()\nexcept SystemExit:\n    pass\n"
    )


def test_importing_the_cli_imports_no_data_stack() -> None:
    assert _loaded_after("import kejin.cli") == set()


@pytest.mark.parametrize("args", [("--help",), ("ids", "check", "91350100M000100Y43")])
def test_help_and_ids_check_run_without_the_data_stack(args: tuple[str, ...]) -> None:
    assert _loaded_after(_run_main(*args)) == set()


def test_a_command_loads_its_area_and_only_then() -> None:
    areas = ("kejin.points.commands", "kejin.credit.commands", "lightgbm", "sklearn")
    loaded = _loaded_after(_run_main("points", "--help"), areas)
    assert loaded == {"kejin.points.commands"}  # imported to show its commands; credit not


def test_help_lists_every_command_the_areas_register_with_its_own_help() -> None:
    from kejin.cli import AREA_COMMANDS, AREA_MODULES, area_commands

    seen: dict[str, tuple[str, str]] = {}
    for area in AREA_MODULES:
        for name, cmd in area_commands(area).items():
            text = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0]  # type: ignore[attr-defined]
            seen[name] = (area, text)
    assert seen == AREA_COMMANDS
    listed = subprocess.run(
        [sys.executable, "-m", "kejin", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for name in (*AREA_COMMANDS, "db", "ids"):
        assert f" {name} " in listed


def test_scoring_a_scorecard_imports_neither_lightgbm_nor_sklearn() -> None:
    """Fitting a scorecard needs scikit-learn, a GBM LightGBM; scoring needs neither."""
    code = "import kejin.credit.models, kejin.credit.scorecard, kejin.credit.decisions"
    assert _loaded_after(code, ("lightgbm", "sklearn")) == set()


def test_every_module_the_eager_mount_registers_is_in_the_lazy_table() -> None:
    """``_mount_areas`` (tests, in-process) and the lazy root see the same commands: a stats
    subcommand added by ``stats.annual_commands`` is there when ``kejin stats`` loads lazily."""
    from kejin.cli import AREA_MODULES, area_commands

    src = (Path(__file__).parents[1] / "src" / "kejin").glob("*/*commands.py")
    registering = {
        f"{p.parent.name}.{p.stem}" for p in src if "def register(" in p.read_text(encoding="utf-8")
    }
    assert registering == {m for ms in AREA_MODULES.values() for m in ms}
    stats = area_commands("stats")["stats"]
    assert {"banks", "mark", "index", "effect"} <= set(stats.commands)  # type: ignore[attr-defined]
