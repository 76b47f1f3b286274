"""What every command shares: the console, JSON output, the engine, and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

if TYPE_CHECKING:  # imported when used: `kejin --help` and `kejin ids check` need neither
    from rich.progress import Progress
    from sqlalchemy import Engine

#: Lines are never broken to fit a width (``soft_wrap``): piped to a file or another program, Rich
#: would wrap at 80 columns and cut a contract number, a USCC or a file path in two.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    """JSON with Decimals as strings (exact) and Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False, default=_default)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    from kejin.db import make_engine

    return make_engine(url)


def get_engine() -> Engine:
    """The engine for ``KEJIN_DATABASE_URL`` (default: the embedded SQLite file)."""
    from kejin.config import get_settings

    return engine_for(get_settings().database_url)


def progress(quiet: bool = False) -> Progress:
    """A Rich progress display; silent when output is for a script or not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def track(
    items: Iterable[T], description: str, total: int | None = None, quiet: bool = False
) -> Iterator[T]:
    with progress(quiet) as p:
        yield from p.track(items, total=total, description=description)
