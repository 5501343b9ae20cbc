"""NumPy reference of IScaleLayer: y = (x * scale + shift) ** power.

It is the judge of every backend, so it computes in float64 and casts at the end: an fp16 or bf16
result is compared against the exact value, not against another rounded one.

Weight layout follows TensorRT:
- UNIFORM: one value each, applied to every element;
- CHANNEL: one value per index along the channel axis;
- ELEMENTWISE: weights shaped like ``x.shape[channel_axis:]``, broadcast over the leading dims.
``channel_axis=None`` is what ``add_scale`` does: the third axis from the end (``rank - 3``, read the
way a negative axis is), which is axis 1, the C of NCHW, on the 4-D inputs the cookbook uses; on a 5-D
input it is axis 2, on a 3-D input axis 0 (TensorRT-RTX 1.7 reports exactly these through
``layer.channel_axis``). ``add_scale_nd`` takes the axis explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bench.parallel import map_spans

MODES: tuple[str, ...] = ("uniform", "channel", "elementwise")


def default_channel_axis(rank: int) -> int:
    """add_scale's implicit channel axis: rank - 3 (1 for NCHW), a negative value counting from the end."""
    return rank - 3


def normalize_mode(mode: object) -> str:
    """'UNIFORM', 'channel', trt.ScaleMode.ELEMENTWISE ... -> 'uniform' | 'channel' | 'elementwise'."""
    name = getattr(mode, "name", mode)
    if isinstance(name, str) and name.lower() in MODES:
        return name.lower()
    raise ValueError(f"mode must be one of {', '.join(MODES)} (any case), got {mode!r}")


def resolve_axis(shape: Sequence[int], channel_axis: int | None) -> int:
    """The non-negative channel axis for a tensor of this shape, or ValueError naming the valid range."""
    rank = len(shape)
    axis = default_channel_axis(rank) if channel_axis is None else channel_axis
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"channel_axis must be an integer or None, got {channel_axis!r}")
    if not -rank <= axis < rank:
        what = (
            f"add_scale's default channel axis (rank - 3 = {axis})"
            if channel_axis is None
            else f"channel_axis={channel_axis}"
        )
        raise ValueError(f"{what} is out of range for a rank-{rank} input: expected -{rank} <= channel_axis < {rank}")
    return int(axis) % rank


def weight_shape(shape: Sequence[int], mode: str, channel_axis: int | None) -> tuple[int, ...]:
    """Shape of each weight array TensorRT expects for this input, mode and channel axis."""
    mode = normalize_mode(mode)
    if mode == "uniform":
        return (1,)
    axis = resolve_axis(shape, channel_axis)
    if mode == "channel":
        return (int(shape[axis]),)
    return tuple(int(d) for d in shape[axis:])


def _broadcastable(
    name: str,
    w: np.ndarray | Sequence[float] | float | None,
    default: float,
    shape: tuple[int, ...],
    mode: str,
    axis: int,
) -> np.ndarray:
    if w is None:
        return np.array(default, dtype=np.float64)
    arr = np.asarray(w).astype(np.float64).reshape(-1)
    rank = len(shape)
    if mode == "uniform":
        expected = 1
    elif mode == "channel":
        expected = shape[axis]
    else:
        expected = math.prod(shape[axis:])
    if arr.size != expected:
        raise ValueError(
            f"{name} has {arr.size} values but {mode.upper()} mode on shape {'x'.join(map(str, shape))} "
            f"with channel_axis {axis} expects {expected}"
        )
    if mode == "uniform":
        return arr.reshape(())
    if mode == "channel":
        return arr.reshape((1,) * axis + (expected,) + (1,) * (rank - axis - 1))
    return arr.reshape(shape[axis:])


def broadcast_weights(
    shape: Sequence[int],
    mode: object,
    shift: np.ndarray | Sequence[float] | float | None = None,
    scale: np.ndarray | Sequence[float] | float | None = None,
    power: np.ndarray | Sequence[float] | float | None = None,
    channel_axis: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scale, shift, power) as float64 arrays that broadcast against an input of ``shape``; power is
    None when every power is 1. Validates counts and the axis like `scale` does."""
    mode = normalize_mode(mode)
    shape = tuple(int(d) for d in shape)
    axis = resolve_axis(shape, channel_axis) if mode != "uniform" else 0
    if mode != "uniform" and len(shape) == 0:
        raise ValueError("x must have at least one dimension for CHANNEL or ELEMENTWISE mode")
    s = _broadcastable("scale", scale, 1.0, shape, mode, axis)
    b = _broadcastable("shift", shift, 0.0, shape, mode, axis)
    p = _broadcastable("power", power, 1.0, shape, mode, axis)
    return s, b, (None if power is None or np.all(p == 1.0) else p)


def scale(
    x: np.ndarray,
    mode: object,
    shift: np.ndarray | Sequence[float] | float | None = None,
    scale: np.ndarray | Sequence[float] | float | None = None,
    power: np.ndarray | Sequence[float] | float | None = None,
    channel_axis: int | None = None,
    out_dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """IScaleLayer's output for input ``x``; computed in float64, returned as ``out_dtype`` (default x's).

    ``None`` weights mean shift 0, scale 1, power 1. A wrong weight count or an out-of-range axis
    raises ValueError naming the argument and the expected size.
    """
    x = np.asarray(x)
    s, b, p = broadcast_weights(x.shape, mode, shift, scale, power, channel_axis)
    use_power = p is not None
    xs = x.reshape(1) if x.ndim == 0 else x  # a scalar input is one row
    y = np.empty(xs.shape, dtype=np.float64)

    def rows(w: np.ndarray, i0: int, i1: int) -> np.ndarray:
        # a weight that spans axis 0 (CHANNEL or ELEMENTWISE on axis 0) is cut like x; others broadcast
        return w[i0:i1] if w.ndim == xs.ndim and w.shape[0] > 1 else w

    def part(i0: int, i1: int) -> None:  # in place: one float64 copy of x, however large the tensor
        out = y[i0:i1]
        np.copyto(out, xs[i0:i1], casting="unsafe")
        out *= rows(s, i0, i1)
        out += rows(b, i0, i1)
        if use_power:
            with np.errstate(invalid="ignore"):
                np.power(out, rows(p, i0, i1), out=out)

    map_spans(xs.shape[0], y.size, part)
    y = y.reshape(x.shape)
    return y.astype(out_dtype if out_dtype is not None else x.dtype, copy=False)
