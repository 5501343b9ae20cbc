"""Host-clock timing loop for CPU backends (perf_counter_ns), with the shared stopping rule."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from bench.timing.batching import batch_for
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings
from bench.timing.stopping import should_stop, unmet_warning


def batch_size(one_call_ns: int, floor_us: float) -> int:
    """Calls per sample so that one sample lasts at least ``floor_us`` (clock resolution, overhead)."""
    return batch_for(one_call_ns / 1e3, floor_us, max_batch=1024)


def measure_host(fn: Callable[[], object], settings: TimingSettings) -> Measurement:
    """Time ``fn`` on the host: warm up by time budget (within the time cap), batch k calls per sample, stop
    adaptively."""
    clock = time.perf_counter_ns
    t0 = clock()
    one = 0
    while True:  # warm-up: at least one call, then until the budget is spent
        c0 = clock()
        fn()
        one = clock() - c0
        if (clock() - t0) / 1e9 >= settings.warmup_budget_s:
            break
    warmup_s = (clock() - t0) / 1e9
    k = batch_size(one, settings.sample_floor_us)
    samples: list[float] = []
    start = clock()
    while True:
        s0 = clock()
        for _ in range(k):
            fn()
        samples.append((clock() - s0) / 1e3 / k)
        now = clock()
        decision = should_stop(samples, (now - start) / 1e9, settings, spent_s=(now - t0) / 1e9)
        if decision.stop:
            break
    m = Measurement(
        samples_us=np.asarray(samples, dtype=np.float64),
        timing_method="host",
        batch=k,
        warmup_s=warmup_s,
        measure_s=(clock() - start) / 1e9,
        stop_reason=decision.reason,
        noise_target_met=decision.target_met,
        noise=decision.noise,
    )
    warning = unmet_warning(decision, settings)
    if warning:
        m.warnings.append(warning)
    return m
