"""The concrete data of one point: input, weights and the reference output that judges a backend.

Weights are rounded to the dtype the backend receives (fp16/bf16 for those precisions, as strongly
typed TensorRT requires; fp32 for int8), and the reference is computed from those rounded values, so
a correct backend is judged only on its own arithmetic. int8 inputs and outputs are quantized with
per-tensor scales taken from the data's range (TensorRT's dynamic range).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from bench import inputs, reference
from bench import precision as prec
from bench.parallel import map_spans
from bench.point import Point

if TYPE_CHECKING:
    from bench.device_data import DeviceData


@dataclass
class Verification:
    max_abs_err: float
    tolerance: float
    correct: bool


@dataclass
class Problem:
    point: Point
    x: np.ndarray | None  # input in the storage dtype (int8 codes for int8); None: weights only (a build)
    shift: np.ndarray  # weights, flat, in prec.weight_dtype
    scale: np.ndarray
    power: np.ndarray
    in_scale: float | None = None  # int8 input quantization scale
    device: DeviceData | None = None  # the input (x is None) and its reference on the GPU: bench.device_data

    @cached_property
    def _reference(self) -> np.ndarray:
        """float64 reference from the input and weights as the backend sees them (computed on demand,
        so a point with bad weights reaches the backend, whose own error is what gets recorded)."""
        p = self.point
        return reference.scale(
            self.real_input(),
            p.mode,
            self.shift,
            self.scale,
            None if self.power_is_one else self.power,
            p.channel_axis,
            out_dtype=np.float64,
        )

    @cached_property
    def out_scale(self) -> float | None:
        """int8 output quantization scale, from the reference's range (a calibrated dynamic range)."""
        if self.point.precision != "int8":
            return None
        if self.device is not None:
            return prec.scale_of_amax(self.device.ref_max_abs())
        ref = self._reference.reshape(-1)
        amax = max(map_spans(ref.size, ref.size, lambda a, b: _max_abs_finite(ref[a:b])))
        return prec.scale_of_amax(amax)

    @cached_property
    def expected(self) -> np.ndarray:
        """The best output the point's precision can hold, float64 in real units."""
        scale = self.out_scale
        if scale is None:
            return self._reference
        ref = self._reference.reshape(-1)
        best = np.empty_like(ref)

        def part(a: int, b: int) -> None:
            best[a:b] = prec.dequantize(prec.quantize(ref[a:b], scale), scale)

        map_spans(ref.size, ref.size, part)
        return best.reshape(self._reference.shape)

    @property
    def input_nbytes(self) -> int:
        """Bytes of the input as stored, wherever it lives."""
        if self.device is not None:
            return self.device.input.nbytes
        if self.x is None:
            raise ValueError("this problem was made without its input (a build)")
        return self.x.nbytes

    @property
    def power_is_one(self) -> bool:
        """Every power is 1: backends leave power empty (TensorRT-RTX turns pow(negative, 1) into NaN)."""
        return bool(np.all(self.power.astype(np.float64) == 1.0))

    def real_input(self) -> np.ndarray:
        """The input in real units (float64): int8 codes dequantized."""
        if self.in_scale is not None:
            return prec.dequantize(self.x, self.in_scale)
        return self.x.astype(np.float64)

    def check(self, out: np.ndarray) -> Verification:
        """Compare a backend's output with the reference; NaN where the reference has none is wrong."""
        out = np.asarray(out)
        if out.shape != self.expected.shape and out.size == self.expected.size:
            out = out.reshape(self.expected.shape)
        if out.shape != self.expected.shape:
            return Verification(float("inf"), float("nan"), False)
        got = out.reshape(-1)
        exp = self.expected.reshape(-1)
        ref_max = max(map_spans(exp.size, exp.size, lambda a, b: _max_abs_finite(exp[a:b])))
        tol = prec.tolerance(self.point.precision, ref_max, self.out_scale)
        max_err = max(map_spans(exp.size, exp.size, lambda a, b: _max_err(got[a:b], exp[a:b], self.out_scale)))
        return Verification(max_err, tol, bool(max_err <= tol))


def _max_abs_finite(ref: np.ndarray) -> float:
    finite = ref[np.isfinite(ref)] if not np.isfinite(ref).all() else ref
    return max(float(finite.max()), -float(finite.min())) if finite.size else 0.0


def _max_err(out: np.ndarray, ref: np.ndarray, out_scale: float | None) -> float:
    """Largest |out - ref| over one slice; NaN in both agrees, NaN in one is an infinite error."""
    got = prec.dequantize(out, out_scale) if out_scale is not None else out.astype(np.float64)
    got_nan, ref_nan = np.isnan(got), np.isnan(ref)
    any_nan = bool(got_nan.any() or ref_nan.any())
    got -= ref  # in place: no second full-size temporary
    np.abs(got, out=got)
    if any_nan:
        got[got_nan & ref_nan] = 0.0
        got[got_nan ^ ref_nan] = np.inf
    return float(got.max(initial=0.0))


def _weights(point: Point, count: int, wdtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spec = point.weights

    def constant(name: str, value: float | list[float]) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        # a scalar fills every slot; a list is taken as written (its count is TensorRT's to judge)
        return np.full(count, arr[0]) if arr.size == 1 else arr

    if spec.kind == "constant":
        shift, scale = constant("shift", spec.shift), constant("scale", spec.scale)
    elif spec.kind == "random":
        rng = np.random.default_rng([spec.seed, 0x5CA1E])
        scale = rng.uniform(0.5, 1.5, count)
        shift = rng.uniform(-1.0, 1.0, count)
    else:
        raise ValueError(f"weights.kind must be 'constant' or 'random', got {spec.kind!r}")
    power = np.full(count, float(spec.power))
    return tuple(a.astype(wdtype) for a in (shift, scale, power))  # type: ignore[return-value]


def _input(point: Point) -> np.ndarray:
    """The input in real units, float32 (before rounding to the storage dtype)."""
    return inputs.input_values(point.data.kind, point.data.seed, tuple(point.shape))


def needs_input(point: Point, build_only: bool) -> bool:
    """A build needs the data only where it shapes the engine: int8's quantization scales come from it."""
    return not build_only or point.precision == "int8"


def make_problem(point: Point, x_real: np.ndarray | None = None, *, with_input: bool = True) -> Problem:
    """Input and weights for ``point`` (the reference is computed when first needed).

    ``x_real`` reuses a float32 input already made for this shape and data spec. ``with_input=False``
    makes the weights alone (a float build-only point needs no tensor, however large)."""
    try:
        count = int(np.prod(reference.weight_shape(point.shape, point.mode, point.channel_axis)))
    except ValueError:
        count = 1  # axis out of range: the backend (TensorRT) reports it; the reference raises on check
    shift, scale, power = _weights(point, count, prec.weight_dtype(point.precision))
    if not with_input:
        return Problem(point, None, shift, scale, power, None)
    real = _input(point) if x_real is None else x_real
    in_scale = None
    if point.precision == "int8":
        in_scale = prec.amax_scale(real)
        x = prec.quantize(real, in_scale)
    else:
        x = real.astype(prec.numpy_dtype(point.precision))
    return Problem(point, x, shift, scale, power, in_scale)
