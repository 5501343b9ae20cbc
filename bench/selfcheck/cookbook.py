"""The cookbook page's four networks (bench/sweeps/seed.toml) and the outputs the page prints for them.

Every printed value is exact in fp32 (halves and small integers), so a backend must reproduce them
exactly, not within a tolerance. The two invalid seed points have no output: TensorRT must refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bench.planning import expand
from bench.point import Point
from bench.sweepfile import load_sweep

# Initial example, UNIFORM scale 0.5 shift -7 on 1..27 ("输出张量形状 (1,3,3,3)"), as printed:
UNIFORM = [
    [[-6.5, -6.0, -5.5], [-5.0, -4.5, -4.0], [-3.5, -3.0, -2.5]],
    [[-2.0, -1.5, -1.0], [-0.5, 0.0, 0.5], [1.0, 1.5, 2.0]],
    [[2.5, 3.0, 3.5], [4.0, 4.5, 5.0], [5.5, 6.0, 6.5]],
]
# CHANNEL, shifts [-2.5, -7, -11.5]: "每个通道依不同参数进行 scale", every channel printed as
CHANNEL = [[[-2.0, -1.5, -1.0], [-0.5, 0.0, 0.5], [1.0, 1.5, 2.0]]] * 3


def _add_scale_nd(axis: int) -> np.ndarray:
    """add_scale_nd on zeros (2,2,3,4) with shift [2, 3]: axis 0 prints batch 0 all 2s and batch 1 all 3s;
    axis 1 prints channel 0 all 2s and channel 1 all 3s, in both batches."""
    out = np.empty((2, 2, 3, 4), dtype=np.float32)
    for i, value in enumerate((2.0, 3.0)):
        out[(slice(None),) * axis + (i,)] = value
    return out


# (case name in seed.toml, channel axis) -> the page's output
PAGE_OUTPUT: dict[tuple[str, int | None], np.ndarray] = {
    ("uniform", None): np.array([UNIFORM], dtype=np.float32),
    ("channel", None): np.array([CHANNEL], dtype=np.float32),
    ("elementwise", None): np.array([UNIFORM], dtype=np.float32),  # "结果与初始示例代码相同"
    ("add_scale_nd", 0): _add_scale_nd(0),
    ("add_scale_nd", 1): _add_scale_nd(1),
}


@dataclass(frozen=True)
class SeedPoint:
    case: str  # the [[case]] name in seed.toml
    point: Point

    @property
    def label(self) -> str:
        axis = "" if self.point.channel_axis is None else f" axis {self.point.channel_axis}"
        return f"{self.case}{axis}"

    @property
    def valid(self) -> bool:
        return not self.case.startswith("invalid")

    @property
    def expected(self) -> np.ndarray:
        return PAGE_OUTPUT[(self.case, self.point.channel_axis)]

    def on(self, backend: str) -> Point:
        return replace(self.point, backend=backend)


def seed_points() -> list[SeedPoint]:
    """The seed sweep's points with their case names, in the file's order."""
    sweep = load_sweep("seed")
    return [SeedPoint(case.name, p) for case in sweep.cases for p in expand(replace(sweep, cases=(case,)))]
