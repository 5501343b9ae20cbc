"""The Scale kernel's source and launch arithmetic, checked without a GPU (NVRTC compiles where installed)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.gpu import kernels as K

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
MODES = ("uniform", "channel", "elementwise")


def _nvrtc_works() -> bool:
    try:
        from bench.gpu.cuda import nvrtc_version

        nvrtc_version()
        return True
    except Exception:
        return False


@pytest.mark.parametrize("d", [1, 2, 3, 7, 9, 35, 784, 3136, 2**16 + 1, 2**31 - 1, 2**31, 2**32 - 1])
def test_magic_division_matches_integer_division_over_the_32_bit_range(d: int) -> None:
    rng = np.random.default_rng(d)
    ns = [0, 1, d - 1, d, d + 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, *rng.integers(0, 2**32, 2000).tolist()]
    div = K.magic_divider(d)
    assert all(div.divide(n) == n // d for n in ns if n < 2**32)


def test_magic_divider_rejects_divisors_out_of_range() -> None:
    for d in (0, 2**32):
        with pytest.raises(ValueError):
            K.magic_divider(d)


def test_vector_width_is_sixteen_bytes() -> None:
    assert [K.vector_width(p) for p in PRECISIONS] == [4, 8, 8, 16]


def test_layout_uses_vector_weights_only_when_lanes_share_a_channel_or_a_weight_run() -> None:
    lay = K.scale_layout((4, 64, 56, 56), "channel", None, "fp32")
    assert lay.vector_weights and lay.d1 == 56 * 56 // 4 and lay.d2 == 64
    lay = K.scale_layout((2, 3, 5, 7), "channel", None, "fp32")
    assert not lay.vector_weights and (lay.d1, lay.d2) == (35, 3)
    assert (lay.nvec, lay.tail) == (52, 2)
    lay = K.scale_layout((2, 3, 5, 7), "elementwise", 0, "fp16")
    assert not lay.vector_weights and lay.d1 == 210
    assert K.scale_layout((8, 16), "elementwise", -1, "fp16").d1 == 2  # W=16 in vectors of 8
    assert K.scale_layout((1 << 31,), "uniform", None, "int8").index64  # 2**31 elements: 64-bit indices
    assert not K.scale_layout(((1 << 31) - 1,), "uniform", None, "int8").index64


@pytest.mark.parametrize(
    ("shape", "mode", "axis"),
    [
        ((2, 3, 5, 7), "channel", None),
        ((2, 3, 5, 7), "channel", -1),
        ((2, 3, 5, 7), "elementwise", 2),
        ((4, 8, 6, 6), "channel", 1),
        ((4, 8, 6, 6), "elementwise", 1),
        ((3, 5, 7), "channel", 0),
        ((16, 32), "elementwise", 0),
        ((7,), "channel", 0),
    ],
)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_kernel_weight_index_arithmetic_matches_the_reference_layout(shape, mode, axis, precision) -> None:
    """Replays the kernel's index arithmetic (vector path, per-lane stepping, tail) with its own
    arguments and compares each element's weight index with numpy's broadcast."""
    from bench import reference

    lay = K.scale_layout(shape, mode, axis, precision)
    args = dict(
        zip(
            ["nvec", "tail", "d1", "m1", "s1", "d2", "m2", "s2", "m1e", "s1e"],
            [v for _, v in K.kernel_args(lay, None, None)],
            strict=False,
        )
    )
    ax = reference.resolve_axis(shape, axis)
    e = np.arange(lay.numel)
    inner = math.prod(shape[ax + 1 :])
    want = (e // inner) % shape[ax] if mode == "channel" else e % math.prod(shape[ax:])

    def div(n: int, d: int, m: int, s: int) -> int:
        return K.MagicDivider(d, m, s).divide(n)

    got = np.full(lay.numel, -1)
    vec = lay.vec

    def step_from(e0: int, count: int, d1e: int, m: int, s: int) -> list[int]:
        out = []
        if mode == "channel":
            q = div(e0, d1e, m, s)
            r = e0 - q * d1e
            c = q - div(q, args["d2"], args["m2"], args["s2"]) * args["d2"]
            for _ in range(count):
                out.append(c)
                r += 1
                if r == d1e:
                    r, c = 0, (c + 1) % args["d2"]
        else:
            k = e0 - div(e0, d1e, m, s) * d1e
            for _ in range(count):
                out.append(k)
                k = (k + 1) % d1e
        return out

    for v in range(lay.nvec):
        if lay.vector_weights and mode == "channel":
            q = div(v, args["d1"], args["m1"], args["s1"])
            got[v * vec : (v + 1) * vec] = q - div(q, args["d2"], args["m2"], args["s2"]) * args["d2"]
        elif lay.vector_weights:
            k0 = (v - div(v, args["d1"], args["m1"], args["s1"]) * args["d1"]) * vec
            got[v * vec : (v + 1) * vec] = np.arange(k0, k0 + vec)
        else:
            got[v * vec : (v + 1) * vec] = step_from(v * vec, vec, args["d1"], args["m1"], args["s1"])
    d1e, me, se = (
        (args["d1"] * vec, args["m1e"], args["s1e"]) if lay.vector_weights else (args["d1"], args["m1"], args["s1"])
    )
    for t in range(lay.tail):
        got[lay.nvec * vec + t] = step_from(lay.nvec * vec + t, 1, d1e, me, se)[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("precision", "mode", "power_is_one"), list(itertools.product(PRECISIONS, MODES, (True, False)))
)
def test_source_is_generated_for_every_mode_precision_and_power(precision: str, mode: str, power_is_one: bool) -> None:
    for vw in (True, False) if mode != "uniform" else (True,):
        src = K.kernel_source(K.KernelSpec(precision, mode, power_is_one, vector_weights=vw))
        assert f'extern "C" __global__ void __launch_bounds__(BLOCK) {K.KERNEL_NAME}(' in src
        assert f"#define BLOCK {K.DEFAULT_BLOCK}" in src
        assert "v4.u32" in src  # 16-byte vector loads and stores
        assert ("powf" in src) is not power_is_one
        assert ("__float2int_rn" in src) is (precision == "int8")
        assert "#include" not in src  # no CUDA headers: NVRTC compiles it anywhere


def test_streaming_hint_and_64_bit_indices_change_the_source() -> None:
    base = K.KernelSpec("fp32", "channel", True)
    assert "ld.global.cs" in K.kernel_source(K.KernelSpec("fp32", "channel", True, cache_hint="streaming"))
    assert "ld.global.nc.v4" in K.kernel_source(base)
    assert "typedef u64 IDX" in K.kernel_source(K.KernelSpec("fp32", "channel", True, index64=True))
    assert "typedef u32 IDX" in K.kernel_source(base)


def test_spec_rejects_bad_tuning() -> None:
    with pytest.raises(ValueError, match="block"):
        K.KernelSpec("fp32", "uniform", True, block=100)
    with pytest.raises(ValueError, match="unroll"):
        K.KernelSpec("fp32", "uniform", True, unroll=0)
    with pytest.raises(ValueError, match="cache_hint"):
        K.KernelSpec("fp32", "uniform", True, cache_hint="magic")
    with pytest.raises(ValueError, match="precision"):
        K.KernelSpec("fp8", "uniform", True)


def test_launch_config_covers_every_vector_and_caps_a_persistent_grid() -> None:
    assert K.launch_config(0, 256, 4) == K.LaunchConfig(1, 256)  # the tail still needs a block
    assert K.launch_config(1024, 256, 4).grid == 1
    assert K.launch_config(1025, 256, 4).grid == 2
    assert K.launch_config(10**6, 256, 4, max_blocks=264).grid == 264
    assert K.launch_config(10**13, 32, 1).grid == K.MAX_GRID_X


@pytest.mark.skipif(not _nvrtc_works(), reason="NVRTC is not installed (pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize("precision", PRECISIONS)
def test_source_compiles_with_nvrtc_for_hopper(precision: str) -> None:
    from bench.gpu.cuda import compile_cubin

    mode = {"fp32": "channel", "fp16": "elementwise", "bf16": "uniform", "int8": "channel"}[precision]
    spec = K.KernelSpec(precision, mode, power_is_one=precision != "fp32", vector_weights=precision != "int8")
    cubin = compile_cubin(K.kernel_source(spec), K.KERNEL_NAME, "sm_90")
    assert cubin[:4] == b"\x7fELF"


def test_small_tensors_get_a_small_block_and_large_ones_the_default():
    assert K.default_block(K.scale_layout((1, 3, 3, 3), "channel", None, "fp32").nvec) == 32
    assert K.default_block(K.scale_layout((64, 256, 64, 64), "channel", None, "fp32").nvec) == K.DEFAULT_BLOCK
    spec = K.kernel_spec(K.scale_layout((1, 3, 3, 3), "uniform", None, "fp16"), True)
    assert spec.block == 32 and K.launch_config(1, spec.block, spec.unroll).grid == 1


def test_elementwise_streams_data_past_the_cache_so_its_weights_stay():
    ew = K.kernel_spec(K.scale_layout((8, 256, 64, 64), "elementwise", None, "fp32"), True)
    ch = K.kernel_spec(K.scale_layout((8, 256, 64, 64), "channel", None, "fp32"), True)
    assert (ew.cache_hint, ch.cache_hint) == ("streaming", K.DEFAULT_CACHE_HINT)
    assert "ld.global.cs" in K.kernel_source(ew) and "ld.global.cs" not in K.kernel_source(ch)


def test_int8_kernel_multiplies_by_the_reciprocal_output_scale():
    lay = K.scale_layout((2, 3, 4, 5), "channel", None, "int8")
    assert K.kernel_args(lay, 0.5, 0.25)[-1] == ("f32", 4.0)
    assert "y * inv_out_scale" in K.kernel_source(K.kernel_spec(lay, True))
