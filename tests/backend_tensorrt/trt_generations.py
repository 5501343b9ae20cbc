"""Each TensorRT generation the adapter supports, described by the features its real module has.

Full TensorRT (8.6, 10.x, 11.x) cannot be installed here, so these descriptions come from NVIDIA's headers
and docs (../shared/notes/tensorrt-api.md); the contract tests hold them against what can be had of the
real modules: the lean runtimes 10.16 and 11.4 (their execution and data-type features), the 8.6.1
bindings' extension module (its strings) and TensorRT-RTX (all of it, test_trt_features.py).
"""

from __future__ import annotations

import dataclasses

from bench.backends.tensorrt import features as feat

TRT86 = feat.TrtFeatures(
    flavour="tensorrt",
    version="8.6.1",
    has_explicit_batch_flag=True,
    has_implicit_batch=True,
    always_strongly_typed=False,
    has_execute_v2=True,
    has_execute_v3=True,
    has_bindings_api=True,
    has_tensor_api=True,
    has_timing_cache=True,
    has_bf16=False,
    has_fp16_flag=True,
    has_bf16_flag=False,
    has_int8_flag=True,
    has_dynamic_range=True,
    has_quantize_layer=True,
    has_inspector=True,
    has_profiling_verbosity=True,
    has_add_scale_nd=True,
    builds_ahead_of_time=False,
)
TRT10 = dataclasses.replace(
    TRT86,
    version="10.16.0",
    has_implicit_batch=False,  # EXPLICIT_BATCH still exists, deprecated and ignored
    has_execute_v2=False,
    has_bindings_api=False,
    has_bf16=True,
    has_bf16_flag=True,
)
TRT11 = dataclasses.replace(
    TRT10,
    version="11.0.0",
    has_explicit_batch_flag=False,
    always_strongly_typed=True,
    has_fp16_flag=False,
    has_bf16_flag=False,
    has_int8_flag=False,
    has_dynamic_range=False,
)
RTX = dataclasses.replace(TRT11, flavour="tensorrt-rtx", version="1.7.1.116", has_timing_cache=False,
                          builds_ahead_of_time=True)  # fmt: skip

ALL = {"8.6": TRT86, "10.x": TRT10, "11.x": TRT11, "rtx": RTX}
