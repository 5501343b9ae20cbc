"""The Scale kernel's source and launch arithmetic, checked without a GPU (NVRTC compiles where installed)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from pathlib import Path

import kernel_replay
import numpy as np
import pytest
from nvrtc_helpers import needs_nvrtc

from bench import reference
from bench.gpu import kernel_generator as KG
from bench.gpu import kernel_layout as K
from bench.gpu import kernel_source as KS
from bench.gpu import tuning as T

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
MODES = ("uniform", "channel", "elementwise")
ODD_SHAPES = [
    (1, 3, 3, 3),
    (2, 3, 5, 7),
    (3, 5, 7),
    (7,),
    (4, 8, 6, 6),
    (2, 16, 9, 9),
    (16, 32),
    (5, 3, 56),
    (2, 3, 1001),
]
CONFIGS = [
    *(K.KernelConfig("vector", b, v, g, "default") for b in (32, 256) for v in (1, 3) for g in K.GRIDS),
    K.KernelConfig("direct", 32),
    K.KernelConfig("direct", 1024),
]


def _cases(shapes=ODD_SHAPES):
    for shape in shapes:
        yield shape, "uniform", None
        for mode in ("channel", "elementwise"):
            for axis in sorted({None if len(shape) >= 3 else 0, *range(-len(shape), len(shape))}, key=str):
                yield shape, mode, axis


@pytest.mark.parametrize("d", [1, 2, 3, 7, 9, 35, 784, 3136, 2**16 + 1, 2**31 - 1, 2**31, 2**32 - 1])
def test_magic_division_matches_integer_division_over_the_32_bit_range(d: int) -> None:
    rng = np.random.default_rng(d)
    ns = [0, 1, d - 1, d, d + 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, *rng.integers(0, 2**32, 2000).tolist()]
    div = K.magic_divider(d)
    assert all(kernel_replay.magic_divide(div, n) == n // d for n in ns if n < 2**32)


def test_magic_divider_rejects_divisors_out_of_range() -> None:
    for d in (0, 2**32):
        with pytest.raises(ValueError):
            K.magic_divider(d)


def test_vector_width_is_sixteen_bytes() -> None:
    assert [K.vector_width(p) for p in PRECISIONS] == [4, 8, 8, 16]


def test_layout_reads_weights_as_vectors_wherever_a_period_of_whole_vectors_fits() -> None:
    lay = K.scale_layout((4, 64, 56, 56), "channel", None, "fp32")
    assert (lay.weights, lay.d1, lay.d2, lay.expand) == ("channel", 56 * 56 // 4, 64, 0)
    # CHANNEL on the last axis is ELEMENTWISE with period C: expanded, then read as vectors
    lay = K.scale_layout((64, 256, 64, 64), "channel", -1, "int8")
    assert (lay.weights, lay.d1, lay.expand, lay.period_vectors) == ("periodic", 4, 64, 4)
    # a period of 56 int8 elements is not whole vectors of 16; twice it is
    lay = K.scale_layout((8, 128, 56, 56), "elementwise", -1, "int8")
    assert (lay.weights, lay.expand, lay.d1e) == ("periodic", 112, 112)
    # no repeat inside the tensor: ELEMENTWISE on axis 0 reads its weights as given
    lay = K.scale_layout((2, 3, 5, 7), "elementwise", 0, "fp32")
    assert (lay.weights, lay.expand, lay.d1) == ("periodic", 0, 53)
    assert K.scale_layout((1 << 31,), "uniform", None, "int8").index64
    assert not K.scale_layout(((1 << 31) - 1,), "uniform", None, "int8").index64


def test_layout_falls_back_to_per_lane_weights_when_the_expansion_would_be_too_long(monkeypatch) -> None:
    monkeypatch.setattr(K, "EXPAND_MAX", 4)
    assert K.scale_layout((2, 3, 5, 7), "channel", 1, "fp32").weights == "lane_channel"
    assert K.scale_layout((2, 3, 5, 7), "elementwise", 2, "fp16").weights == "lane_periodic"
    assert K.scale_layout((4, 8, 6, 6), "elementwise", 1, "fp32").weights == "periodic"  # 288 % 4 == 0


def test_direct_variant_is_for_tiny_tensors_only() -> None:
    assert K.scale_layout((1, 3, 3, 3), "channel", None, "fp32", "direct").weights == "table"
    assert K.scale_layout((1, 3, 3, 3), "uniform", None, "fp32", "direct").weights == "uniform"
    with pytest.raises(ValueError, match="at most"):
        K.scale_layout((1, 64, 56, 56), "channel", None, "fp32", "direct")


@pytest.mark.parametrize("expand_max", [K.EXPAND_MAX, 4])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_launch_covers_each_vector_once_and_reads_the_reference_weights(
    monkeypatch, expand_max, precision
) -> None:
    """Replays each configuration's thread -> work mapping and weight index (as the source computes
    them) and checks: every vector and every tail element exactly once, and the expanded weight at
    each element's index equals numpy's broadcast of the weights."""
    monkeypatch.setattr(K, "EXPAND_MAX", expand_max)
    for (shape, mode, axis), cfg in itertools.product(_cases(), CONFIGS):
        try:
            lay = K.scale_layout(shape, mode, axis, precision, cfg.variant)
        except ValueError:
            continue  # direct on a tensor over DIRECT_MAX
        eff = K.effective_config(lay, cfg)
        launch = K.launch_config(lay, eff, sm_count=4)
        work = lay.nvec if eff.variant == "vector" else lay.numel
        seen = np.zeros(work, dtype=np.int64)
        tails = []
        for b, t in itertools.product(range(launch.grid), range(launch.block)):
            seen[kernel_replay.thread_vectors(lay, eff, launch, b, t)] += 1
            e = kernel_replay.thread_tail(lay, launch, b, t) if eff.variant == "vector" else None
            if e is not None:
                tails.append(e)
        assert (seen == 1).all(), (shape, mode, axis, cfg)
        if eff.variant == "vector":
            assert sorted(tails) == list(range(lay.nvec * lay.vec, lay.numel))
        w = np.arange(np.prod(reference.weight_shape(shape, mode, axis)), dtype=np.float32) + 1
        want = np.broadcast_to(reference.broadcast_weights(shape, mode, shift=w, channel_axis=axis)[1], shape)
        expanded = K.expand_weights(lay, shape, axis, w) if mode != "uniform" else w
        idx = np.array([kernel_replay.weight_index(lay, e) for e in range(lay.numel)])
        np.testing.assert_array_equal(expanded[idx], want.reshape(-1))


def test_periodic_and_channel_vectors_read_their_lanes_weights_in_one_go() -> None:
    for shape, mode, axis in _cases([(4, 8, 6, 6), (2, 16, 9, 9), (5, 3, 56)]):
        lay = K.scale_layout(shape, mode, axis, "fp16")
        idx = np.array([kernel_replay.weight_index(lay, e) for e in range(lay.numel)])
        for v in range(lay.nvec):
            lanes = idx[v * lay.vec : (v + 1) * lay.vec]
            if lay.weights == "periodic":  # consecutive, from a vector-aligned start: one 16-byte load
                k0 = (v % lay.d1) * lay.vec
                assert list(lanes) == list(range(k0, k0 + lay.vec))
            elif lay.weights == "channel":
                assert (lanes == (v // lay.d1) % lay.d2).all()


def test_reuse_stride_is_a_multiple_of_the_period_and_keeps_blocks_busy() -> None:
    for period, block in itertools.product((1, 4, 7, 196, 256, 600, 4096, 65537), (32, 256, 1024)):
        t = K.reuse_stride(period, block)
        assert t % period == 0
        waste = -(-t // block) * block - t
        assert waste <= t // 8 or t == 64 * period


def test_effective_config_fits_blocks_to_the_work_and_drops_reuse_without_a_period() -> None:
    tiny = K.scale_layout((1, 3, 3, 3), "uniform", None, "fp32")
    assert K.effective_config(tiny, K.KernelConfig("vector", 1024, 4, "reuse", "streaming")) == K.KernelConfig(
        "vector", 32, 4, "oneshot", "streaming"
    )
    direct = K.scale_layout((1, 3, 3, 3), "channel", None, "fp32", "direct")
    assert K.effective_config(direct, K.KernelConfig("direct", 1024)).block == 32
    assert K.fit_block(1024, 70) == 128 and K.fit_block(256, 10**6) == 256
    with pytest.raises(ValueError, match="variant"):
        K.effective_config(tiny, K.KernelConfig("direct", 32))


def test_launch_config_grids() -> None:
    lay = K.scale_layout((64, 256, 64, 64), "elementwise", 1, "int8")  # period 65536 vectors
    assert K.launch_config(lay, K.KernelConfig("vector", 256, 1), 132).grid == lay.nvec // 256
    assert K.launch_config(lay, K.KernelConfig("vector", 256, 1, "persistent"), 132).grid == 132 * 8
    reuse = K.launch_config(lay, K.KernelConfig("vector", 256, 4, "reuse"), 132)
    assert (reuse.stride, reuse.group_blocks) == (65536, 256) and reuse.grid == 256 * (64 // 4)
    empty = K.scale_layout((7,), "uniform", None, "int8")  # no whole vector: one block for the tail
    assert K.launch_config(empty, K.KernelConfig("vector", 32), 132).grid == 1


def test_config_and_spec_reject_what_the_kernel_cannot_run() -> None:
    with pytest.raises(ValueError, match="block"):
        K.KernelConfig(block=100)
    with pytest.raises(ValueError, match="vpt"):
        K.KernelConfig(vpt=0)
    with pytest.raises(ValueError, match="cache"):
        K.KernelConfig(cache="magic")
    with pytest.raises(ValueError, match="grid"):
        K.KernelConfig(grid="fractal")
    with pytest.raises(ValueError, match="reuse needs"):
        KS.KernelSpec("fp32", "lane_channel", True, reuse=True)
    with pytest.raises(ValueError, match="precision"):
        KS.KernelSpec("fp8", "uniform", True)


def test_kernel_args_follow_the_signature_of_the_source() -> None:
    src = KS.kernel_source(KS.KernelSpec("fp32", "channel", True))
    signature = src[src.index(f"{KS.KERNEL_NAME}(") : src.index(")\n{")]
    names = re.findall(r"(?:u64|u32|float) (\w+)", signature)
    assert tuple(names) == K.ARG_NAMES
    lay = K.scale_layout((2, 3, 4, 5), "channel", None, "int8")
    args = K.kernel_args(lay, K.launch_config(lay, K.KernelConfig("vector", 32), 4), 0.5, 0.25, (0.0, 1.0, 1.0))
    assert len(args) == len(K.ARG_NAMES) and args[K.ARG_NAMES.index("inv_out_scale")] == ("f32", 4.0)


def test_source_options_show_in_the_source() -> None:
    spec = KS.KernelSpec("int8", "periodic", True, nan_safe=False, cache="streaming", reuse=True, vpt=4, block=256)
    src = KS.kernel_source(spec)
    assert "ld.global.cs.v4.u32" in src and "st.global.cs.v4.u32" in src
    assert "#define VPT 4" in src and "#define BLOCK 256" in src and "stride" in src
    assert "t == t" not in src and "powf" not in src and "#include" not in src
    nan_safe = KS.kernel_source(KS.KernelSpec("int8", "periodic", False))
    assert "t = (t == t) ? t : 0.0f" in nan_safe and "powf" in nan_safe
    assert "createpolicy.fractional.L2::evict_first" in KS.kernel_source(
        KS.KernelSpec("fp32", "uniform", True, cache="evict_first")
    )
    assert "typedef u64 IDX" in KS.kernel_source(KS.KernelSpec("fp32", "channel", True, index64=True))


def test_int8_conversions_without_the_conversion_unit_are_exact() -> None:
    """The vector path's arithmetic, replayed in numpy float32 (IEEE round-to-nearest-even, as the
    GPU's FADD): a code placed in a float's mantissa minus the offset is the code; a clamped value
    plus 1.5 * 2**23 has rint(value), ties to even, in its low byte."""
    codes = np.arange(-128, 128, dtype=np.int32)
    bits = (0x4B000000 | ((codes & 0xFF) ^ 0x80)).astype(np.uint32)
    assert (bits.view(np.float32) - np.float32(8388736.0) == codes.astype(np.float32)).all()
    rng = np.random.default_rng(0)
    t = np.concatenate(
        [
            rng.uniform(-300, 300, 100_000).astype(np.float32),
            np.arange(-130, 130, 0.5, dtype=np.float32),  # every half step: ties go to even
            np.array([np.inf, -np.inf, 1e30, -1e30, 127.49, -127.51], dtype=np.float32),
        ]
    )
    clamped = np.minimum(np.maximum(t, np.float32(-127)), np.float32(127))
    low = ((clamped + np.float32(12582912.0)).view(np.uint32) & 0xFF).astype(np.uint8).view(np.int8)
    np.testing.assert_array_equal(low, np.clip(np.rint(t.astype(np.float64)), -127, 127).astype(np.int8))


def _all_candidate_specs() -> list[KS.KernelSpec]:
    """The source of every candidate of every tuning class the odd shapes and the default sweep's
    shapes fall in (each size class forced), every precision, power 1 and not."""
    specs = set()
    shapes = [*ODD_SHAPES, (1, 64, 56, 56), (8, 128, 56, 56), (64, 256, 64, 64)]
    for (shape, mode, axis), precision in itertools.product(_cases(shapes), PRECISIONS):
        vector = K.scale_layout(shape, mode, axis, precision)
        direct = K.scale_layout(shape, mode, axis, precision, "direct") if math.prod(shape) <= K.DIRECT_MAX else None
        for size in ("tiny", "l2-9", "hbm"):
            if size == "tiny" and direct is None:
                continue
            for cfg in T.candidates(vector, size, direct):
                lay = direct if cfg.variant == "direct" else vector
                for power_is_one in (True, False):
                    specs.add(KS.kernel_spec(lay, cfg, power_is_one, nan_safe=False))
    return sorted(specs, key=repr)


def test_candidate_sources_cover_every_weight_kind_and_variant() -> None:
    specs = _all_candidate_specs()
    assert {s.weights for s in specs} >= {"uniform", "channel", "periodic", "table"}
    assert {s.variant for s in specs} == {"vector", "direct"} and any(s.reuse for s in specs)


@needs_nvrtc
def test_every_candidate_source_compiles_with_nvrtc_for_hopper(monkeypatch) -> None:
    """Each distinct candidate source, with its block set to 1024: the block size only sets BLOCK and
    the launch bound, and 1024 threads is the tightest register budget (64 a thread)."""
    from bench.gpu.kernel_cache import compile_cubin

    specs = {replace(s, block=1024) for s in _all_candidate_specs()}
    monkeypatch.setattr(K, "EXPAND_MAX", 4)  # the per-lane kinds, and 64-bit indices, once each
    specs |= {KS.KernelSpec(p, w, False, index64=True) for p in PRECISIONS for w in ("lane_channel", "lane_periodic")}
    for spec in sorted(specs, key=repr):
        cubin = compile_cubin(KS.kernel_source(spec), KS.KERNEL_NAME, "sm_90")
        assert cubin[:4] == b"\x7fELF" and KS.KERNEL_NAME.encode() in cubin, spec
    assert len(specs) > 200


@needs_nvrtc
def test_compiled_cubins_are_kept_checked_and_recompiled_when_damaged(tmp_path, monkeypatch) -> None:
    from bench.gpu import cuda, kernel_cache

    spec = KS.kernel_spec(K.scale_layout((2, 3, 4, 5), "channel", None, "fp32"), K.KernelConfig(), True, False)
    source = KS.kernel_source(spec)
    kernel_cache.set_cubin_cache(tmp_path)
    try:
        first = kernel_cache.compile_cubin(source, KS.KERNEL_NAME, "sm_90")
        [stored] = list(tmp_path.glob("*.cubin"))
        real = cuda.nvrtc_compile
        monkeypatch.setattr(cuda, "nvrtc_compile", lambda *a: pytest.fail("compiled although cached"))
        assert kernel_cache.compile_cubin(source, KS.KERNEL_NAME, "sm_90") == first  # read back, not compiled
        stored.write_bytes(stored.read_bytes()[:-7] + b"garbage")  # damaged on disk
        monkeypatch.setattr(cuda, "nvrtc_compile", real)
        assert kernel_cache.compile_cubin(source, KS.KERNEL_NAME, "sm_90") == first  # compiled again, file replaced
        assert kernel_cache.compile_cubin(source, KS.KERNEL_NAME, "sm_80") != first  # the architecture is in the key
        kernel_cache.set_cubin_cache(tmp_path / "file")
        (tmp_path / "file").write_text("not a folder")
        assert kernel_cache.compile_cubin(source, KS.KERNEL_NAME, "sm_90") == first  # an unusable cache costs a compile
    finally:
        kernel_cache.set_cubin_cache(None)


def test_every_source_defines_the_entry_point_the_launcher_looks_up() -> None:
    for spec in _all_candidate_specs():
        source = KS.kernel_source(spec)
        assert f'extern "C" __global__ void __launch_bounds__(BLOCK) {KS.KERNEL_NAME}(' in source, spec
        assert source.count("__global__") == 1, spec


def test_generator_hash_covers_the_launch_arithmetic_and_the_source_generator(tmp_path) -> None:
    """The tuning store keys decisions on the generator hash: an edit to either module that decides what
    a launch runs must change it."""
    from bench.gpu import kernel_elements

    assert set(KG.GENERATOR_MODULES) == {Path(K.__file__), Path(kernel_elements.__file__), Path(KS.__file__)}
    assert KG.generator_hash() == KG.modules_hash(KG.GENERATOR_MODULES)
    copies = tuple(tmp_path / p.name for p in KG.GENERATOR_MODULES)
    for original, copy in zip(KG.GENERATOR_MODULES, copies, strict=True):
        copy.write_bytes(original.read_bytes())
    assert KG.modules_hash(copies) == KG.generator_hash()
    for copy in copies:
        before = KG.modules_hash(copies)
        copy.write_bytes(copy.read_bytes() + b"X_ = 1\n")
        assert KG.modules_hash(copies) != before, copy.name


def test_generator_hash_ignores_what_only_explains_the_code(tmp_path) -> None:
    """Comments, docstrings, blank lines and trailing spaces do not change the hash, so a baseline's
    launches survive an edit that only explains the code; a string the code uses does."""
    original = tmp_path / "gen.py"
    original.write_text(
        '"""Module doc."""\n\nA = "x # kept"  # comment\n\n\ndef f():\n    """Doc."""\n    return f"{A} # kept"\n'
    )
    before = KG.modules_hash((original,))
    original.write_text(
        '"""Another doc, longer:\nµ and all."""\nA = "x # kept"   \n# a new comment\ndef f():\n    """Dóc."""\n    return f"{A} # kept"  # why\n'
    )
    assert KG.modules_hash((original,)) == before
    assert KG.code_only(original.read_text()) == 'A = "x # kept"\ndef f():\n    return f"{A} # kept"'
    original.write_text('"""Module doc."""\nA = "x # changed"\ndef f():\n    """Doc."""\n    return f"{A} # kept"\n')
    assert KG.modules_hash((original,)) != before


def test_int8_with_power_one_folds_the_scales_into_the_weights_for_every_launch_of_a_point() -> None:
    """Folding changes the output bits (within int8's one step), so it is a rule of the point: the
    vector and the direct variant of one point both fold, or neither does."""
    tiny = (1, 3, 3, 3)
    for mode, axis in (("uniform", None), ("channel", 1), ("channel", -1), ("elementwise", None)):
        for precision, power_is_one in (("int8", True), ("int8", False), ("fp16", True)):
            specs = [
                KS.kernel_spec(
                    K.scale_layout(tiny, mode, axis, precision, variant), K.KernelConfig(variant), power_is_one
                )
                for variant in ("vector", "direct")
            ]
            expected = precision == "int8" and power_is_one
            assert [s.fold for s in specs] == [expected, expected], (mode, axis, precision, power_is_one)
    with pytest.raises(ValueError, match="fold needs int8"):
        KS.KernelSpec("fp32", "uniform", True, fold=True)


@needs_nvrtc
def test_folded_int8_kernels_multiply_two_times_fewer_per_element() -> None:
    """The point of folding: per 16-byte vector of int8, no multiply by the input scale on the way in
    and none by the output scale on the way out (PTX of one vector per thread)."""
    from bench.gpu.cuda import nvrtc_compile

    def f32_multiplies(spec: KS.KernelSpec) -> int:
        ptx = nvrtc_compile(KS.kernel_source(spec), KS.KERNEL_NAME, "sm_90", [], ptx=True).decode()
        return len(re.findall(r"^\s+mul(\.rn)?\.f32\s", ptx, flags=re.MULTILINE))

    for weights, reuse in (("uniform", False), ("channel", False), ("periodic", True)):
        plain = KS.KernelSpec("int8", weights, True, nan_safe=False, block=256, vpt=4, reuse=reuse)
        assert f32_multiplies(plain) >= 2 * 16 * 4, weights  # two per element
        assert f32_multiplies(replace(plain, fold=True)) <= 16 * 3 + 8, weights  # three per weight made
