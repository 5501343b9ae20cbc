"""The network of one point: input -> IScaleLayer -> output, in the point's precision.

Weights come from the Problem (already rounded to what the backend receives, so the reference judges
TensorRT's arithmetic only). TensorRT's Python Weights wrap NumPy memory without copying, so every
array is kept in `ScaleNetwork.keep_alive` until the build has finished.

`power` is left EMPTY (a typed empty Weights) where every power is 1: the layer then skips the pow,
and TensorRT-RTX would otherwise compute pow(negative, 1) as NaN for the seed's negative outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt.capture import MessageLog
from bench.problem import Problem

INPUT_NAME = "x"
OUTPUT_NAME = "y"
INT8_QMAX = 127.0

# numpy dtype of the weights for each TensorRT DataType name; BF16 goes through ml_dtypes as raw bytes
_WEIGHT_NP = {"FLOAT": np.float32, "HALF": np.float16}


@dataclass
class ScaleNetwork:
    """A network ready to build, and everything that must outlive the build."""

    network: Any
    input_name: str
    output_name: str
    uses_add_scale_nd: bool
    empty_power: bool
    channel_axis: int  # the axis TensorRT uses (add_scale's default is TensorRT's to choose)
    keep_alive: list[Any] = field(default_factory=list)


def _dtype(trt: ModuleType, name: str) -> Any:
    return getattr(trt.DataType, name)


def make_weights(trt: ModuleType, values: np.ndarray, dtype_name: str, keep: list[Any]) -> Any:
    """trt.Weights holding ``values`` as ``dtype_name`` (FLOAT / HALF / BF16).

    NumPy has no bfloat16 TensorRT recognises (`trt.Weights(arr)` rejects ml_dtypes' type as 'V16'),
    so BF16 weights are passed as (DataType.BF16, pointer, count) over an ml_dtypes array's bytes.
    The array goes into ``keep``: TensorRT reads the pointer again at build time.
    """
    if dtype_name == "BF16":
        import ml_dtypes

        arr = np.ascontiguousarray(values.astype(ml_dtypes.bfloat16).reshape(-1))
        keep.append(arr)
        return trt.Weights(_dtype(trt, "BF16"), arr.ctypes.data, arr.size)
    arr = np.ascontiguousarray(values.astype(_WEIGHT_NP[dtype_name]).reshape(-1))
    keep.append(arr)
    weights = trt.Weights(arr)
    keep.append(weights)
    return weights


def _scalar(trt: ModuleType, network: Any, value: float, keep: list[Any]) -> Any:
    """A 0-D fp32 constant tensor: the per-tensor scale of a Q/DQ layer."""
    arr = np.array(value, dtype=np.float32)
    keep.append(arr)
    return network.add_constant((), trt.Weights(arr)).get_output(0)


def _quantize_layer(network: Any, add: Any, tensor: Any, scale: Any, dtype: Any) -> Any:
    """add_quantize/add_dequantize with an explicit output type (10.x and later), else the 8.x form."""
    try:
        return add(tensor, scale, dtype)
    except TypeError:
        return add(tensor, scale)


def build_network(
    trt: ModuleType,
    builder: Any,
    f: feat.TrtFeatures,
    plan: feat.PrecisionPlan,
    problem: Problem,
    messages: MessageLog,
) -> ScaleNetwork:
    """Define the point's network; TensorRTError with TensorRT's message if TensorRT refuses a layer."""
    point = problem.point
    mark = messages.mark()
    flags = 0
    for name in feat.network_flags(f):
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    keep: list[Any] = []

    x = network.add_input(INPUT_NAME, _dtype(trt, plan.io_dtype), tuple(int(d) for d in point.shape))
    layer_in = x
    if plan.int8 == "dynamic_range":
        r_in = float(problem.in_scale) * INT8_QMAX
        x.set_dynamic_range(-r_in, r_in)
    elif plan.int8 == "qdq":
        dq = _quantize_layer(
            network, network.add_dequantize, x, _scalar(trt, network, problem.in_scale, keep), _dtype(trt, "FLOAT")
        )
        layer_in = dq.get_output(0)

    shift = make_weights(trt, problem.shift, plan.weight_dtype, keep)
    scale = make_weights(trt, problem.scale, plan.weight_dtype, keep)
    empty_power = problem.power_is_one
    if empty_power:
        power = trt.Weights(_dtype(trt, plan.weight_dtype))  # typed: all three must share one dtype
        keep.append(power)
    else:
        power = make_weights(trt, problem.power, plan.weight_dtype, keep)

    mode = getattr(trt.ScaleMode, point.mode.upper())
    nd = feat.uses_add_scale_nd(f, point.channel_axis)
    if nd:
        layer = network.add_scale_nd(layer_in, mode, shift, scale, power, int(point.channel_axis))
    else:
        layer = network.add_scale(layer_in, mode, shift, scale, power)
    if layer is None:
        messages.raise_since(mark, f"{'add_scale_nd' if nd else 'add_scale'} returned None")

    channel_axis = int(layer.channel_axis)
    out = layer.get_output(0)
    if plan.int8 == "dynamic_range":
        r_out = float(problem.out_scale) * INT8_QMAX
        out.set_dynamic_range(-r_out, r_out)
    elif plan.int8 == "qdq":
        q = _quantize_layer(
            network, network.add_quantize, out, _scalar(trt, network, problem.out_scale, keep), _dtype(trt, "INT8")
        )
        out = q.get_output(0)
    out.name = OUTPUT_NAME
    network.mark_output(out)
    if plan.typing == "weak" and plan.io_dtype != "FLOAT":
        out.dtype = _dtype(trt, plan.io_dtype)  # weakly typed: ask for the output in the point's dtype
    # A weight error is logged when the layer is added although a layer comes back: stop here rather
    # than build a network TensorRT has already rejected.
    if messages.errors_since(mark):
        messages.raise_since(mark, "network definition failed")
    return ScaleNetwork(network, INPUT_NAME, OUTPUT_NAME, nd, empty_power, channel_axis, keep)
