"""CUDA C++ source of the Scale op, y = (x * scale + shift) ** power, and its launch arithmetic.

Pure Python: nothing here needs CUDA, so the source for every mode, precision and layout, the index
arithmetic and the launch configuration are all tested on the CPU (and compiled there when NVRTC is
installed). `bench.gpu.cuda` compiles and launches what this module writes.

Why it is written this way (the target is >= 95% of a device-to-device copy's bandwidth):
- Every thread moves 16-byte vectors (4 fp32, 8 fp16/bf16, 16 int8), `UNROLL` of them loaded before
  any is used, so enough bytes are in flight to cover DRAM latency.
- Arithmetic is fp32 (one `fmaf`, `powf` only when some power is not 1) and conversions are single
  PTX instructions (`cvt.rn.f16x2.f32`, `cvt.rn.bf16x2.f32`), so no CUDA header is needed and NVRTC
  compiles the source anywhere.
- Weight indices need divisions by run-time sizes. They use 32-bit multiply-high "magic number"
  division, with the magic numbers computed here on the host (`magic_divider`), and they are computed
  once per vector where the layout allows (`vector_weights`): when the inner size (CHANNEL) or the
  weight period (ELEMENTWISE) is a multiple of the vector width, all lanes share one channel, or read
  consecutive weights that load as vectors too. Otherwise each lane's index is stepped from the
  previous lane's with a compare, not a division. Tensors of 2^31 elements or more switch to 64-bit
  indices with plain division.
- int8 is honest int8: int8 codes in and out, y_q = clamp(rint(((x_q * in_scale) * scale + shift) **
  power * (1 / out_scale)), -127, 127), round-half-to-even (`__float2int_rn`), fp32 weights (a multiply by
  the reciprocal: within the one-step tolerance of the reference's division, and a division per element
  made the int8 kernel compute-bound).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench import reference
from bench.precision import INT8_QMAX
from bench.precision import info as precision_info

KERNEL_NAME = "scale_kernel"
VECTOR_BYTES = 16  # one ld.global.v4.u32 / st.global.v4.u32 per thread per vector
INDEX32_LIMIT = 2**31  # below this many elements every index, and index + grid stride, fits in 32 bits
MAX_GRID_X = 2**31 - 1

# Launch shape chosen with scripts/kernel_tuning.py on an H100 80GB HBM3 (2026-11-26), one vector per
# thread and one block per BLOCK vectors. CHANNEL fp32/fp16/bf16 at 64 and 256 MB: blocks of 512 or 1024
# ran at 100.0-100.5% of cudaMemcpyAsync, 2-8 vectors per thread or blocks of 256 at 98.7-99.8%, a
# persistent grid (SMs x resident blocks) at 92-94%. 1024 was best for ELEMENTWISE (fp16/bf16 98.0-98.5%
# against 96.4-96.6% with 512) and equal elsewhere.
DEFAULT_BLOCK = 1024
DEFAULT_UNROLL = 1
CACHE_HINTS = ("default", "streaming")  # plain loads/stores, or evict-first (.cs) for data touched once
DEFAULT_CACHE_HINT = "default"


def vector_width(precision: str) -> int:
    """Elements per 16-byte vector."""
    return VECTOR_BYTES // precision_info(precision).itemsize


@dataclass(frozen=True)
class MagicDivider:
    """n // d == (mulhi(n, m) + n) >> s for every 0 <= n < 2**32 (Granlund-Montgomery, as in PyTorch)."""

    d: int
    m: int
    s: int

    def divide(self, n: int) -> int:
        """The kernel's arithmetic, in Python (the sum is taken in 64 bits, as the kernel does)."""
        return ((((n * self.m) >> 32) + n) >> self.s) & 0xFFFFFFFF


def magic_divider(d: int) -> MagicDivider:
    if not 1 <= d < 2**32:
        raise ValueError(f"divisor must be in [1, 2**32), got {d}")
    s = (d - 1).bit_length()  # smallest s with 2**s >= d
    m = (2**32 * (2**s - d)) // d + 1
    if m >= 2**32:  # cannot happen for d >= 1; kept as a guard on the formula
        raise AssertionError(f"magic number overflow for d={d}")
    return MagicDivider(d, m, s)


