"""Backend `memcpy`: a device-to-device copy of the point's bytes, the speed-of-light row.

It reads and writes exactly the bytes a Scale call reads and writes (input once, output once), so
every GPU row's `pct_of_memcpy` compares against it. It copies rather than scales, so the runner does
not judge it against the Scale reference (`verifies_scale = False`); `output()` checks the copy itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench.backends.base import BackendInfo
from bench.backends.gpu_common import GpuBackend, GpuPreparedPoint, gpu_device, gpu_info
from bench.point import Point
from bench.precision import PRECISIONS, numpy_dtype

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.problem import Problem


class MemcpyPoint(GpuPreparedPoint):
    def __init__(self, problem: Problem, device: Device) -> None:
        super().__init__(problem, device)
        try:
            self.src = self.input_buffer()  # source and destination primed: see GpuPreparedPoint.prime
            self.out = self.alloc(problem.input_nbytes)
        except BaseException:
            self.close()
            raise
        self.out_dtype = numpy_dtype(problem.point.precision)
        self.out_shape = tuple(problem.point.shape)
        self.nbytes = problem.input_nbytes
        self.build.builder_settings = {"call": "cudaMemcpyAsync(DeviceToDevice)", "bytes": self.nbytes}

    def enqueue(self, stream: Stream) -> None:
        from bench.gpu.cuda import memcpy_dtod_async

        memcpy_dtod_async(self.out.ptr, self.src.ptr, self.nbytes, stream)

    def call_buffers(self) -> list[DeviceBuffer]:
        return [self.src, self.out]

    def enqueue_on(self, moved: dict[int, int]) -> Callable[[Stream], None]:
        from bench.gpu.cuda import memcpy_dtod_async

        dst, src, nbytes = moved.get(self.out.ptr, self.out.ptr), moved.get(self.src.ptr, self.src.ptr), self.nbytes
        return lambda stream: memcpy_dtod_async(dst, src, nbytes, stream)

    def output(self) -> np.ndarray:
        """The copy, checked byte for byte against a host input (raises if the copy is wrong)."""
        out = super().output()
        x = self.problem.x
        if x is None:  # the input was made on the device: bench.device_data.verify compares it there
            return out
        if out.view(np.uint8).tobytes() != np.ascontiguousarray(x).view(np.uint8).tobytes():
            raise RuntimeError(f"memcpy of {self.nbytes} bytes did not reproduce the input")
        return out


class MemcpyBackend(GpuBackend):
    name: ClassVar[str] = "memcpy"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    verifies_scale: ClassVar[bool] = False  # its output is the input, not the Scale op's
    verifies_on_device: ClassVar[bool] = True

    def _unsupported_impl(self, point: Point) -> str | None:
        if point.mode != "uniform" or point.channel_axis is not None:
            return (
                "memcpy moves the same bytes for every mode and channel axis: measured once per shape and "
                "precision (the UNIFORM row)"
            )
        return None

    def bytes_moved(self, point: Point) -> int:
        """The tensor read once and written once: no weights."""
        return 2 * point.tensor_bytes

    def info(self) -> BackendInfo:
        dev = gpu_device(self.options.device)
        return gpu_info(self.name, f"cudaMemcpyAsync (runtime {dev.runtime_version})", dev)

    def prepare(self, point: Point, problem: Problem) -> MemcpyPoint:
        return MemcpyPoint(problem, gpu_device(self.options.device))
