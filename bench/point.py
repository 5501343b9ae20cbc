"""One benchmark point and its stable identity.

A point is the workload (shape, mode, precision, channel axis, how weights and data are made) plus the
backend that runs it. Its key hashes the canonical form of the workload only, not the backend, so the
same workload run by two backends, on two GPUs or with two TensorRT versions joins on one key.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from bench.precision import info as precision_info


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def parse_shape(text: str) -> tuple[int, ...]:
    """'2x3x4x5' -> (2, 3, 4, 5); ValueError that says the expected form."""
    parts = str(text).strip().lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is malformed: write dimensions joined by 'x', e.g. 1x3x224x224") from None
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"{text!r} is malformed: every dimension must be a positive integer")
    return dims


@dataclass(frozen=True)
class WeightsSpec:
    """How shift/scale/power are made: constants, or seeded uniform random (power stays constant)."""

    kind: str = "random"  # "constant" | "random"
    shift: float | list[float] = 0.0  # constant value(s), or half-width of U(-w, w) for random
    scale: float | list[float] = 1.0  # constant value(s), or centre of U(c-0.5, c+0.5) for random
    power: float = 1.0
    seed: int = 0

    def canonical(self) -> dict:
        return {"kind": self.kind, "shift": self.shift, "scale": self.scale, "power": self.power, "seed": self.seed}


@dataclass(frozen=True)
class DataSpec:
    """How the input is made: 'random' (seeded normal), 'arange' (1, 2, 3, ... as the seed) or 'zeros'."""

    kind: str = "random"
    seed: int = 0

    def canonical(self) -> dict:
        return {"kind": self.kind, "seed": self.seed}


@dataclass(frozen=True)
class Point:
    shape: tuple[int, ...]
    mode: str  # "uniform" | "channel" | "elementwise"
    precision: str  # "fp32" | "fp16" | "bf16" | "int8"
    channel_axis: int | None  # None: add_scale's implicit axis (rank - 3: 1 for NCHW)
    backend: str
    weights: WeightsSpec = field(default_factory=WeightsSpec)
    data: DataSpec = field(default_factory=DataSpec)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def shape_str(self) -> str:
        return format_shape(self.shape)

    @property
    def axis_label(self) -> str:
        """'default' or the axis as written (negative kept), as stored in results."""
        return "default" if self.channel_axis is None else str(self.channel_axis)

    @property
    def tensor_bytes(self) -> int:
        return self.numel * precision_info(self.precision).itemsize

    @property
    def weight_bytes(self) -> int:
        """Bytes of shift and scale (and power, unless it is all ones and left empty), read at least once."""
        from bench import reference
        from bench.precision import weight_dtype

        try:
            count = math.prod(reference.weight_shape(self.shape, self.mode, self.channel_axis))
        except ValueError:
            return 0  # an invalid axis: nothing runs, nothing is moved
        if self.weights.kind == "constant":  # a list is used as written (its count is the backend's to judge)
            count = max([count] + [len(w) for w in (self.weights.shift, self.weights.scale) if isinstance(w, list)])
        arrays = 2 if float(self.weights.power) == 1.0 else 3
        return count * arrays * weight_dtype(self.precision).itemsize

    @property
    def bytes_moved(self) -> int:
        """The fewest bytes one call must move: the input read once, the output written once, each weight
        read once. Weights are negligible except in ELEMENTWISE mode, where they can be as large as the
        tensor (channel_axis 0)."""
        return 2 * self.tensor_bytes + self.weight_bytes

    def canonical(self) -> str:
        """The workload in canonical JSON: what the key hashes."""
        return json.dumps(
            {
                "shape": list(self.shape),
                "mode": self.mode,
                "precision": self.precision,
                "channel_axis": self.axis_label,
                "weights": self.weights.canonical(),
                "data": self.data.canonical(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def key(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    def label(self) -> str:
        return f"{self.backend}:{self.shape_str}:{self.mode}:{self.precision}:axis={self.axis_label}"
