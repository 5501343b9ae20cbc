"""Build a point's engine: builder config, timing cache, engine cache, layer information.

- The builder config carries the precision plan's flags and DETAILED profiling verbosity (full layer
  information, tactics included, from the engine inspector or the build's log).
- The timing cache (timing_cache.py: the harness's own file per flavour + version and GPU, a file the
  user shares with --timing-cache, or none) is imported once per run, set on every build's config and
  exported after every build, where the generation has one and a GPU times tactics (TensorRT-RTX: a
  no-op; ahead-of-time builds time nothing).
- What was built is recorded in comparable form in the builder settings: `engine_digest` (the engine's
  layers and tactics, layers.py), `engine_digest_from` (engine inspector or builder log) and
  `timing_cache_digest` (the timing cache the build started from; None without one).
- The engine cache stores each serialised engine under a key of (point key, flavour + version, GPU or
  'aot', builder settings, recipe version; a shared timing cache's digest as the run found it), with a
  JSON sidecar holding the build figures, so a re-run loads the engine instead of building it
  (BuildInfo.cached=True; build_s and the digests are the original build's).
- TensorRT's errors while defining or building the network become a TensorRTError with its own text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.backends.base import BuildInfo
from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt import layers as engine_layers
from bench.backends.tensorrt import timing_cache as tcfile
from bench.backends.tensorrt.capture import MessageLog, TensorRTError
from bench.backends.tensorrt.network import INPUT_NAME, OUTPUT_NAME, build_network
from bench.problem import Problem

RECIPE_FILES = ("network.py", "features.py", "build.py")  # the code that makes an engine from a point


@functools.cache
def recipe_digest() -> str:
    """A hash of the code that turns a point into an engine (its network, its precision decisions, its
    builder configuration): part of the engine cache's key, so engines that other code built (an older
    checkout, the other side of `nox -s gate`, which shares one cache folder) are never reused."""
    here = Path(__file__).resolve().parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in RECIPE_FILES)).hexdigest()[:16]


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


_write_atomic = tcfile.write_atomic  # a killed run never leaves half an engine (or half a cache) behind


def digest_fields(layer_info: str | None) -> dict[str, Any]:
    """`engine_digest` and `engine_digest_from` of a row's layer information (None where it names no layer)."""
    found = engine_layers.from_layer_info(layer_info)
    if found is None or found.digest is None:
        return {"engine_digest": None, "engine_digest_from": None}
    return {"engine_digest": found.digest, "engine_digest_from": found.source}


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
        timing_cache: str | None = None,
    ) -> None:
        self.trt = trt
        self.features = features
        self.logger = logger
        self.messages = messages
        self.cache_dir = Path(cache_dir)
        self.gpu_name = gpu_name
        self.timing_option = timing_cache  # BackendOptions.timing_cache: None, a path, or timing_cache.OFF
        self._builder: Any = None
        self._timing: Any = None  # the run's ITimingCache, once imported
        self._timing_found: bytes | None = None  # the file as this run first read it
        self._timing_bytes = b""  # the cache as the next build starts from it

    # -- paths and keys ------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return self.gpu_name or AOT

    @property
    def _tag(self) -> str:
        return f"{self.features.flavour}-{_slug(self.features.version)}"

    @property
    def timing_file(self) -> tcfile.TimingCacheFile:
        own = self.cache_dir / "timing" / f"{self._tag}-{_slug(self.target)}.cache"
        return tcfile.choose(self.timing_option, feat.use_timing_cache(self.features, self.gpu_name), own)

    def _timing_found_bytes(self) -> bytes:
        """The timing cache file as this run first read it (read once: the engine cache key of a shared file)."""
        if self._timing_found is None:
            self._timing_found = tcfile.read(self.timing_file)
        return self._timing_found

    def _timing_key(self) -> str | dict[str, str] | None:
        """The timing cache's part of the engine cache key: the harness's own file by name (it grows run
        by run, and its engines stay valid), a shared file by its content when the run found it (an engine
        built from another cache may have other tactics), None without one."""
        choice = self.timing_file
        if choice.path is None:
            return None
        if not choice.shared:
            return choice.path.name
        return {"file": choice.path.name, "digest": tcfile.digest(self._timing_found_bytes())}

    def builder_settings(self, problem: Problem, plan: feat.PrecisionPlan) -> dict[str, Any]:
        """Everything that shapes the engine besides the workload: recorded per row, part of the cache key."""
        f = self.features
        return {
            "flavour": f.flavour,
            "version": f.version,
            "target": self.target,
            "network_flags": list(feat.network_flags(f)),
            "precision": plan.to_dict(),
            "layer_call": "add_scale_nd" if feat.uses_add_scale_nd(f, problem.point.channel_axis) else "add_scale",
            "empty_power": problem.power_is_one,
            "profiling_verbosity": "DETAILED" if f.has_profiling_verbosity else None,
            "timing_cache": self._timing_key(),
            "recipe": recipe_digest(),
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
        serialized, build_s, layer_table, channel_axis, timing_digest = self._build(problem, plan)
        layer_info = self._layer_info_from_log(layer_table)
        info = BuildInfo(
            build_s=build_s,
            engine_bytes=len(serialized),
            # what the build produced and started from (not part of the key: they follow from the build)
            builder_settings={
                **settings,
                "trt_channel_axis": channel_axis,  # the axis TensorRT applied
                **digest_fields(layer_info),
                "timing_cache_digest": timing_digest,
            },
            layer_info=layer_info,
            cached=False,
        )
        self._store(key, serialized, info)
        return BuiltEngine(serialized, info, key)

    def _build(self, problem: Problem, plan: feat.PrecisionPlan) -> tuple[bytes, float, str | None, int, str | None]:
        trt, f = self.trt, self.features
        builder = self.builder()
        net = build_network(trt, builder, f, plan, problem, self.messages)
        config = builder.create_builder_config()
        for name in plan.builder_flags:
            config.set_flag(getattr(trt.BuilderFlag, name))
        if f.has_profiling_verbosity:
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        timing = self.set_timing_cache(config)
        timing_digest = tcfile.digest(self._timing_bytes) if timing is not None else None

        mark = self.messages.mark()
        t0 = time.perf_counter()
        serialized = builder.build_serialized_network(net.network, config)
        build_s = time.perf_counter() - t0
        if serialized is None:
            self.messages.raise_since(mark, "build_serialized_network returned None")
        if timing is not None:
            self._timing_bytes = serialized_timing_cache(timing)
            tcfile.export(self.timing_file, self._timing_bytes)
        channel_axis = net.channel_axis
        del net  # the weights' NumPy arrays may go now
        return bytes(memoryview(serialized)), build_s, self.messages.layer_table, channel_axis, timing_digest

    # -- timing cache --------------------------------------------------------------------------
    def load_timing_cache(self) -> None:
        """Import the run's timing cache now (the adapter's start-up does, so a shared file TensorRT refuses
        stops the run before any point); a no-op without one."""
        if self.timing_file.used and self._timing is None:
            self.set_timing_cache(self.builder().create_builder_config())

    def set_timing_cache(self, config: Any) -> Any:
        """Set the run's ITimingCache on ``config`` (imported from the file at the first call) and return it;
        None without a timing cache. One cache object serves every build of the run, so a build starts
        from the timings of the builds before it, as with the file between runs."""
        choice = self.timing_file
        if not choice.used:
            return None
        if self._timing is None:
            data = self._timing_found_bytes()
            cache, why = import_timing_cache(config, data, self.messages)
            if cache is None:
                tcfile.refused(choice, why or "")  # the user's file: UserError; the harness's own: start empty
                data = b""
                cache, why = import_timing_cache(config, data, self.messages)
                if cache is None:
                    raise TensorRTError(f"an empty timing cache was refused too: {why}")
            self._timing, self._timing_bytes = cache, data
            return cache
        if not config.set_timing_cache(self._timing, False):
            raise TensorRTError("set_timing_cache refused the run's own timing cache")
        return self._timing

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
        """Replace the log's layer table with the engine inspector's JSON, in the row and the cache, and
        the engine digest with the one read from it."""
        if not self.features.has_inspector:
            return
        inspector = engine.create_engine_inspector()
        text = inspector.get_engine_information(self.trt.LayerInformationFormat.JSON)
        built.info.layer_info = text
        built.info.builder_settings = {**built.info.builder_settings, **digest_fields(text)}
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


def import_timing_cache(config: Any, data: bytes, messages: MessageLog) -> tuple[Any, str | None]:
    """(the ITimingCache made from ``data`` and set on ``config``, None), or (None, TensorRT's reason).

    A blob TensorRT cannot use does not fail loudly: `create_timing_cache` logs a WARNING ("Failed to
    deserialize timing cache. Returning an empty timing cache.") and hands back an empty cache (seen with
    TensorRT-RTX, which shares the API; it reads no cache at all without a GPU). So a non-empty blob that
    comes back serialising like an empty cache was refused, whatever TensorRT said. `set_timing_cache(cache,
    ignore_mismatch=False)` returns False for a cache another TensorRT version or GPU made: mismatches are
    never ignored, as another GPU's timings would choose this GPU's tactics."""
    mark = messages.mark()
    noted = len(messages.timing_cache_warnings)
    cache = config.create_timing_cache(data)
    if cache is None or messages.errors_since(mark):
        return None, messages.message_since(mark, "create_timing_cache returned None")
    if data:
        empty = serialized_timing_cache(config.create_timing_cache(b""))
        if data != empty and serialized_timing_cache(cache) == empty:
            said = "; ".join(dict.fromkeys(messages.timing_cache_warnings[noted:]))
            return None, f"TensorRT read {len(data)} bytes as an empty timing cache" + (f" ({said})" if said else "")
    if not config.set_timing_cache(cache, False):
        return None, messages.message_since(mark, "set_timing_cache returned False: another TensorRT version or GPU")
    return cache, None


def serialized_timing_cache(timing_cache: Any) -> bytes:
    """An ITimingCache as the bytes a file keeps (and `create_timing_cache` reads back)."""
    return bytes(memoryview(timing_cache.serialize()))


def deserialize(runtime: Any, serialized: bytes, messages: MessageLog) -> Any:
    """The ICudaEngine of an engine blob; TensorRTError with TensorRT's message if the runtime refuses it
    (a damaged blob, an engine of another TensorRT version, TensorRT-RTX on a GPU it does not support)."""
    mark = messages.mark()
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise TensorRTError(messages.message_since(mark, "deserialize_cuda_engine returned None"))
    return engine
