"""Will a point fit? Its host and device memory footprint, and what this machine has free.

A point that cannot fit is a `skipped` row saying how much it needs and has, before anything is
allocated: a 64 GiB shape on a 24 GiB machine must cost one row, not the run (an allocation that
fails half-way, or the OOM killer, loses everything the process held). The estimates are upper bounds
of what the harness itself holds at a point's peak, from the arrays bench.problem, bench.reference and
the backends make; they are deliberately generous, because a wrong "fits" costs more than a wrong
"does not fit".
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bench.point import Point
from bench.precision import info as precision_info

SAFETY = 0.9  # use at most this share of what is free


def host_bytes(point: Point, *, makes_input: bool = True, runs: bool = True) -> int:
    """Peak host bytes of one point: the float32 input, its storage copy, the float64 reference (and the
    dequantized best int8 output), the downloaded output and the float64 slices of the output check.
    A build-only point of a float precision makes no input at all."""
    n = point.numel
    item = precision_info(point.precision).itemsize
    weights = point.weight_bytes * 4  # float64 copies of shift/scale/power and the kernel's own
    if not makes_input:
        return weights
    total = n * 4 + n * item + weights  # real input (float32) + storage dtype
    if runs:
        total += n * 8  # float64 reference
        total += n * 8 if point.precision == "int8" else 0  # quantized best output, float64
        total += n * item  # downloaded output
        total += n * 8  # float64 error slices of the check (one per span, all spans at once)
    return total


def device_bytes(point: Point, backend_extra: int = 0, *, l2_flush_bytes: int = 0, buffer_sets: int = 1) -> int:
    """Input and output on the device, each weight once (times ``buffer_sets`` when calls rotate over
    copies of them), a flush buffer when cold, plus the backend's own (an engine, a workspace)."""
    return max(1, buffer_sets) * (2 * point.tensor_bytes + point.weight_bytes) + l2_flush_bytes + backend_extra


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers, CI), or None when unlimited or unknown."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        used = int((base / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    if limit == "max" or not limit.isdigit():
        return None
    return max(0, int(limit) - used)


def host_available() -> int | None:
    """Host memory a new allocation can have: MemAvailable, bounded by a cgroup limit; None if unknown.

    BENCH_HOST_MEMORY_LIMIT (bytes) caps it further: a test (or a cautious user) can make the check bite."""
    candidates = [v for v in (_meminfo().get("MemAvailable"), _cgroup_room()) if v is not None]
    cap = os.environ.get("BENCH_HOST_MEMORY_LIMIT")
    if cap and cap.isdigit():
        candidates.append(int(cap))
    return min(candidates) if candidates else None


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def shortfall(need_host: int, need_device: int, free_host: int | None, free_device: int | None) -> str | None:
    """Why a point does not fit (one sentence), or None when it does or nothing is known."""
    if free_host is not None and need_host > SAFETY * free_host:
        return f"needs about {gib(need_host)} of host memory, {gib(free_host)} is available"
    if free_device is not None and need_device > SAFETY * free_device:
        return f"needs about {gib(need_device)} of GPU memory, {gib(free_device)} is free"
    return None


MAX_ADDRESSABLE_BYTES = 2**62  # a tensor past this cannot be indexed with int64 byte offsets


def addressable(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) * 8 < MAX_ADDRESSABLE_BYTES
