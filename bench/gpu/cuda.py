"""The one module that talks to CUDA (cuda-python): devices, streams, events, buffers, NVRTC, graphs.

Every other module imports this one freely: cuda-python is imported on first use, inside `_rt()`,
`_drv()` and `_nvrtc()`, and a missing package becomes a `UserError` naming the extra to install.
Every CUDA call goes through `_check`, which raises `CudaError` naming the call and the error, so no
return code is ever dropped. Objects that own device memory or handles free them deterministically:
they are context managers, and `close()`/`free()` is safe to call twice. What needs no cuda-python
lives beside it: `bench.gpu.cuda_values` (versions, UUIDs, launch dimensions, the handles' lifetime)
and `bench.gpu.kernel_cache` (cubins kept on disk, loaded kernels kept in the process).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from bench.errors import missing_package
from bench.gpu.cuda_values import Owned, dim3, uuid_str, version_str

_INSTEAD = "a CPU backend such as 'numpy'"


class CudaError(RuntimeError):
    """A CUDA, driver or NVRTC call returned an error; the message names the call and the error."""


# --- lazy imports ---------------------------------------------------------------------------------


def _import(module: str, legacy: str) -> ModuleType:
    """``cuda.bindings.<module>`` (12.6+), or the pre-13.0 ``cuda.<legacy>``; else name the extra."""
    for name in (f"cuda.bindings.{module}", f"cuda.{legacy}"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise missing_package("cuda.bindings", "gpu", _INSTEAD)


@functools.cache
def _rt() -> ModuleType:
    return _import("runtime", "cudart")


@functools.cache
def _drv() -> ModuleType:
    return _import("driver", "cuda")


@functools.cache
def _nvrtc() -> ModuleType:
    return _import("nvrtc", "nvrtc")


def _error_name(err: Any) -> str:
    return getattr(err, "name", None) or str(err)


def _check(result: Any, call: str) -> Any:
    """Unpack a cuda-python result tuple ``(err, *values)``; raise CudaError unless err is success (0)."""
    if not isinstance(result, tuple):
        result = (result,)
    err = result[0]
    if int(err) != 0:
        clear_last_error()  # a failed call leaves its error for the next cudaGetLastError: consume it here
        raise CudaError(f"{call} failed: {_error_name(err)}")
    values = result[1:]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def gpu_available() -> tuple[bool, str]:
    """Whether a CUDA device can be used here, and why not. Never raises."""
    try:
        rt = _rt()
    except Exception as exc:  # missing package, broken install
        return False, str(exc)
    try:
        err, count = rt.cudaGetDeviceCount()
    except Exception as exc:  # the runtime library itself failed to load
        return False, f"cudaGetDeviceCount raised {type(exc).__name__}: {exc}"
    if int(err) != 0:
        return False, f"no usable CUDA device: cudaGetDeviceCount returned {_error_name(err)}"
    if count < 1:
        return False, "no CUDA device: cudaGetDeviceCount returned 0"
    return True, f"{count} CUDA device(s)"


def runtime_version() -> str:
    return version_str(_check(_rt().cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))


def driver_version() -> str:
    """The CUDA version the driver supports (e.g. '13.0'); the NVML module gives the driver's own."""
    return version_str(_check(_rt().cudaDriverGetVersion(), "cudaDriverGetVersion"))


def nvrtc_version() -> str:
    major, minor = _check(_nvrtc().nvrtcVersion(), "nvrtcVersion")
    return f"{major}.{minor}"


def current_device() -> int:
    return int(_check(_rt().cudaGetDevice(), "cudaGetDevice"))


# --- device -----------------------------------------------------------------------------------------


