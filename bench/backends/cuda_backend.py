"""Backend `cuda`: the Scale op as an NVRTC-compiled kernel (bench.gpu.kernels), the "what a user would
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
from bench.gpu import kernels, nvml, tuning
from bench.point import Point
from bench.precision import numpy_dtype
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.problem import Problem

_CTYPES = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}
# Short and steady: a candidate of a 64 MiB tensor gets ~80 samples; a decision needs the ordering of
# configurations that differ by a few percent, not a publishable time.
TUNING_SETTINGS = TimingSettings(
    method="graph", warmup_s=0.005, min_samples=5, min_time_s=0.02, max_time_s=0.1, target_noise=0.005
)


@dataclass(frozen=True)
class Choice:
    config: kernels.KernelConfig
    source: str  # one of tuning.SOURCES
    key: str


class CudaScalePoint(GpuPreparedPoint):
    """Input and weights uploaded once, the kernel compiled (cached), tuned where its class is new, and
    its launch packed once."""

    def __init__(self, problem: Problem, device: Device, tuner: KernelTuner) -> None:
        super().__init__(problem, device)
        p = problem.point
        self._weights: dict[tuple[str, int], list[DeviceBuffer]] = {}
        try:
            expected = int(np.prod(reference.weight_shape(p.shape, p.mode, p.channel_axis)))
            for name in ("shift", "scale", "power"):
                got = getattr(problem, name).size
                if got != expected:
                    raise ValueError(f"{name} has {got} values, {p.mode} mode on {p.shape_str} expects {expected}")
            self.layouts = {"vector": kernels.scale_layout(p.shape, p.mode, p.channel_axis, p.precision)}
            if p.numel <= kernels.DIRECT_MAX:
                self.layouts["direct"] = kernels.scale_layout(p.shape, p.mode, p.channel_axis, p.precision, "direct")
            weights = (problem.shift, problem.scale, problem.power)
            # what a launch needs of the host data, kept: binding a copy (`enqueue_on`) after the point shed it
            self._power_is_one = problem.power_is_one
            self._io_scales = (problem.in_scale, problem.out_scale)
            self._uniform = tuple(float(w.reshape(-1)[0]) for w in weights)  # UNIFORM's, passed by value
            # the fast int8 path needs no NaN test where no NaN can arise (power 1, finite weights)
            self.nan_safe = not problem.power_is_one or not all(
                np.isfinite(w.astype(np.float64)).all() for w in weights
            )
            self.prime(problem.x.nbytes, problem.x.nbytes)  # input and output: see GpuPreparedPoint.prime
            self.x = self.upload(problem.x)
            self.out_dtype = numpy_dtype(p.precision)
            self.out_shape = tuple(p.shape)
            self.out = self.alloc(problem.x.nbytes)
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
        self.build.builder_settings = {"kernel": kernels.KERNEL_NAME, "arch": device.arch, **d}

    def select(self, config: kernels.KernelConfig) -> dict[str, Any]:
        """Run ``config`` from now on (how the tests check every candidate); returns what runs."""
        self._launch, self._details = self.bind(config)
        self._config = config
        self._rotation = None  # copies bound to the previous launch
        return self._details

    def bind(self, config: kernels.KernelConfig, moved: dict[int, int] | None = None) -> tuple[Any, dict[str, Any]]:
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
        self, configs: list[kernels.KernelConfig], moved: dict[int, int] | None = None
    ) -> list[tuple[Any, dict[str, Any]]]:
        """`bind` for several configurations, compiled together (NVRTC on a few threads)."""
        from bench.gpu import cuda

        plans = []
        for config in configs:
            variant = config.variant if config.variant in self.layouts else "vector"
            layout = self.layouts[variant]
            eff = kernels.effective_config(layout, kernels.KernelConfig(**{**config.as_dict(), "variant": variant}))
            spec = kernels.kernel_spec(layout, eff, self._power_is_one, self.nan_safe)
            plans.append((layout, eff, spec))
        compiled = cuda.compile_kernels(
            [kernels.kernel_source(spec) for _, _, spec in plans], kernels.KERNEL_NAME, self.device.arch
        )
        out = []
        for (layout, eff, spec), kernel in zip(plans, compiled, strict=True):
            launch = kernels.launch_config(layout, eff, self.device.sm_count, self.device.max_threads_per_sm)
            bufs = self._weight_buffers(layout)
            args = [((moved or {}).get(b.ptr, b.ptr), ctypes.c_void_p) for b in (self.x, self.out, *bufs)]
            scalars = kernels.kernel_args(layout, launch, *self._io_scales, self._uniform)
            args += [(v, _CTYPES[kind]) for kind, v in scalars]
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
                "family": kernels.FAMILY,
            }
            out.append((kernel.bind(launch.grid, launch.block, args), details))
        return out

    def _weight_buffers(self, layout: kernels.ScaleLayout) -> list[DeviceBuffer]:
        """(shift, scale, power) as ``layout`` reads them, uploaded once per layout."""
        key = (layout.weights, layout.expand)
        if key not in self._weights:
            p = self.problem.point
            self._weights[key] = [
                self.upload(kernels.expand_weights(layout, p.shape, p.channel_axis, getattr(self.problem, n)))
                for n in ("shift", "scale", "power")
            ]
        return self._weights[key]

    def enqueue(self, stream: Stream) -> None:
        self._launch(stream)


class KernelTuner:
    """Decisions per tuning class for one GPU: pinned, default, from this process, from the cache, or
    made now by timing the class's candidates on the point being prepared."""

    def __init__(self, options: BackendOptions) -> None:
        self.pin = tuning.parse_kernel_config(options.kernel_config)
        self.cache_dir = options.cache_dir
        self._decided: dict[str, tuple[tuning.TuningRecord, str]] = {}
        self._identity: tuning.GpuIdentity | None = None

    def identity(self, device: Device) -> tuning.GpuIdentity:
        if self._identity is None:
            driver = nvml.driver_version() or f"cuda-{device.driver_version}"
            self._identity = tuning.GpuIdentity(device.name, device.uuid or f"index-{device.index}", driver)
        return self._identity

    def choose(self, point: CudaScalePoint) -> Choice:
        p, device = point.problem.point, point.device
        vector = point.layouts["vector"]
        size = tuning.size_class(p.numel, p.tensor_bytes, device.l2_bytes)
        key = tuning.tuning_key(vector, size, point.problem.power_is_one)
        base = tuning.default_config(vector, size)
        if self.pin is not None:
            return (
                Choice(base, "default", key) if self.pin.defaults_only else Choice(self.pin.apply(base), "pinned", key)
            )
        if key not in self._decided:
            identity = self.identity(device)
            record = tuning.load_cached(identity, self.cache_dir, key)
            if record is not None:
                self._decided[key] = (record, "cached")
                tuning.announce(tuning.describe(record, "cached"))
            else:
                record = self.tune(point, key, size, identity)
                self._decided[key] = (record, "tuned")
        record, source = self._decided[key]
        return Choice(record.config, source, key)

    def tune(self, point: CudaScalePoint, key: str, size: str, identity: tuning.GpuIdentity) -> tuning.TuningRecord:
        from bench.gpu.cuda import CudaError
        from bench.timing.device import measure

        p, device = point.problem.point, point.device
        configs = tuning.candidates(point.layouts["vector"], size, point.layouts.get("direct"))
        tuning.announce(
            f"kernel tuning [{device.name}] {key}: timing {len(configs)} launch configurations on {p.label()}"
        )
        t0 = time.perf_counter()
        results: list[tuning.Candidate] = []
        try:
            launches = point.bind_many(configs)
        except (CudaError, ValueError) as exc:  # compile them one by one: a failure is data, not the end
            launches = []
            for cfg in configs:
                try:
                    launches.append(point.bind(cfg))
                except (CudaError, ValueError) as one:
                    launches.append((None, {"error": f"{type(one).__name__}: {one}"}))
            tuning.announce(f"kernel tuning: compiling together failed ({exc}); compiled one by one")
        for cfg, (launch, details) in zip(configs, launches, strict=True):
            cand = tuning.Candidate(cfg.as_dict(), cfg.label())
            if launch is None:
                cand.error = details["error"]
            else:
                try:
                    m = measure(launch, point.stream, TUNING_SETTINGS, device=device, nvml_index=None)
                    samples = np.asarray(m.samples_us)
                    cand.median_us, cand.min_us = float(np.median(samples)), float(samples.min())
                    cand.noise, cand.samples = float(m.noise), len(samples)
                except (CudaError, RuntimeError) as exc:
                    cand.error = f"{type(exc).__name__}: {exc}"
                    point.stream.synchronize()
            results.append(cand)
        best = tuning.decide(results)
        record = tuning.TuningRecord(
            key=key,
            gpu={
                "name": device.name,
                "uuid": identity.uuid,
                "sm_count": device.sm_count,
                "l2_bytes": device.l2_bytes,
                "compute_capability": device.compute_capability,
            },
            driver=identity.driver,
            generator=identity.generator,
            tuned_on={
                "shape": p.shape_str,
                "mode": p.mode,
                "precision": p.precision,
                "channel_axis": p.axis_label,
                "point_key": p.key,
            },
            settings=TUNING_SETTINGS.to_dict(),
            candidates=results,
            chosen=results[best].config,
            tuning_s=time.perf_counter() - t0,
        )
        try:
            tuning.save_record(identity, self.cache_dir, record)
        except OSError as exc:  # a read-only cache costs a re-tune next run, not this run
            tuning.announce(f"kernel tuning: could not store the record under {self.cache_dir}: {exc}")
        tuning.announce(tuning.describe(record, "tuned"))
        return record


class CudaBackend(GpuBackend):
    name: ClassVar[str] = "cuda"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "bf16", "int8")

    def __init__(self, options: BackendOptions | None = None) -> None:
        super().__init__(options)
        self.tuner = KernelTuner(self.options)  # parses --kernel-config: a bad one stops the run before any work

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
            {"kernel_family": kernels.FAMILY, "kernel_generator": kernels.generator_hash(), "kernel_tuning": how},
        )

    def prepare(self, point: Point, problem: Problem) -> CudaScalePoint:
        return CudaScalePoint(problem, gpu_device(self.options.device), self.tuner)
