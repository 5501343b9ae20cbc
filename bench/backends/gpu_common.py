"""What every GPU backend shares: the device, its BackendInfo, and a PreparedPoint base whose
subclasses only enqueue one call; buffers, the stream, output download and timing live here.

cuda-python is imported lazily (through bench.gpu.cuda), so this module imports anywhere.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench import resources
from bench.backends.base import Backend, BackendInfo, BuildInfo, PreparedPoint
from bench.gpu import nvml
from bench.gpu.placement import prime_allocations
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.device_data import SharedInput
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.point import Point
    from bench.problem import Problem


@functools.cache
def gpu_device(index: int = 0) -> Device:
    """The device, initialised once per process (properties read once)."""
    from bench.gpu.cuda import Device

    return Device(index)


def nvml_index(device: Device) -> int | None:
    """The NVML index of ``device`` (found by UUID: CUDA's numbering differs under CUDA_VISIBLE_DEVICES)."""
    return nvml.index_for_uuid(device.uuid)


def gpu_info(backend: str, backend_version: str, device: Device, extra: dict | None = None) -> BackendInfo:
    """BackendInfo of a GPU backend: device, driver (NVML's version where available), CUDA runtime."""
    index = nvml_index(device)
    return BackendInfo(
        backend=backend,
        backend_version=backend_version,
        gpu_name=device.name,
        compute_capability=device.compute_capability,
        driver_version=nvml.driver_version() or f"CUDA {device.driver_version} (driver API)",
        cuda_version=device.runtime_version,
        extra={
            **device.properties(),
            **(extra or {}),
            "gpu_uuid": device.uuid,
            "gpu_index": index,
            "nvml": nvml.snapshot(index) if index is not None else {},
        },
    )


def poison_byte(precision: str) -> int:
    """Byte the output is filled with before a verification run, so unwritten elements show: 0xFF is
    NaN in fp32/fp16/bf16; 0x80 is int8 -128, a code a symmetric int8 output never holds."""
    return 0x80 if precision == "int8" else 0xFF


ROTATION_ALIGN = 256  # bytes: each copy of a buffer starts where cudaMalloc's own buffers would


@dataclass
class BufferRotation:
    """The same call on ``len(enqueues)`` copies of a point's buffers: set 0 is the point's own.
    ``outputs`` is each set's output pointer (where a test reads what a copy computed)."""

    enqueues: list[Callable[[Stream], None]]
    outputs: list[int]


class GpuPreparedPoint(PreparedPoint):
    """A point prepared on the GPU: owns a stream and device buffers; a subclass sets `out` (the output
    buffer), `out_dtype`, `out_shape` and implements `enqueue(stream)`, which enqueues ONE call."""

    out: DeviceBuffer
    out_dtype: np.dtype
    out_shape: tuple[int, ...]

    def __init__(self, problem: Problem, device: Device) -> None:
        from bench.gpu.cuda import Stream

        self.problem = problem
        self.point = problem.point
        self.device = device
        self.build = BuildInfo()
        self._buffers: list[DeviceBuffer] = []
        self._rotation: BufferRotation | None = None
        self._arenas: dict[tuple[int, int], tuple[int, int]] = {}  # (buffer, sets) -> (copies, stride)
        self._held: SharedInput | None = None  # the worker's device input this point reads (never freed here)
        self.stream: Stream = Stream()

    def alloc(self, nbytes: int) -> DeviceBuffer:
        """A device buffer freed by `close()`."""
        from bench.gpu.cuda import DeviceBuffer

        buf = DeviceBuffer(nbytes)
        self._buffers.append(buf)
        return buf

    def prime(self, *sizes: int) -> None:
        """Allocate, fill and free throwaway buffers of ``sizes`` before the point's own buffers of those
        sizes are allocated. On the H100 the first fp32 8x128x56x56 point of a run (input and output 25.7 MB,
        L2-resident) timed 7.5 us instead of 5.1 in every one-round run (archive/results-v2/h100-rounds1-2026-11-26),
        and a buffer allocated right after a 2 GiB allocation was freed was slow in 3 of 3 fresh processes;
        allocated after a throwaway of its own size had been filled and freed, it was fast in 3 of 3
        (reports/gate/README.md, the L2 placement probe). In whole runs it helps but does not cure:
        that point took 6.2-6.3 us in six primed runs (archive/results-v2/h100-primed-2026-11-26). Why is not known;
        it costs a cudaMalloc, a memset and a cudaFree per buffer, once per prepared point."""
        prime_allocations(sizes, self.stream)

    def input_buffer(self) -> DeviceBuffer:
        """The point's input on the device: the worker's shared one where the problem has it there (held
        until `close`, which releases it and never frees it; the output is primed alone, the input was
        primed when it was made), else primed with the output and uploaded."""
        data = self.problem.device
        if data is not None:
            self.prime(data.input.nbytes)
            self._held = data.input.acquire()
            return data.input.buffer
        x = self.problem.x
        self.prime(x.nbytes, x.nbytes)
        return self.upload(x)

    def upload(self, host: np.ndarray) -> DeviceBuffer:
        buf = self.alloc(host.nbytes)
        buf.upload(np.ascontiguousarray(host), self.stream)
        return buf

    @abstractmethod
    def enqueue(self, stream: Stream) -> None:
        """Enqueue one call of the op on ``stream`` (no synchronisation)."""

    def call_buffers(self) -> list[DeviceBuffer]:
        """Every device buffer one call reads or writes (one set, for rotated buffers); a subclass that
        can rotate lists them here and implements `enqueue_on`. [] (the default): it cannot."""
        return []

    def enqueue_on(self, moved: dict[int, int]) -> Callable[[Stream], None]:
        """An enqueue of the same call with each buffer pointer in ``moved`` replaced by its value."""
        raise NotImplementedError(f"{type(self).__name__} does not rotate buffers")

    def rotation(self, sets: int) -> BufferRotation:
        """``sets`` copies of `call_buffers` (each one a device-to-device copy of the point's own, so every
        set computes the same output) and an enqueue per set; kept until `close()` or until another launch
        is selected, so rounds reuse them. The copies of each buffer live in one allocation, one per
        ``ROTATION_ALIGN``-aligned slot, made once per buffer: the tuner's candidates, which read the same
        buffers, rebind to the same copies."""
        own = self.call_buffers()
        if self._rotation is not None and len(self._rotation.enqueues) == sets:
            return self._rotation
        if sets <= 1 or not own:
            return BufferRotation([self.enqueue], [self.out.ptr])
        slots = [(buf.ptr, *self._copies(buf, sets)) for buf in own]
        enqueues, outputs = [self.enqueue], [self.out.ptr]
        for i in range(sets - 1):
            moved = {ptr: base + i * stride for ptr, base, stride in slots}
            enqueues.append(self.enqueue_on(moved))
            outputs.append(moved.get(self.out.ptr, self.out.ptr))
        self._rotation = BufferRotation(enqueues, outputs)
        return self._rotation

    def _copies(self, buf: DeviceBuffer, sets: int) -> tuple[int, int]:
        """(base pointer, stride) of ``sets - 1`` copies of ``buf``, allocated and filled on first use."""
        from bench.gpu.cuda import memcpy_dtod_async

        key = (buf.ptr, sets)
        if key not in self._arenas:
            stride = -(-buf.nbytes // ROTATION_ALIGN) * ROTATION_ALIGN
            arena = self.alloc(stride * (sets - 1))
            for i in range(sets - 1):
                memcpy_dtod_async(arena.ptr + i * stride, buf.ptr, buf.nbytes, self.stream)
            self.stream.synchronize()
            self._arenas[key] = (arena.ptr, stride)
        return self._arenas[key]

    def buffer_sets(self, timing: TimingSettings) -> int:
        """How many buffer sets ``timing`` calls for on this point (bench.timing.device.rotation_sets)."""
        from bench.timing.device import rotation_sets

        return rotation_sets(timing, lambda: sum(b.nbytes for b in self.call_buffers()), self.device.l2_bytes)

    def output(self) -> np.ndarray:
        """Poison the output, run once, download: every element the op fails to write shows."""
        self.device_output()
        host = np.empty(self.out_shape, dtype=self.out_dtype)
        return self.out.download(host, self.stream)

    def device_output(self) -> int:
        """Poison the output, run once and wait: the output's device pointer, for a check on the device."""
        from bench.gpu import cuda

        cuda.memset_async(self.out.ptr, poison_byte(self.point.precision), self.out.nbytes, self.stream)
        cuda.clear_last_error()
        self.enqueue(self.stream)
        cuda.check_last_error(f"{type(self).__name__}.enqueue")
        self.stream.synchronize()
        return self.out.ptr

    def shed_host_data(self) -> bool:
        """Timing enqueues on device buffers only: the input, weights and reference on the host can go."""
        self.problem = None  # type: ignore[assignment]
        return True

    def measure(self, timing: TimingSettings) -> Measurement:
        from bench.timing import device as device_timing

        rotation = self.rotation(self.buffer_sets(timing))
        return device_timing.measure(
            rotation.enqueues, self.stream, timing, device=self.device, nvml_index=nvml_index(self.device)
        )

    def close(self) -> None:
        """Free every buffer and the stream (after the stream's work is done). Safe to call twice."""
        stream, self.stream = getattr(self, "stream", None), None  # type: ignore[assignment]
        try:
            if stream is not None:
                stream.synchronize()
        finally:
            for buf in self._buffers:
                buf.free()
            self._buffers.clear()
            self._arenas.clear()
            self._rotation = None
            held, self._held = getattr(self, "_held", None), None
            if held is not None:
                held.release()
            if stream is not None:
                stream.close()


class GpuBackend(Backend):
    """A backend that runs on the process's CUDA device: it can say what a point needs there, what is
    free, and whether the context survived a failure."""

    needs_gpu: ClassVar[bool] = True

    def device_bytes(self, point: Point, timing: TimingSettings) -> int:
        from bench.timing.device import flush_bytes, rotation_sets

        l2 = gpu_device(self.options.device).l2_bytes
        flush = flush_bytes(l2) if timing.l2_flush else 0
        sets = rotation_sets(timing, lambda: 2 * point.tensor_bytes + point.weight_bytes, l2)
        return resources.device_bytes(point, l2_flush_bytes=flush, buffer_sets=sets)

    def device_free_bytes(self) -> int | None:
        return gpu_device(self.options.device).free_memory()

    def context_error(self) -> str | None:
        from bench.gpu import cuda

        return cuda.context_error()
