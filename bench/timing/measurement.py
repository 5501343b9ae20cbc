"""The record one timed point produces; every statistic is derived from its raw samples."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Measurement:
    samples_us: np.ndarray  # per-call time of each sample (elapsed / batch), microseconds, float64
    timing_method: str  # 'graph' (device time), 'events' (includes launch overhead) or 'host'
    batch: int = 1  # calls per sample (k)
    warmup_s: float = 0.0
    measure_s: float = 0.0  # wall time spent sampling
    stop_reason: str | None = None  # noise_target | time_cap | sample_cap (bench.timing.stopping)
    noise_target_met: bool = False  # noise <= target_noise with at least min_samples samples
    noise: float = float("nan")  # final MAD/median of samples
    l2_flush: bool = False
    l2_mode: str = "warm"  # warm (one buffer set) | rotated | flushed: TimingSettings.l2_mode
    buffer_sets: int = 1  # copies of the point's buffers its calls cycled over (rotated buffers)
    fallback_reason: str | None = None  # why 'graph' fell back to 'events'
    enqueue_us: float | None = None  # host time to enqueue one call (trtexec's Enqueue Time)
    enqueue_bound: bool | None = None  # host enqueue slower than the device: the GPU waited on Python
    throttled: list[bool] | None = None  # per sample: a throttle reason was active (NVML), else None
    clocks: dict = field(default_factory=dict)  # sm/mem clocks, temperature, power, throttle reasons
    warnings: list[str] = field(default_factory=list)

    @property
    def hit_time_cap(self) -> bool:
        """Stopped by the time cap with the noise target unmet."""
        return self.stop_reason == "time_cap" and not self.noise_target_met
