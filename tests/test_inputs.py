"""The input generators (bench.inputs): what NumPy computes is what the GPU's kernels must compute, so the
rule is pinned here by an independent scalar implementation, and the host path uses it."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from bench import inputs
from bench.point import DataSpec, Point
from bench.problem import make_problem


def _fmix(h: int) -> int:
    """murmur3's 32-bit finalizer, written out again here so the test does not trust the module's."""
    m = 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & m
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & m
    return h ^ (h >> 16)


def _scalar_random(seed: int, index: int) -> np.float32:
    """Element ``index`` of the random input of ``seed``, by the module docstring's rule, one element at a time."""
    m = 0xFFFFFFFF
    key = _fmix(_fmix((seed & m) ^ 0x5EED0DA7) ^ (seed >> 32))
    low, high = (index & m) * 0x9E3779B1 & m, index >> 32
    total = 0
    for draw in range(6):
        h = _fmix(low ^ _fmix((key + (draw + 1) * 0x9E3779B9 + high * 0x85EBCA77) & m))
        total += (h & 0xFFFF) + (h >> 16)
    centred = total - 393210
    assert abs(centred) < 2**24  # the one conversion to float32 is exact
    return np.float32(centred) * np.float32(2.0**-16)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40 + 3, 2**63 - 1])
def test_random_values_match_the_rule_element_by_element(seed):
    got = inputs.random_values(2000, seed)
    for i in (0, 1, 2, 3, 999, 1999):
        assert got[i].view(np.uint32) == _scalar_random(seed, i).view(np.uint32), (seed, i)


def test_random_values_past_two_to_the_32_elements_follow_the_rule_and_split_anywhere():
    start = 2**32 - 5  # the span crosses a change of the index's upper half
    got = inputs.random_values(10, 3, start=start)
    expected = np.array([_scalar_random(3, start + k) for k in range(10)], dtype=np.float32)
    assert got.tobytes() == expected.tobytes()
    whole = inputs.random_values(5000, 3)
    assert inputs.random_values(1234, 3, start=777).tobytes() == whole[777 : 777 + 1234].tobytes()


def test_random_values_are_deterministic_standard_normal_like_and_differ_by_seed():
    a, b = inputs.random_values(1 << 20, 11), inputs.random_values(1 << 20, 11)
    assert a.tobytes() == b.tobytes()
    assert abs(float(a.mean())) < 0.01 and abs(float(a.std()) - 1.0) < 0.01
    assert float(np.abs(a).max()) <= 6.0 and float(np.abs(a).max()) > 4.0  # Irwin-Hall of 12: tails to 6
    assert np.all(a * 2**16 == np.rint(a * 2**16))  # multiples of 2**-16: exact integers scaled
    other = inputs.random_values(1 << 20, 12)
    assert np.mean(a == other) < 0.01
    assert abs(float(np.corrcoef(a, other)[0, 1])) < 0.01
    assert abs(float(np.corrcoef(a[:-1], a[1:])[0, 1])) < 0.01  # neighbours are independent
    assert abs(float(np.mean(np.abs(a) < 1.0)) - 0.6827) < 0.01  # a normal's one-sigma share


def test_arange_is_numpys_float32_arange_past_two_to_the_24():
    n = 2**24 + 4099
    got = inputs.arange_values(n)
    assert got.tobytes() == np.arange(1, n + 1, dtype=np.float32).tobytes()
    i = 2**24 + 1  # float32(i) rounds to 2**24, + 1 rounds back to 2**24: not float32(i + 1)
    assert got[i] == np.float32(2**24) and np.float32(i + 1) != got[i]
    assert got[2**24 + 2] == np.float32(2**24 + 4)  # 2**24 + 3 is a tie: to even


def test_zeros_and_a_bad_kind():
    assert not inputs.input_values("zeros", 0, (3, 4)).any()
    with pytest.raises(ValueError, match=r"data\.kind"):
        inputs.input_values("ones", 0, (3,))


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
def test_the_host_problem_is_the_generator_cast_to_its_precision(precision):
    shape = (2, 3, 5, 7)
    point = Point(shape, "channel", precision, None, "numpy", data=DataSpec(seed=5))
    x = make_problem(point).x
    real = inputs.random_values(210, 5).reshape(shape)
    if precision == "int8":
        scale = float(np.abs(real).max()) / 127
        expected = np.clip(np.rint(real.astype(np.float64) / scale), -127, 127).astype(np.int8)
    else:
        dtype = {"fp32": np.float32, "fp16": np.float16, "bf16": ml_dtypes.bfloat16}[precision]
        expected = real.astype(dtype)
    assert x.dtype == expected.dtype and x.tobytes() == expected.tobytes()


def test_the_seed_changes_a_problem_and_the_same_seed_repeats_it():
    def x(seed: int) -> bytes:
        return make_problem(Point((4, 8, 8), "uniform", "fp32", None, "numpy", data=DataSpec(seed=seed))).x.tobytes()

    assert x(1) == x(1) and x(1) != x(2)
    assert json.dumps(DataSpec(seed=1).canonical())  # the spec, not the generator, is what a point key hashes