@dataclass(frozen=True)
class ScaleLayout:
    """Run-time sizes of one Scale call and the kernel variant they need (all derived from the shape)."""

    precision: str
    mode: str
    numel: int
    vec: int
    nvec: int  # whole 16-byte vectors
    tail: int  # elements after the last whole vector (< vec)
    d1: int  # CHANNEL: inner size; ELEMENTWISE: weight period; in vectors when vector_weights
    d2: int  # CHANNEL: channels; else 1
    vector_weights: bool
    index64: bool

    @property
    def weight_count(self) -> int:
        if self.mode == "uniform":
            return 1
        if self.mode == "channel":
            return self.d2
        return self.d1 * self.vec if self.vector_weights else self.d1


def scale_layout(shape: Sequence[int], mode: str, channel_axis: int | None, precision: str) -> ScaleLayout:
    """Sizes for ``shape``: CHANNEL uses channels C and inner size prod(shape[axis+1:]); ELEMENTWISE
    uses the weight period W = prod(shape[axis:]) (the weights repeat every W elements)."""
    mode = reference.normalize_mode(mode)
    shape = tuple(int(d) for d in shape)
    numel = math.prod(shape)
    vec = vector_width(precision)
    nvec, tail = divmod(numel, vec)
    d1, d2 = 1, 1
    if mode == "channel":
        axis = reference.resolve_axis(shape, channel_axis)
        d1, d2 = math.prod(shape[axis + 1 :]), shape[axis]
    elif mode == "elementwise":
        axis = reference.resolve_axis(shape, channel_axis)
        d1 = math.prod(shape[axis:])
    vector_weights = mode == "uniform" or d1 % vec == 0
    if mode != "uniform" and vector_weights:
        d1 //= vec
    return ScaleLayout(precision, mode, numel, vec, nvec, tail, d1, d2, vector_weights, numel >= INDEX32_LIMIT)


@dataclass(frozen=True)
class KernelSpec:
    """Everything that changes the generated source (run-time sizes do not)."""

    precision: str
    mode: str
    power_is_one: bool
    vector_weights: bool = True
    index64: bool = False
    block: int = DEFAULT_BLOCK
    unroll: int = DEFAULT_UNROLL
    cache_hint: str = DEFAULT_CACHE_HINT

    def __post_init__(self) -> None:
        precision_info(self.precision)
        reference.normalize_mode(self.mode)
        if self.cache_hint not in CACHE_HINTS:
            raise ValueError(f"cache_hint must be one of {', '.join(CACHE_HINTS)}, got {self.cache_hint!r}")
        if self.block % 32 or not 32 <= self.block <= 1024:
            raise ValueError(f"block must be a multiple of 32 in [32, 1024], got {self.block}")
        if self.unroll < 1:
            raise ValueError(f"unroll must be >= 1, got {self.unroll}")


