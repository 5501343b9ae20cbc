"""Device timing loop: CUDA events around batches of enqueues, replayed from a graph where possible.

Backend-agnostic: it takes ``enqueue(stream)``, which enqueues ONE call on the stream (a TensorRT
``execute_async_v3``, a kernel launch, a copy), and returns a `Measurement` of per-call device time.

- Warm-up by time budget, one call at a time (module loads, lazy allocations, clocks ramping up).
- A sample is one event pair around k calls, k chosen so a sample lasts at least
  ``settings.sample_floor_us`` (event resolution is ~0.5 us); per-call time = elapsed / k.
- ``graph``: the k calls are captured once into a CUDA graph, replayed per sample: device time without
  Python's launch overhead. ``events``: k plain back-to-back enqueues, launch overhead included. Where
  capture fails, ``graph`` falls back to ``events`` and says why in ``fallback_reason``.
- Each warm sample starts behind an untimed lead-in (one replay or one call) so the host's launch
  latency of the first timed call stays out of it.
- ``l2_flush`` ('cold'): a memset of twice the L2 size before every sample, outside the event pair,
  with one call per sample (a second call would find the data in L2). The memset also keeps the
  stream busy while the host enqueues the timed call, so launch latency stays out of the sample.
- Rotated buffers (``rotate_buffers``, the default): given several enqueues, each the same call on its
  own copy of the point's buffers, the k calls of a sample cycle over them (k a multiple of their
  number), so consecutive calls find their data in memory, not in the L2 the previous call filled.
  Why: a point whose buffers nearly fill the L2 times from the L2 or from memory depending on where
  its pages land, which changes from process to process (reports/gate/README.md); streamed from
  memory it does not. The backend decides how many copies (`buffer_sets`).
- Adaptive stopping through `bench.timing.stopping.should_stop`.
- Host enqueue time per call (trtexec's Enqueue Time) and ``enqueue_bound`` when it exceeds the
  device time per call; NVML clocks before and after, and a per-sample throttle flag.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.gpu import nvml
from bench.timing.batching import next_batch, round_up_to, sample_batch
from bench.timing.measurement import Measurement
from bench.timing.settings import TIMING_METHODS, TimingSettings
from bench.timing.stopping import StopDecision, should_stop, unmet_warning

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, Graph, Stream

SIZING_ROUNDS = 6  # re-sizings of k at most (each multiplies k; a few suffice)
# A host-bound 'events' run's per-call time is its enqueue time plus the loop's own cost: on the H100,
# enqueue/per-call read 0.90-0.92 for 1x3x3x3 (2026-11-26), so the flag uses a margin below that.
ENQUEUE_BOUND_MARGIN = 0.75  # see is_enqueue_bound
ENQUEUE_PROBE_CALLS = 32  # back-to-back enqueues timed on the host for enqueue_us in graph mode


# --- pure logic ---------------------------------------------------------------------------------------


def flush_bytes(l2_bytes: int) -> int:
    """Bytes to write to evict the L2: twice its size (its hashing does not map a linear buffer 1:1)."""
    return max(2 * int(l2_bytes), 1 << 20)


ROTATE_MAX_SETS = 1024  # copies of a point's buffers at most: a graph sample holds at least this many calls


def buffer_sets(set_bytes: int, l2_bytes: int, *, max_sets: int = ROTATE_MAX_SETS) -> int:
    """How many copies of a point's buffers (one set: everything one call reads and writes) its calls
    cycle over so that together they pass twice the L2 (`flush_bytes`): each call then streams its
    data from memory. 1 where one set already passes it, and where even ``max_sets`` copies would not:
    a set under 2 x L2 / max_sets (100 KiB on a 50 MiB L2) stays L2-resident on one set, far from the
    L2's capacity, where placement no longer matters."""
    target = flush_bytes(l2_bytes)
    if set_bytes <= 0 or set_bytes >= target:
        return 1
    n = math.ceil(target / set_bytes)
    return n if n <= max_sets else 1


def rotation_sets(timing: TimingSettings, set_bytes: Callable[[], int], l2_bytes: int) -> int:
    """How many copies of a point's buffers ``timing``'s calls cycle over: `buffer_sets` of one set's size
    where the L2 mode is 'rotated', else 1 (one set: warm, or flushed before every call). ``set_bytes``
    is asked only when rotating (a backend may upload buffers to answer it)."""
    if timing.l2_mode != "rotated":
        return 1
    return buffer_sets(set_bytes(), l2_bytes)


