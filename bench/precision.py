"""Precisions the harness knows: storage dtypes, sizes and correctness tolerances.

bfloat16 has no NumPy dtype of its own; `ml_dtypes` supplies one. int8 points are quantized: the
tensor holds int8 codes with a per-tensor scale (symmetric, amax/127), the way TensorRT's INT8 dynamic
ranges and Q/DQ scales work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
INT8_QMAX = 127


@dataclass(frozen=True)
class PrecisionInfo:
    name: str
    itemsize: int
    rtol: float  # allowed |err| relative to max(|ref|, 1) for float precisions
    is_quantized: bool


_INFO = {
    # fp32: the kernel computes in fp32 (powf may lose a few ulp); 1e-5 is ~80 ulp.
    "fp32": PrecisionInfo("fp32", 4, 1e-5, False),
    # fp16/bf16: compute in fp32, one rounding to the storage type (half an ulp), plus weights that
    # were themselves rounded to the storage type: two ulps of headroom.
    "fp16": PrecisionInfo("fp16", 2, 2.0**-9, False),
    "bf16": PrecisionInfo("bf16", 2, 2.0**-6, False),
    # int8: one quantization step of the output, applied by `tolerance`.
    "int8": PrecisionInfo("int8", 1, 0.0, True),
}


def info(precision: str) -> PrecisionInfo:
    try:
        return _INFO[precision]
    except KeyError:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}") from None


def numpy_dtype(precision: str) -> np.dtype:
    """The NumPy dtype that stores a tensor of this precision (bf16 through ml_dtypes)."""
    if precision == "fp32":
        return np.dtype(np.float32)
    if precision == "fp16":
        return np.dtype(np.float16)
    if precision == "bf16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if precision == "int8":
        return np.dtype(np.int8)
    info(precision)  # raises the helpful error
    raise AssertionError


def weight_dtype(precision: str) -> np.dtype:
    """Dtype of shift/scale/power: the input's for float precisions (strong typing), fp32 for int8."""
    return numpy_dtype("fp32") if precision == "int8" else numpy_dtype(precision)


def tolerance(precision: str, ref_max_abs: float, out_scale: float | None = None) -> float:
    """Largest absolute error (in real units) accepted for an output whose largest |value| is given."""
    if info(precision).is_quantized:
        if out_scale is None:
            raise ValueError("int8 tolerance needs the output's quantization scale")
        return out_scale * 1.0001  # one step, and rounding exactly at a half step
    return info(precision).rtol * max(ref_max_abs, 1.0)


def quantize(real: np.ndarray, scale: float) -> np.ndarray:
    """Symmetric int8 quantization with round-half-to-even (CUDA's __float2int_rn, TensorRT's)."""
    return np.clip(np.rint(np.asarray(real, np.float64) / scale), -INT8_QMAX, INT8_QMAX).astype(np.int8)


def dequantize(codes: np.ndarray, scale: float) -> np.ndarray:
    return codes.astype(np.float64) * scale


def amax_scale(real: np.ndarray) -> float:
    """Per-tensor symmetric scale from the data's range (TensorRT's dynamic range / 127)."""
    return scale_of_amax(float(np.max(np.abs(real))) if real.size else 0.0)


def scale_of_amax(amax: float) -> float:
    """The symmetric int8 scale of a tensor whose largest |value| is ``amax`` (1/127 for an all-zero one),
    wherever that amax was measured (the host, or a reduction on the GPU)."""
    return (amax if amax > 0 else 1.0) / INT8_QMAX
