"""When to stop sampling: shared by the host and device timing loops.

Stop once relative noise (MAD/median) is at or below the target after `min_samples` samples and
`min_time_s` of sampling (reason `noise_target`), or when the point has spent `max_time_s` in total,
warm-up included (`time_cap`), or at `max_samples` (`sample_cap`). A stop by either cap with the noise
target unmet is never silent: the measurement says `noise_target_met = False` and carries a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.stats import rel_mad
from bench.timing.settings import TimingSettings


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str | None = None  # noise_target | time_cap | sample_cap (what ended sampling)
    noise: float = float("nan")
    target_met: bool = False  # noise <= target with at least min_samples samples


def target_met(n: int, noise: float, settings: TimingSettings) -> bool:
    return n >= settings.min_samples and math.isfinite(noise) and noise <= settings.target_noise


def should_stop(
    samples: list[float] | np.ndarray, sampling_s: float, settings: TimingSettings, *, spent_s: float | None = None
) -> StopDecision:
    """Decide after each sample. ``sampling_s``: wall time spent sampling so far; ``spent_s``: everything
    this measurement has spent (warm-up and sizing included; defaults to ``sampling_s``), which the time
    cap bounds."""
    n = len(samples)
    noise = rel_mad(np.asarray(samples)) if n else float("nan")
    met = target_met(n, noise, settings)
    spent = sampling_s if spent_s is None else spent_s
    if met and sampling_s >= settings.min_time_s:
        return StopDecision(True, "noise_target", noise, True)
    if n >= settings.max_samples:
        return StopDecision(True, "sample_cap", noise, met)
    if spent >= settings.max_time_s:
        return StopDecision(True, "time_cap", noise, met)
    return StopDecision(False, None, noise, met)


def unmet_warning(decision: StopDecision, settings: TimingSettings) -> str | None:
    """The warning a stop with the noise target unmet carries (None when it was met)."""
    if decision.target_met:
        return None
    cap = {
        "time_cap": f"the {settings.max_time_s:g} s time cap",
        "sample_cap": f"the {settings.max_samples} sample cap",
    }
    return (
        f"noise target missed: noise {decision.noise:.2%} > target {settings.target_noise:.2%}, stopped by "
        f"{cap.get(decision.reason or '', decision.reason)}"
    )
