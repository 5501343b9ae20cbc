"""The `tensorrt` and `tensorrt-rtx` backends: one adapter, two flavours.

The adapter imports its flavour's module (importer), reads its features (features), and from then on
every generation-specific choice is a pure decision on those features. `info()` is its start-up: before
any point it checks what would make every point fail (startup: the cache folder, a GPU, a runtime that
accepts this GPU) and refuses with one line. It builds through `build` (engine cache, timing cache,
TensorRT's own errors) and, unless --build-only, runs the engine through the shared GPU layer
(execution): the timing loop is the harness's, not this backend's.

TensorRT's lean runtime (`tensorrt_lean_bindings`, on PyPI for 10.x and 11.x) is NOT a flavour of this
adapter. It has the execution half of the API (Runtime, ICudaEngine, IExecutionContext, execute_async_v3)
but no builder, and runs only version-compatible engines (BuilderFlag.VERSION_COMPATIBLE) that a full
TensorRT of the same major version built. This adapter builds plain engines, keys its engine cache by
flavour and version, and could not test a lean flavour end to end anywhere (no full builder can be
installed here): accepting it would mean a backend that fails every point. `python -m bench selfcheck`
uses it for what it can show (a Runtime on the GPU, TensorRT's own refusal of a damaged engine), and
the contract tests hold the execution path against it.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench.backends.base import Backend, BackendInfo, BuildInfo, PreparedPoint
from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt import startup, timing_cache
from bench.backends.tensorrt.build import AOT, BuiltEngine, EngineBuilder, created, deserialize
from bench.backends.tensorrt.capture import MessageLog, TensorRTError, make_logger
from bench.backends.tensorrt.importer import import_trt
from bench.errors import UserError
from bench.point import Point
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.problem import Problem


class BuildOnlyError(RuntimeError):
    """A build-only point was asked to run: the runner records 'built' and never should."""


class BuiltOnlyPoint(PreparedPoint):
    """An engine built ahead of time and not executed (--build-only, or no GPU needed to build)."""

    def __init__(self, build: BuildInfo, reason: str) -> None:
        self.build = build
        self._reason = reason

    def output(self) -> np.ndarray:
        raise BuildOnlyError(f"this point was only built, not executed: {self._reason}")

    def measure(self, timing: TimingSettings) -> Measurement:
        raise BuildOnlyError(f"this point was only built, not executed: {self._reason}")


class _TensorRTAdapter(Backend):
    """Shared by both flavours; subclasses only name themselves."""

    flavour: ClassVar[str]
    can_build_only: ClassVar[bool] = True
    needs_gpu: ClassVar[bool] = True  # to execute; --build-only with TensorRT-RTX needs none
    # its points read their input through GpuPreparedPoint.input_buffer, so a device input would do; they
    # stay on the host path until the device path has run against a TensorRT that executes on a lent GPU
    verifies_on_device: ClassVar[bool] = False

    _trt: ModuleType | None = None
    _features: feat.TrtFeatures | None = None
    _gpu: Any = None  # bench.gpu.cuda.Device, once looked up
    _gpu_reason: str | None = None
    _engines: EngineBuilder | None = None
    _runtime: Any = None
    _started: bool = False  # the start-up checks passed

    # -- the module and what it offers -------------------------------------------------------
    @property
    def trt(self) -> ModuleType:
        if self._trt is None:
            self._trt = import_trt(self.flavour)
        return self._trt

    @property
    def features(self) -> feat.TrtFeatures:
        if self._features is None:
            self._features = feat.detect(self.trt, self.flavour)
        return self._features

    def _device(self) -> Any:
        """The CUDA device (shared with the other GPU backends), or None where there is none: a
        build-only machine, or one without cuda-python. Looked up once."""
        if self._gpu is None and self._gpu_reason is None:
            try:
                from bench.backends.gpu_common import gpu_device
                from bench.gpu import cuda

                ok, reason = cuda.gpu_available()
                if ok:
                    self._gpu = gpu_device(self.options.device)
                else:
                    self._gpu_reason = reason
            except Exception as exc:  # cuda-python broken: building ahead of time still works
                self._gpu_reason = f"{type(exc).__name__}: {exc}"
        return self._gpu

    def _gpu_name(self) -> str | None:
        dev = self._device()
        return dev.name if dev is not None else None

    # -- plan-time questions -----------------------------------------------------------------
    def _axis_out_of_range(self, point: Point) -> str | None:
        """TensorRT judges axes: an out-of-range one becomes a failed row with TensorRT's message."""
        return None

    def _unsupported_impl(self, point: Point) -> str | None:
        f = self.features
        return (
            feat.precision_skip_reason(f, point.precision)
            or feat.layer_skip_reason(f, point.channel_axis)
            or feat.run_api_skip_reason(f, self.options.trt_api)
        )

    # -- start-up ----------------------------------------------------------------------------
    def start(self) -> None:
        """Refuse, with UserError (exit 2) and one line, what would fail every point: an unwritable
        --cache-dir, no GPU without --build-only (or one the module cannot build without), a GPU the
        runtime refuses. Runs once; `info()` calls it, so the CLI runs it before any point."""
        if self._started:
            return
        f = self.features
        startup.check_cache_dir(self.options.cache_dir)
        dev = self._device()
        no_gpu_build = feat.build_without_gpu_reason(f)
        if dev is None and not self.options.build_only:
            raise UserError(startup.no_gpu_line(self.name, self._gpu_reason, no_gpu_build))
        if dev is None and no_gpu_build:
            raise UserError(f"--backend {self.name} --build-only: {no_gpu_build}")
        self._check_timing_cache(dev)
        if dev is not None and not self.options.build_only and feat.runtime_may_refuse_gpu(f):
            self._check_runtime_accepts(dev)
        self._started = True

    def _check_timing_cache(self, dev: Any) -> None:
        """A --timing-cache file is for tactics timed on a GPU: refused where the flavour has no timing
        cache or builds ahead of time, and imported now, so a file TensorRT refuses stops the run here."""
        option = self.options.timing_cache
        if option is None or option == timing_cache.OFF:
            return
        f = self.features
        if not f.has_timing_cache or dev is None:
            why = (
                "its timing cache calls are no-ops"
                if not f.has_timing_cache
                else "it builds ahead of time, timing nothing"
            )
            raise UserError(
                f"--timing-cache {option}: {self.trt.__name__} {f.version} has no timing cache to share here ({why}); "
                "drop --timing-cache"
            )
        timing_cache.check_shared_path(Path(option))
        self._builder().load_timing_cache()

    def _check_runtime_accepts(self, dev: Any) -> None:
        """Build the smallest engine and deserialise it: TensorRT-RTX's refusal of this GPU (with its own
        list of compute capabilities) becomes the one line the user sees, before any point is built."""
        from bench.problem import make_problem

        problem = make_problem(startup.probe_point(self.name))
        try:
            deserialize(self._runtime_object(), self.build(problem).serialized, self._builder().messages)
        except TensorRTError as exc:
            line = startup.gpu_refused_line(self.name, f"{self.trt.__name__} {self.features.version}", dev.name,
                                            dev.compute_capability, str(exc))  # fmt: skip
            raise UserError(line) from None

    def _runtime_object(self) -> Any:
        if self._runtime is None:
            engines = self._builder()
            self._runtime = created(lambda: self.trt.Runtime(engines.logger), engines.messages, "Runtime")
        return self._runtime

    def info(self) -> BackendInfo:
        self.start()
        f = self.features
        dev = self._device()
        extra: dict[str, Any] = {
            "trt_module": self.trt.__name__,
            "trt_generation": feat.generation(f),
            "trt_features": f.to_dict(),
            "build_target": dev.name if dev is not None else AOT,
        }
        if dev is None:
            extra["no_gpu_reason"] = self._gpu_reason
            return BackendInfo(self.name, f.version, extra=extra)
        from bench.backends.gpu_common import gpu_info

        return gpu_info(self.name, f.version, dev, extra)

    # -- build and run -----------------------------------------------------------------------
    def _builder(self) -> EngineBuilder:
        if self._engines is None:
            messages = MessageLog()
            logger = make_logger(self.trt, messages)
            # the GPU the engine is built for (None: ahead of time), part of the cache keys
            gpu = self._gpu_name()
            self._engines = EngineBuilder(
                self.trt, self.features, logger, messages, self.options.cache_dir, gpu, self.options.timing_cache
            )
        return self._engines

    def build(self, problem: Problem) -> BuiltEngine:
        """Build (or load from the engine cache) the point's engine; TensorRTError on TensorRT's refusal."""
        plan = feat.precision_plan(self.features, problem.point.precision)
        return self._builder().build(problem, plan)

    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        engines = self._builder()
        built = self.build(problem)
        if self.options.build_only:
            return BuiltOnlyPoint(built.info, "--build-only")
        if self._device() is None:  # start() refuses this first; a caller that skipped it gets the same words
            raise BuildOnlyError(startup.no_gpu_line(self.name, self._gpu_reason, None))
        from bench.backends.tensorrt.execution import TrtPreparedPoint

        engine = deserialize(self._runtime_object(), built.serialized, engines.messages)
        if feat.can_inspect_built_engine(self.features, engines.gpu_name):
            engines.record_layer_info(built, engine)
        api = feat.run_api(self.features, self.options.trt_api)
        return TrtPreparedPoint(
            engine, built, problem, api, feat.shape_query(self.features), engines.messages, self._device()
        )

    def close(self) -> None:
        self._runtime = None
        self._engines = None
        self._started = False


class TensorRTBackend(_TensorRTAdapter):
    """NVIDIA TensorRT (module `tensorrt`): 8.6, 10.x and 11.x behind the same adapter."""

    name = "tensorrt"
    flavour = "tensorrt"


class TensorRTRTXBackend(_TensorRTAdapter):
    """TensorRT for RTX (module `tensorrt_rtx`): strongly typed, builds ahead of time without a GPU."""

    name = "tensorrt-rtx"
    flavour = "tensorrt-rtx"
