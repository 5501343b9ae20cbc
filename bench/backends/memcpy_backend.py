"""Backend `memcpy`: the copy yardstick, the fastest copy of the point's bytes that the harness makes.

It reads and writes exactly the bytes of the tensor (input once, output once), so every GPU row's
`pct_of_memcpy` compares against it. The copy is the faster of `cudaMemcpyAsync` (device to device) and
a plain 16-byte vector copy kernel (bench.gpu.copy_kernel, a few launches): on the H200 and H100 the
driver's copy slows above 256 MiB (reports/bandwidth/), and a yardstick that a Scale kernel beats by
half is no yardstick. Every contender is timed on the point's own (rotated) buffers with the run's timing
method and L2 state (`kernel_tuner.time_each`), and the tuner's rule picks (`tuning.decide`: within its
tie of the fastest, the earliest in a fixed order, cudaMemcpyAsync first, so a tie keeps the driver's
copy). The winner is what the row times and records: its label in `kernel_config['copy']` (bench.what_ran
reads it, so a comparison sees when the winner differs between sides) and every contender's median in
`builder_settings`. It copies rather than scales, so the runner does not judge it against the Scale
reference (`verifies_scale = False`); `output()` checks the winner's copy byte for byte.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench import copy_yardstick
from bench.backends.base import BackendInfo
from bench.backends.gpu_common import GpuBackend, GpuPreparedPoint, gpu_device, gpu_info
from bench.backends.kernel_tuner import time_each
from bench.gpu import copy_kernel, tuning
from bench.point import Point
from bench.precision import PRECISIONS, numpy_dtype
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.problem import Problem

DRIVER_COPY = copy_yardstick.DRIVER_COPY  # the first contender
CONTEST_ROUNDS = tuning.CHECK_ROUNDS  # interleaved rounds of every contender
_CTYPES = {"ptr": ctypes.c_void_p, "u64": ctypes.c_uint64}


def contenders() -> list[copy_kernel.CopyConfig | None]:
    """The copies timed, in the fixed order the rule breaks ties by: cudaMemcpyAsync (None), then the
    copy kernel's launches."""
    return [None, *copy_kernel.CANDIDATES]


def contender_label(config: copy_kernel.CopyConfig | None) -> str:
    return DRIVER_COPY if config is None else config.label()


def choose(cands: list[tuning.Candidate]) -> int:
    """The winning contender: `tuning.decide` (ties to the earliest: cudaMemcpyAsync first)."""
    return tuning.decide(cands)


