"""Where a point's buffers land in device memory: the one rule every GPU buffer of a point follows.

On the H100 a buffer allocated right after a large allocation had been freed timed slow, and one
allocated after a throwaway of its own size had been filled and freed timed fast (the L2 placement probe,
reports/gate/README.md); `GpuPreparedPoint.prime` (bench.backends.gpu_common) and a shape's shared device
input (bench.device_data) both allocate that way, through `prime_allocations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.gpu.cuda import Stream


def prime_allocations(sizes: Sequence[int], stream: Stream) -> None:
    """Allocate, fill and free throwaway buffers of ``sizes``: what `GpuPreparedPoint.prime` does before a
    point's own buffers, and what a shape's shared device input (bench.device_data) gets before its own."""
    from bench.gpu.cuda import DeviceBuffer, memset_async

    throwaway = [DeviceBuffer(n) for n in sizes]
    try:
        for buf in throwaway:
            memset_async(buf.ptr, 0, buf.nbytes, stream)
        stream.synchronize()
    finally:
        for buf in throwaway:
            buf.free()
