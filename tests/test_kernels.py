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


def _all_specs() -> list[K.KernelSpec]:
    """Every mode x precision x power x weight layout, plus the row-group path (32- and 64-bit indices)."""
    specs = []
    for precision, mode, power_is_one in itertools.product(PRECISIONS, MODES, (True, False)):
        for vw in (True, False) if mode != "uniform" else (True,):
            specs.append(K.KernelSpec(precision, mode, power_is_one, vector_weights=vw))
        if mode == "elementwise":
            specs.append(K.KernelSpec(precision, mode, power_is_one, rows=8))
            specs.append(K.KernelSpec(precision, mode, power_is_one, rows=3, index64=True, block=256))
    return specs


@pytest.mark.skipif(not _nvrtc_works(), reason="NVRTC is not installed (pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize(
    "spec",
    _all_specs(),
    ids=lambda s: f"{s.precision}-{s.mode}-p1{s.power_is_one}-vw{s.vector_weights}-r{s.rows}-i64{s.index64}",
)
def test_source_compiles_with_nvrtc_for_hopper(spec: K.KernelSpec) -> None:
    from bench.gpu.cuda import compile_cubin

    cubin = compile_cubin(K.kernel_source(spec), K.KERNEL_NAME, "sm_90")
    assert cubin[:4] == b"\x7fELF"


# --- ELEMENTWISE's row-group path ------------------------------------------------------------------------


def test_row_group_path_is_chosen_only_for_elementwise_vector_weights_with_several_outer_rows() -> None:
    def spec(shape, mode="elementwise", axis=None, precision="fp32", **tuning):
        return K.kernel_spec(K.scale_layout(shape, mode, axis, precision), True, **tuning)

    assert spec((8, 256, 64, 64)).rows == K.DEFAULT_ROWS == 1  # off by default (measured slower)
    assert spec((8, 256, 64, 64), rows=8).rows == 8  # W = 1M elements repeated 8 times
    assert spec((3, 4, 16), axis=1, rows=8).rows == 3  # clamped to the outer rows
    assert spec((3, 4, 16), axis=1, rows=2, unroll=4).unroll == 1  # rows replace unroll
    assert spec((8, 256, 64, 64), axis=0, rows=8).rows == 1  # one outer row: the weights are as large as x
    assert spec((2, 3, 5, 7), axis=1, rows=8).rows == 1  # W = 105: no vector weights
    assert spec((8, 256, 64, 64), mode="channel", rows=8).rows == 1
    assert spec((8, 256, 64, 64), mode="uniform", rows=8).rows == 1
    assert spec((8, 256, 64, 64), rows=1).rows == 1  # the 1-D path on request
    assert spec((2, 2**23), axis=-1, rows=8, block=32).rows == 1  # 65536 weight chunks > gridDim.y
    assert K.scale_layout((5, 3, 7, 8), "elementwise", 1, "fp32").outer == 5
    assert K.scale_layout((5, 3, 7, 8), "channel", 1, "fp32").outer == 1


def test_row_group_spec_validation_and_source() -> None:
    with pytest.raises(ValueError, match="rows must"):
        K.KernelSpec("fp32", "elementwise", True, rows=0)
    with pytest.raises(ValueError, match="ELEMENTWISE"):
        K.KernelSpec("fp32", "channel", True, rows=4)
    with pytest.raises(ValueError, match="ELEMENTWISE"):
        K.KernelSpec("fp32", "elementwise", True, vector_weights=False, rows=4)
    with pytest.raises(ValueError, match="unroll"):
        K.KernelSpec("fp32", "elementwise", True, rows=4, unroll=2)
    one = K.kernel_source(K.KernelSpec("fp32", "elementwise", True))
    four = K.kernel_source(K.KernelSpec("fp32", "elementwise", True, rows=4))
    assert "ROWS" not in one and "blockIdx.y" not in one  # rows 1: the 1-D path, source as before
    assert "#define ROWS 4" in four and "blockIdx.y == 0 && threadIdx.x < tail" in four
    assert "rows=" not in repr(K.KernelSpec("fp32", "elementwise", True))  # the source's first line


@pytest.mark.parametrize(
    ("d1", "outer", "block", "rows", "max_blocks"),
    [
        (1, 2, 32, 2, None),  # one weight vector
        (42, 5, 32, 8, None),  # 5x3x7x8 axis 1 in fp32: W not a multiple of the block, outer < rows
        (42, 5, 32, 2, None),  # outer not a multiple of rows
        (100, 17, 64, 4, None),
        (96, 16, 32, 4, None),  # everything divides
        (70, 11, 32, 3, 3),  # persistent cap: grid_y 1, the y loop covers every group
        (70, 23, 32, 2, 7),  # grid_y 2 striding over 12 groups
        (33, 9, 32, 16, None),
    ],
)
def test_row_group_launch_covers_every_vector_exactly_once(d1, outer, block, rows, max_blocks) -> None:
    cfg = K.row_group_launch(d1, outer, block, rows, max_blocks)
    assert cfg.grid_y == -(-d1 // block) and cfg.dims == (cfg.grid, cfg.grid_y, 1)
    if max_blocks is not None:
        assert cfg.grid * cfg.grid_y <= max(max_blocks, cfg.grid_y)
    got = K.row_group_vectors(d1, outer, cfg, rows)
    assert sorted(got) == list(range(d1 * outer))  # each vector once, none outside the tensor


@pytest.mark.parametrize(
    ("shape", "axis", "precision"),
    [((8, 256, 64, 64), None, "fp32"), ((5, 3, 7, 8), 1, "fp32"), ((5, 3, 7, 8), 1, "fp16"), ((11, 64), -1, "int8")],
)
def test_row_group_launch_from_a_layout(shape, axis, precision) -> None:
    """The kernel's outer = DIV(nvec, d1) with the magic numbers kernel_args passes, no tail, and the
    launch `spec_launch_config` picks covers the whole tensor (rows 1: the 1-D launch, as before)."""
    lay = K.scale_layout(shape, "elementwise", axis, precision)
    spec = K.kernel_spec(lay, True, rows=8)
    assert spec.rows > 1 and lay.tail == 0 and lay.nvec == lay.outer * lay.d1
    args = dict(zip(["nvec", "tail", "d1", "m1", "s1"], [v for _, v in K.kernel_args(lay, None, None)], strict=False))
    assert K.MagicDivider(args["d1"], args["m1"], args["s1"]).divide(args["nvec"]) == lay.outer
    cfg = K.spec_launch_config(lay, spec)
    assert cfg.grid == -(-lay.outer // spec.rows)
    if lay.nvec <= 10**5:
        assert sorted(K.row_group_vectors(lay.d1, lay.outer, cfg, spec.rows)) == list(range(lay.nvec))
    assert K.spec_launch_config(lay, K.kernel_spec(lay, True, rows=1)) == K.launch_config(lay.nvec, spec.block, 1)
    with pytest.raises(ValueError, match="rows=1"):
        K.row_group_launch(32 * K.MAX_GRID_Y + 1, 2, 32, 2)  # weight chunks beyond gridDim.y