def is_enqueue_bound(enqueue_us: float | None, device_us: float, margin: float = ENQUEUE_BOUND_MARGIN) -> bool | None:
    """The host needs about as long to enqueue one call as the device to run it (at least ``margin`` of
    it): back-to-back launches from this host leave the GPU waiting. The margin matters for 'events',
    whose per-call time of a host-bound run is the enqueue time itself (plus a little)."""
    if enqueue_us is None or not math.isfinite(device_us):
        return None
    return bool(enqueue_us >= margin * device_us)


@dataclass(frozen=True)
class MethodChoice:
    method: str
    fallback_reason: str | None = None


def choose_method(requested: str, capture_error: BaseException | str | None) -> MethodChoice:
    """'graph' unless capture failed (then 'events', with the reason); 'events' when asked for."""
    if requested not in TIMING_METHODS:
        raise ValueError(f"timing method must be one of {', '.join(TIMING_METHODS)}, got {requested!r}")
    if requested == "events" or capture_error is None:
        return MethodChoice(requested)
    reason = capture_error if isinstance(capture_error, str) else f"{type(capture_error).__name__}: {capture_error}"
    return MethodChoice("events", f"graph capture failed, timed with events instead: {reason}")


def throttle_summary(flags: list[bool | None]) -> str | None:
    """A warning when some samples were taken while the GPU throttled."""
    known = [f for f in flags if f is not None]
    hit = sum(1 for f in known if f)
    if not hit:
        return None
    return f"{hit} of {len(known)} samples were taken while the GPU reported a throttle reason"


# --- the loop -----------------------------------------------------------------------------------------


class _Sampler:
    """One way of running k calls between two events: replaying a graph, or plain enqueues. With
    several enqueues (rotated buffers) the calls cycle over them, each call on the next set."""

    def __init__(self, enqueues: Sequence[Callable[[Stream], None]], stream: Stream, method: str) -> None:
        self.enqueues = list(enqueues)
        self.stream = stream
        self.method = method
        self.k = 0
        self.graph: Graph | None = None
        self.host_s = 0.0  # host time spent enqueueing the last sample
        self._next = 0  # the set the next plain enqueue uses

    def _call(self, stream: Stream) -> None:
        self.enqueues[self._next](stream)
        self._next = (self._next + 1) % len(self.enqueues)

    def set_batch(self, k: int) -> None:
        from bench.gpu.cuda import capture_graph

        self.k = k
        if self.method == "graph":
            self.close()
            enqueues = self.enqueues

            def body(stream: Stream) -> None:
                for i in range(k):
                    enqueues[i % len(enqueues)](stream)

            self.graph = capture_graph(self.stream, body)
            if self.graph.nodes == 0:
                self.close()
                raise RuntimeError("the captured graph is empty: enqueue(stream) put no work on the stream")

    def lead_in(self) -> None:
        """Untimed work before the start event (a replay, or one call): the device is busy with it while
        the host enqueues the timed calls, so a sample starts in steady state, not with the first
        launch's latency; a host-bound run still shows, since the lead-in ends long before."""
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            self._call(self.stream)

    def run(self) -> None:
        t0 = time.perf_counter()
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            for _ in range(self.k):
                self._call(self.stream)
        self.host_s = time.perf_counter() - t0

    def close(self) -> None:
        if self.graph is not None:
            self.graph.close()
            self.graph = None


class _EventClock:
    """Times one sample of a `_Sampler`: the flush (cold) or a lead-in, then the calls between two events."""

    def __init__(self, stream: Stream) -> None:
        from bench.gpu import cuda

        self.stream = stream
        self.start, self.end = cuda.Event(), cuda.Event()
        self.flush: cuda.DeviceBuffer | None = None

    def flush_l2(self, device: Device | None) -> None:
        """Flush the L2 before every sample (cold timing) with a buffer twice its size."""
        from bench.gpu import cuda

        dev = device or cuda.Device(cuda.current_device())
        self.flush = cuda.DeviceBuffer(flush_bytes(dev.l2_bytes))

    def time(self, s: _Sampler) -> float:
        """One sample: flush (cold) or lead-in (warm), start event, k calls, end event; in us."""
        from bench.gpu import cuda

        if self.flush is not None:
            cuda.memset_async(self.flush.ptr, 0, self.flush.nbytes, self.stream)
        else:
            s.lead_in()
        self.start.record(self.stream)
        s.run()
        self.end.record(self.stream)
        return cuda.elapsed_ms(self.start, self.end) * 1e3

    def close(self) -> None:
        if self.flush is not None:
            self.flush.free()
        self.start.close()
        self.end.close()


