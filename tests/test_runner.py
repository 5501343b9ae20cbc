"""The harness loop: failures and wrong outputs become rows, the sweep goes on, only correct points are timed."""

import numpy as np
import pytest
from run_helpers import run_planned

from bench.backends.base import Backend, BackendInfo, BuildInfo, PreparedPoint
from bench.backends.numpy_backend import NumpyBackend
from bench.planning import PlannedPoint
from bench.point import DataSpec, Point, WeightsSpec
from bench.problem import make_problem
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings


class _OffByOnePoint(PreparedPoint):
    """A backend that is wrong on purpose, to see that wrong output is never timed."""

    def __init__(self, problem):
        self.problem, self.build, self.timed = problem, BuildInfo(build_s=0.5, engine_bytes=123), False

    def output(self):
        return self.problem.x.astype(np.float32) + 1

    def measure(self, timing):
        self.timed = True
        return Measurement(np.array([1.0]), "host")


class OffByOneBackend(Backend):
    name = "numpy"  # reuses the numpy name so rows validate; only its behaviour differs

    def info(self):
        return BackendInfo("numpy", "test")

    def prepare(self, point, problem):
        self.last = _OffByOnePoint(problem)
        return self.last


def point(**kw) -> Point:
    base = dict(shape=(1, 3, 3, 3), mode="channel", precision="fp32", channel_axis=None, backend="numpy")
    return Point(**{**base, **kw})


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    bad = point(weights=WeightsSpec(kind="constant", shift=[1.0, 2.0, 3.0, 4.0]))
    good = point(shape=(1, 3, 4, 4))
    df, summary = run_planned(tmp_path, [PlannedPoint(bad), PlannedPoint(good)])
    df = df.set_index("shape")
    assert summary.counts == {"failed": 1, "ok": 1}
    assert df.loc["1x3x3x3", "status"] == "failed"
    assert "shift has 4 values" in df.loc["1x3x3x3", "error"]
    assert df.loc["1x3x3x3", "error_origin"] == "backend"  # the backend refused its weights
    assert df.loc["1x3x4x4", "status"] == "ok" and df.loc["1x3x4x4", "n_samples"] >= 3


def test_wrong_output_is_a_mismatch_and_never_timed(tmp_path):
    backend = OffByOneBackend()
    df, _ = run_planned(tmp_path, [PlannedPoint(point())], backends={"numpy": backend})
    r = df.iloc[0]
    assert r["status"] == "mismatch" and not backend.last.timed
    assert r["correct"] is False or not r["correct"]
    assert r["max_abs_err"] > r["tolerance"]
    assert np.isnan(r["median_us"]) and len(r["samples_us"]) == 0
    assert r["build_s"] == 0.5 and r["engine_bytes"] == 123


def test_skipped_points_keep_their_reason(tmp_path):
    df, _ = run_planned(tmp_path, [PlannedPoint(point(), "not today")])
    r = df.iloc[0]
    assert (r["status"], r["error"], r["error_origin"]) == ("skipped", "not today", "plan")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
@pytest.mark.parametrize("mode", ["uniform", "channel", "elementwise"])
def test_numpy_backend_passes_its_own_check_in_every_precision(mode, precision):
    p = point(mode=mode, precision=precision, shape=(2, 3, 4, 5), weights=WeightsSpec(power=2.0), data=DataSpec(seed=3))
    problem = make_problem(p)
    prepared = NumpyBackend().prepare(p, problem)
    assert problem.check(prepared.output()).correct


def test_row_carries_environment_point_and_timing_columns(tmp_path):
    df, _ = run_planned(tmp_path, [PlannedPoint(point(precision="fp16"))])
    r = df.iloc[0]
    assert r["backend_version"].startswith("numpy ")
    assert (r["shape"], r["numel"], r["precision"], r["channel_axis"]) == ("1x3x3x3", 27, "fp16", "default")
    assert r["timing_method"] == "host" and r["bytes_moved"] == 2 * 27 * 2 + 2 * 3 * 2
    assert r["gbps"] == pytest.approx(r["bytes_moved"] / (r["median_us"] * 1e-6) / 1e9)
    assert r["median_us"] == pytest.approx(float(np.median(r["samples_us"])))


def test_rounds_interleave_points_and_pool_their_samples(tmp_path):
    # a cap no round comes near (a busy machine must not end a point's rounds early): rounds end at the target
    timing = TimingSettings(warmup_s=0.001, min_samples=6, min_time_s=0.003, max_time_s=0.3, target_noise=0.5, rounds=3)
    backend = NumpyBackend()
    order: list[str] = []
    original = backend.prepare

    def tracking_prepare(point, problem):
        prepared = original(point, problem)
        measure = prepared.measure

        def traced(settings):
            order.append(point.shape_str)
            assert settings.max_time_s == pytest.approx(0.1) and settings.min_samples == 2
            return measure(settings)

        prepared.measure = traced
        return prepared

    backend.prepare = tracking_prepare
    points = [PlannedPoint(point(shape=(1, 3, 4, 4))), PlannedPoint(point(shape=(1, 3, 5, 5)))]
    df, _ = run_planned(tmp_path, points, timing, backends={"numpy": backend})
    assert order == ["1x3x4x4", "1x3x5x5"] * 3  # round by round, not point by point
    assert (df["status"] == "ok").all() and (df["n_samples"] >= 6).all()
    assert [len(r) for r in df["round_sizes"]] == [3, 3]
    assert all(int(r.sum()) == n for r, n in zip(df["round_sizes"], df["n_samples"], strict=True))