class MemcpyPoint(GpuPreparedPoint):
    def __init__(self, problem: Problem, device: Device, timing: TimingSettings) -> None:
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
        self._contenders = contenders()
        self._selected: copy_kernel.CopyConfig | None = None
        try:
            t0 = time.perf_counter()
            cands = self._contest(timing)
            winner = choose(cands)
            self.select(self._contenders[winner])
            self.build.build_s = time.perf_counter() - t0
        except BaseException:
            self.close()
            raise
        won = self._contenders[winner]
        self.build.kernel_config = {"copy": contender_label(won), **(won.as_dict() if won else {})}
        if won is not None:
            self.build.kernel_config["grid_blocks"] = copy_kernel.launch(self.nbytes, won).grid
        self.build.builder_settings = {
            "call": contender_label(won),
            "bytes": self.nbytes,
            "contenders_median_us": {c.label: c.median_us for c in cands if c.timed},
            "contenders_failed": {c.label: c.error for c in cands if not c.timed},
            "contest": f"{CONTEST_ROUNDS} interleaved rounds, ties chained by {tuning.LINK:.2%} up to {tuning.CAP:.0%}, "
            f"{timing.method}, {timing.l2_mode}",
        }

    def _contest(self, timing: TimingSettings) -> list[tuning.Candidate]:
        """Every contender timed on this point's buffers the way the run times points."""
        from bench.gpu import kernel_cache
        from bench.gpu.cuda import CudaError

        out: list[list[float] | str] = [[] for _ in self._contenders]
        sources = [copy_kernel.source(c) for c in self._contenders if c is not None]
        with contextlib.suppress(CudaError, ValueError, RuntimeError, OSError):  # each says its own error below
            kernel_cache.compile_kernels(sources, copy_kernel.KERNEL_NAME, self.device.arch)  # a thread per core
        for i, config in enumerate(self._contenders):
            try:
                self._check_copies(config)
            except (CudaError, ValueError, RuntimeError, OSError) as exc:  # no NVRTC: cudaMemcpyAsync alone
                out[i] = f"{type(exc).__name__}: {exc}"
        time_each(self, lambda i: self.select(self._contenders[i]), out, CONTEST_ROUNDS, timing)
        return [
            tuning.timed_candidate(
                {"copy": contender_label(c), **(c.as_dict() if c else {})}, contender_label(c), samples, CONTEST_ROUNDS
            )
            for c, samples in zip(self._contenders, out, strict=True)
        ]

    def _check_copies(self, config: copy_kernel.CopyConfig | None) -> None:
        """Run ``config`` once into a poisoned output and compare it with the source on the GPU: a
        contender that does not reproduce its input (and might win by doing less) never gets timed."""
        from bench.gpu import cuda
        from bench.gpu.data_kernels import bytes_differ

        launch = self._launch_of(config, {})
        if config is None:
            return  # the driver's copy is the reference the kernels are held to
        cuda.memset_async(self.out.ptr, 0xA5, self.nbytes, self.stream)
        cuda.clear_last_error()
        launch(self.stream)
        cuda.check_last_error(contender_label(config))
        differ = bytes_differ(self.out.ptr, self.src.ptr, self.nbytes, self.device.arch, self.stream)
        if differ:
            raise RuntimeError(f"{contender_label(config)}: {differ} of {self.nbytes} bytes differ from the input")

    def select(self, config: copy_kernel.CopyConfig | None) -> None:
        """Run ``config`` (None: cudaMemcpyAsync) from now on."""
        self._selected = config
        self._rotation = None  # copies bound to the previous contender
        self._enqueue = self._launch_of(config, {})

    def _launch_of(self, config: copy_kernel.CopyConfig | None, moved: dict[int, int]) -> Callable[[Stream], None]:
        """An enqueue of ``config`` on this point's buffers, each pointer in ``moved`` replaced by its value."""
        from bench.gpu import cuda, kernel_cache

        dst, src, nbytes = moved.get(self.out.ptr, self.out.ptr), moved.get(self.src.ptr, self.src.ptr), self.nbytes
        if config is None:
            return lambda stream: cuda.memcpy_dtod_async(dst, src, nbytes, stream)
        kernel = kernel_cache.compile_kernel(copy_kernel.source(config), copy_kernel.KERNEL_NAME, self.device.arch)
        lau = copy_kernel.launch(nbytes, config)
        args = [(v, _CTYPES[kind]) for kind, v in copy_kernel.args(lau, src, dst)]
        return kernel.bind(lau.grid, lau.block, args)

    def enqueue(self, stream: Stream) -> None:
        self._enqueue(stream)

    def call_buffers(self) -> list[DeviceBuffer]:
        return [self.src, self.out]

    def enqueue_on(self, moved: dict[int, int]) -> Callable[[Stream], None]:
        return self._launch_of(self._selected, moved)

    def output(self) -> np.ndarray:
        """The copy, checked byte for byte against a host input (raises if the copy is wrong)."""
        out = super().output()
        x = self.problem.x
        if x is None:  # the input was made on the device: bench.device_data.verify compares it there
            return out
        if out.view(np.uint8).tobytes() != np.ascontiguousarray(x).view(np.uint8).tobytes():
            raise RuntimeError(f"{contender_label(self._selected)} of {self.nbytes} bytes did not reproduce the input")
        return out


class MemcpyBackend(GpuBackend):
    name: ClassVar[str] = copy_yardstick.BACKEND
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
        from bench.gpu import cuda

        dev = gpu_device(self.options.device)
        try:
            nvrtc = f"nvrtc {cuda.nvrtc_version()}"
        except (cuda.CudaError, RuntimeError, OSError) as exc:  # the contest then has cudaMemcpyAsync alone
            nvrtc = f"no NVRTC: {type(exc).__name__}"
        version = f"cudaMemcpyAsync (runtime {dev.runtime_version}) or copy kernel ({nvrtc})"
        return gpu_info(self.name, version, dev, {"copy_kernel_generator": copy_kernel.generator_hash()})

    def prepare(self, point: Point, problem: Problem) -> MemcpyPoint:
        return MemcpyPoint(problem, gpu_device(self.options.device), self.options.timing or TimingSettings())
