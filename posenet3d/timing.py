"""Wall-clock timing for the benchmark scripts (``posenet3d bench …``)."""
from __future__ import annotations

import time
from collections.abc import Callable


def time_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of each of ``runs`` calls of ``fn``, after ``warmup`` untimed calls."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out
