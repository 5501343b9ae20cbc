"""Build a point's engine: builder config, timing cache, engine cache, layer information.

- The builder config carries the precision plan's flags and DETAILED profiling verbosity (full layer
  information from the engine inspector).
- A timing cache is kept on disk per TensorRT flavour + version and GPU, where the generation has one
  and a GPU times tactics (TensorRT-RTX: a no-op; ahead-of-time builds time nothing).
- The engine cache stores each serialised engine under a key of (point key, flavour + version, GPU or
  'aot', builder settings, recipe version), with a JSON sidecar holding the build figures, so a re-run
  loads the engine instead of building it (BuildInfo.cached=True; build_s is the original build's).
- TensorRT's errors while defining or building the network become a TensorRTError with its own text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.backends.base import BuildInfo
from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt.capture import MessageLog, TensorRTError
from bench.backends.tensorrt.network import INPUT_NAME, OUTPUT_NAME, build_network
from bench.problem import Problem

# Bump when the network or config recipe changes, so cached engines from an older recipe are not reused.
RECIPE_VERSION = 1
AOT = "aot"  # the 'GPU' of an engine built ahead of time without one


@dataclass
class BuiltEngine:
    serialized: bytes
    info: BuildInfo
    cache_key: str
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unknown"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a killed run never leaves half an engine behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class EngineBuilder:
    """Builds (or loads from the engine cache) the engine of each point, with one Builder per backend."""

    def __init__(
        self,
        trt: ModuleType,
        features: feat.TrtFeatures,
        logger: Any,
        messages: MessageLog,
        cache_dir: Path,
        gpu_name: str | None,
    ) -> None:
        self.trt = trt
        self.features = features
        self.logger = logger
        self.messages = messages
        self.cache_dir = Path(cache_dir)
        self.gpu_name = gpu_name
        self._builder: Any = None

    # -- paths and keys ------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return self.gpu_name or AOT

    @property
    def _tag(self) -> str:
        return f"{self.features.flavour}-{_slug(self.features.version)}"

    def timing_cache_path(self) -> Path | None:
        if not feat.use_timing_cache(self.features, self.gpu_name):
            return None
        return self.cache_dir / "timing" / f"{self._tag}-{_slug(self.target)}.cache"

    def builder_settings(self, problem: Problem, plan: feat.PrecisionPlan) -> dict[str, Any]:
        """Everything that shapes the engine besides the workload: recorded per row, part of the cache key."""
        f = self.features
        tc = self.timing_cache_path()
        return {
            "flavour": f.flavour,
            "version": f.version,
            "target": self.target,
            "network_flags": list(feat.network_flags(f)),
            "precision": plan.to_dict(),
            "layer_call": "add_scale_nd" if feat.uses_add_scale_nd(f, problem.point.channel_axis) else "add_scale",
            "empty_power": problem.power_is_one,
            "profiling_verbosity": "DETAILED" if f.has_profiling_verbosity else None,
            "timing_cache": tc.name if tc else None,
            "recipe": RECIPE_VERSION,
        }

    def cache_key(self, problem: Problem, settings: dict[str, Any]) -> str:
        blob = json.dumps({"point": problem.point.key, "settings": settings}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _engine_path(self, key: str) -> Path:
        return self.cache_dir / "engines" / self._tag / f"{key}.engine"

    # -- build ---------------------------------------------------------------------------------
    def builder(self) -> Any:
        if self._builder is None:
            self._builder = created(lambda: self.trt.Builder(self.logger), self.messages, "Builder")
        return self._builder

    def build(self, problem: Problem, plan: feat.PrecisionPlan) -> BuiltEngine:
        """The point's engine: from the engine cache if there, else built (and cached)."""
        settings = self.builder_settings(problem, plan)
        key = self.cache_key(problem, settings)
        cached = self._load(key)
        if cached is not None:
            return cached
        serialized, build_s, layer_table, channel_axis = self._build(problem, plan)
        info = BuildInfo(
            build_s=build_s,
            engine_bytes=len(serialized),
            # the axis TensorRT applied (not part of the key: it follows from the workload)
            builder_settings={**settings, "trt_channel_axis": channel_axis},
            layer_info=self._layer_info_from_log(layer_table),
            cached=False,
        )
        self._store(key, serialized, info)
        return BuiltEngine(serialized, info, key)

    def _build(self, problem: Problem, plan: feat.PrecisionPlan) -> tuple[bytes, float, str | None, int]:
        trt, f = self.trt, self.features
        builder = self.builder()
        net = build_network(trt, builder, f, plan, problem, self.messages)
        config = builder.create_builder_config()
        for name in plan.builder_flags:
            config.set_flag(getattr(trt.BuilderFlag, name))
        if f.has_profiling_verbosity:
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        tc_path = self.timing_cache_path()
        if tc_path is not None:
            data = tc_path.read_bytes() if tc_path.exists() else b""
            config.set_timing_cache(config.create_timing_cache(data), False)

        mark = self.messages.mark()
        t0 = time.perf_counter()
        serialized = builder.build_serialized_network(net.network, config)
        build_s = time.perf_counter() - t0
        if serialized is None:
            self.messages.raise_since(mark, "build_serialized_network returned None")
        if tc_path is not None:
            _write_atomic(tc_path, bytes(memoryview(config.get_timing_cache().serialize())))
        channel_axis = net.channel_axis
        del net  # the weights' NumPy arrays may go now
        return bytes(memoryview(serialized)), build_s, self.messages.layer_table, channel_axis

    # -- layer information ---------------------------------------------------------------------
    def _layer_info_from_log(self, layer_table: str | None) -> str | None:
        """Layer information where no engine is deserialised yet (always at build; the backend replaces
        it with the engine inspector's JSON once it holds an engine on a GPU).

        Ahead-of-time builds (TensorRT-RTX on a machine without a GPU) cannot use the inspector: it
        needs a deserialised ICudaEngine, and deserialising needs a CUDA device the engine supports.
        What TensorRT logs at VERBOSE with DETAILED verbosity at the end of the build (the same table
        in text form) is kept instead, labelled with its source.
        """
        if layer_table is None:
            return None
        return json.dumps(
            {"source": "builder log (VERBOSE, DETAILED)", "format": "text", "layers": layer_table}, sort_keys=True
        )

    def record_layer_info(self, built: BuiltEngine, engine: Any) -> None:
        """Replace the log's layer table with the engine inspector's JSON, in the row and the cache."""
        if not self.features.has_inspector:
            return
        inspector = engine.create_engine_inspector()
        text = inspector.get_engine_information(self.trt.LayerInformationFormat.JSON)
        built.info.layer_info = text
        meta = self._engine_path(built.cache_key).with_suffix(".json")
        if meta.exists():
            _write_atomic(meta, json.dumps(self._meta(built.info), sort_keys=True).encode())

    # -- engine cache --------------------------------------------------------------------------
    @staticmethod
    def _meta(info: BuildInfo) -> dict[str, Any]:
        return {
            "build_s": info.build_s,
            "engine_bytes": info.engine_bytes,
            "builder_settings": info.builder_settings,
            "layer_info": info.layer_info,
        }

    def _store(self, key: str, serialized: bytes, info: BuildInfo) -> None:
        path = self._engine_path(key)
        _write_atomic(path, serialized)
        _write_atomic(path.with_suffix(".json"), json.dumps(self._meta(info), sort_keys=True).encode())

    def _load(self, key: str) -> BuiltEngine | None:
        path = self._engine_path(key)
        meta_path = path.with_suffix(".json")
        if not (path.exists() and meta_path.exists()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            serialized = path.read_bytes()
        except (OSError, ValueError):
            return None  # unreadable cache entry: build again and overwrite it
        if meta.get("engine_bytes") != len(serialized):
            return None
        info = BuildInfo(
            build_s=meta.get("build_s"),
            engine_bytes=len(serialized),
            builder_settings=meta.get("builder_settings", {}),
            layer_info=meta.get("layer_info"),
            cached=True,
        )
        return BuiltEngine(serialized, info, key)


def _never_destroy(obj: Any) -> None:
    """Give ``obj`` one reference nobody releases, so neither the garbage collector nor interpreter
    shutdown destroys it. For objects TensorRT made while failing, whose destructor crashes the process
    (a lean Runtime made without a CUDA driver: SIGSEGV when destroyed, even at exit from a module-level
    list; seen with tensorrt_lean_bindings 10.16 and 11.4). One small object per failure is leaked."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def created(make: Callable[[], Any], messages: MessageLog, what: str) -> Any:
    """``make()`` (a Builder or Runtime), or TensorRTError with TensorRT's message if it logged an error.

    TensorRT logs a failed creation and still hands back an object: the lean runtime on a machine without
    a usable CUDA driver logs "createInferRuntime: Error Code 6: API Usage Error (CUDA initialization
    failure ...)", returns a Runtime, and that Runtime crashes the process (SIGSEGV) on the first
    deserialize_cuda_engine, and again when it is destroyed (seen here with tensorrt_lean_bindings 10.16
    and 11.4). So an object created with an error logged is never used, nor destroyed. The
    harmless driver message TensorRT-RTX logs while building ahead of time is not an error here
    (capture.HARMLESS).
    """
    mark = messages.mark()
    obj = make()
    if obj is None or messages.errors_since(mark):
        if obj is not None:
            _never_destroy(obj)
        messages.raise_since(mark, f"{what}() returned None")
    return obj


def deserialize(runtime: Any, serialized: bytes, messages: MessageLog) -> Any:
    """The ICudaEngine of an engine blob; TensorRTError with TensorRT's message if the runtime refuses it
    (a damaged blob, an engine of another TensorRT version, TensorRT-RTX on a GPU it does not support)."""
    mark = messages.mark()
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise TensorRTError(messages.message_since(mark, "deserialize_cuda_engine returned None"))
    return engine
