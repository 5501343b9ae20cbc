"""How many calls make one sample: shared by the host and device timing loops."""

from __future__ import annotations

import math

MAX_BATCH = 1 << 16  # calls per sample; beyond this a call is too short to matter (or does nothing)


def batch_for(per_call_us: float, floor_us: float, *, min_batch: int = 1, max_batch: int = MAX_BATCH) -> int:
    """Calls per sample so that k * per_call_us >= floor_us, within [min_batch, max_batch]."""
    if not per_call_us > 0 or not math.isfinite(per_call_us):
        return max_batch
    k = math.ceil(floor_us / per_call_us)
    return int(min(max(k, min_batch, 1), max_batch))
