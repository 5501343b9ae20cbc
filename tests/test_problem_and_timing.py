"""Point identity, problem data and judging, and the stopping rule shared by every timing loop."""

import numpy as np
import pytest

from bench.point import DataSpec, Point, WeightsSpec
from bench.problem import make_problem
from bench.stats import rel_mad, summarize
from bench.timing.host import batch_size, measure_host
from bench.timing.settings import TimingSettings
from bench.timing.stopping import should_stop, unmet_warning


def test_point_key_is_stable_and_ignores_the_backend():
    a = Point((1, 3, 3, 3), "channel", "fp16", -1, "cuda")
    b = Point((1, 3, 3, 3), "channel", "fp16", -1, "tensorrt")
    assert a.key == b.key
    # a literal: changing the canonical form would break joins with every stored result
    assert a.key == "7b4ee578d85cbb7d"
    assert Point((1, 3, 3, 3), "channel", "fp16", 1, "cuda").key != a.key
    assert (
        Point((1, 3, 3, 3), "channel", "fp16", None, "cuda").key
        != Point((1, 3, 3, 3), "channel", "fp16", 1, "cuda").key
    )


def test_bytes_moved_counts_input_output_and_each_weight_once():
    x_and_y = 2 * 2 * 3 * 4 * 5 * 4
    assert Point((2, 3, 4, 5), "uniform", "fp32", None, "cuda").bytes_moved == x_and_y + 2 * 4
    assert Point((2, 3, 4, 5), "channel", "fp32", None, "cuda").bytes_moved == x_and_y + 2 * 3 * 4
    assert Point((2, 3, 4, 5), "elementwise", "fp32", 0, "cuda").bytes_moved == x_and_y + 2 * 120 * 4
    powered = Point((2, 3, 4, 5), "elementwise", "fp16", -1, "cuda", WeightsSpec(power=2.0))
    assert powered.bytes_moved == x_and_y // 2 + 3 * 5 * 2
    assert Point((2, 3, 4, 5), "channel", "int8", None, "cuda").bytes_moved == 2 * 120 + 2 * 3 * 4


def test_int8_points_are_quantized_and_judged_to_one_output_step():
    p = Point((2, 3, 4, 5), "channel", "int8", None, "numpy")
    prob = make_problem(p)
    assert prob.x.dtype == np.int8 and np.abs(prob.x).max() == 127
    assert prob.shift.dtype == np.float32
    exact = np.rint(prob.expected / prob.out_scale).astype(np.int8)
    assert prob.check(exact).correct
    off_by_one = exact.copy()
    off_by_one.flat[0] += 1 if off_by_one.flat[0] < 127 else -1
    assert prob.check(off_by_one).correct  # one step: rounding at a half step may land either side
    off_by_two = exact.copy()
    off_by_two.flat[0] += 2 if off_by_two.flat[0] < 126 else -2
    assert not prob.check(off_by_two).correct


def test_low_precision_weights_are_rounded_before_the_reference_sees_them():
    prob = make_problem(Point((1, 8, 2, 2), "channel", "bf16", None, "numpy"))
    assert str(prob.scale.dtype) == "bfloat16"
    exact = prob.real_input() * prob.scale.astype(np.float64).reshape(1, 8, 1, 1) + prob.shift.astype(
        np.float64
    ).reshape(1, 8, 1, 1)
    np.testing.assert_array_equal(prob.expected, exact)


def test_nan_output_is_wrong_unless_the_reference_is_nan_too():
    shift = [-5.0, 1.0]  # channel 0: sqrt(-5) is NaN; channel 1: sqrt(1) = 1
    p = Point(
        (1, 2, 1, 1),
        "channel",
        "fp32",
        None,
        "numpy",
        WeightsSpec(kind="constant", shift=shift, power=0.5),
        DataSpec(kind="zeros"),
    )
    prob = make_problem(p)
    assert np.isnan(prob.expected[0, 0]).all() and (prob.expected[0, 1] == 1.0).all()
    assert prob.check(prob.expected.astype(np.float32)).correct
    assert not prob.check(np.full((1, 2, 1, 1), np.nan, np.float32)).correct
    assert not prob.check(np.array([0.0, 1.0], np.float32).reshape(1, 2, 1, 1)).correct


def test_stops_when_noise_reaches_target_after_minimums():
    s = TimingSettings(min_samples=5, min_time_s=0.1, max_time_s=1.0, target_noise=0.01)
    steady = [10.0] * 5
    assert not should_stop(steady[:4], 0.5, s).stop  # too few samples
    assert not should_stop(steady, 0.05, s).stop  # too little time
    assert should_stop(steady, 0.2, s).stop


def test_time_cap_stops_noisy_measurements_and_says_so():
    s = TimingSettings(min_samples=5, min_time_s=0.1, max_time_s=1.0, target_noise=0.01)
    noisy = [10.0, 20.0, 5.0, 15.0, 30.0, 8.0]
    assert not should_stop(noisy, 0.5, s).stop
    d = should_stop(noisy, 1.0, s)
    assert d.stop and d.reason == "time_cap" and not d.target_met and d.noise > 0.01
    assert "noise target missed" in unmet_warning(d, s)


def test_the_sample_cap_never_hides_a_missed_noise_target():
    s = TimingSettings(min_samples=5, max_samples=6, min_time_s=0.1, max_time_s=1.0, target_noise=0.01)
    noisy = [10.0, 20.0, 5.0, 15.0, 30.0, 8.0]
    d = should_stop(noisy, 0.01, s)
    assert d.stop and d.reason == "sample_cap" and not d.target_met
    assert "6 sample cap" in unmet_warning(d, s)


def test_the_time_cap_counts_the_warm_up():
    s = TimingSettings(min_samples=5, min_time_s=0.1, max_time_s=1.0, target_noise=0.01)
    noisy = [10.0, 20.0, 5.0, 15.0, 30.0, 8.0]
    assert should_stop(noisy, 0.2, s, spent_s=1.0).reason == "time_cap"


def test_batch_size_lifts_a_sample_above_the_floor():
    assert batch_size(one_call_ns=1_000, floor_us=20.0) == 20
    assert batch_size(one_call_ns=50_000, floor_us=20.0) == 1


def test_host_loop_records_samples_and_warns_when_capped():
    m = measure_host(lambda: None, TimingSettings(warmup_s=0.001, min_samples=3, min_time_s=0.001, max_time_s=0.01))
    assert m.timing_method == "host" and len(m.samples_us) >= 3 and m.batch >= 1
    assert summarize(m.samples_us)["n_samples"] == len(m.samples_us)


def test_summary_statistics_come_from_the_raw_samples():
    s = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    stats = summarize(s)
    assert stats["median_us"] == 3.0 and stats["min_us"] == 1.0 and stats["n_samples"] == 5
    assert rel_mad(s) == pytest.approx(1.0 / 3.0)


@pytest.mark.parametrize(("mode", "axis"), [("channel", 0), ("channel", None), ("elementwise", 0), ("elementwise", -1)])
def test_large_tensors_split_over_threads_give_the_single_thread_result(mode, axis, monkeypatch):
    from bench import parallel, reference

    p = Point((8, 4, 512, 260), mode, "fp16", axis, "numpy", WeightsSpec(power=2.0))
    prob = make_problem(p)
    args = (prob.real_input(), mode, prob.shift, prob.scale, prob.power, axis, np.float64)
    threaded = reference.scale(*args)
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 1 << 62)
    np.testing.assert_array_equal(threaded, reference.scale(*args))
    assert parallel.spans(10, 3) == [(0, 3), (3, 6), (6, 10)]
