"""The memcpy yardstick as a control: it measures the machine, so when it moves, the machine moved.

A device-to-device copy of the same bytes is in every GPU run beside the kernels, and no change to the
Scale layer or its kernels touches it. So the gate (and any comparison of one kind of machine, never a
cross-machine one) uses each copy as the control of the points with the same shape, precision, timing
method and L2 state. But a change can touch the copy too (a driver or runtime change, a change to the
harness's buffers), and a control that excuses whatever the copy did would let such a change through. So:

- a copy's move counts only when it is **established**: the copy's own log ratio differs from zero by a
  two-sided test, Benjamini-Hochberg over the copies (its noise from the profile, like every point's);
- an established move widens its points' band in the direction it moved, **never by more than the
  threshold**; widening only keeps a point from being called *slower* (the change's fault): a point whose
  estimate is beyond the threshold is still never passed (rule.py: undecided, the gate refuses);
- a point whose own copy moved beyond the threshold (established) cannot be judged at all: the gate
  refuses it by name;
- the gate states the machine's drift (median over the copies, with the range), and refuses everything
  when the median drift is beyond the threshold and at least half of the copies establish it;
- a copy controls only like with like: the copy is the faster of cudaMemcpyAsync and a copy kernel
  (bench/backends/memcpy_backend.py), so a copy whose winner differs between the sides (its what-ran
  label, bench.what_ran) measured two different copies, and its move says nothing about the machine. It
  controls nothing (`like_copies`): its points are judged with the plain band, and their reasons say why.

memcpy points are judged but not gated by default (they measure the machine, not the change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench import comparability
from bench.comparability import L2_LABEL
from bench.copy_yardstick import BACKEND as YARDSTICK
from bench.copy_yardstick import CONTROL_ON


@dataclass(frozen=True)
class Drift:
    """How much the yardstick moved (cand over base), over the copies of one timing method and L2 state."""

    label: str  # e.g. "graph, rotated buffers"
    n: int
    median: float
    low: float
    high: float
    shown: int = 0  # copies whose move is established in the direction of the median

    @property
    def established(self) -> bool:
        """At least half of the copies establish the move: the drift is the data's, not noise."""
        return self.n > 0 and 2 * self.shown >= self.n

    def sentence(self) -> str:
        return (
            f"the machine: memcpy ({self.label}) took {self.median:.3f}x as long in cand as in base "
            f"(median over {self.n} copies, range {self.low:.3f}-{self.high:.3f}; {self.shown} of {self.n} "
            "establish a move that way)"
        )


def control_key(points: pd.DataFrame) -> np.ndarray:
    """Per row, what its copy must share with it: shape, precision, timing method, L2 state, unit."""
    text = [points[c].astype("string").fillna("(none)") for c in CONTROL_ON if c in points.columns]
    key = text[0]
    for part in text[1:]:
        key = key + "|" + part
    return key.to_numpy(dtype=object) if len(points) else np.array([], dtype=object)


def is_copy(points: pd.DataFrame) -> np.ndarray:
    """Which rows are the yardstick's."""
    return (
        (points["backend"] == YARDSTICK).to_numpy(dtype=bool)
        if "backend" in points.columns
        else np.zeros(len(points), bool)
    )


def like_copies(copies: np.ndarray, ran_base: np.ndarray, ran_cand: np.ndarray) -> np.ndarray:
    """The copies that ran the same copy on both sides (one what-ran label each side, the same one): only
    they can control. A side whose runs ran several copies ('a; b') is not like anything."""
    ran_b, ran_c = np.asarray(ran_base, dtype=object), np.asarray(ran_cand, dtype=object)
    one = np.array([bool(b) and "; " not in str(b) for b in ran_b], dtype=bool)
    return np.asarray(copies, dtype=bool) & one & (ran_b == ran_c)


def copy_index(copies: np.ndarray, keys: np.ndarray, every_copy: np.ndarray | None = None) -> np.ndarray:
    """Per row, the position of its copy among ``copies`` (same shape, precision, timing method, L2 state,
    unit); -1 where there is none, and for the copies themselves (``every_copy``: all the yardstick's rows,
    when ``copies`` is only those that control)."""
    first: dict[object, int] = {}
    for i in np.flatnonzero(copies):
        first.setdefault(keys[i], int(i))
    out = np.array([first.get(k, -1) for k in keys], dtype=np.int64)
    out[copies if every_copy is None else every_copy] = -1
    return out


def control_drift(copy_of: np.ndarray, d: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(drift, established) per row: the log ratio its copy moved (NaN where the row has no copy) and
    whether that copy's move is established (`moved`, read on the copies)."""
    has = copy_of >= 0
    drift = np.full(len(d), np.nan)
    established = np.zeros(len(d), bool)
    drift[has] = np.asarray(d)[copy_of[has]]
    established[has] = np.asarray(moved)[copy_of[has]]
    return drift, established


def bands(half: float, drift: np.ndarray, established: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) log-ratio bands: ±half, widened in the direction an established copy moved, by at most half."""
    moved = np.where(established, np.clip(np.nan_to_num(np.asarray(drift, dtype=np.float64)), -half, half), 0.0)
    return -half + np.minimum(moved, 0.0), half + np.maximum(moved, 0.0)


def copy_moved(half: float, drift: np.ndarray, established: np.ndarray) -> np.ndarray:
    """Rows whose own copy established a move beyond the threshold: they cannot be judged."""
    return established & (np.abs(np.nan_to_num(drift)) > half)


def drift_labels(points: pd.DataFrame) -> np.ndarray:
    """Per row, 'graph, rotated buffers': what a drift is stated over (timing method and L2 state)."""
    method = points["timing_method"].astype("string").fillna("unknown timing") if "timing_method" in points else "?"
    l2 = comparability.l2_modes(points).map(lambda v: L2_LABEL.get(v, "L2 state unknown"))
    return (method + ", " + l2).to_numpy(dtype=object)


def summarize(labels: np.ndarray, copies: np.ndarray, ratio: np.ndarray, moved: np.ndarray) -> list[Drift]:
    """The machine's drift per timing method and L2 state, from the copies' ratios, and how many copies
    establish a move in the median's direction."""
    out = []
    for label in sorted(set(labels[copies])):
        rows = copies & (labels == label) & np.isfinite(ratio)
        if rows.any():
            r = np.asarray(ratio)[rows]
            median = float(np.median(r))
            way = (r > 1) if median > 1 else (r < 1)
            shown = int((np.asarray(moved)[rows] & way).sum())
            out.append(Drift(str(label), int(rows.sum()), median, float(r.min()), float(r.max()), shown))
    return out


MACHINE_COLUMNS = ("gpu_name", "driver_version", "cuda_version")  # the copy is noise only when these agree


def same_machine(base: pd.DataFrame, cand: pd.DataFrame) -> bool:
    """Both sides ran on one GPU model with one driver and CUDA: then the copy measures the machine."""
    for column in MACHINE_COLUMNS:
        if column in base.columns and column in cand.columns:
            values = set(base[column].astype("string").fillna("(none)")) | set(
                cand[column].astype("string").fillna("(none)")
            )
            if len(values) > 1:
                return False
    return True
