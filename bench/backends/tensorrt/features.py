"""What an imported TensorRT module offers, and the choices that follow from it.

TensorRT changed shape across 8.6, 10.x, 11.x and TensorRT-RTX (see ../shared/notes/tensorrt-api.md):
implicit batch went away, the bindings API and `execute_async_v2` went away in 10.0, builder precision
flags gave way to strong typing (11.x, RTX), and INT8 moved from dynamic ranges to Q/DQ layers. Rather
than parse version strings (which would also need a table per flavour), `detect` asks the module which
attributes it has, and every generation-specific choice is a pure function of the resulting
`TrtFeatures`. Tests exercise those functions on hand-written feature sets for 8.6, 10.x, 11.x and RTX,
which is how the paths for TensorRT versions that cannot be installed here are tested.

Decisions return enum member NAMES (e.g. "EXPLICIT_BATCH", "FP16", "HALF"); the network and build code
turns them into members with getattr, never into hard-coded integers (11.x renumbered BuilderFlag).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

RTX_FLAVOUR = "tensorrt-rtx"


@dataclass(frozen=True)
class TrtFeatures:
    """The API surface of one TensorRT module, as booleans (plus the names for messages)."""

    flavour: str  # "tensorrt" | "tensorrt-rtx"
    version: str  # module __version__, for messages and cache keys only
    has_explicit_batch_flag: bool  # NetworkDefinitionCreationFlag.EXPLICIT_BATCH exists (<= 10.x)
    has_implicit_batch: bool  # Builder.max_batch_size: create_network(0) means implicit batch (<= 8.x)
    always_strongly_typed: bool  # dtypes come from tensors, no builder precision flags (11.x, every RTX)
    has_execute_v2: bool  # IExecutionContext.execute_async_v2 (bindings list; removed in 10.0)
    has_execute_v3: bool  # IExecutionContext.execute_async_v3 + set_tensor_address (8.5 and later)
    has_bindings_api: bool  # ICudaEngine.num_bindings / get_binding_shape (removed in 10.0)
    has_tensor_api: bool  # ICudaEngine.get_tensor_shape: I/O queried by tensor name (8.5 and later)
    has_timing_cache: bool  # a timing cache that does something (RTX keeps the calls as no-ops)
    has_bf16: bool  # DataType.BF16 (9.0 and later)
    has_fp16_flag: bool  # BuilderFlag.FP16
    has_bf16_flag: bool  # BuilderFlag.BF16
    has_int8_flag: bool  # BuilderFlag.INT8
    has_dynamic_range: bool  # ITensor.set_dynamic_range (weakly typed INT8 without a calibrator)
    has_quantize_layer: bool  # INetworkDefinition.add_quantize / add_dequantize
    has_inspector: bool  # ICudaEngine.create_engine_inspector and the EngineInspector class it returns
    has_profiling_verbosity: bool  # IBuilderConfig.profiling_verbosity (DETAILED layer information)
    has_add_scale_nd: bool  # INetworkDefinition.add_scale_nd (explicit channel axis)
    # IBuilderConfig.set_compute_capability (TensorRT-RTX): builds for a list of compute capabilities with
    # no GPU, and its runtime refuses every other GPU
    builds_ahead_of_time: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect(trt: ModuleType, flavour: str) -> TrtFeatures:
    """Read the features of an imported TensorRT module (no GPU needed: only class attributes)."""

    def has(owner: str, member: str) -> bool:
        cls = getattr(trt, owner, None)
        return cls is not None and hasattr(cls, member)

    fp16_flag, bf16_flag, int8_flag = (has("BuilderFlag", f) for f in ("FP16", "BF16", "INT8"))
    return TrtFeatures(
        flavour=flavour,
        version=str(getattr(trt, "__version__", "unknown")),
        has_explicit_batch_flag=has("NetworkDefinitionCreationFlag", "EXPLICIT_BATCH"),
        has_implicit_batch=has("Builder", "max_batch_size"),
        # TensorRT-RTX is strongly typed in every release, but up to 1.4 it still binds the FP16/BF16/INT8
        # flags, and its builder refuses a config that sets them ("Parameter check failed, condition:
        # !config.getFlag(BuilderFlag::kFP16)", seen with 1.4.0.76): the flavour decides there too.
        always_strongly_typed=not (fp16_flag or bf16_flag or int8_flag) or flavour == RTX_FLAVOUR,
        has_execute_v2=has("IExecutionContext", "execute_async_v2"),
        has_execute_v3=has("IExecutionContext", "execute_async_v3") and has("IExecutionContext", "set_tensor_address"),
        has_bindings_api=has("ICudaEngine", "num_bindings"),
        has_tensor_api=has("ICudaEngine", "get_tensor_shape"),
        # TensorRT-RTX keeps create_timing_cache but documents it as a no-op (deprecated in RTX 1.2):
        # the method's presence says nothing there, so the flavour decides.
        has_timing_cache=has("IBuilderConfig", "create_timing_cache") and flavour != RTX_FLAVOUR,
        has_bf16=has("DataType", "BF16"),
        has_fp16_flag=fp16_flag,
        has_bf16_flag=bf16_flag,
        has_int8_flag=int8_flag,
        has_dynamic_range=has("ITensor", "set_dynamic_range"),
        has_quantize_layer=has("INetworkDefinition", "add_quantize") and has("INetworkDefinition", "add_dequantize"),
        # The lean runtime (tensorrt_lean_bindings 10.16, 11.4) has the method but binds no EngineInspector
        # class: calling it raises TypeError, so both must be there.
        has_inspector=has("ICudaEngine", "create_engine_inspector") and hasattr(trt, "EngineInspector"),
        has_profiling_verbosity=has("IBuilderConfig", "profiling_verbosity"),
        has_add_scale_nd=has("INetworkDefinition", "add_scale_nd"),
        builds_ahead_of_time=has("IBuilderConfig", "set_compute_capability"),
    )


def generation(f: TrtFeatures) -> str:
    """A human label for messages and rows ('8.x-style', ...), derived from features, never parsed."""
    if f.flavour == RTX_FLAVOUR:
        return "TensorRT-RTX (strongly typed, v3)"
    if f.has_implicit_batch or f.has_bindings_api:
        return "8.x-style (weakly typed, bindings + v2/v3)"
    if f.always_strongly_typed:
        return "11.x-style (strongly typed, v3)"
    return "10.x-style (weakly typed, v3)"


# ---- network creation -------------------------------------------------------------------------


def strongly_typed(f: TrtFeatures) -> bool:
    """Whether the network is strongly typed: only where the generation leaves no choice.

    10.x offers STRONGLY_TYPED as an option; the harness keeps 10.x weakly typed (builder flags) as
    the issue asks, so 8.6 and 10.x share one precision recipe and 11.x and RTX the other.
    """
    return f.always_strongly_typed


def network_flags(f: TrtFeatures) -> tuple[str, ...]:
    """NetworkDefinitionCreationFlag member names to OR into create_network's flags.

    EXPLICIT_BATCH only where create_network(0) would mean implicit batch (8.x); in 10.x the flag is
    deprecated and ignored, in 11.x and RTX it is gone. STRONGLY_TYPED is never needed: 11.x and RTX
    are strongly typed whatever the flags say, and 10.x stays weakly typed on purpose.
    """
    if f.has_implicit_batch and f.has_explicit_batch_flag:
        return ("EXPLICIT_BATCH",)
    return ()


# ---- precision --------------------------------------------------------------------------------

_FLOAT_IO = {"fp32": "FLOAT", "fp16": "HALF", "bf16": "BF16"}


@dataclass(frozen=True)
class PrecisionPlan:
    """How one precision is expressed to one generation (member names, looked up with getattr later).

    io_dtype: DataType of the network input and output (the point's storage dtype).
    weight_dtype: DataType of shift/scale/power. Strongly typed networks need the input's dtype
      (fp32 for int8, whose layer computes on dequantized fp32); weakly typed ones get fp32, an exact
      widening of the already-rounded weights, and the builder flag picks the kernel precision.
    builder_flags: BuilderFlag names to set (weakly typed only).
    int8: None, 'dynamic_range' (set_dynamic_range on input and output, INT8 flag) or
      'qdq' (INT8 input -> dequantize -> scale in fp32 -> quantize -> INT8 output).
    """

    typing: str  # 'weak' | 'strong'
    io_dtype: str
    weight_dtype: str
    builder_flags: tuple[str, ...] = ()
    int8: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped (lists, not tuples), so a settings dict read back from the cache compares equal."""
        return {**asdict(self), "builder_flags": list(self.builder_flags)}


def _precision(f: TrtFeatures, precision: str) -> PrecisionPlan | str:
    """The plan, or the reason this generation cannot express ``precision``."""
    where = f"{f.flavour} {f.version}"
    if precision == "bf16" and not f.has_bf16:
        return f"{where} has no BF16 data type (DataType.BF16 arrived in TensorRT 9.0)"
    if strongly_typed(f):
        if precision in _FLOAT_IO:
            return PrecisionPlan("strong", _FLOAT_IO[precision], _FLOAT_IO[precision])
        if precision == "int8":
            if not f.has_quantize_layer:
                return f"{where} is strongly typed but has no add_quantize/add_dequantize to express INT8"
            return PrecisionPlan("strong", "INT8", "FLOAT", (), "qdq")
        return f"unknown precision {precision!r}"
    # weakly typed (8.6, 10.x): the builder flag allows the precision, I/O dtypes ask for it.
    if precision == "fp32":
        return PrecisionPlan("weak", "FLOAT", "FLOAT")
    if precision == "fp16":
        if not f.has_fp16_flag:
            return f"{where} is weakly typed but has no BuilderFlag.FP16"
        return PrecisionPlan("weak", "HALF", "FLOAT", ("FP16",))
    if precision == "bf16":
        if not f.has_bf16_flag:
            return f"{where} is weakly typed but has no BuilderFlag.BF16"
        return PrecisionPlan("weak", "BF16", "FLOAT", ("BF16",))
    if precision == "int8":
        if not f.has_int8_flag:
            return f"{where} is weakly typed but has no BuilderFlag.INT8"
        if f.has_dynamic_range:
            return PrecisionPlan("weak", "INT8", "FLOAT", ("INT8",), "dynamic_range")
        if f.has_quantize_layer:
            return PrecisionPlan("weak", "INT8", "FLOAT", ("INT8",), "qdq")
        return f"{where} has neither ITensor.set_dynamic_range nor Q/DQ layers to express INT8 without a calibrator"
    return f"unknown precision {precision!r}"


def precision_skip_reason(f: TrtFeatures, precision: str) -> str | None:
    """Why this generation cannot express ``precision`` (a skipped point), or None."""
    plan = _precision(f, precision)
    return plan if isinstance(plan, str) else None


def precision_plan(f: TrtFeatures, precision: str) -> PrecisionPlan:
    """The recipe for ``precision``; ValueError with the skip reason if there is none."""
    plan = _precision(f, precision)
    if isinstance(plan, str):
        raise ValueError(plan)
    return plan


# ---- execution --------------------------------------------------------------------------------

TRT_APIS = ("v2", "v3")


def _run_api(f: TrtFeatures, requested: str | None) -> str | tuple[None, str]:
    where = f"{f.flavour} {f.version}"
    v2_ok = f.has_execute_v2 and f.has_bindings_api
    if requested is None:
        # 8.x: the seed's execute_async_v2 with a bindings list; 10+: the only API there is.
        if v2_ok:
            return "v2"
        if f.has_execute_v3:
            return "v3"
        return (None, f"{where} has neither execute_async_v2 nor execute_async_v3")
    if requested == "v2":
        if v2_ok:
            return "v2"
        return (None, f"--trt-api v2 needs execute_async_v2 and the bindings API, which {where} does not have "
                      "(removed in TensorRT 10.0): use --trt-api v3")  # fmt: skip
    if requested == "v3":
        if f.has_execute_v3:
            return "v3"
        return (None, f"--trt-api v3 needs execute_async_v3 and set_tensor_address, which {where} does not have")
    return (None, f"--trt-api must be one of {', '.join(TRT_APIS)}, got {requested!r}")


def run_api_skip_reason(f: TrtFeatures, requested: str | None) -> str | None:
    """Why the requested run API cannot be used on this generation, or None."""
    api = _run_api(f, requested)
    return api[1] if isinstance(api, tuple) else None


def run_api(f: TrtFeatures, requested: str | None) -> str:
    """'v2' (execute_async_v2 + bindings list) or 'v3' (set_tensor_address + execute_async_v3)."""
    api = _run_api(f, requested)
    if isinstance(api, tuple):
        raise ValueError(api[1])
    return api


# ---- build ------------------------------------------------------------------------------------


def use_timing_cache(f: TrtFeatures, gpu_name: str | None) -> bool:
    """Keep a timing cache on disk only where tactics are timed: a real cache and a GPU to time on.

    An ahead-of-time build (no GPU) times nothing, and TensorRT-RTX's timing cache is a no-op.
    """
    return f.has_timing_cache and gpu_name is not None


def can_inspect_built_engine(f: TrtFeatures, gpu_name: str | None) -> bool:
    """The engine inspector needs a deserialised engine, which needs a GPU the engine can run on."""
    return f.has_inspector and gpu_name is not None


def uses_add_scale_nd(f: TrtFeatures, channel_axis: int | None) -> bool:
    """add_scale for the default axis (the seed's call), add_scale_nd for an explicit one.

    ValueError where an explicit axis needs add_scale_nd and the module has none (`layer_skip_reason`
    makes that a skipped point at plan time, so a build never gets here).
    """
    reason = layer_skip_reason(f, channel_axis)
    if reason:
        raise ValueError(reason)
    return channel_axis is not None


def layer_skip_reason(f: TrtFeatures, channel_axis: int | None) -> str | None:
    """Why this generation cannot place the channel on ``channel_axis``, or None."""
    if channel_axis is not None and not f.has_add_scale_nd:
        return (
            f"an explicit channel_axis needs INetworkDefinition.add_scale_nd, which {f.flavour} {f.version} does not "
            "have: use channel_axis 'default'"
        )
    return None


def shape_query(f: TrtFeatures) -> str:
    """How the execution path reads an engine's I/O shapes: 'tensor' (get_tensor_shape by name, 8.5 and
    later) or 'bindings' (get_binding_index + get_binding_shape, the 8.x API)."""
    return "tensor" if f.has_tensor_api else "bindings"


# ---- where engines can be built and run ---------------------------------------------------------


def build_without_gpu_reason(f: TrtFeatures) -> str | None:
    """Why this module cannot build engines on a machine without a GPU, or None where it can.

    Full TensorRT times tactics on the GPU it builds for, so its Builder needs a CUDA device; TensorRT-RTX
    builds for a list of compute capabilities ahead of time (IBuilderConfig.set_compute_capability).
    """
    if f.builds_ahead_of_time:
        return None
    return (
        f"{f.flavour} {f.version} builds engines on the GPU they run on (its builder times kernels there): "
        "building without a GPU needs TensorRT-RTX (--backend tensorrt-rtx --build-only)"
    )


def runtime_may_refuse_gpu(f: TrtFeatures) -> bool:
    """Whether a GPU that answers may still be one this module's runtime refuses, so the adapter checks
    before any point, by deserialising one tiny engine.

    TensorRT-RTX builds for a fixed list of compute capabilities and its runtime refuses the others
    (Hopper among them, seen on the H100); full TensorRT builds on, and so for, the GPU it runs on.
    """
    return f.builds_ahead_of_time
