"""The roofline: which bound applies to a point, and the time and % of memcpy it allows."""

from __future__ import annotations

import math

import pytest

from bench.analysis.roofline import roofline, slope_gbps, weight_rows
from bench.point import Point

L2 = 50 << 20
BW = 3000.0  # GB/s: a copy's slope, bytes read plus written
FLOOR = 0.9  # us


def _bound(shape, mode, precision, axis=None, **kw):
    point = Point(shape, mode, precision, axis, "cuda")
    return roofline(mode, precision, shape, axis, point.bytes_moved, L2, BW, FLOOR, **kw)


def test_a_tiny_tensor_is_launch_bound_whatever_its_mode() -> None:
    for mode, axis in (("uniform", None), ("channel", -1), ("elementwise", 0)):
        r = _bound((1, 3, 3, 3), mode, "int8", axis)
        assert r.bound == "launch" and r.predicted_us == pytest.approx(FLOOR, rel=1e-3)
        assert r.copy_time_pct == pytest.approx(100, abs=0.1) and "launch-bound" in r.explain()


def test_a_large_copy_like_point_is_hbm_bound_at_the_copy_itself() -> None:
    r = _bound((64, 256, 64, 64), "channel", "fp32", 1)
    assert r.bound == "hbm" and r.weights_fit_l2 and r.weight_rows == 64
    assert r.hbm_us == pytest.approx(r.hbm_bytes / (BW * 1e3))
    assert r.copy_time_pct == pytest.approx(100, abs=0.01)  # 2 KiB of weights on 512 MiB
    assert r.pct_of_memcpy == pytest.approx(100, abs=0.01)


def test_int8_elementwise_weights_cost_their_bytes_once_when_they_fit_the_l2() -> None:
    r = _bound((64, 256, 64, 64), "elementwise", "int8", 1)  # 8 MiB of fp32 weights for 64 MiB of int8
    assert (r.weight_bytes, r.weight_rows, r.weights_fit_l2) == (8 << 20, 64, True)
    assert r.hbm_bytes == (64 + 64 + 8) << 20 and r.bound == "hbm"
    copy = FLOOR + (128 << 20) / (BW * 1e3)
    assert r.copy_time_pct == pytest.approx(100 * copy / (FLOOR + (136 << 20) / (BW * 1e3)))
    assert 94.1 < r.copy_time_pct < 94.3  # 128/136 = 94.1%, and the floor both pay
    assert r.pct_of_memcpy == pytest.approx(r.copy_time_pct * 136 / 128)  # the harness's bandwidth ratio: ~100%
    assert 99.9 < r.pct_of_memcpy < 100.2


def test_the_l2_binds_a_kernel_that_rereads_its_weights_per_row_and_not_one_that_reuses_them() -> None:
    naive = _bound((64, 256, 64, 64), "elementwise", "int8", 1, l2_gbps=7400.0)
    assert naive.bound == "l2" and naive.l2_bytes == (128 + 64 * 8) << 20
    assert naive.copy_time_pct < 55 and "L2-bound" in naive.explain()
    reused = _bound((64, 256, 64, 64), "elementwise", "int8", 1, l2_gbps=7400.0, weight_reuse=4)
    assert reused.bound == "hbm" and reused.l2_bytes == (128 + 16 * 8) << 20


def test_weights_that_stay_in_the_l1_cost_the_l2_nothing_per_row() -> None:
    naive = _bound((64, 256, 64, 64), "elementwise", "int8", 2, l2_gbps=7400.0)  # 32 KiB of weights
    assert naive.bound == "l2" and naive.weight_rows == 64 * 256
    in_l1 = _bound((64, 256, 64, 64), "elementwise", "int8", 2, l2_gbps=7400.0, l1_bytes=256 << 10)
    assert in_l1.bound == "hbm" and in_l1.l2_bytes == 2 * in_l1.tensor_bytes + in_l1.weight_bytes
    big = _bound((64, 256, 64, 64), "elementwise", "int8", 1, l2_gbps=7400.0, l1_bytes=256 << 10)
    assert big.bound == "l2"  # 8 MiB does not stay in any L1


def test_weights_too_large_for_the_l2_are_read_from_memory_for_every_row() -> None:
    r = _bound((4, 1 << 24), "elementwise", "fp32", 1)  # 128 MiB of weights, 4 rows
    assert not r.weights_fit_l2 and r.hbm_bytes == 2 * r.tensor_bytes + 4 * r.weight_bytes
    axis0 = _bound((64, 256, 64, 64), "elementwise", "int8", 0)  # weights 8x the int8 tensor, one row
    assert axis0.weight_rows == 1 and axis0.copy_time_pct == pytest.approx(100 * 128 / 640, rel=0.02)
    assert axis0.pct_of_memcpy == pytest.approx(100, rel=0.02)


def test_weight_rows_count_the_repeats_of_the_weights() -> None:
    assert weight_rows((64, 256, 64, 64), "elementwise", 1) == 64
    assert weight_rows((64, 256, 64, 64), "channel", -1) == 64 * 256 * 64
    assert weight_rows((64, 256, 64, 64), "uniform", None) == 1
    assert weight_rows((2, 3, 5, 7), "channel", None) == 2  # the default axis: 1


def test_slope_is_taken_above_the_floor() -> None:
    assert slope_gbps(3e9, 1001.0, 1.0) == pytest.approx(3000.0)
    with pytest.raises(ValueError):
        slope_gbps(1.0, 1.0, 2.0)


@pytest.mark.parametrize(
    "kw",
    [
        {"bytes_moved": 10},
        {"memcpy_gbps": 0.0},
        {"memcpy_gbps": math.nan},
        {"launch_floor_us": -1.0},
        {"l2_gbps": 0.0},
        {"weight_reuse": 0},
    ],
)
def test_bad_inputs_are_refused(kw) -> None:
    args = {"bytes_moved": 2 * 27 * 4, "memcpy_gbps": BW, "launch_floor_us": FLOOR}
    extra = {k: kw.pop(k) for k in ("l2_gbps", "weight_reuse") if k in kw}
    with pytest.raises(ValueError):
        roofline("uniform", "fp32", (1, 3, 3, 3), None, l2_bytes=L2, **{**args, **kw}, **extra)
