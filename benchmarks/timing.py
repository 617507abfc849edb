"""Side-by-side timing and summary statistics.

The implementations under comparison are timed in the same process, alternating within each
round (``A B C`` in even rounds, ``C B A`` in odd ones) after a warm-up, so that slow drifts of the
machine (other processes, frequency scaling, a cache warmed by the previous call) fall on both
sides of a ratio. Each measurement runs a thunk ``inner`` times in a row, ``inner`` calibrated so
that one measurement lasts about ``target_s``, and keeps the fastest of those calls. A ratio is
formed per round, from the two measurements of that round, and summarised by its median and
interquartile range over the rounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RatioStats", "alternate", "calibrate", "ratio_stats", "time_once"]

Thunk = Callable[[], Any]


def time_once(fn: Thunk) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def calibrate(fn: Thunk, target_s: float, max_inner: int = 10_000) -> tuple[int, float]:
    """``(inner, seconds_per_call)``: how many calls of ``fn`` make one measurement of about
    ``target_s`` seconds, from the fastest of three single calls (``fn`` already warm)."""
    single = min(time_once(fn) for _ in range(3))
    inner = max(1, min(max_inner, math.ceil(target_s / max(single, 1e-7))))
    return inner, single


def alternate(
    thunks: Mapping[str, Thunk],
    *,
    rounds: int,
    inner: Mapping[str, int],
    min_rounds: int | None = None,
    budget_s: float | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each thunk, one value per round, alternating the order each round.

    A round runs each thunk ``inner[name]`` times, timing every call, and keeps the fastest
    call: on a shared machine a call is often slowed by another process, never sped up, so the
    minimum of a burst is the least contaminated estimate of the code's own cost (as
    :mod:`timeit` advises). At most ``rounds`` rounds; after ``min_rounds`` of them, stop once
    ``budget_s`` seconds have passed.
    """
    names = list(thunks)
    out: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    start = clock()
    floor_rounds = rounds if min_rounds is None else min(min_rounds, rounds)
    for r in range(rounds):
        if budget_s is not None and r >= floor_rounds and clock() - start > budget_s:
            break
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            fn = thunks[name]
            best = math.inf
            for _ in range(inner[name]):
                t0 = clock()
                fn()
                best = min(best, clock() - t0)
            out[name].append(best)
    return out


@dataclass(frozen=True)
class RatioStats:
    """Median and interquartile range of per-round ratios ``a / b``."""

    median: float
    q25: float
    q75: float
    rounds: int

    def as_dict(self) -> dict[str, float | int]:
        return {"median": self.median, "q25": self.q25, "q75": self.q75, "rounds": self.rounds}


def ratio_stats(a: list[float], b: list[float]) -> RatioStats:
    """Statistics of the paired per-round ratios ``a[r] / b[r]``."""
    r = np.asarray(a, dtype=np.float64) / np.asarray(b, dtype=np.float64)
    q25, med, q75 = np.percentile(r, [25.0, 50.0, 75.0])
    return RatioStats(float(med), float(q25), float(q75), int(r.size))
