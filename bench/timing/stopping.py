"""When to stop sampling: shared by the host and device timing loops.

Stop once relative noise (MAD/median) is at or below the target after a minimum number of samples
and a minimum sampling time, or at the time cap (recorded, with a warning, because the noise target
was not met), or at the sample cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.stats import rel_mad
from bench.timing.settings import TimingSettings


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    hit_time_cap: bool = False
    noise: float = float("nan")


def should_stop(samples: list[float] | np.ndarray, elapsed_s: float, settings: TimingSettings) -> StopDecision:
    """Decide after each sample. ``elapsed_s`` is the wall time spent sampling so far."""
    n = len(samples)
    noise = rel_mad(np.asarray(samples)) if n else float("nan")
    if n >= settings.max_samples:
        return StopDecision(True, False, noise)
    if elapsed_s >= settings.max_time_s:
        return StopDecision(True, not (n >= settings.min_samples and noise <= settings.target_noise), noise)
    if n >= settings.min_samples and elapsed_s >= settings.min_time_s and noise <= settings.target_noise:
        return StopDecision(True, False, noise)
    return StopDecision(False, False, noise)
