"""Run every ``bench/bench_*.py`` (or those named on the command line) and print their tables.

Each module exposes ``main(quick: bool) -> None`` and prints its own figures, ours beside the
peer's. ``--quick`` shrinks the data for a smoke run; the figures in closing notes use full size.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from rich.console import Console


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="bench module suffixes, e.g. synth import")
    parser.add_argument("--quick", action="store_true", help="small data, for a smoke run")
    args = parser.parse_args()
    here = Path(__file__).parent
    mods = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if args.names:
        mods = [m for m in mods if m.removeprefix("bench_") in args.names]
        if not mods:
            sys.exit(f"no benchmark named {args.names}")
    console = Console()
    for name in mods:
        console.rule(f"[bold]{name}")
        importlib.import_module(f"bench.{name}").main(quick=args.quick)


if __name__ == "__main__":
    main()
