"""Which limit holds a kernel point below the copy: launch cost, L2 or HBM, with the numbers.

"cuda reaches 54% of memcpy at 200,704 elements" invites "the kernel is bad"; at that size both calls
take about 2 µs and the fixed cost of a call sets the time, not the bytes. A reader needs the bound
beside the percentage.

There is one bound model, bench.analysis.roofline (launch floor plus the slowest level's transfer time),
and this module words it for the report, fed with what the report's own rows measured: the floor is the
fastest copy of the side and precision, the device-memory bandwidth the slope of its largest copy, the
L2 size the run's environment's. One case lies outside that streaming model and is said as such: with
one (warm) buffer set a point whose input and output fit in the L2 can run from the L2, faster than the
copy's bandwidth allows; with rotated buffers every call streams from memory and the model holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis import roofline
from bench.report.summaries import gbps, human_bytes

UNKNOWN_L2 = 1 << 62  # an L2 size not recorded: the model takes the weights as read once, and says so


def _shape(row: pd.Series) -> tuple[int, ...] | None:
    dims = row.get("dims")
    if dims is not None and not (isinstance(dims, float) and np.isnan(dims)) and len(dims):
        return tuple(int(d) for d in dims)
    shape = row.get("shape")
    try:
        return tuple(int(d) for d in str(shape).split("x")) if isinstance(shape, str) else None
    except ValueError:
        return None


def _axis(row: pd.Series) -> int | None:
    for column in ("resolved_axis", "channel_axis_arg"):
        value = row.get(column)
        if value is not None and not pd.isna(value):
            return int(value)
    return None


def model(row: pd.Series, copies: pd.DataFrame, l2_bytes: float | None) -> roofline.Roofline | None:
    """The roofline of one kernel row from the copies beside it; None where the rows cannot feed it (no
    shape, no bytes, fewer than two copy sizes to take a slope from)."""
    shape = _shape(row)
    timed = (
        copies[np.isfinite(pd.to_numeric(copies.get("bytes_moved"), errors="coerce"))]
        if "bytes_moved" in copies
        else copies.iloc[:0]
    )
    if shape is None or pd.isna(row.get("bytes_moved")) or timed["bytes_moved"].nunique() < 2:
        return None
    floor = float(timed["median_us"].min())
    largest = timed.loc[timed["bytes_moved"].idxmax()]
    try:
        slope = roofline.slope_gbps(float(largest["bytes_moved"]), float(largest["median_us"]), floor)
        return roofline.roofline(str(row["mode"]), str(row["precision"]), shape, _axis(row), int(row["bytes_moved"]),
                                 int(l2_bytes) if l2_bytes else UNKNOWN_L2, slope, floor)  # fmt: skip
    except (ValueError, KeyError):
        return None


def bound_text(row: pd.Series, copies: pd.DataFrame, l2_bytes: float | None, rotated: bool = False) -> str:
    """The bound that applies to one kernel row, as text with its numbers.

    `row`: a kernel row with `median_us`, `bytes_moved`, `gbps`, its shape (`dims` or `shape`), mode,
    precision and axis and, where a copy of its size exists, `copy_gbps`; `copies`: the memcpy rows of the
    same side and precision (every size); `l2_bytes`: the side's L2 size, or None where not recorded;
    `rotated`: timed on rotated buffers (every call streams from memory).
    """
    rates = f"this point {gbps(row['gbps'])} GB/s, the copy " + (
        f"{gbps(row['copy_gbps'])} GB/s" if pd.notna(row.get("copy_gbps")) else "n/a"
    )
    r = model(row, copies, l2_bytes)
    if r is None:
        return f"not modelled (no shape, bytes or two copy sizes to take the memory's slope from); {rates}"
    moved = float(row["bytes_moved"])
    if r.bound == "launch":
        return (
            f"launch: {row['median_us']:.2f} µs per call; a call's floor is {r.launch_us:.2f} µs (the fastest copy) "
            f"and moving its {human_bytes(r.hbm_bytes)} at the copy's slope takes {r.hbm_us:.2f} µs: per-call cost, "
            "not bytes, sets the time"
        )
    if not rotated and l2_bytes and moved <= l2_bytes:
        return f"L2: moves {human_bytes(moved)}, within the {human_bytes(l2_bytes)} L2 (one buffer set: it can run from the L2, beyond the model); {rates}"
    l2 = f"more than the {human_bytes(l2_bytes)} L2" if l2_bytes and moved > l2_bytes else (
        "streamed from memory (rotated buffers)" if l2_bytes else "L2 size not recorded")  # fmt: skip
    weights = "" if r.weights_fit_l2 else f", its weights re-read for each of {r.weight_rows} rows"
    return (
        f"HBM: moves {human_bytes(moved)}, {l2}; the model allows {r.predicted_us:.2f} µs ({r.copy_time_pct:.0f}% of "
        f"a copy's time{weights}); {rates}"
    )