class Device:
    """One CUDA device, made current (its primary context) on construction."""

    def __init__(self, index: int = 0) -> None:
        rt = _rt()
        self.index = index
        _check(rt.cudaSetDevice(index), f"cudaSetDevice({index})")
        _check(rt.cudaFree(0), "cudaFree(0)")  # creates the primary context, which NVRTC modules load into
        prop = _check(rt.cudaGetDeviceProperties(index), f"cudaGetDeviceProperties({index})")
        raw = prop.name
        self.name: str = (raw.decode() if isinstance(raw, bytes) else str(raw)).rstrip("\x00").strip()
        self.major: int = int(prop.major)
        self.minor: int = int(prop.minor)
        self.sm_count: int = int(prop.multiProcessorCount)
        self.l2_bytes: int = int(prop.l2CacheSize)
        self.total_memory: int = int(prop.totalGlobalMem)
        self.max_threads_per_sm: int = int(prop.maxThreadsPerMultiProcessor)
        self.uuid: str = uuid_str(getattr(getattr(prop, "uuid", None), "bytes", b""))
        self.driver_version: str = driver_version()
        self.runtime_version: str = runtime_version()

    def free_memory(self) -> int:
        """Device memory free now (cudaMemGetInfo), bytes."""
        free, _total = _check(_rt().cudaMemGetInfo(), "cudaMemGetInfo")
        return int(free)

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def arch(self) -> str:
        """NVRTC's target name, e.g. 'sm_90'."""
        return f"sm_{self.major}{self.minor}"

    def properties(self) -> dict[str, Any]:
        """What backends put in BackendInfo.extra."""
        return {
            "device_index": self.index,
            "uuid": self.uuid,
            "sm_count": self.sm_count,
            "l2_bytes": self.l2_bytes,
            "memory_bytes": self.total_memory,
            "cuda_runtime": self.runtime_version,
            "cuda_driver_api": self.driver_version,
        }


def context_error() -> str | None:
    """The sticky error of a lost CUDA context (e.g. cudaErrorIllegalAddress after a bad kernel), or None.

    After such an error every CUDA call in this process fails: only a new process can use the GPU again.
    Non-sticky errors (a bad launch configuration) were already returned by their own call."""
    try:
        (err,) = _rt().cudaDeviceSynchronize()
    except Exception as exc:  # the runtime itself is unusable
        return f"{type(exc).__name__}: {exc}"
    return None if int(err) == 0 else _error_name(err)


# --- streams and events -----------------------------------------------------------------------------


