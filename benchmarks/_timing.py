"""Shared by the benchmark scripts (run as `python benchmarks/NAME.py`)."""

import time


def best_of(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