@dataclass
class _Sampled:
    """What the sampling phase collected."""

    samples: list[float]
    host_us: list[float]
    throttled: list[bool | None]
    watched: bool  # throttle reasons were read per sample
    decision: StopDecision
    measure_s: float


def measure(
    enqueue: Callable[[Stream], None] | Sequence[Callable[[Stream], None]],
    stream: Stream,
    settings: TimingSettings,
    *,
    device: Device | None = None,
    nvml_index: int | None = 0,
) -> Measurement:
    """Time ``enqueue`` on ``stream`` and return per-call device times (see the module docstring):
    warm-up, choosing the method and sizing the batch, an enqueue probe, sampling, clocks.

    ``enqueue`` may be a list: the same call on each of several buffer sets (rotated buffers)."""
    from bench.gpu import cuda

    enqueues = [enqueue] if callable(enqueue) else list(enqueue)
    if not enqueues:
        raise ValueError("measure needs at least one enqueue")
    cold = settings.l2_flush
    if cold and len(enqueues) > 1:
        raise ValueError("a flushed L2 times one buffer set: rotated buffers and l2_flush exclude each other")
    cuda.clear_last_error()  # an earlier call's leftover error is not this measurement's
    clocks_before = nvml.snapshot(nvml_index) if nvml_index is not None else {}
    clock = _EventClock(stream)
    samplers: list[_Sampler] = []  # every sampler made, closed at the end (a graph holds device memory)
    try:
        if cold:
            clock.flush_l2(device)
        t0 = time.perf_counter()
        per_call, warmup_s = _warm_up(clock, enqueues, stream, settings.warmup_budget_s, t0)
        sampler, choice, k = _sized_sampler(clock, enqueues, stream, settings, per_call, samplers)
        enqueue_probe = _probe_enqueue(enqueues, stream, k) if choice.method == "graph" or cold else None
        sampled = _sample(clock, sampler, k, settings, nvml_index, t0)
        cuda.check_last_error("timed calls")
    finally:
        for made in samplers:
            made.close()
        clock.close()
    clocks = {"before": clocks_before, "after": nvml.snapshot(nvml_index) if nvml_index is not None else {}}
    return _measurement(settings, sampled, choice, k, warmup_s, len(enqueues), enqueue_probe, clocks)