class Stream(Owned):
    """A non-blocking stream; `handle` is the raw cudaStream_t (``int(handle)`` for TensorRT)."""

    def __init__(self) -> None:
        rt = _rt()
        self.handle: Any = _check(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self._cu: Any = None

    @property
    def cu_handle(self) -> Any:
        """The same stream as a driver CUstream (cuLaunchKernel's argument)."""
        if self._cu is None:
            self._cu = _drv().CUstream(int(self.handle))
        return self._cu

    def synchronize(self) -> None:
        _check(_rt().cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def close(self) -> None:
        if self.handle is not None:
            handle, self.handle, self._cu = self.handle, None, None
            _check(_rt().cudaStreamDestroy(handle), "cudaStreamDestroy")


class Event(Owned):
    """A timing event (recorded on a stream, read with `elapsed_ms`)."""

    def __init__(self) -> None:
        rt = _rt()
        self.handle: Any = _check(rt.cudaEventCreateWithFlags(rt.cudaEventDefault), "cudaEventCreateWithFlags")

    def record(self, stream: Stream) -> None:
        _check(_rt().cudaEventRecord(self.handle, stream.handle), "cudaEventRecord")

    def record_in_graph(self, stream: Stream) -> None:
        """Record on a capturing stream as an event-record node of the graph, so every replay records
        the event (a plain record during capture only orders the captured work, and records nothing)."""
        rt = _rt()
        _check(
            rt.cudaEventRecordWithFlags(self.handle, stream.handle, rt.cudaEventRecordExternal),
            "cudaEventRecordWithFlags",
        )

    def synchronize(self) -> None:
        _check(_rt().cudaEventSynchronize(self.handle), "cudaEventSynchronize")

    def close(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            _check(_rt().cudaEventDestroy(handle), "cudaEventDestroy")


def elapsed_ms(start: Event, end: Event) -> float:
    """Device time between two recorded events, in milliseconds (waits for ``end``)."""
    end.synchronize()
    return float(_check(_rt().cudaEventElapsedTime(start.handle, end.handle), "cudaEventElapsedTime"))


def clear_last_error() -> None:
    """Consume a non-sticky error left by an earlier call (a refused allocation, say), so that the next
    check after a launch blames the launch only for what the launch did. Sticky errors stay."""
    with contextlib.suppress(Exception):
        _rt().cudaGetLastError()


def check_last_error(what: str) -> None:
    """Raise the error a kernel launch left behind (cudaGetLastError), naming ``what`` was launched."""
    _check(_rt().cudaGetLastError(), f"cudaGetLastError after {what}")


# --- memory -----------------------------------------------------------------------------------------


class DeviceBuffer(Owned):
    """``nbytes`` of device memory (cudaMalloc), freed by `free()`, the context manager or the GC."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)
        self.ptr: int = 0
        self.ptr = int(_check(_rt().cudaMalloc(max(self.nbytes, 1)), f"cudaMalloc({self.nbytes})"))

    def _host_check(self, host: np.ndarray, what: str) -> None:
        if not host.flags.c_contiguous:
            raise ValueError(f"{what} needs a C-contiguous host array")
        if host.nbytes > self.nbytes:
            raise ValueError(f"{what}: host array of {host.nbytes} bytes does not fit a {self.nbytes}-byte buffer")

    def upload(self, host: np.ndarray, stream: Stream | None = None) -> None:
        """Copy ``host`` to the start of the buffer; synchronous (the host array may be freed after)."""
        self._host_check(host, "upload")
        rt = _rt()
        kind = rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        if stream is None:
            _check(rt.cudaMemcpy(self.ptr, host.ctypes.data, host.nbytes, kind), "cudaMemcpy(HtoD)")
        else:
            _check(rt.cudaMemcpyAsync(self.ptr, host.ctypes.data, host.nbytes, kind, stream.handle), "cudaMemcpyAsync")
            stream.synchronize()  # pageable host memory: keep it alive until the copy is done

    def download(self, host: np.ndarray, stream: Stream | None = None) -> np.ndarray:
        """Fill ``host`` from the start of the buffer; waits for ``stream``'s earlier work first."""
        self._host_check(host, "download")
        rt = _rt()
        kind = rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        if stream is None:
            _check(rt.cudaMemcpy(host.ctypes.data, self.ptr, host.nbytes, kind), "cudaMemcpy(DtoH)")
        else:
            _check(rt.cudaMemcpyAsync(host.ctypes.data, self.ptr, host.nbytes, kind, stream.handle), "cudaMemcpyAsync")
            stream.synchronize()
        return host

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            _check(_rt().cudaFree(ptr), "cudaFree")

    close = free


def memcpy_dtod_async(dst_ptr: int, src_ptr: int, nbytes: int, stream: Stream) -> None:
    rt = _rt()
    _check(
        rt.cudaMemcpyAsync(dst_ptr, src_ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice, stream.handle),
        "cudaMemcpyAsync(DtoD)",
    )


def memset_async(ptr: int, value: int, nbytes: int, stream: Stream) -> None:
    _check(_rt().cudaMemsetAsync(ptr, value, nbytes, stream.handle), "cudaMemsetAsync")


# --- NVRTC kernels ----------------------------------------------------------------------------------


class CompileError(CudaError):
    """NVRTC rejected the source; the message carries NVRTC's log."""


def nvrtc_compile(source: str, name: str, arch: str, options: Sequence[str], *, ptx: bool = False) -> bytes:
    """Compile with NVRTC for ``arch`` ('sm_90'; 'compute_90' with ``ptx``) and return the cubin (or the
    PTX, what a reader counts instructions in); CompileError carries NVRTC's log. Needs no GPU.
    `bench.gpu.kernel_cache` keeps the cubins on disk and the loaded kernels in the process."""
    nv = _nvrtc()
    prog = _check(nv.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}".encode(), b"--std=c++17", *(o.encode() for o in options)]
        (err,) = nv.nvrtcCompileProgram(prog, len(opts), opts)
        if int(err) != 0:
            size = _check(nv.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
            log = b" " * size
            _check(nv.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog")
            text = log.rstrip(b"\x00").decode(errors="replace")
            raise CompileError(f"nvrtcCompileProgram failed for {name} ({arch}): {_error_name(err)}\n{text}")
        if ptx:
            size = _check(nv.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
            data = b" " * size
            _check(nv.nvrtcGetPTX(prog, data), "nvrtcGetPTX")
            return data
        size = _check(nv.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
        data = b" " * size
        _check(nv.nvrtcGetCUBIN(prog, data), "nvrtcGetCUBIN")
        return data
    finally:
        _check(nv.nvrtcDestroyProgram(prog), "nvrtcDestroyProgram")


@dataclass
class Launch:
    """A kernel launch with its arguments packed once: replaying it costs one cuLaunchKernel call."""

    kernel: Kernel
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    _values: list[Any]
    _pointers: Any

    def __call__(self, stream: Stream) -> None:
        drv = _drv()
        _check(
            drv.cuLaunchKernel(
                self.kernel.function, *self.grid, *self.block, 0, stream.cu_handle, ctypes.addressof(self._pointers), 0
            ),
            f"cuLaunchKernel({self.kernel.name})",
        )


class Kernel:
    """A compiled kernel loaded into the current context (kept loaded for the process's life)."""

    def __init__(self, cubin: bytes, name: str) -> None:
        drv = _drv()
        self.name = name
        self.cubin = cubin
        self.module = _check(drv.cuModuleLoadData(cubin), "cuModuleLoadData")
        self.function = _check(drv.cuModuleGetFunction(self.module, name.encode()), f"cuModuleGetFunction({name})")

    def bind(
        self, grid: int | tuple[int, ...], block: int | tuple[int, ...], args: Sequence[tuple[Any, type]]
    ) -> Launch:
        """Pack ``args`` (``(value, ctypes type)`` pairs; pointers as ``(int, ctypes.c_void_p)``) once."""
        values = [ctype(value) for value, ctype in args]
        pointers = (ctypes.c_void_p * max(len(values), 1))(*(ctypes.addressof(v) for v in values))
        return Launch(self, dim3(grid), dim3(block), values, pointers)


# --- graphs -----------------------------------------------------------------------------------------


class Graph(Owned):
    """An instantiated CUDA graph captured from a stream; `launch` replays it."""

    def __init__(self, graph: Any, exec_: Any, nodes: int) -> None:
        self._graph = graph
        self._exec = exec_
        self.nodes = nodes

    def launch(self, stream: Stream) -> None:
        _check(_rt().cudaGraphLaunch(self._exec, stream.handle), "cudaGraphLaunch")

    def close(self) -> None:
        rt = _rt()
        if self._exec is not None:
            exec_, self._exec = self._exec, None
            _check(rt.cudaGraphExecDestroy(exec_), "cudaGraphExecDestroy")
        if self._graph is not None:
            graph, self._graph = self._graph, None
            _check(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")


def capture_graph(stream: Stream, fn: Callable[[Stream], None]) -> Graph:
    """Capture what ``fn(stream)`` enqueues into a graph and instantiate it.

    On any failure (an uncapturable call, an exception in ``fn``) the capture is ended, the stream is
    usable again and the error propagates, so a caller can fall back to plain launches.
    """
    rt = _rt()
    mode = rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
    _check(rt.cudaStreamBeginCapture(stream.handle, mode), "cudaStreamBeginCapture")
    graph = None
    try:
        fn(stream)
    except BaseException:
        err, graph = rt.cudaStreamEndCapture(stream.handle)
        if int(err) == 0 and graph is not None:
            rt.cudaGraphDestroy(graph)
        rt.cudaGetLastError()  # capture errors are not sticky; clear them
        raise
    graph = _check(rt.cudaStreamEndCapture(stream.handle), "cudaStreamEndCapture")
    try:
        _, nodes = _check(rt.cudaGraphGetNodes(graph, 0), "cudaGraphGetNodes")
        exec_ = _check(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
    except BaseException:
        rt.cudaGraphDestroy(graph)
        raise
    return Graph(graph, exec_, int(nodes))
