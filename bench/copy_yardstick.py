"""The copy yardstick's one home: its backend's name, which copy row is a row's copy, and how a row is
set against it (bandwidth percentage, or time ratio where launches rather than bytes set the time).

Every GPU run times a device-to-device copy of each tensor (backend `memcpy`, the name stored results
and committed baselines use). The copy is the faster of `cudaMemcpyAsync` and a plain copy kernel
(bench/backends/memcpy_backend.py), which one won being part of what ran (bench.what_ran; rows written
before the choice existed read `cudaMemcpyAsync`). It is the best copy the harness knows how to make of
those bytes, not a physical limit: a Scale point can still beat it where it reads fewer bytes than the
model counts, or runs from the L2.

Pure: row dicts in, row dicts out; the results store, the analysis and the report all read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

BACKEND = "memcpy"
DRIVER_COPY = "cudaMemcpyAsync"  # the copy a row ran where it does not say (written before the copy kernel)

# What a row's copy must share with it: the same tensor (shape, precision) timed the same way.
SAME_TENSOR: tuple[str, ...] = ("shape", "precision")
SAME_WAY: tuple[str, ...] = ("timing_method", "l2_mode", "unit")
CONTROL_ON: tuple[str, ...] = (*SAME_WAY, *SAME_TENSOR)  # across runs of one side (the gate's control)
# Within one results file: the same run, on the same GPU model, too.
SAME_COPY: tuple[str, ...] = ("run_id", "gpu_name", *SAME_TENSOR, *SAME_WAY)

# A copy that takes under this many microseconds per call spends about half its time or more on the
# per-call floor, not on bytes: on the H200 a graph-replayed copy of 4 KiB took 1.06 us, of 2 MiB 1.65
# us, of 4 MiB 2.33 us; on the H100 1.14, 1.77 and 2.49 us (archive/results-v2/bandwidth-h200-2026-11-26,
# archive/results-v2/bandwidth-h100-x1-2026-11-26, fp32).
LAUNCH_BOUND_US = 2.0


def is_copy(backend: object) -> bool:
    """Whether a row of ``backend`` is the yardstick's."""
    return backend == BACKEND


def launch_bound(copy_us: float | None, timing_method: object, enqueue_bound: object) -> bool:
    """Whether a point is bound by launches rather than by memory, so that its bytes per second mean
    nothing: its copy takes under `LAUNCH_BOUND_US`, or it was timed with `events` (launch overhead
    included) and the host's enqueue rate set its time (`enqueue_bound`). Such a point is shown as its
    time over the copy's (x1.23), never as a bandwidth percentage: bytes counted over a time that
    launches set gave 'cuda at 626% of the copy' for a 1x3x3x3 ELEMENTWISE point."""
    try:  # None, NaN and pandas' NA: not known to be enqueue-bound
        flagged = enqueue_bound is not None and bool(enqueue_bound == enqueue_bound) and bool(enqueue_bound)
    except TypeError:
        flagged = False
    if timing_method == "events" and flagged:
        return True
    return copy_us is not None and math.isfinite(copy_us) and copy_us < LAUNCH_BOUND_US


def versus_copy(pct: float | None, time_ratio: float | None, bound: bool | None) -> str:
    """A row against its copy, as the report and the console write it: '87%' (bytes per second over the
    copy's) or 'x1.23' (time over the copy's, where launch-bound); 'n/a' with neither."""

    def finite(v: float | None) -> bool:
        return v is not None and isinstance(v, (int, float)) and math.isfinite(v)

    if bound and finite(time_ratio):
        return f"x{time_ratio:.2f}"
    if finite(pct) and not bound:
        return f"{pct:.0f}%"
    return "n/a"


def copy_key(row: Mapping[str, Any], columns: Sequence[str] = SAME_COPY) -> tuple:
    return tuple(row.get(c) for c in columns)


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def add_pct_of_memcpy(rows: list[dict]) -> list[dict]:
    """Each row with `pct_of_memcpy`: its bytes moved per second over its copy's, in % (`gbps` over `gbps`).
    Bytes with bytes: a row's `bytes_moved` counts its weights, so an ELEMENTWISE point on axis 0, which
    reads three weight tensors as big as its input, at the copy's time reaches 250%, and at 2.5 times the
    copy's time 100%. The copy is the `memcpy` row of the same run, GPU model, tensor and timing
    (`SAME_COPY`; the median of several); rows without a timed copy get None. Where launches set a
    point's time (`launch_bound`), the report shows its time over the copy's instead."""
    copies: dict[tuple, list[float]] = {}
    for r in rows:
        if is_copy(r.get("backend")) and r.get("status") == "ok" and r.get("gbps"):
            copies.setdefault(copy_key(r), []).append(float(r["gbps"]))
    out = []
    for r in rows:
        ref = copies.get(copy_key(r))
        ok = r.get("status") == "ok" and r.get("gbps") and ref
        out.append({**r, "pct_of_memcpy": 100.0 * float(r["gbps"]) / _median(ref) if ok else None})
    return out


def time_over_copy(rows: pd.DataFrame) -> pd.DataFrame:
    """Per row of a results frame (aligned on its index): `time_over_copy` (its median over its copy's, the
    `memcpy` row of `SAME_COPY`; the median of several) and `launch_bound` (`launch_bound`, False without
    a copy). Rows without a timed copy get NaN."""
    import pandas as pd

    present = [c for c in SAME_COPY if c in rows.columns]
    out = pd.DataFrame({"time_over_copy": float("nan"), "launch_bound": False}, index=rows.index)
    if rows.empty or "median_us" not in rows.columns or "backend" not in rows.columns:
        return out
    key = pd.Series("all", index=rows.index, dtype="string")
    for c in present:
        key = key + "|" + rows[c].astype("string").fillna("(none)")
    ok = (rows["status"] == "ok") if "status" in rows.columns else pd.Series(True, index=rows.index)
    median = pd.to_numeric(rows["median_us"], errors="coerce")
    copies = ok & (rows["backend"] == BACKEND) & (median > 0)
    copy_us = key.map(median[copies].groupby(key[copies]).median())
    out["time_over_copy"] = (median / copy_us).where(ok)
    method = rows["timing_method"] if "timing_method" in rows.columns else pd.Series(None, index=rows.index)
    enqueue = rows["enqueue_bound"] if "enqueue_bound" in rows.columns else pd.Series(None, index=rows.index)
    out["launch_bound"] = [
        bool(ok_) and launch_bound(float(c) if c == c else None, m, e)
        for ok_, c, m, e in zip(
            ok.to_numpy(), copy_us.to_numpy(dtype=float), method.to_numpy(), enqueue.to_numpy(), strict=True
        )
    ]
    return out
