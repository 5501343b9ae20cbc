"""The one interface every backend implements (Polygraphy's runner shape).

A backend answers three questions and owns no loop: can it run this point (`unsupported`), what does
it run on (`info`), and given a point's data, build it (`prepare`) into a `PreparedPoint` that can
produce one output for verification and be timed. The harness (bench.runner) owns the loop over
points; the timing loops live in bench.timing, shared by every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench import reference
from bench.point import Point
from bench.precision import PRECISIONS
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.problem import Problem


@dataclass
class BackendOptions:
    """Run-wide choices a backend may need."""

    build_only: bool = False  # build (and record build figures) without executing
    trt_api: str | None = None  # 'v2' | 'v3' | None (the generation's default)
    cache_dir: Path = Path(".cache/bench")  # engine and timing caches, kernel tuning records
    device: int = 0
    kernel_config: str | None = None  # --kernel-config: pin the cuda kernel's launch ('default': no tuning)
    # --tuning-from: launches carried from a baseline or another runner (bench.gpu.launch_sets.LaunchSet)
    launches: Any = None
    # the run's timing settings: the kernel's tuner times its candidates the same way (set by the CLI)
    timing: TimingSettings | None = None
    # TensorRT's timing cache: None (the harness's own per version and GPU), an absolute path to share
    # (--timing-cache) or 'off' (--no-timing-cache); see bench/backends/tensorrt/timing_cache.py
    timing_cache: str | None = None

    def identity(self) -> dict[str, Any]:
        """The options that change what a row measures (part of a run's identity for --resume); the
        timing settings are part of that identity on their own."""
        skip = ("build_only", "trt_api", "cache_dir", "device", "launches", "timing")
        return {
            "trt_api": self.trt_api,
            **{k: v for k, v in vars(self).items() if k not in skip},
            **({"launches": self.launches.digest()} if self.launches is not None else {}),
        }


@dataclass
class BackendInfo:
    """What a backend runs on; becomes the environment columns of every row it produces."""

    backend: str
    backend_version: str
    gpu_name: str | None = None
    compute_capability: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # clocks, memory, library versions


@dataclass
class BuildInfo:
    """Build figures of a prepared point, where the backend builds something."""

    build_s: float | None = None
    engine_bytes: int | None = None
    builder_settings: dict[str, Any] = field(default_factory=dict)
    layer_info: str | None = None  # engine inspector JSON (TensorRT)
    cached: bool = False  # the engine came from the engine cache
    # the cuda kernel's launch configuration: variant, block, vectors_per_thread, grid, cache_hint,
    # weights, grid_blocks, source (tuned | cached | pinned | default), tuning_key
    kernel_config: dict[str, str | int | float | bool] | None = None


class PreparedPoint(ABC):
    """One point built on one backend: produce an output, be timed, release what it holds."""

    build: BuildInfo

    @abstractmethod
    def output(self) -> np.ndarray:
        """Run once on the point's input and return the output on the host."""

    @abstractmethod
    def measure(self, timing: TimingSettings) -> Measurement:
        """Time the op with the shared timing core."""

    def shed_host_data(self) -> bool:
        """Drop the host copies of the point's data once it is verified, where timing does not need them;
        True when nothing sizeable stays on the host. A point kept open between rounds then costs only
        its device memory (a host backend times on its host arrays: it keeps them, and says False)."""
        return False

    def close(self) -> None:
        """Release buffers, engines, streams. Safe to call twice."""

    def __enter__(self) -> PreparedPoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    """Base of all backends; subclasses set `name`, `precisions` and implement the hooks."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    can_build_only: ClassVar[bool] = False  # builds without executing (TensorRT ahead-of-time)
    needs_gpu: ClassVar[bool] = False  # executes on a CUDA GPU: a start-up failure says so
    times_on_host: ClassVar[bool] = False  # timed with the host clock: other CPU work would disturb it
    # its input can be made, and its output judged, on the GPU (bench.device_data: `--verify device`)
    verifies_on_device: ClassVar[bool] = False

    def __init__(self, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()

    def unsupported(self, point: Point) -> str | None:
        """Why this backend skips ``point``, or None. Pure: needs no GPU, runs at plan time."""
        if point.precision not in self.precisions:
            return f"{self.name} does not support precision {point.precision} (supports {', '.join(self.precisions)})"
        if point.mode == "uniform" and point.channel_axis is not None:
            return "channel_axis does not apply to UNIFORM mode: measured once, as channel_axis 'default'"
        reason = self._axis_out_of_range(point)
        if reason:
            return reason
        return self._unsupported_impl(point)

    def bytes_moved(self, point: Point) -> int:
        """Bytes one call must read and write; the basis of `gbps` and `pct_of_memcpy`."""
        return point.bytes_moved

    # -- resources: what a point needs beyond the host arrays, and what the device has -------------
    def device_bytes(self, point: Point, timing: TimingSettings) -> int:
        """Device memory one prepared point holds at its peak (0: the backend runs on the host)."""
        return 0

    def device_free_bytes(self) -> int | None:
        """Device memory free now, or None when the backend has no device (or cannot tell)."""
        return None

    def context_error(self) -> str | None:
        """After a failure: the sticky error that left this process unable to use its device (the CUDA
        context is lost; only a new process can go on), or None."""
        return None

    def _axis_out_of_range(self, point: Point) -> str | None:
        """Out-of-range axes are skipped here; TensorRT backends override this to let TensorRT judge."""
        if point.mode == "uniform":
            return None
        try:
            reference.resolve_axis(point.shape, point.channel_axis)
        except ValueError as exc:
            return str(exc)
        return None

    def _unsupported_impl(self, point: Point) -> str | None:
        return None

    @abstractmethod
    def info(self) -> BackendInfo:
        """Versions and device of this backend (may initialise the device)."""

    @abstractmethod
    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        """Build the point (engine, kernel, buffers) with the problem's input and weights."""

    def close(self) -> None:
        """Release what the backend holds across points (context, caches)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
