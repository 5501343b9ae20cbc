"""Backends that fail on purpose, to test crash isolation for real (registered only where the environment
sets BENCH_TEST_BACKENDS=1, which worker processes inherit; users never see them).

Each builds and verifies its point like the backend it derives from, then misbehaves while it is timed,
the way a real failure strikes mid-run:
- `test-abort`: os.abort(), the process dies of SIGABRT (as a failed assertion in a C++ library does);
- `test-exit`: os._exit(3), the process ends at once with status 3 (as a library calling exit() does);
- `test-hang`: never returns (as a deadlocked driver call does); only a time limit ends it;
- `test-illegal-address` (GPU): launches a kernel that writes through a null pointer, through
  bench.gpu.cuda: cudaErrorIllegalAddress, a sticky error after which the process's CUDA context is lost;
- `test-lost-context` (CPU): its timing raises and it then reports its process's device unusable, and
  releasing the point fails, as every CUDA call does after a sticky error: the state the GPU one leaves,
  so that replacing such a worker is tested where there is no GPU.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench.backends.base import BackendOptions, PreparedPoint
from bench.backends.cuda_backend import CudaBackend, CudaScalePoint
from bench.backends.numpy_backend import NumpyBackend

if TYPE_CHECKING:
    from bench.point import Point
    from bench.problem import Problem
    from bench.timing.measurement import Measurement
    from bench.timing.settings import TimingSettings


class _Misbehaving(PreparedPoint):
    """A numpy point that verifies correctly, then does ``act`` when timed."""

    def __init__(self, inner: PreparedPoint, act: str) -> None:
        self.inner, self.act, self.build = inner, act, inner.build

    def output(self) -> np.ndarray:
        return self.inner.output()

    def measure(self, timing: TimingSettings) -> Measurement:
        if self.act == "abort":
            os.abort()
        if self.act == "exit":
            os._exit(3)
        if self.act == "lose-context":
            raise RuntimeError("test-lost-context: timing failed and left this process's device unusable")
        while True:  # hang
            time.sleep(3600)

    def close(self) -> None:
        self.inner.close()
        if self.act == "lose-context":
            raise RuntimeError("test-lost-context: cannot release the point, the device context is lost")


class _CpuTestBackend(NumpyBackend):
    act: ClassVar[str]

    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        return _Misbehaving(super().prepare(point, problem), self.act)


class AbortBackend(_CpuTestBackend):
    name = "test-abort"
    act = "abort"


class ExitBackend(_CpuTestBackend):
    name = "test-exit"
    act = "exit"


class HangBackend(_CpuTestBackend):
    name = "test-hang"
    act = "hang"


class LostContextBackend(_CpuTestBackend):
    name = "test-lost-context"
    act = "lose-context"

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.lost: str | None = None

    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        self.lost = "test-lost-context: the device context of this process is lost (as after a sticky CUDA error)"
        return super().prepare(point, problem)

    def context_error(self) -> str | None:
        return self.lost


ILLEGAL_ADDRESS_SOURCE = """
extern "C" __global__ void bench_illegal_address(float* p) { p[threadIdx.x] = 1.0f; }
"""


class _IllegalAddressPoint(CudaScalePoint):
    def measure(self, timing: TimingSettings) -> Measurement:
        from bench.gpu import kernel_cache

        kernel = kernel_cache.compile_kernel(ILLEGAL_ADDRESS_SOURCE, "bench_illegal_address", self.device.arch)
        kernel.bind(1, 32, [(0, ctypes.c_void_p)])(self.stream)  # writes through a null pointer
        self.stream.synchronize()  # raises CudaError: cudaErrorIllegalAddress (sticky)
        raise AssertionError("a write through a null pointer did not fail")


class IllegalAddressBackend(CudaBackend):
    name = "test-illegal-address"

    def prepare(self, point: Point, problem: Problem) -> CudaScalePoint:
        from bench.backends.gpu_common import gpu_device

        return _IllegalAddressPoint(problem, gpu_device(self.options.device), self.tuner)
