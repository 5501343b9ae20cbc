"""Which bound a Scale point runs into (the launch floor, device memory or the L2) and the time it allows.

Pure: plain numbers in, a small dataclass out; no GPU, no pandas. The report (bench.report.bounds) calls
`roofline` for the points under the copy, with the run's own measurements; reports/kernel-tuning/recipes/kernel_targets.py for
the kernel's misses.

The model. A call costs a fixed floor plus the time to move its bytes through the slowest level::

    t = t_launch + max(B_hbm / BW_hbm, B_l2 / BW_l2)

- ``t_launch`` is the floor of the smallest call: the run's memcpy of a 1x3x3x3 tensor, or an empty
  graph node. Below a few hundred KiB no byte count matters and the point is **launch**-bound.
- ``BW_hbm`` is the slope of the run's device-to-device copy, bytes read plus written per second: its
  largest copy, B / (t - t_launch) (`slope_gbps`), so a copy is by construction at 100% of this roofline.
- ``B_hbm`` are the bytes that must cross device memory. The tensor is read once and written once
  (2T); the weights (W bytes: shift and scale, and power when it is not all ones, each once; the
  harness's `bytes_moved` is 2T + W) are read once **if they fit in the L2**, taken here as at most half
  of it (the other half holds the streamed tensor; x and y are streamed evict-first). Weights that do
  not fit are read again for each of the R rows that use them: B_hbm = 2T + W * R.
- R, the weight rows, is how often the weights repeat: numel / prod(shape[axis:]) for CHANNEL and
  ELEMENTWISE (a 64x256x64x64 ELEMENTWISE on axis 1 has R = 64), 1 for UNIFORM.
- The **L2** must deliver every byte the SMs read: 2T plus the weights once per row, unless a kernel
  reuses one read over several rows (``weight_reuse``; the cuda kernel's `grid=reuse` does it over
  vectors_per_thread rows): B_l2 = 2T + W * ceil(R / weight_reuse). It matters only where W * R is
  large: int8 ELEMENTWISE reads 8 bytes of fp32 weights per 1-byte element, so a kernel that re-reads
  them per row moves 5x the tensor's traffic through the L2. ``BW_l2`` is a measured L2 read bandwidth
  (optional: without it the L2 is not judged). Weights small enough to stay in each SM's L1 (at most
  half of ``l1_bytes``, when given) are re-read from there, not from the L2: B_l2 = 2T + W.

The best a point can reach, against a copy of the same tensor (modelled: t_copy = t_launch + 2T / BW_hbm):
in time, t_copy / t (`copy_time_pct`): 2T / (2T + W) for a bandwidth-bound ELEMENTWISE point whose weights
fit, 128 / 136 = 94.1% for int8 64x256x64x64 on axis 1; in the harness's `pct_of_memcpy`, which
divides bandwidths (bytes_moved per second, weights included, over the copy's), that times
bytes_moved / 2T (`pct_of_memcpy`): 100% for every HBM-bound point whose weights are read once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench import reference
from bench.precision import info as precision_info


@dataclass(frozen=True)
class Roofline:
    bound: str  # 'launch' | 'hbm' | 'l2'
    predicted_us: float  # t_launch + the slowest level's transfer time
    launch_us: float
    hbm_us: float  # B_hbm / BW_hbm
    l2_us: float | None  # B_l2 / BW_l2, None without an L2 bandwidth
    hbm_bytes: int
    l2_bytes: int
    tensor_bytes: int
    weight_bytes: int
    weight_rows: int
    weights_fit_l2: bool
    copy_us: float  # the model's time for a copy of the same tensor: t_launch + 2T / BW_hbm
    bytes_moved: int  # 2T + W, the harness's

    @property
    def copy_time_pct(self) -> float:
        """The best time of a copy of the same tensor over this point's time, in %."""
        return 100.0 * self.copy_us / self.predicted_us

    @property
    def pct_of_memcpy(self) -> float:
        """The best `pct_of_memcpy` (the harness's bandwidth ratio, bytes_moved per second over the copy's)."""
        return self.copy_time_pct * self.bytes_moved / (2 * self.tensor_bytes)

    def explain(self) -> str:
        """One sentence with the numbers that decide the bound."""
        mib = 2.0**20
        if self.bound == "launch":
            return (
                f"launch-bound: the {self.launch_us:.2f} us floor exceeds moving {self.hbm_bytes / mib:.3g} MiB "
                f"({self.hbm_us:.2f} us)"
            )
        w = f"weights {self.weight_bytes / mib:.3g} MiB x {self.weight_rows} rows"
        fit = "fit in the L2 (read once)" if self.weights_fit_l2 else "do not fit in half the L2 (re-read per row)"
        if self.bound == "hbm":
            return (
                f"HBM-bound: {self.hbm_bytes / mib:.4g} MiB through device memory in {self.hbm_us:.2f} us "
                f"({w} {fit}); at best {self.copy_time_pct:.1f}% of the copy's time"
            )
        return (
            f"L2-bound: {self.l2_bytes / mib:.4g} MiB through the L2 in {self.l2_us:.2f} us ({w}) against "
            f"{self.hbm_us:.2f} us through device memory; at best {self.copy_time_pct:.1f}% of the copy's time, "
            f"{self.pct_of_memcpy:.1f}% of its bandwidth"
        )


