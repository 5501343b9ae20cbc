"""The NumPy reference reproduces the cookbook page's printed outputs exactly and refuses bad weights."""

import ml_dtypes
import numpy as np
import pytest

from bench.reference import scale

X = np.arange(1, 28, dtype=np.float32).reshape(1, 3, 3, 3)
UNIFORM_EXPECTED = (np.arange(1, 28, dtype=np.float32) * 0.5 - 7.0).reshape(1, 3, 3, 3)


def test_uniform_example_matches_the_page():
    y = scale(X, "UNIFORM", shift=[-7.0], scale=[0.5], power=[1.0])
    # the page prints -6.5 -6. -5.5 ... 6. 6.5
    assert y.dtype == np.float32
    assert y[0, 0].tolist() == [[-6.5, -6.0, -5.5], [-5.0, -4.5, -4.0], [-3.5, -3.0, -2.5]]
    assert y[0, 1].tolist() == [[-2.0, -1.5, -1.0], [-0.5, 0.0, 0.5], [1.0, 1.5, 2.0]]
    assert y[0, 2].tolist() == [[2.5, 3.0, 3.5], [4.0, 4.5, 5.0], [5.5, 6.0, 6.5]]


def test_channel_example_gives_every_channel_the_same_values():
    y = scale(X, "channel", shift=[-2.5, -7.0, -11.5], scale=np.full(3, 0.5), power=np.ones(3))
    page_channel = [[-2.0, -1.5, -1.0], [-0.5, 0.0, 0.5], [1.0, 1.5, 2.0]]
    for c in range(3):
        assert y[0, c].tolist() == page_channel


def test_elementwise_example_equals_the_uniform_one():
    y = scale(X, "Elementwise", shift=np.full((3, 3, 3), -7.0), scale=np.full((3, 3, 3), 0.5), power=np.ones((3, 3, 3)))
    np.testing.assert_array_equal(y, UNIFORM_EXPECTED)


@pytest.mark.parametrize(
    ("axis", "expected_first_index"),
    [
        (0, {(0, 0): 2.0, (0, 1): 2.0, (1, 0): 3.0, (1, 1): 3.0}),
        (1, {(0, 0): 2.0, (0, 1): 3.0, (1, 0): 2.0, (1, 1): 3.0}),
    ],
)
def test_add_scale_nd_channel_axis_example(axis, expected_first_index):
    zeros = np.zeros((2, 2, 3, 4), dtype=np.float32)
    y = scale(zeros, "channel", shift=[2.0, 3.0], scale=[1.0, 1.0], power=[1.0, 1.0], channel_axis=axis)
    for (n, c), value in expected_first_index.items():
        assert np.all(y[n, c] == value), (n, c)


def test_missing_weights_mean_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(scale(x, "uniform"), x)


def test_negative_axis_counts_from_the_end():
    x = np.ones((2, 3, 4, 5), dtype=np.float32)
    y = scale(x, "channel", shift=np.arange(5.0), channel_axis=-1)
    np.testing.assert_array_equal(y[1, 2, 3], 1 + np.arange(5.0))


def test_elementwise_weights_cover_the_dims_from_the_axis_on():
    x = np.ones((2, 3, 4), dtype=np.float64)
    w = np.arange(12.0).reshape(3, 4)
    y = scale(x, "elementwise", scale=w, channel_axis=1)
    np.testing.assert_array_equal(y[0], w)
    np.testing.assert_array_equal(y[1], w)


def test_power_applies_after_scale_and_shift():
    x = np.array([[1.0, 2.0, 3.0]])
    assert scale(x, "uniform", shift=1.0, scale=2.0, power=2.0).tolist() == [[9.0, 25.0, 49.0]]


def test_wrong_weight_count_names_the_argument_and_expected_size():
    with pytest.raises(ValueError, match=r"shift has 4 values .* expects 3"):
        scale(X, "channel", shift=[1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"scale has 3 values .* expects 27"):
        scale(X, "elementwise", scale=[1, 2, 3])
    with pytest.raises(ValueError, match=r"power has 2 values .* expects 1"):
        scale(X, "uniform", power=[1, 1])


def test_axis_out_of_range_names_the_valid_range():
    with pytest.raises(ValueError, match=r"channel_axis=5 .* -4 <= channel_axis < 4"):
        scale(X, "channel", shift=[1.0], channel_axis=5)


def test_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match="uniform, channel, elementwise"):
        scale(X, "diagonal")


def test_computes_in_float64_then_casts_so_low_precision_results_can_be_judged():
    x = np.array([1.0009765625], dtype=np.float16)  # 1 + 2^-10
    exact = scale(x, "uniform", scale=3.0, out_dtype=np.float64)
    assert exact[0] == 3.0029296875
    bf = scale(x.astype(ml_dtypes.bfloat16), "uniform", shift=0.5)
    assert bf.dtype == ml_dtypes.bfloat16


@pytest.mark.parametrize(("shape", "axis"), [((4, 6), 1), ((5, 4, 6), 0), ((2, 5, 4, 6), 1), ((2, 3, 5, 4, 6), 2)])
def test_default_axis_is_add_scales_third_from_last(shape, axis):
    # what TensorRT-RTX 1.7's add_scale reports as layer.channel_axis for these ranks
    x = np.zeros(shape)
    y = scale(x, "channel", shift=np.arange(shape[axis], dtype=float))
    idx = [0] * len(shape)
    idx[axis] = shape[axis] - 1
    assert y[tuple(idx)] == shape[axis] - 1


def test_default_axis_needs_rank_two():
    with pytest.raises(ValueError, match="default channel axis"):
        scale(np.zeros(3), "channel", shift=[1.0])
