"""Start-up of the command line (issue 20 item 4): what a user waits for before anything runs.

Each command runs as a whole fresh process (wall time, median of repeats), beside the bare
interpreter and beside importing what the CLI now leaves out until a command needs it (LightGBM
and scikit-learn, which a scorecard script with optbinning pays up front). The import time of
``kejin.cli`` is read from ``python -X importtime``. Target: ``kejin --help`` and ``kejin ids
check`` well under 0.5 s.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time

VALID_USCC = "91350100M000100Y43"
TARGET = 0.5


def wall(args: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system) of each run of ``args``. On a shared machine
    a process waits for a core: the wall time says what this run got, the CPU time what the
    start-up costs."""
    runs, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False, timeout=300)
        runs.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return runs, cpu


def import_time(module: str, repeat: int) -> float:
    """Median cumulative import time of ``module`` in seconds (``-X importtime``)."""
    runs = []
    for _ in range(repeat):
        r = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        m = re.search(rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}\s*$", r.stderr, re.M)
        runs.append(int(m.group(1)) / 1e6 if m else float("nan"))
    return statistics.median(runs)


def main(quick: bool = False) -> None:
    repeat = 3 if quick else 9
    py = sys.executable
    print(f"start-up, whole processes, median of {repeat} (load average {os.getloadavg()[0]:.1f})")
    rows = [
        ("python -c pass (the interpreter alone)", [py, "-c", "pass"]),
        ("kejin --help", [py, "-m", "kejin", "--help"]),
        ("kejin ids check", [py, "-m", "kejin", "ids", "check", VALID_USCC]),
        ("kejin credit --help (loads the credit area)", [py, "-m", "kejin", "credit", "--help"]),
        ("python -c 'import lightgbm, sklearn' (left out)", [py, "-c", "import lightgbm, sklearn"]),
        ("python -c 'import optbinning' (a scorecard script)", [py, "-c", "import optbinning"]),
    ]
    got, cpu = {}, {}
    for label, args in rows:
        runs, used = wall(args, repeat)
        got[label], cpu[label] = statistics.median(runs), statistics.median(used)
        print(
            f"  {label}: wall median {got[label]:.3f} s (range {min(runs):.3f}–{max(runs):.3f}), "
            f"CPU median {cpu[label]:.3f} s"
        )
    print(f"  import kejin.cli (-X importtime): median {import_time('kejin.cli', repeat):.3f} s")
    for label in ("kejin --help", "kejin ids check"):
        print(
            f"  target {label} < {TARGET} s: wall {'met' if got[label] < TARGET else 'NOT met'} "
            f"({got[label]:.3f} s), CPU {'met' if cpu[label] < TARGET else 'NOT met'} "
            f"({cpu[label]:.3f} s)"
        )
