"""Measurement settings: how long to warm up, when to stop, which method to use."""

from __future__ import annotations

from dataclasses import asdict, dataclass

TIMING_METHODS = ("graph", "events")
# The time cap (max_time_s) bounds a point's whole time, warm-up included: warm-up may take at most this
# share of it, so the samples always have the rest.
WARMUP_SHARE = 0.5


def l2_mode_of(l2_flush: bool | None, rotate_buffers: bool | None) -> str | None:
    """The L2 state settings ask for: 'flushed' (a flushed L2 times one buffer set, whatever
    rotate_buffers says), 'rotated' or 'warm'; None where l2_flush is unknown."""
    if l2_flush is None:
        return None
    if l2_flush:
        return "flushed"
    return "rotated" if rotate_buffers else "warm"


@dataclass(frozen=True)
class TimingSettings:
    """What the sweep's [measure] table and the CLI's timing flags set.

    method: 'graph' replays k captured enqueues per sample (device time, no launch overhead), falling
    back to 'events' (k back-to-back enqueues, launch overhead included) where capture fails.
    Host backends (numpy) always time with the host clock and record 'host'.
    """

    method: str = "graph"
    warmup_s: float = 0.02  # warm-up budget, seconds (at most WARMUP_SHARE of max_time_s: warmup_budget_s)
    min_samples: int = 10
    max_samples: int = 2000
    min_time_s: float = 0.05  # keep sampling at least this long (seconds of samples)
    max_time_s: float = 1.0  # time cap: stop here even if noise is above target, and say so
    target_noise: float = 0.01  # stop once MAD/median <= this
    sample_floor_us: float = 20.0  # a sample (k calls) lasts at least this long: far above event resolution
    l2_flush: bool = False  # 'cold': flush L2 before every sample, outside the timed region
    # GPU points: each call on the next of several copies of the point's buffers, enough to pass twice the
    # L2 (bench.timing.device.buffer_sets), so a call streams from memory instead of timing whatever
    # part of its data the page placement lets the L2 keep; False: every call on one set (warm L2)
    rotate_buffers: bool = True
    rounds: int = 1  # time every point in this many interleaved rounds (each with 1/rounds of the budget)

    @property
    def warmup_budget_s(self) -> float:
        """Seconds the timing loops warm up for: warmup_s, within its share of the time cap."""
        return min(self.warmup_s, WARMUP_SHARE * self.max_time_s)

    @property
    def l2_mode(self) -> str:
        """What the L2 holds when a call starts (bench.comparability keys on it): see `l2_mode_of`."""
        return l2_mode_of(self.l2_flush, self.rotate_buffers) or "warm"

    def to_dict(self) -> dict:
        return asdict(self)
