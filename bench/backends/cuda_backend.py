"""Backend `cuda`: the Scale op as an NVRTC-compiled kernel (bench.gpu.kernel_source), the "what a user would
write instead" baseline. Every mode, channel axis and precision, int8 included (int8 codes in and out).

The kernel's launch configuration is tuned per GPU (bench.gpu.tuning): the first point of a tuning
class times the class's candidates on its own buffers with the shared timing core, and every point
records the configuration it ran with (`BuildInfo.kernel_config`), and where it came from.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench import reference
from bench.backends.base import BackendInfo, BackendOptions
from bench.backends.gpu_common import GpuBackend, GpuPreparedPoint, gpu_device, gpu_info
from bench.backends.kernel_tuner import KernelTuner
from bench.gpu import kernel_generator, kernel_layout, kernel_source
from bench.point import Point
from bench.precision import numpy_dtype

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.problem import Problem

_CTYPES = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}


@dataclass(frozen=True)
class _Plan:
    """One configuration compiled and laid out for a point: a launch once buffer pointers are given."""

    kernel: Any
    grid: int
    block: int
    buffers: list[DeviceBuffer]  # input, output, weights: the pointers a copy of the buffers replaces
    scalars: list[tuple[str, Any]]
    details: dict[str, Any]


class CudaScalePoint(GpuPreparedPoint):
    """Input and weights uploaded once, the kernel compiled (cached), tuned where its class is new, and
    its launch packed once."""

    def __init__(self, problem: Problem, device: Device, tuner: KernelTuner) -> None:
        super().__init__(problem, device)
        p = problem.point
        self._weights: dict[tuple[str, int], list[DeviceBuffer]] = {}
        self._plans: dict[kernel_layout.KernelConfig, _Plan] = {}
        try:
            expected = int(np.prod(reference.weight_shape(p.shape, p.mode, p.channel_axis)))
            for name in ("shift", "scale", "power"):
                got = getattr(problem, name).size
                if got != expected:
                    raise ValueError(f"{name} has {got} values, {p.mode} mode on {p.shape_str} expects {expected}")
            self.layouts = {"vector": kernel_layout.scale_layout(p.shape, p.mode, p.channel_axis, p.precision)}
            if p.numel <= kernel_layout.DIRECT_MAX:
                self.layouts["direct"] = kernel_layout.scale_layout(
                    p.shape, p.mode, p.channel_axis, p.precision, "direct"
                )
            weights = (problem.shift, problem.scale, problem.power)
            # what a launch needs of the host data, kept: binding a copy (`enqueue_on`) after the point shed it
            self._power_is_one = problem.power_is_one
            self._io_scales = (problem.in_scale, problem.out_scale)
            self._uniform = tuple(float(w.reshape(-1)[0]) for w in weights)  # UNIFORM's, passed by value
            # the fast int8 path needs no NaN test where no NaN can arise (power 1, finite weights)
            self.nan_safe = not problem.power_is_one or not all(
                np.isfinite(w.astype(np.float64)).all() for w in weights
            )
            self.x = self.input_buffer()  # input and output primed: see GpuPreparedPoint.prime
            self.out_dtype = numpy_dtype(p.precision)
            self.out_shape = tuple(p.shape)
            self.out = self.alloc(problem.input_nbytes)
            choice = tuner.choose(self)
            t0 = time.perf_counter()
            self.select(choice.config)
            self.build.build_s = time.perf_counter() - t0
        except BaseException:
            self.close()
            raise
        d = self._details
        self.build.kernel_config = {
            "variant": d["variant"],
            "block": d["block"],
            "vectors_per_thread": d["vpt"],
            "grid": d["grid"],
            "cache_hint": d["cache"],
            "weights": d["weights"],
            "grid_blocks": d["grid_blocks"],
            "source": choice.source,
            "tuning_key": choice.key,
        }
        self.build.builder_settings = {"kernel": kernel_source.KERNEL_NAME, "arch": device.arch, **d}

    def select(self, config: kernel_layout.KernelConfig) -> dict[str, Any]:
        """Run ``config`` from now on (how the tests check every candidate); returns what runs."""
        self._launch, self._details = self.bind(config)
        self._config = config
        self._rotation = None  # copies bound to the previous launch
        return self._details

    def bind(
        self, config: kernel_layout.KernelConfig, moved: dict[int, int] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The launch of ``config`` on this point (compiled once per source), and what it runs; ``moved``
        replaces buffer pointers (a copy of the point's buffers, see `enqueue_on`)."""
        return self.bind_many([config], moved)[0]

    def call_buffers(self) -> list[DeviceBuffer]:
        """Input, output and the weights the selected launch reads."""
        layout = self.layouts[self._details["variant"]]
        return [self.x, self.out, *self._weight_buffers(layout)]

    def enqueue_on(self, moved: dict[int, int]) -> Any:
        return self.bind(self._config, moved)[0]

    def bind_many(
        self, configs: list[kernel_layout.KernelConfig], moved: dict[int, int] | None = None
    ) -> list[tuple[Any, dict[str, Any]]]:
        """`bind` for several configurations, the new ones compiled together (NVRTC on a thread per core)."""
        self._plan(configs)
        return [self._bind_plan(self._plans[config], moved) for config in configs]

    def _plan(self, configs: list[kernel_layout.KernelConfig]) -> None:
        """Compile and lay out each configuration not planned yet: what a launch of it needs but the
        buffer pointers. A rotated sample binds the same plan to up to a thousand copies of the
        buffers; planning once keeps that to packing pointers."""
        from bench.gpu import kernel_cache

        new = [c for c in dict.fromkeys(configs) if c not in self._plans]
        if not new:
            return
        specs = []
        for config in new:
            layout, eff = self._layout_of(config), self.effective(config)
            specs.append((layout, eff, kernel_source.kernel_spec(layout, eff, self._power_is_one, self.nan_safe)))
        compiled = kernel_cache.compile_kernels(
            [kernel_source.kernel_source(spec) for _, _, spec in specs], kernel_source.KERNEL_NAME, self.device.arch
        )
        for config, (layout, eff, spec), kernel in zip(new, specs, compiled, strict=True):
            launch = kernel_layout.launch_config(layout, eff, self.device.sm_count, self.device.max_threads_per_sm)
            scalars = kernel_layout.kernel_args(layout, launch, *self._io_scales, self._uniform)
            details = {
                **eff.as_dict(),
                "weights": layout.weights,
                "expand": layout.expand,
                "grid_blocks": launch.grid,
                "stride": launch.stride,
                "vector_elems": layout.vec,
                "index64": layout.index64,
                "power_is_one": spec.power_is_one,
                "nan_safe": spec.nan_safe,
                "family": kernel_source.FAMILY,
            }
            buffers = [self.x, self.out, *self._weight_buffers(layout)]
            self._plans[config] = _Plan(kernel, launch.grid, launch.block, buffers, scalars, details)

    @staticmethod
    def _bind_plan(plan: _Plan, moved: dict[int, int] | None) -> tuple[Any, dict[str, Any]]:
        moved = moved or {}
        args = [(moved.get(b.ptr, b.ptr), ctypes.c_void_p) for b in plan.buffers]
        args += [(v, _CTYPES[kind]) for kind, v in plan.scalars]
        return plan.kernel.bind(plan.grid, plan.block, args), plan.details

    def _layout_of(self, config: kernel_layout.KernelConfig) -> kernel_layout.ScaleLayout:
        return self.layouts[config.variant if config.variant in self.layouts else "vector"]

    def effective(self, config: kernel_layout.KernelConfig) -> kernel_layout.KernelConfig:
        """``config`` as it runs on this point (what its row records): the direct variant only where the
        point has a direct layout, and `kernel_layout.effective_config`'s adjustments."""
        variant = config.variant if config.variant in self.layouts else "vector"
        return kernel_layout.effective_config(
            self._layout_of(config), kernel_layout.KernelConfig(**{**config.as_dict(), "variant": variant})
        )

    def _weight_buffers(self, layout: kernel_layout.ScaleLayout) -> list[DeviceBuffer]:
        """(shift, scale, power) as ``layout`` reads them, uploaded once per layout."""
        key = (layout.weights, layout.expand)
        if key not in self._weights:
            p = self.problem.point
            self._weights[key] = [
                self.upload(kernel_layout.expand_weights(layout, p.shape, p.channel_axis, getattr(self.problem, n)))
                for n in ("shift", "scale", "power")
            ]
        return self._weights[key]

    def enqueue(self, stream: Stream) -> None:
        self._launch(stream)


class CudaBackend(GpuBackend):
    name: ClassVar[str] = "cuda"
    verifies_on_device: ClassVar[bool] = True
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "bf16", "int8")

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.tuner = KernelTuner(self.options)  # parses --kernel-config: a bad one stops the run before any work
        from bench.gpu import kernel_cache

        kernel_cache.set_cubin_cache(self.options.cache_dir / "nvrtc")

    def info(self) -> BackendInfo:
        from bench.gpu import cuda

        dev = gpu_device(self.options.device)
        version = f"cuda-runtime {dev.runtime_version} / nvrtc {cuda.nvrtc_version()}"
        pin = self.tuner.pin
        how = "tuned per class" if pin is None else ("defaults" if pin.defaults_only else f"pinned {dict(pin.values)}")
        return gpu_info(
            self.name,
            version,
            dev,
            {
                "kernel_family": kernel_source.FAMILY,
                "kernel_generator": kernel_generator.generator_hash(),
                "kernel_tuning": how,
            },
        )

    def prepare(self, point: Point, problem: Problem) -> CudaScalePoint:
        return CudaScalePoint(problem, gpu_device(self.options.device), self.tuner)