def slope_gbps(copy_bytes: float, copy_us: float, launch_us: float) -> float:
    """BW_hbm from a (large) copy: bytes read plus written over its time above the launch floor, GB/s."""
    if not copy_us > launch_us >= 0 or not copy_bytes > 0:
        raise ValueError(f"need copy_us > launch_us >= 0 and copy_bytes > 0, got {copy_bytes}, {copy_us}, {launch_us}")
    return copy_bytes / (copy_us - launch_us) / 1e3


def weight_rows(shape: Sequence[int], mode: str, channel_axis: int | None) -> int:
    """How many times the weights repeat over the tensor (the rows that each need them)."""
    mode = reference.normalize_mode(mode)
    if mode == "uniform":
        return 1
    axis = reference.resolve_axis(shape, channel_axis)
    return math.prod(shape) // max(1, math.prod(shape[axis:]))


def roofline(
    mode: str,
    precision: str,
    shape: Sequence[int],
    channel_axis: int | None,
    bytes_moved: int,
    l2_bytes: int,
    memcpy_gbps: float,
    launch_floor_us: float,
    *,
    l2_gbps: float | None = None,
    weight_reuse: int = 1,
    l1_bytes: int | None = None,
) -> Roofline:
    """The bound of one point (see the module docstring for the model and its derivation).

    ``bytes_moved`` is the row's (2T + W), ``memcpy_gbps`` the copy's slope BW_hbm (`slope_gbps`),
    ``launch_floor_us`` the run's smallest call, ``l2_gbps`` an L2 read bandwidth if known, and
    ``weight_reuse`` the rows one read of the weights serves (1: every row reads them), ``l1_bytes``
    the L1 of one SM (weights in half of it are re-read from the L1).
    """
    shape = tuple(int(d) for d in shape)
    tensor = math.prod(shape) * precision_info(precision).itemsize
    weights = int(bytes_moved) - 2 * tensor
    if weights < 0:
        raise ValueError(f"bytes_moved {bytes_moved} is less than the tensor read and written ({2 * tensor})")
    for name, value in (("memcpy_gbps", memcpy_gbps), ("l2_bytes", l2_bytes)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")
    if not (math.isfinite(launch_floor_us) and launch_floor_us >= 0):
        raise ValueError(f"launch_floor_us must be >= 0, got {launch_floor_us}")
    if l2_gbps is not None and not (math.isfinite(l2_gbps) and l2_gbps > 0):
        raise ValueError(f"l2_gbps must be a positive number, got {l2_gbps}")
    if weight_reuse < 1:
        raise ValueError(f"weight_reuse must be >= 1, got {weight_reuse}")
    rows = weight_rows(shape, mode, channel_axis)
    reads = -(-rows // weight_reuse)
    fits = weights <= l2_bytes // 2
    in_l1 = l1_bytes is not None and weights <= l1_bytes // 2
    hbm_bytes = 2 * tensor + (weights if fits else weights * reads)
    l2_traffic = 2 * tensor + (weights if in_l1 else weights * reads)
    hbm_us = hbm_bytes / (memcpy_gbps * 1e3)
    l2_us = None if l2_gbps is None else l2_traffic / (l2_gbps * 1e3)
    transfer = max(hbm_us, l2_us or 0.0)
    slowest = "l2" if l2_us is not None and l2_us > hbm_us else "hbm"
    bound = "launch" if launch_floor_us >= transfer else slowest
    return Roofline(
        bound=bound,
        predicted_us=launch_floor_us + transfer,
        launch_us=launch_floor_us,
        hbm_us=hbm_us,
        l2_us=l2_us,
        hbm_bytes=hbm_bytes,
        l2_bytes=l2_traffic,
        tensor_bytes=tensor,
        weight_bytes=weights,
        weight_rows=rows,
        weights_fit_l2=fits,
        copy_us=launch_floor_us + 2 * tensor / (memcpy_gbps * 1e3),
        bytes_moved=int(bytes_moved),
    )
