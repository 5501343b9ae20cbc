"""Several launches of one point timed against each other inside one CUDA graph: the tuner's clock.

A tuning decision needs the order of launches that differ by tenths of a percent, and a fresh tuning
store times thousands of them. Timed one by one with the point's own loop (`bench.timing.device.
measure`: a warm-up, batch sizing, graph captures and one synchronisation per sample, per launch),
they took 71 s of a 212 s default-sweep run on an H200 (cProfile of `bench run --backend cuda` from an
empty cache, 2026-12-04).

Here each launch is one segment of one graph, between two events recorded inside it, so one replay
is one sample of every launch, taken back to back: a slow drift of clocks or memory state touches
them all alike, and a replay costs one graph launch and one synchronisation for all of them. A
segment is k calls cycling over the launch's rotated buffer sets, k sized the way the point's own
graph timing sizes it (`desired_batch`, a multiple of the sets), so a launch runs in its segment as
it will when the point is timed. An untimed lead-in segment opens every replay (the first timed
segment starts in steady state, not behind the graph's launch), and replays alternate the segment
order, forward then backward, so no launch always follows the same neighbour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bench.timing.batching import desired_batch, round_up_to

if TYPE_CHECKING:
    from bench.gpu.cuda import Event, Graph, Stream

Enqueue = Callable[["Stream"], None]

PROBE_REPLAYS = 2  # replays of the one-pass graph: the first loads modules and warms clocks, the last sizes k
# Calls per segment at most (whole rotations, at least one). At the 20 us sample floor, a probe of 0.2 us
# a call or more asks for at most GRAPH_MIN_BATCH calls or one rotation (ROTATE_MAX_SETS at most), so this
# binds only where the probe read about zero; `desired_batch` would then ask for MAX_BATCH (65,536) calls,
# and a tuning class of 27 launches for 1.8 million graph nodes, two graphs of them, each captured one
# Python call per node.
MAX_SEGMENT_CALLS = 1024


def segment_calls(per_call_us: Sequence[float], sets: Sequence[int], floor_us: float) -> list[int]:
    """Calls per segment: as many as the point's own graph timing would put in a sample (at least the
    floor, amortised like a graph sample), rounded up to a multiple of the launch's buffer sets, within
    MAX_SEGMENT_CALLS (rounded down to whole rotations, at least one)."""
    out = []
    for t, n in zip(per_call_us, sets, strict=True):
        most = max(n, MAX_SEGMENT_CALLS // n * n)
        out.append(min(round_up_to(desired_batch("graph", t, floor_us), n), most))
    return out


def segment_orders(count: int) -> list[list[int]]:
    """The segment orders replays alternate between: forward and backward (one order for one launch)."""
    forward = list(range(count))
    return [forward] if count < 2 else [forward, forward[::-1]]


def replays_for(replay_us: float, budget_s: float, least: int, most: int) -> int:
    """Replays that fit ``budget_s`` at ``replay_us`` each, within [least, most]."""
    fit = int(budget_s * 1e6 / replay_us) if replay_us > 0 else most
    return max(least, min(most, fit))


class _Segments:
    """The events and graphs of one interleaved timing: segment i runs ``calls[i]`` calls of launch i."""

    def __init__(self, launches: Sequence[Sequence[Enqueue]], stream: Stream) -> None:
        from bench.gpu import cuda

        self.launches = [list(sets) for sets in launches]
        self.stream = stream
        self.starts: list[Event] = [cuda.Event() for _ in launches]
        self.ends: list[Event] = [cuda.Event() for _ in launches]
        self.graphs: list[Graph] = []
        self.calls: list[int] = []

    def capture(self, calls: Sequence[int], orders: Sequence[Sequence[int]], lead_in: bool) -> None:
        from bench.gpu.cuda import capture_graph

        self.close_graphs()
        self.calls = list(calls)
        for order in orders:

            def body(stream: Stream, order: Sequence[int] = order) -> None:
                if lead_in:
                    self._run(order[0], stream)
                for i in order:
                    self.starts[i].record_in_graph(stream)
                    self._run(i, stream)
                    self.ends[i].record_in_graph(stream)

            self.graphs.append(capture_graph(self.stream, body))

    def _run(self, i: int, stream: Stream) -> None:
        sets = self.launches[i]
        for c in range(self.calls[i]):
            sets[c % len(sets)](stream)

    def replay(self, which: int) -> list[float]:
        """One replay of graph ``which``: each launch's per-call time in this replay, in us."""
        from bench.gpu import cuda

        self.graphs[which].launch(self.stream)
        self.stream.synchronize()
        return [cuda.elapsed_ms(s, e) * 1e3 / k for s, e, k in zip(self.starts, self.ends, self.calls, strict=True)]

    def close_graphs(self) -> None:
        for graph in self.graphs:
            graph.close()
        self.graphs = []

    def close(self) -> None:
        self.close_graphs()
        for event in (*self.starts, *self.ends):
            event.close()


def time_interleaved(
    launches: Sequence[Sequence[Enqueue]],
    stream: Stream,
    *,
    floor_us: float,
    budget_s: float,
    min_replays: int,
    max_replays: int,
) -> list[list[float]]:
    """Per-call samples (us) of each launch, one per replay; ``launches[i]`` is launch i's enqueue on
    each of its buffer sets. Raises what the capture or a replay raised (the caller falls back)."""
    from bench.gpu import cuda

    if not launches or any(not sets for sets in launches):
        raise ValueError("interleaved timing needs at least one launch, each on at least one buffer set")
    cuda.clear_last_error()
    segments = _Segments(launches, stream)
    try:
        sets = [len(s) for s in segments.launches]
        # one pass over every buffer set of every launch, in the forward order
        segments.capture(sets, segment_orders(len(launches))[:1], lead_in=False)
        for _ in range(PROBE_REPLAYS):
            probe = segments.replay(0)
        calls = segment_calls(probe, sets, floor_us)
        segments.capture(calls, segment_orders(len(launches)), lead_in=True)
        replay_us = sum(t * k for t, k in zip(probe, calls, strict=True))
        replays = replays_for(replay_us, budget_s, min_replays, max_replays)
        samples: list[list[float]] = [[] for _ in launches]
        for r in range(replays):
            for i, t in enumerate(segments.replay(r % len(segments.graphs))):
                samples[i].append(t)
        cuda.check_last_error("interleaved timing")
        return samples
    finally:
        segments.close()
