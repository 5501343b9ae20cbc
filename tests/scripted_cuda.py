"""A scripted stand-in for `bench.gpu.cuda`, for CPU tests of code that times launches on a stream.

It models what the timing code relies on: work enqueued on a stream runs in order on one device clock;
during a capture the work is kept in the graph instead; a replay runs the graph's work again; an event
recorded as a graph node (`record_in_graph`) takes a timestamp on every replay, and none before the
first (an event last recorded inside a capture cannot be read), while a plain record during a capture
takes none (as in CUDA, where it only orders the captured work). As under CUDA's thread-local capture
mode, what cannot be captured fails while a capture is open: a synchronisation, an allocation or a
free (cudaErrorStreamCaptureUnsupported). A kernel's cost is
``cost_us(kernel, pointers)``, so a test decides how long each launch takes and reads back which launch
ran on which buffers (`Device.ran`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.gpu.cuda import CudaError


@dataclass
class ScriptedDevice:
    """The device clock, the launches run (kernel name, pointers), and the allocator."""

    cost_us: Callable[[str, tuple[int, ...]], float]
    clock_us: float = 0.0
    ran: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    graphs_nodes: list[int] = field(default_factory=list)
    capturing: int = 0  # captures open now (CUDA refuses unsafe calls such as cudaMalloc during one)
    _next_ptr: itertools.count = field(default_factory=lambda: itertools.count(1 << 32, 1 << 30))


class Stream:
    def __init__(self, device: ScriptedDevice) -> None:
        self.device = device
        self.capturing: list[Callable[[], None]] | None = None
        self.handle = object()

    def enqueue(self, op: Callable[[], None]) -> None:
        if self.capturing is not None:
            self.capturing.append(op)
        else:
            op()

    def synchronize(self) -> None:
        if self.capturing is not None:
            raise CudaError("cudaStreamSynchronize failed: cudaErrorStreamCaptureUnsupported")

    def close(self) -> None:
        pass


class Event:
    def __init__(self, device: ScriptedDevice) -> None:
        self.device = device
        self.at: float | None = None

    def record(self, stream: Stream) -> None:
        if stream.capturing is None:
            self.at = self.device.clock_us
        # a plain record during capture orders the captured work and records nothing per replay

    def record_in_graph(self, stream: Stream) -> None:
        def take() -> None:
            self.at = self.device.clock_us

        if stream.capturing is not None:
            self.at = None  # last recorded inside a capture: unreadable until a replay records it
        stream.enqueue(take)

    def synchronize(self) -> None:
        pass

    def close(self) -> None:
        pass


class Graph:
    def __init__(self, ops: list[Callable[[], None]]) -> None:
        self.ops = ops
        self.nodes = len(ops)

    def launch(self, stream: Stream) -> None:
        for op in self.ops:
            stream.enqueue(op)

    def close(self) -> None:
        pass


@dataclass
class Launch:
    """A kernel bound to its arguments; a call enqueues it on the device clock."""

    name: str
    pointers: tuple[int, ...]
    device: ScriptedDevice

    def __call__(self, stream: Stream) -> None:
        def run() -> None:
            self.device.ran.append((self.name, self.pointers))
            self.device.clock_us += self.device.cost_us(self.name, self.pointers)

        stream.enqueue(run)


@dataclass
class Kernel:
    name: str
    device: ScriptedDevice

    def bind(self, grid: Any, block: Any, args: list[tuple[Any, type]]) -> Launch:
        import ctypes

        pointers = tuple(int(v) for v, t in args if t is ctypes.c_void_p)
        return Launch(self.name, pointers, self.device)


def _refused_in_capture(device: ScriptedDevice, call: str) -> None:
    if device.capturing:
        raise CudaError(f"{call} failed: cudaErrorStreamCaptureUnsupported")


class DeviceBuffer:
    def __init__(self, device: ScriptedDevice, nbytes: int) -> None:
        _refused_in_capture(device, "cudaMalloc")
        self.device = device
        self.nbytes = int(nbytes)
        self.ptr = next(device._next_ptr)

    def upload(self, host: Any, stream: Any = None) -> None:
        _refused_in_capture(self.device, "cudaMemcpy")

    def free(self) -> None:
        if self.ptr:
            _refused_in_capture(self.device, "cudaFree")
        self.ptr = 0

    close = free

    def __enter__(self) -> DeviceBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


def install(monkeypatch: Any, device: ScriptedDevice) -> None:
    """Put the stand-in in place of `bench.gpu.cuda`'s streams, events, buffers, graphs and copies."""
    from bench.gpu import cuda

    def capture_graph(stream: Stream, fn: Callable[[Stream], None]) -> Graph:
        stream.capturing = []
        device.capturing += 1
        try:
            fn(stream)
        finally:
            ops, stream.capturing = stream.capturing, None
            device.capturing -= 1
        device.graphs_nodes.append(len(ops))
        return Graph(ops)

    def memcpy_dtod_async(dst: int, src: int, nbytes: int, stream: Stream) -> None:
        Launch("cudaMemcpyAsync", (dst, src), device)(stream)

    monkeypatch.setattr(cuda, "Stream", lambda: Stream(device))
    monkeypatch.setattr(cuda, "Event", lambda: Event(device))
    monkeypatch.setattr(cuda, "DeviceBuffer", lambda nbytes: DeviceBuffer(device, nbytes))
    monkeypatch.setattr(cuda, "capture_graph", capture_graph)

    def elapsed_ms(start: Event, end: Event) -> float:
        if start.at is None or end.at is None:  # as cudaEventElapsedTime on an event never recorded
            raise CudaError("cudaEventElapsedTime failed: cudaErrorInvalidResourceHandle")
        return (end.at - start.at) / 1e3

    monkeypatch.setattr(cuda, "elapsed_ms", elapsed_ms)
    monkeypatch.setattr(cuda, "memcpy_dtod_async", memcpy_dtod_async)
    monkeypatch.setattr(cuda, "memset_async", lambda ptr, value, nbytes, stream: None)
    monkeypatch.setattr(cuda, "clear_last_error", lambda: None)
    monkeypatch.setattr(cuda, "check_last_error", lambda what: None)
