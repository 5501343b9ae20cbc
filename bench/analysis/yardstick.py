"""The memcpy yardstick as a control: it measures the machine, so when it moves, the machine moved.

A device-to-device copy of the same bytes is in every GPU run beside the kernels, and no change to the
Scale layer or its kernels touches it. Between two runs of one commit on the committed H100 data, every
fp32 8x128x56x56 point (the copy AND the kernels of that shape and precision) was ~4% faster in one run:
the machine, not the code. So the gate (never a cross-machine comparison) uses each copy as the control
of the points with the same shape, precision, timing method and L2 state:

- its points' band is widened by what their copy moved, in the direction it moved: a point must be
  slower than 1 + threshold AND slower than the machine got (widening, not subtracting: on the same
  data, dividing by the copy made elementwise points worse, since they did not move with it);
- the gate states the machine's drift (median over the copies, with the range), and refuses when the
  median drift is beyond the threshold AND the copies show it (at least half of them judged beyond the
  band, in the drift's direction, by the same model as every point): then base and cand ran on machines
  too unlike to judge a change, and the remedy is to time both on the same machine (`nox -s gate`,
  interleaved A/B). Copies too noisy to show a move (events timing of a 1 us copy is host-bound: its
  run-to-run noise on the H100 is ~10%) prove no drift: the gate says so and does not refuse on them;
  their moves still widen their points' bands, and those points are judged with their own noise.

memcpy points are judged but not gated by default (they measure the machine, not the change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench import comparability
from bench.comparability import L2_LABEL

YARDSTICK = "memcpy"
CONTROL_ON = ("timing_method", "l2_mode", "unit", "shape", "precision")


@dataclass(frozen=True)
class Drift:
    """How much the yardstick moved (cand over base), over the copies of one timing method and L2 state."""

    label: str  # e.g. "graph, warm L2"
    n: int
    median: float
    low: float
    high: float
    shown: int = 0  # copies judged beyond the band in the direction of the median (verdict slower/faster)

    @property
    def established(self) -> bool:
        """At least half of the copies show the move beyond the band: the drift is the data's, not noise."""
        return self.n > 0 and 2 * self.shown >= self.n

    def sentence(self) -> str:
        direction = "slower" if self.median > 1 else "faster"
        return (
            f"the machine: memcpy ({self.label}) took {self.median:.3f}x as long in cand as in base "
            f"(median over {self.n} copies, range {self.low:.3f}-{self.high:.3f}; {self.shown} of {self.n} "
            f"judged {direction} beyond the band)"
        )


def control_key(points: pd.DataFrame) -> np.ndarray:
    """Per row, what its copy must share with it: shape, precision, timing method, L2 state, unit."""
    text = [points[c].astype("string").fillna("(none)") for c in CONTROL_ON if c in points.columns]
    key = text[0]
    for part in text[1:]:
        key = key + "|" + part
    return key.to_numpy(dtype=object) if len(points) else np.array([], dtype=object)


def control_drift(points: pd.DataFrame, keys: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_yardstick, drift): which rows are copies, and per row the log ratio its copy moved (NaN where
    the row has no copy of the same shape, precision, timing method and L2 state; 0 for copies)."""
    is_copy = (
        (points["backend"] == YARDSTICK).to_numpy() if "backend" in points.columns else np.zeros(len(points), bool)
    )
    if not is_copy.any():
        return is_copy, np.full(len(points), np.nan)
    copies = pd.Series(np.asarray(d)[is_copy], index=keys[is_copy])
    copies = copies[~copies.index.duplicated()]
    drift = np.array(pd.Series(keys).map(copies), dtype=np.float64)
    drift[is_copy] = 0.0
    return is_copy, drift


def bands(threshold: float, drift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) log-ratio bands: ±log(1 + threshold), widened by the control's drift where known."""
    half = np.log1p(threshold)
    moved = np.nan_to_num(np.asarray(drift, dtype=np.float64), nan=0.0)
    return -half + np.minimum(moved, 0.0), half + np.maximum(moved, 0.0)


def summarize(points: pd.DataFrame, is_copy: np.ndarray, ratio: np.ndarray) -> list[Drift]:
    """The machine's drift per timing method and L2 state, from the copies' ratios and verdicts (how many
    copies the model judged beyond the band in the drift's direction)."""
    out = []
    copies = points[is_copy].assign(_ratio=np.asarray(ratio)[is_copy])
    if copies.empty:
        return out
    method = copies["timing_method"].astype("string").fillna("unknown timing") if "timing_method" in copies else "?"
    l2 = comparability.l2_modes(copies).map(lambda v: L2_LABEL.get(v, "L2 state unknown"))
    for label, part in copies.groupby(method + ", " + l2, sort=True):
        r = part["_ratio"].to_numpy(dtype=np.float64)
        finite = np.isfinite(r)
        r = r[finite]
        if r.size:
            median = float(np.median(r))
            shown = int((part["verdict"].to_numpy()[finite] == ("slower" if median > 1 else "faster")).sum())
            out.append(Drift(str(label), int(r.size), median, float(r.min()), float(r.max()), shown))
    return out