def _warm_up(
    clock: _EventClock, enqueues: list[Callable[[Stream], None]], stream: Stream, budget_s: float, t0: float
) -> tuple[float, float]:
    """One call per sample until the budget (counted from ``t0``) is spent: module loads, lazy
    allocations and clocks ramping up happen here. Returns (one call's time in us, from the faster
    later half of the samples; the warm-up's seconds)."""
    from bench.gpu import cuda

    one = _Sampler(enqueues, stream, "events")
    one.set_batch(1)
    single: list[float] = []
    while True:
        single.append(clock.time(one))
        if time.perf_counter() - t0 >= budget_s:
            break
    cuda.check_last_error("warm-up")
    warmup_s = time.perf_counter() - t0
    return float(np.min(single[-max(1, len(single) // 2) :])), warmup_s


def _sized_sampler(
    clock: _EventClock,
    enqueues: list[Callable[[Stream], None]],
    stream: Stream,
    settings: TimingSettings,
    per_call: float,
    samplers: list[_Sampler],
) -> tuple[_Sampler, MethodChoice, int]:
    """The method (graph, unless capture fails: then events, with the reason) and k, grown in up to
    SIZING_ROUNDS resizings until a sample lasts the floor (cold: one call per sample, never resized).
    Each sampler made is appended to ``samplers`` for the caller to close."""
    cold, sets, floor = settings.l2_flush, len(enqueues), settings.sample_floor_us
    choice = choose_method(settings.method, None)
    k = sample_batch(choice.method, per_call, floor, sets, cold)
    sampler = _Sampler(enqueues, stream, choice.method)
    samplers.append(sampler)
    try:
        sampler.set_batch(k)
        sample_us = clock.time(sampler)
    except Exception as exc:  # capture unsupported for this enqueue (or the graph failed to run)
        if choice.method != "graph":
            raise
        sampler.close()
        stream.synchronize()
        choice = choose_method("graph", exc)
        k = sample_batch(choice.method, per_call, floor, sets, cold)
        sampler = _Sampler(enqueues, stream, choice.method)
        samplers.append(sampler)
        sampler.set_batch(k)
        sample_us = clock.time(sampler)
    for _ in range(0 if cold else SIZING_ROUNDS):
        new = next_batch(choice.method, k, sample_us, floor)
        if new is None:
            break
        k = round_up_to(new, sets)
        sampler.set_batch(k)
        sample_us = clock.time(sampler)
    return sampler, choice, k


def _probe_enqueue(enqueues: list[Callable[[Stream], None]], stream: Stream, k: int) -> float:
    """Host enqueue time per call, back to back (trtexec's Enqueue Time), in us: what graph replay and
    flushed samples cannot show (events samples give it from their own enqueues)."""
    n = max(1, min(ENQUEUE_PROBE_CALLS, k))
    probe = _Sampler(enqueues, stream, "events")
    probe.set_batch(n)
    probe.run()
    stream.synchronize()
    return probe.host_s * 1e6 / n


def _sample(
    clock: _EventClock, sampler: _Sampler, k: int, settings: TimingSettings, nvml_index: int | None, t0: float
) -> _Sampled:
    """Samples of k calls, with host enqueue time and throttle flags, until the stopping rule says enough
    (its time budget counts from ``t0``, the start of the warm-up)."""
    samples: list[float] = []
    host_us: list[float] = []
    throttled: list[bool | None] = []
    bits = nvml.reason_bits()
    watch = nvml_index is not None and nvml.available()[0]
    t_start = time.perf_counter()
    while True:
        samples.append(clock.time(sampler) / k)
        host_us.append(sampler.host_s * 1e6 / k)
        if watch:
            throttled.append(nvml.is_throttled(nvml.throttle_mask(nvml_index), bits))
        now = time.perf_counter()
        decision = should_stop(samples, now - t_start, settings, spent_s=now - t0)
        if decision.stop:
            break
    return _Sampled(samples, host_us, throttled, watch, decision, time.perf_counter() - t_start)


def _measurement(
    settings: TimingSettings,
    sampled: _Sampled,
    choice: MethodChoice,
    k: int,
    warmup_s: float,
    sets: int,
    enqueue_probe: float | None,
    clocks: dict[str, dict],
) -> Measurement:
    """The `Measurement` of one timing run, with its warnings."""
    arr = np.asarray(sampled.samples, dtype=np.float64)
    median = float(np.median(arr))
    enqueue_us = float(np.median(sampled.host_us)) if enqueue_probe is None else enqueue_probe
    flags = [bool(f) for f in sampled.throttled if f is not None]
    decision = sampled.decision
    m = Measurement(
        samples_us=arr,
        timing_method=choice.method,
        batch=k,
        warmup_s=warmup_s,
        measure_s=sampled.measure_s,
        stop_reason=decision.reason,
        noise_target_met=decision.target_met,
        noise=decision.noise,
        l2_flush=settings.l2_flush,
        l2_mode=settings.l2_mode,
        buffer_sets=sets,
        fallback_reason=choice.fallback_reason,
        enqueue_us=enqueue_us,
        enqueue_bound=is_enqueue_bound(enqueue_us, median),
        throttled=flags if sampled.watched and len(flags) == len(sampled.samples) else None,
        clocks=clocks,
    )
    m.warnings.extend(_warnings(settings, decision, choice, median, sampled.throttled))
    return m


def _warnings(
    settings: TimingSettings,
    decision: StopDecision,
    choice: MethodChoice,
    median_us: float,
    throttled: list[bool | None],
) -> list[str]:
    out = []
    unmet = unmet_warning(decision, settings)
    if unmet:
        out.append(unmet)
    if choice.fallback_reason:
        out.append(choice.fallback_reason)
    if settings.l2_flush and median_us < settings.sample_floor_us:
        out.append(
            "cold timing samples one call each (the L2 is flushed before every call); a call this short "
            "is close to the event resolution"
        )
    summary = throttle_summary(throttled)
    if summary:
        out.append(summary)
    return out
