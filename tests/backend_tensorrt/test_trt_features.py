"""The adapter's generation-specific choices, as pure functions of hand-written feature sets.

Full TensorRT (8.6, 10.x, 11.x) cannot be installed here, and a fake `tensorrt` module would test the
fake. Instead each generation is described by the features its real module has (from NVIDIA's
headers and docs, see ../shared/notes/tensorrt-api.md), and every decision the adapter takes from
features is checked on those descriptions (trt_generations.py). Detection itself is checked on the
real `tensorrt_rtx` here, and on the real lean runtimes in test_trt_contract.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
from trt_generations import ALL, RTX, TRT10, TRT11, TRT86

from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt.capture import MessageLog

# ---- network creation ----------------------------------------------------------------------------


def test_network_flags_explicit_batch_only_where_implicit_batch_exists() -> None:
    assert feat.network_flags(TRT86) == ("EXPLICIT_BATCH",)
    assert feat.network_flags(TRT10) == ()
    assert feat.network_flags(TRT11) == ()
    assert feat.network_flags(RTX) == ()


def test_typing_by_generation() -> None:
    assert not feat.strongly_typed(TRT86)
    assert not feat.strongly_typed(TRT10)
    assert feat.strongly_typed(TRT11)
    assert feat.strongly_typed(RTX)


# ---- precision ---------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [TRT86, TRT10], ids=["8.6", "10.x"])
def test_weakly_typed_precisions_use_builder_flags_and_io_dtypes(f: feat.TrtFeatures) -> None:
    fp32 = feat.precision_plan(f, "fp32")
    assert (fp32.typing, fp32.io_dtype, fp32.weight_dtype, fp32.builder_flags) == ("weak", "FLOAT", "FLOAT", ())
    fp16 = feat.precision_plan(f, "fp16")
    assert (fp16.io_dtype, fp16.weight_dtype, fp16.builder_flags) == ("HALF", "FLOAT", ("FP16",))
    int8 = feat.precision_plan(f, "int8")
    assert (int8.io_dtype, int8.weight_dtype, int8.builder_flags, int8.int8) == (
        "INT8",
        "FLOAT",
        ("INT8",),
        "dynamic_range",
    )


def test_bf16_is_a_skip_on_86_and_a_flag_on_10() -> None:
    reason = feat.precision_skip_reason(TRT86, "bf16")
    assert reason is not None and "BF16" in reason and "8.6.1" in reason
    with pytest.raises(ValueError, match="BF16"):
        feat.precision_plan(TRT86, "bf16")
    bf16 = feat.precision_plan(TRT10, "bf16")
    assert (bf16.typing, bf16.io_dtype, bf16.builder_flags) == ("weak", "BF16", ("BF16",))


@pytest.mark.parametrize("f", [TRT11, RTX], ids=["11.x", "rtx"])
def test_strongly_typed_precisions_use_tensor_and_weight_dtypes(f: feat.TrtFeatures) -> None:
    for precision, dtype in (("fp32", "FLOAT"), ("fp16", "HALF"), ("bf16", "BF16")):
        plan = feat.precision_plan(f, precision)
        assert (plan.typing, plan.io_dtype, plan.weight_dtype, plan.builder_flags, plan.int8) == (
            "strong",
            dtype,
            dtype,  # weights must share the input's dtype in a strongly typed network
            (),
            None,
        )
    int8 = feat.precision_plan(f, "int8")
    assert (int8.io_dtype, int8.weight_dtype, int8.builder_flags, int8.int8) == ("INT8", "FLOAT", (), "qdq")


def test_weakly_typed_int8_falls_back_to_qdq_without_dynamic_ranges() -> None:
    later10 = dataclasses.replace(TRT10, has_dynamic_range=False)
    plan = feat.precision_plan(later10, "int8")
    assert (plan.typing, plan.builder_flags, plan.int8) == ("weak", ("INT8",), "qdq")
    neither = dataclasses.replace(later10, has_quantize_layer=False)
    assert "INT8" in (feat.precision_skip_reason(neither, "int8") or "")


def test_strongly_typed_int8_without_qdq_is_a_skip() -> None:
    reason = feat.precision_skip_reason(dataclasses.replace(RTX, has_quantize_layer=False), "int8")
    assert reason is not None and "add_quantize" in reason


@pytest.mark.parametrize("name", list(ALL))
def test_every_generation_expresses_fp32_fp16_int8(name: str) -> None:
    for precision in ("fp32", "fp16", "int8"):
        assert feat.precision_skip_reason(ALL[name], precision) is None


# ---- run API -----------------------------------------------------------------------------------


def test_run_api_default_follows_the_seed_on_8x_and_v3_on_10_plus() -> None:
    assert feat.run_api(TRT86, None) == "v2"
    assert feat.run_api(TRT10, None) == "v3"
    assert feat.run_api(TRT11, None) == "v3"
    assert feat.run_api(RTX, None) == "v3"


def test_run_api_choice_on_86() -> None:
    assert feat.run_api(TRT86, "v2") == "v2"
    assert feat.run_api(TRT86, "v3") == "v3"


@pytest.mark.parametrize("f", [TRT10, TRT11, RTX], ids=["10.x", "11.x", "rtx"])
def test_v2_on_10_plus_is_a_clear_skip(f: feat.TrtFeatures) -> None:
    reason = feat.run_api_skip_reason(f, "v2")
    assert reason is not None
    assert "execute_async_v2" in reason and "--trt-api v3" in reason and f.version in reason
    with pytest.raises(ValueError, match="execute_async_v2"):
        feat.run_api(f, "v2")
    assert feat.run_api_skip_reason(f, "v3") is None


def test_unknown_run_api_is_named() -> None:
    assert "v4" in (feat.run_api_skip_reason(TRT10, "v4") or "")


# ---- timing cache, inspector -------------------------------------------------------------------


def test_timing_cache_only_with_a_real_cache_and_a_gpu() -> None:
    assert feat.use_timing_cache(TRT86, "NVIDIA H100 80GB HBM3")
    assert feat.use_timing_cache(TRT10, "NVIDIA H100 80GB HBM3")
    assert not feat.use_timing_cache(TRT10, None)  # nothing is timed without a GPU
    assert not feat.use_timing_cache(RTX, "NVIDIA GeForce RTX 5090")  # a no-op in TensorRT-RTX


def test_inspector_needs_a_gpu() -> None:
    assert feat.can_inspect_built_engine(RTX, "NVIDIA GeForce RTX 5090")
    assert not feat.can_inspect_built_engine(RTX, None)


def test_layer_call() -> None:
    assert not feat.uses_add_scale_nd(TRT86, None)
    assert feat.uses_add_scale_nd(TRT86, 0)
    assert feat.uses_add_scale_nd(RTX, -1)


def test_an_explicit_axis_without_add_scale_nd_is_a_skip_not_a_silent_default_axis() -> None:
    without = dataclasses.replace(TRT10, has_add_scale_nd=False)
    assert feat.layer_skip_reason(without, None) is None  # add_scale needs no add_scale_nd
    assert not feat.uses_add_scale_nd(without, None)
    reason = feat.layer_skip_reason(without, 0)
    assert reason is not None and "add_scale_nd" in reason and "10.16.0" in reason
    with pytest.raises(ValueError, match="add_scale_nd"):
        feat.uses_add_scale_nd(without, 0)
    assert all(feat.layer_skip_reason(f, -1) is None for f in ALL.values())


def test_shapes_are_read_by_tensor_name_where_the_tensor_api_exists() -> None:
    assert all(feat.shape_query(f) == "tensor" for f in ALL.values())
    assert feat.shape_query(dataclasses.replace(TRT86, has_tensor_api=False)) == "bindings"


def test_only_a_module_that_builds_ahead_of_time_builds_without_a_gpu() -> None:
    assert feat.build_without_gpu_reason(RTX) is None
    for f in (TRT86, TRT10, TRT11):
        reason = feat.build_without_gpu_reason(f)
        assert reason is not None and "--backend tensorrt-rtx --build-only" in reason and f.version in reason


def test_only_tensorrt_rtx_runtimes_are_checked_against_the_gpu_before_a_run() -> None:
    """RTX engines target a list of compute capabilities (its runtime refuses Hopper); full TensorRT
    builds on the GPU it runs on."""
    assert feat.runtime_may_refuse_gpu(RTX)
    assert not any(feat.runtime_may_refuse_gpu(f) for f in (TRT86, TRT10, TRT11))


def test_generation_labels_differ() -> None:
    assert len({feat.generation(f) for f in ALL.values()}) == 4


# ---- TensorRT's messages -------------------------------------------------------------------------


def test_message_log_keeps_errors_in_order_without_repeats_or_the_harmless_driver_error() -> None:
    log = MessageLog()
    log.add("ERROR", "old error")
    mark = log.mark()
    log.add("VERBOSE", "chatter")
    log.add("ERROR", "shift weights has count 4 but 3 was expected")
    log.add("ERROR", "Cuda Runtime (cudaError 35: CUDA driver version is insufficient for CUDA runtime version)")
    log.add("ERROR", "shift weights has count 4 but 3 was expected")
    log.add("INTERNAL_ERROR", "build failed")
    assert log.message_since(mark, "x") == "shift weights has count 4 but 3 was expected; build failed"


def test_message_log_falls_back_to_harmless_then_to_the_fallback() -> None:
    log = MessageLog()
    mark = log.mark()
    assert log.message_since(mark, "returned None") == "returned None"
    log.add("ERROR", "CUDA driver version is insufficient for CUDA runtime version")
    assert "insufficient" in log.message_since(mark, "returned None")


def test_message_log_keeps_the_layer_table() -> None:
    log = MessageLog()
    log.mark()
    log.add("VERBOSE", "Layers:\nName: scale")
    assert log.layer_table == "Layers:\nName: scale"
    log.mark()
    assert log.layer_table is None


# ---- detection on the real TensorRT-RTX --------------------------------------------------------


@pytest.mark.rtx
@pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None, reason="tensorrt_rtx is not installed")
def test_detect_tensorrt_rtx() -> None:
    from bench.backends.tensorrt.importer import import_trt

    trt = import_trt("tensorrt-rtx")
    f = feat.detect(trt, "tensorrt-rtx")
    assert f.version == trt.__version__
    expected = dataclasses.replace(RTX, version=trt.__version__)
    assert f == expected, {k: v for k, v in f.to_dict().items() if expected.to_dict()[k] != v}


def test_missing_tensorrt_names_the_package_and_the_backend_to_use() -> None:
    from bench.backends.tensorrt.importer import import_trt
    from bench.errors import UserError

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    with pytest.raises(UserError) as info:
        import_trt("tensorrt")
    msg = str(info.value)
    assert "pip install tensorrt" in msg and "scale-bench[tensorrt]" in msg and "--backend cuda" in msg


def test_the_lean_runtime_imports_from_the_importer_but_is_no_backend() -> None:
    from bench.backends import BACKEND_NAMES
    from bench.backends.tensorrt.importer import FLAVOURS, RUNTIMES, import_trt
    from bench.errors import UserError

    assert "tensorrt-lean" in RUNTIMES and "tensorrt-lean" not in FLAVOURS and "tensorrt-lean" not in BACKEND_NAMES
    assert not RUNTIMES["tensorrt-lean"].builds
    if importlib.util.find_spec("tensorrt_lean_bindings") is not None:
        pytest.skip("tensorrt_lean_bindings is installed here")
    with pytest.raises(UserError, match="tensorrt-lean-cu13-libs tensorrt-lean-cu13-bindings") as info:
        import_trt("tensorrt-lean")
    assert "scale-bench[lean]" in str(info.value)
