"""The interleaved tuner clock's arithmetic: calls per segment, segment orders, replays in a budget."""

from __future__ import annotations

from bench.timing.batching import GRAPH_MIN_BATCH
from bench.timing.interleaved import MAX_SEGMENT_CALLS, replays_for, segment_calls, segment_orders


def test_segments_are_sized_like_a_graph_sample_and_cover_whole_rotations() -> None:
    # a 2 us launch on one set: at least the graph's amortising batch; a 300 us launch: one call
    assert segment_calls([2.0, 300.0], [1, 1], floor_us=20.0) == [GRAPH_MIN_BATCH, 1]
    # 75 buffer sets: a multiple of 75 calls, so every set is called equally often
    calls = segment_calls([2.0, 300.0], [75, 3], floor_us=20.0)
    assert calls[0] % 75 == 0 and calls[0] >= GRAPH_MIN_BATCH
    assert calls[1] == 3


def test_a_probe_that_read_zero_does_not_make_a_graph_of_millions_of_calls() -> None:
    # 0 us a call would ask for MAX_BATCH calls; a segment stays whole rotations, at least one
    assert segment_calls([0.0, 0.0, 0.0, 0.0], [1, 300, 1024, 2000], floor_us=20.0) == [
        MAX_SEGMENT_CALLS,
        MAX_SEGMENT_CALLS // 300 * 300,
        1024,
        2000,
    ]
    assert segment_calls([0.2], [1], floor_us=20.0) == [GRAPH_MIN_BATCH]  # any real probe is below the cap


def test_replays_alternate_forward_and_backward_so_no_launch_always_follows_the_same_one() -> None:
    assert segment_orders(1) == [[0]]
    forward, backward = segment_orders(4)
    assert forward == [0, 1, 2, 3] and backward == [3, 2, 1, 0]


def test_replays_fill_the_budget_within_their_bounds() -> None:
    assert replays_for(1000.0, 0.05, least=12, most=200) == 50  # 50 ms of 1 ms replays
    assert replays_for(100_000.0, 0.05, least=12, most=200) == 12  # long replays: the least
    assert replays_for(1.0, 0.05, least=12, most=200) == 200  # short ones: the most
    assert replays_for(0.0, 0.05, least=12, most=200) == 200
