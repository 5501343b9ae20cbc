"""Which limit holds a kernel point below the copy: launch cost, L2 or HBM, with the numbers.

"cuda reaches 54% of memcpy at 200,704 elements" invites "the kernel is bad"; at that size both calls
take about 2 µs and the fixed cost of a call sets the time, not the bytes. A reader needs the bound
beside the percentage.

HOOK (issue 12): the kernel work is writing bench.analysis.roofline (a pure model of each bound from the
GPU's figures). When it lands, make `bound_text` call it; until then `bound_text` computes what the
report's own rows can tell: the launch floor (the section's fastest copy of the side), the L2 size (from
the rows' `environment` JSON) and the copy's bandwidth at the point's size. Callers go through
`bound_text` only, so the swap is one function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.summaries import gbps, human_bytes

LAUNCH_FACTOR = 2.0  # a call within 2x of the fastest copy's time is dominated by fixed per-call cost


def bound_text(row: pd.Series, copies: pd.DataFrame, l2_bytes: float | None) -> str:
    """The bound that applies to one kernel row, as text with its numbers.

    `row`: a kernel row with `median_us`, `bytes_moved`, `gbps` and, where a copy of its size exists,
    `copy_gbps`; `copies`: the memcpy rows of the same side and section (every size); `l2_bytes`: the
    side's L2 size, or None where not recorded.
    """
    floor = float(copies["median_us"].min()) if len(copies) else float("nan")
    moved = float(row["bytes_moved"]) if pd.notna(row.get("bytes_moved")) else float("nan")
    copy = row.get("copy_gbps", float("nan"))
    if np.isfinite(floor) and row["median_us"] <= LAUNCH_FACTOR * floor:
        return (
            f"launch: {row['median_us']:.2f} µs per call, under {LAUNCH_FACTOR:g}x the fastest copy's "
            f"{floor:.2f} µs: per-call cost, not bytes, sets the time"
        )
    rates = f"this point {gbps(row['gbps'])} GB/s, the copy " + (f"{gbps(copy)} GB/s" if pd.notna(copy) else "n/a")
    if l2_bytes and np.isfinite(moved) and moved <= l2_bytes:
        return f"L2: moves {human_bytes(moved)}, within the {human_bytes(l2_bytes)} L2; {rates}"
    l2 = f"more than the {human_bytes(l2_bytes)} L2" if l2_bytes else "L2 size not recorded"
    return f"HBM: moves {human_bytes(moved)}, {l2}; {rates}"
