"""Split large NumPy work over the CPU's cores.

NumPy releases the GIL inside ufunc loops, so threads over slices of one large array run in parallel.
The reference and the output check of a 256 MiB tensor take seconds on one core; on the 16 cores of a
GPU host they take a fraction of that, which is the difference between a sweep that fits a time slot
and one that does not.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
MIN_PARALLEL = 1 << 22  # elements below which one thread is faster than many


def workers() -> int:
    return max(1, min(16, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def spans(n: int, parts: int) -> list[tuple[int, int]]:
    """[0, n) cut into at most ``parts`` contiguous, non-empty, nearly equal spans."""
    parts = max(1, min(parts, n))
    edges = [n * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def map_spans(n: int, size: int, fn: Callable[[int, int], T]) -> list[T]:
    """``fn(start, stop)`` over spans of [0, n); in threads when ``size`` (elements of work) is large."""
    count = workers() if size >= MIN_PARALLEL else 1
    parts = spans(n, count)
    if len(parts) == 1:
        return [fn(*parts[0])]
    with ThreadPoolExecutor(len(parts)) as pool:
        return list(pool.map(lambda ab: fn(*ab), parts))
