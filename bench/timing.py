"""Timing helpers: these machines are noisy, so every figure is a median of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    label: str
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def __str__(self) -> str:
        spread = f"{min(self.runs):.3f}–{max(self.runs):.3f}" if len(self.runs) > 1 else "-"
        return (
            f"{self.label}: median {self.median:.3f} s over {len(self.runs)} runs (range {spread})"
        )


def measure(
    label: str, fn: Callable[[], Any], repeat: int = 5, setup: Callable[[], Any] | None = None
) -> Timing:
    """Run ``setup`` (untimed) then ``fn`` (timed), ``repeat`` times."""
    runs = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return Timing(label, runs)


def measure_both(label: str, fn: Callable[[], Any], repeat: int) -> tuple[Timing, Timing]:
    """Wall-clock and process-CPU medians: on a shared, overloaded machine the CPU time says what
    the code costs (all its threads), the wall time what this run happened to get."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return Timing(label, wall), Timing(f"{label} (CPU)", cpu)


def ratio_line(ours: Timing, peer: Timing) -> str:
    return f"ratio {peer.label} / {ours.label} = {peer.median / ours.median:.2f}×"