def default_block(nvec: int) -> int:
    """DEFAULT_BLOCK threads, or fewer (a multiple of 32) when the tensor has fewer vectors: a 1x3x3x3
    tensor needs one warp, and a block of 1024 threads takes longer to start and retire than one of 32."""
    return min(DEFAULT_BLOCK, max(32, -(-nvec // 32) * 32))


def default_cache_hint(mode: str) -> str:
    """ELEMENTWISE streams x and y past the cache (evict-first) so its re-read weights stay in L2.

    On an H100 80GB HBM3 (scripts/kernel_tuning.py --quick --modes elementwise, 2026-11-26), N x 256 x
    64 x 64 with axis 1 (weights 1M elements, re-read for each of the N rows) at 64 and 256 MB:
    'default' fp32 87.4 / 87.2%, fp16 and bf16 98.0 / 98.5% of cudaMemcpyAsync; 'streaming' fp32
    98.0 / 98.1%, fp16 and bf16 99.4 / 99.7%. Reusing the weights from registers over R rows instead
    (R = 2, 4, 8, 16) was slower in every case (58-94%), so that path was removed.
    """
    return "streaming" if reference.normalize_mode(mode) == "elementwise" else DEFAULT_CACHE_HINT


def kernel_spec(layout: ScaleLayout, power_is_one: bool, **tuning: object) -> KernelSpec:
    """The variant for ``layout``; ``tuning`` overrides block, unroll or cache_hint (scripts/kernel_tuning.py)."""
    tuning.setdefault("block", default_block(layout.nvec))
    tuning.setdefault("cache_hint", default_cache_hint(layout.mode))
    return KernelSpec(
        layout.precision,
        layout.mode,
        power_is_one,
        vector_weights=layout.vector_weights,
        index64=layout.index64,
        **tuning,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class LaunchConfig:
    grid: int
    block: int


def launch_config(nvec: int, block: int, unroll: int, max_blocks: int | None = None) -> LaunchConfig:
    """One block per ``block * unroll`` vectors (at least one block, for the scalar tail), optionally
    capped at ``max_blocks`` (a persistent grid; the kernel's grid-stride loop covers the rest)."""
    per_block = block * unroll
    grid = max(1, -(-nvec // per_block))
    if max_blocks is not None:
        grid = min(grid, max(1, max_blocks))
    return LaunchConfig(min(grid, MAX_GRID_X), block)


def kernel_args(layout: ScaleLayout, in_scale: float | None, out_scale: float | None) -> list[tuple[str, int | float]]:
    """The scalar arguments after the five pointers, in the kernel's order, as (kind, value) with kind
    'u64', 'u32' or 'f32'. Magic numbers are meaningful only for 32-bit indices (zero otherwise):
    (m1, s1) divide by d1, (m2, s2) by d2, (m1e, s1e) by d1 in elements when d1 counts vectors."""
    d1e = layout.d1 * layout.vec if layout.mode != "uniform" and layout.vector_weights else layout.d1
    m1, m2, m1e = (_magic_or_zero(d, layout.index64) for d in (layout.d1, layout.d2, d1e))
    return [
        ("u64", layout.nvec),
        ("u32", layout.tail),
        ("u64", layout.d1),
        ("u32", m1.m),
        ("u32", m1.s),
        ("u64", layout.d2),
        ("u32", m2.m),
        ("u32", m2.s),
        ("u32", m1e.m),
        ("u32", m1e.s),
        ("f32", 1.0 if in_scale is None else float(in_scale)),
        # the kernel multiplies by 1/out_scale: a division per element made int8 compute-bound
        ("f32", 1.0 if out_scale is None else float(np.float32(1.0) / np.float32(out_scale))),
    ]


def _magic_or_zero(d: int, index64: bool) -> MagicDivider:
    return MagicDivider(d, 0, 0) if index64 or not 1 <= d < 2**32 else magic_divider(d)


# --- source generation --------------------------------------------------------------------------------

_COMMON = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

__device__ __forceinline__ uint4 ld_vec(const void* p) {
    uint4 r;
    asm volatile("ld.global.LDHINT.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
__device__ __forceinline__ void st_vec(void* p, uint4 v) {
    asm volatile("st.global.STHINT.v4.u32 [%0], {%1,%2,%3,%4};"
                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ __forceinline__ uint4 ld_weights(const void* p) {  // small, re-read: keep them cached
    uint4 r;
    asm("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
__device__ __forceinline__ float h2f(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f2h(float f) { u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ float b2f(u16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ u16 f2b(float f) {
#if __CUDA_ARCH__ >= 800
    u16 h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
#else
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);  // NaN stays NaN
    return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                  // round half to even
#endif
}
__device__ __forceinline__ u32 fdiv32(u32 n, u32 m, u32 s) {  // n / d with d's magic numbers
    return (u32)((((u64)__umulhi(n, m)) + n) >> s);
}
"""

# Per precision: storage type, weight type, unpack (uint4 -> VEC floats), pack (VEC floats -> uint4),
# scalar load / store of one element, and scalar load of one weight.
_FLOAT_PREC = {
    "fp32": {
        "T": "float",
        "unpack": "v[0] = __uint_as_float(r.x); v[1] = __uint_as_float(r.y); "
        "v[2] = __uint_as_float(r.z); v[3] = __uint_as_float(r.w);",
        "pack": "uint4 r; r.x = __float_as_uint(v[0]); r.y = __float_as_uint(v[1]); "
        "r.z = __float_as_uint(v[2]); r.w = __float_as_uint(v[3]); return r;",
        "to_f": "({e})",
        "from_f": "({e})",
    },
    "fp16": {
        "T": "u16",
        "unpack": "const u32 w[4] = {r.x, r.y, r.z, r.w};\n#pragma unroll\n"
        "    for (int i = 0; i < 4; ++i) { v[2*i] = h2f((u16)(w[i] & 0xffffu)); v[2*i+1] = h2f((u16)(w[i] >> 16)); }",
        "pack": "u32 w[4];\n#pragma unroll\n    for (int i = 0; i < 4; ++i) "
        '{ asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(w[i]) : "f"(v[2*i+1]), "f"(v[2*i])); }\n'
        "    return make_uint4(w[0], w[1], w[2], w[3]);",
        "to_f": "h2f({e})",
        "from_f": "f2h({e})",
    },
    "bf16": {
        "T": "u16",
        "unpack": "const u32 w[4] = {r.x, r.y, r.z, r.w};\n#pragma unroll\n"
        "    for (int i = 0; i < 4; ++i) { v[2*i] = __uint_as_float(w[i] << 16); "
        "v[2*i+1] = __uint_as_float(w[i] & 0xffff0000u); }",
        "pack": "u32 w[4];\n#pragma unroll\n    for (int i = 0; i < 4; ++i) "
        "{ w[i] = (u32)f2b(v[2*i]) | ((u32)f2b(v[2*i+1]) << 16); }\n"
        "    return make_uint4(w[0], w[1], w[2], w[3]);",
        "to_f": "b2f({e})",
        "from_f": "f2b({e})",
    },
    "int8": {
        "T": "signed char",
        "unpack": "const u32 w[4] = {r.x, r.y, r.z, r.w};\n#pragma unroll\n"
        "    for (int i = 0; i < 16; ++i) { v[i] = (float)(int)(signed char)((w[i / 4] >> (8 * (i % 4))) & 0xffu) "
        "* in_scale; }",
        "pack": "u32 w[4] = {0u, 0u, 0u, 0u};\n#pragma unroll\n"
        "    for (int i = 0; i < 16; ++i) { w[i / 4] |= ((u32)(quant(v[i], inv_out_scale) & 0xff)) << (8 * (i % 4)); }\n"
        "    return make_uint4(w[0], w[1], w[2], w[3]);",
        "to_f": "((float)({e}) * in_scale)",
        "from_f": "((signed char)quant({e}, inv_out_scale))",
    },
}

_QUANT = f"""
__device__ __forceinline__ int quant(float y, float inv_out_scale) {{  // symmetric int8, half to even
    // clamp after rounding: cvt.rni saturates huge values and turns NaN into 0 (as numpy does on x86)
    return min(max(__float2int_rn(y * inv_out_scale), -{INT8_QMAX}), {INT8_QMAX});
}}
"""


def _weight_code(spec: KernelSpec, vec: int) -> tuple[str, str]:
    """Code to read one weight as float (`WLOAD(ptr, i)`) and VEC consecutive weights (`wload_vec`)."""
    wt = "float" if spec.precision in ("fp32", "int8") else "u16"
    if wt == "float":
        one = "#define WLOAD(p, i) __ldg((const float*)(p) + (i))\n"
        loads = "\n".join(
            f"    {{ const uint4 r = ld_weights((const float*)p + i0 + {4 * q}); "
            f"w[{4 * q}] = __uint_as_float(r.x); w[{4 * q + 1}] = __uint_as_float(r.y); "
            f"w[{4 * q + 2}] = __uint_as_float(r.z); w[{4 * q + 3}] = __uint_as_float(r.w); }}"
            for q in range(vec // 4)
        )
    else:
        conv = "h2f" if spec.precision == "fp16" else "b2f"
        one = f"#define WLOAD(p, i) {conv}(__ldg((const unsigned short*)(p) + (i)))\n"
        lo, hi = (
            ("h2f((u16)(u[i] & 0xffffu))", "h2f((u16)(u[i] >> 16))")
            if spec.precision == "fp16"
            else ("__uint_as_float(u[i] << 16)", "__uint_as_float(u[i] & 0xffff0000u)")
        )
        loads = (
            "    const uint4 r = ld_weights((const u16*)p + i0);\n"
            "    const u32 u[4] = {r.x, r.y, r.z, r.w};\n"
            f"#pragma unroll\n    for (int i = 0; i < 4; ++i) {{ w[2*i] = {lo}; w[2*i+1] = {hi}; }}"
        )
    vec_fn = f"__device__ __forceinline__ void wload_vec(const void* p, IDX i0, float (&w)[VEC]) {{\n{loads}\n}}\n"
    return one, vec_fn


def _apply_vector(spec: KernelSpec) -> str:
    """Body applying the op to `float v[VEC]` of vector `vi` (index in vectors)."""
    p = not spec.power_is_one
    if spec.mode == "uniform":
        return "#pragma unroll\n        for (int j = 0; j < VEC; ++j) v[j] = op(v[j], s0, b0, p0);"
    if spec.mode == "channel" and spec.vector_weights:
        return (
            "const IDX q = DIV(vi, d1, m1, s1); const IDX c = q - DIV(q, d2, m2, s2) * (IDX)d2;\n"
            "        const float s = WLOAD(scale, c), b = WLOAD(shift, c)"
            + (", pw = WLOAD(power, c);" if p else "; const float pw = 1.0f;")
            + "\n#pragma unroll\n        for (int j = 0; j < VEC; ++j) v[j] = op(v[j], s, b, pw);"
        )
    if spec.mode == "elementwise" and spec.vector_weights:
        return (
            "const IDX k0 = (vi - DIV(vi, d1, m1, s1) * (IDX)d1) * VEC;\n"
            "        float s[VEC], b[VEC], pw[VEC];\n"
            "        wload_vec(scale, k0, s); wload_vec(shift, k0, b);"
            + (
                " wload_vec(power, k0, pw);"
                if p
                else "\n#pragma unroll\n        for (int j = 0; j < VEC; ++j) pw[j] = 1.0f;"
            )
            + "\n#pragma unroll\n        for (int j = 0; j < VEC; ++j) v[j] = op(v[j], s[j], b[j], pw[j]);"
        )
    # per-lane weights: compute the first lane's index, step the others
    return "IDX_STATE_INIT(vi * VEC)\n#pragma unroll\n        for (int j = 0; j < VEC; ++j) { APPLY_STEP(v[j]) }"


def _index_state(spec: KernelSpec) -> str:
    """Macros for per-element weight indices: init from element e, use, advance to e + 1."""
    p = not spec.power_is_one
    pw = "WLOAD(power, WI)" if p else "1.0f"
    if spec.mode == "uniform":
        return "#define IDX_STATE_INIT(e)\n#define APPLY_STEP(x) x = op(x, s0, b0, p0);\n"
    if spec.mode == "channel":
        # d1 is the inner size in elements here (vector_weights is False or this is the scalar tail)
        init = "IDX q_ = DIV((e), D1E, M1E, S1E); IDX r_ = (e) - q_ * (IDX)D1E; IDX c_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2;"
        step = f"{{ const IDX WI = c_; x = op(x, WLOAD(scale, WI), WLOAD(shift, WI), {pw}); }} if (++r_ == (IDX)D1E) {{ r_ = 0; if (++c_ == (IDX)d2) c_ = 0; }}"
    else:
        init = "IDX k_ = (e) - DIV((e), D1E, M1E, S1E) * (IDX)D1E;"
        step = f"{{ const IDX WI = k_; x = op(x, WLOAD(scale, WI), WLOAD(shift, WI), {pw}); }} if (++k_ == (IDX)D1E) k_ = 0;"
    return f"#define IDX_STATE_INIT(e) {init}\n#define APPLY_STEP(x) {step}\n"


def kernel_source(spec: KernelSpec) -> str:
    """The complete CUDA C++ source of one kernel variant, named `KERNEL_NAME`."""
    prec = _FLOAT_PREC[spec.precision]
    vec = vector_width(spec.precision)
    streaming = spec.cache_hint == "streaming"
    common = _COMMON.replace("LDHINT", "cs" if streaming else "nc").replace("STHINT", "cs" if streaming else "wb")
    wone, wvec = _weight_code(spec, vec)
    idx = "u64" if spec.index64 else "u32"
    div = (
        "#define DIV(n, d, m, s) ((IDX)(n) / (IDX)(d))\n"
        if spec.index64
        else "#define DIV(n, d, m, s) fdiv32((u32)(n), (m), (s))\n"
    )
    # the scalar paths index elements; with vector weights d1 is in vectors, so scale it back
    if spec.vector_weights and spec.mode != "uniform":
        elem_div = "#define D1E (d1 * VEC)\n#define M1E m1e\n#define S1E s1e\n"
    else:
        elem_div = "#define D1E d1\n#define M1E m1\n#define S1E s1\n"
    pow_line = "" if spec.power_is_one else "    y = powf(y, p);\n"
    weights_prologue = (
        "    const float s0 = WLOAD(scale, 0), b0 = WLOAD(shift, 0)"
        + (", p0 = WLOAD(power, 0);\n" if not spec.power_is_one else ", p0 = 1.0f;\n")
        if spec.mode == "uniform"
        else ""
    )
    # magic numbers for the element-unit divisor when d1 is in vectors (only the tail path needs them)
    elem_magic = (
        "    const u32 m1e = m1e_arg, s1e = s1e_arg;\n" if spec.vector_weights and spec.mode != "uniform" else ""
    )
    ro = "const signed char" if spec.precision == "int8" else f"const {prec['T']}"
    body_vec = _apply_vector(spec)
    return f"""// generated by bench/gpu/kernels.py: {spec}
{common}
{_QUANT if spec.precision == "int8" else ""}
typedef {idx} IDX;
#define VEC {vec}
#define BLOCK {spec.block}
#define UNROLL {spec.unroll}
{div}{elem_div}{wone}
{wvec}
__device__ __forceinline__ float op(float x, float s, float b, float p) {{
    float y = fmaf(x, s, b);
{pow_line}    return y;
}}
__device__ __forceinline__ void unpack(const uint4 r, float (&v)[VEC], float in_scale) {{
    {prec["unpack"]}
}}
__device__ __forceinline__ uint4 pack(const float (&v)[VEC], float inv_out_scale) {{
    {prec["pack"]}
}}
{_index_state(spec)}
extern "C" __global__ void __launch_bounds__(BLOCK) {KERNEL_NAME}(
    {ro}* __restrict__ x, {prec["T"]}* __restrict__ y,
    const void* __restrict__ shift, const void* __restrict__ scale, const void* __restrict__ power,
    u64 nvec, u32 tail, u64 d1, u32 m1, u32 s1, u64 d2, u32 m2, u32 s2, u32 m1e_arg, u32 s1e_arg,
    float in_scale, float inv_out_scale)
{{
{weights_prologue}{elem_magic}    const IDX n = (IDX)nvec;
    const uint4* __restrict__ xv = (const uint4*)x;
    uint4* __restrict__ yv = (uint4*)y;
    for (IDX base = (IDX)blockIdx.x * (BLOCK * UNROLL) + threadIdx.x; base < n;
         base += (IDX)gridDim.x * (BLOCK * UNROLL)) {{
        uint4 r[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {{
            const IDX vi = base + (IDX)u * BLOCK;
            if (vi < n) r[u] = ld_vec(xv + vi);
        }}
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {{
            const IDX vi = base + (IDX)u * BLOCK;
            if (vi < n) {{
                float v[VEC];
                unpack(r[u], v, in_scale);
                {body_vec}
                st_vec(yv + vi, pack(v, inv_out_scale));
            }}
        }}
    }}
    if (blockIdx.x == 0 && threadIdx.x < tail) {{  // the last numel % VEC elements, one per thread
        const IDX e = n * VEC + threadIdx.x;
        float xs = {prec["to_f"].format(e="x[e]")};
        IDX_STATE_INIT(e)
        APPLY_STEP(xs)
        y[e] = {prec["from_f"].format(e="xs")};
    }}
}}
"""
