"""How many calls make one sample: `batch_for` is shared by the host and device timing loops; the rest is
the device loop's sizing (a graph's minimum, resizing after a sample, rotated buffer sets)."""

from __future__ import annotations

import math

MAX_BATCH = 1 << 16  # calls per sample; beyond this a call is too short to matter (or does nothing)
# A graph launch costs the device a few microseconds before its first node: spread it over at least
# this many calls so it adds at most a few percent to a ~1 us call.
GRAPH_MIN_BATCH = 100


def batch_for(per_call_us: float, floor_us: float, *, min_batch: int = 1, max_batch: int = MAX_BATCH) -> int:
    """Calls per sample so that k * per_call_us >= floor_us, within [min_batch, max_batch]."""
    if not per_call_us > 0 or not math.isfinite(per_call_us):
        return max_batch
    k = math.ceil(floor_us / per_call_us)
    return int(min(max(k, min_batch, 1), max_batch))


def desired_batch(method: str, per_call_us: float, floor_us: float, *, max_batch: int = MAX_BATCH) -> int:
    """k for a sample of at least ``floor_us``; a graph also gets at least GRAPH_MIN_BATCH calls where
    that keeps the sample under ten floors (long calls need no amortizing)."""
    k = batch_for(per_call_us, floor_us, max_batch=max_batch)
    if method == "graph":
        k = max(k, min(GRAPH_MIN_BATCH, batch_for(per_call_us, 10 * floor_us, max_batch=max_batch)))
    return k


def next_batch(method: str, k: int, sample_us: float, floor_us: float, *, max_batch: int = MAX_BATCH) -> int | None:
    """After a sample of k calls took ``sample_us``: the larger k it calls for, or None if k will do.

    The first k comes from single calls, whose time includes launch latency; a batch amortizes it, so
    the per-call estimate only falls and k only grows: sizing converges in a few rounds."""
    if k >= max_batch:
        return None
    if sample_us <= 0:
        return min(k * 16, max_batch)
    want = desired_batch(method, sample_us / k, floor_us, max_batch=max_batch)
    return want if want > k else None


def sample_batch(method: str, per_call_us: float, floor_us: float, sets: int, cold: bool) -> int:
    """k, the calls per sample before any resizing: one when cold (a second call would find the data in
    the L2 the flush emptied), else `desired_batch` rounded up so every buffer set gets as many calls."""
    return 1 if cold else round_up_to(desired_batch(method, per_call_us, floor_us), sets)


def round_up_to(k: int, multiple: int) -> int:
    """k rounded up to a multiple of ``multiple`` (every buffer set gets as many calls per sample)."""
    return -(-k // multiple) * multiple
