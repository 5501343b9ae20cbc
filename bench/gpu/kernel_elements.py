"""The pieces every Scale kernel variant shares: how one 16-byte vector and one element are loaded,
converted, quantized, packed and stored, and how weights are read. CUDA C++ as Python strings, pure
Python, no CUDA here.

`bench.gpu.kernel_source` assembles a kernel from these for one `KernelSpec`; the data kernels
(`bench.gpu.data_kernels`) take `CONVERSIONS` from here, so an input is converted exactly as the Scale
kernel converts its output. `bench.gpu.kernel_generator` hashes this module with the other two that
decide what runs.
"""

from __future__ import annotations

from bench.gpu.kernel_layout import CACHE_HINTS
from bench.precision import INT8_QMAX

# fp16/bf16 to and from float (round to nearest even): the data kernels (bench.gpu.data_kernels) use
# these very lines, so an input is converted exactly as the Scale kernel converts its output
CONVERSIONS = r"""
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
"""

COMMON = (
    r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

__device__ __forceinline__ uint4 ld_weights(const void* p) {  // small, re-read: keep them cached
    uint4 r;
    asm("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
"""
    + CONVERSIONS.lstrip("\n")
    + r"""__device__ __forceinline__ u32 fdiv32(u32 n, u32 m, u32 s) {  // n / d with d's magic numbers
    return (u32)((((u64)__umulhi(n, m)) + n) >> s);
}
__device__ __forceinline__ u32 prmt(u32 a, u32 b, u32 sel) {
    u32 d; asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel)); return d;
}
"""
)


def io_code(cache_hint: str) -> str:
    """ld_x / st_y: the 16-byte load of x and store of y with the configuration's cache hints."""
    load, store, policy = CACHE_HINTS[cache_hint]
    if policy is None:
        return (
            "#define POLICY_INIT const u64 pol_ = 0;\n"
            "__device__ __forceinline__ uint4 ld_x(const void* p, u64) {\n"
            f'    uint4 r; asm volatile("{load}.v4.u32 {{%0,%1,%2,%3}}, [%4];"\n'
            '                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));\n'
            "    return r;\n}\n"
            "__device__ __forceinline__ void st_y(void* p, uint4 v, u64) {\n"
            f'    asm volatile("{store}.v4.u32 [%0], {{%1,%2,%3,%4}};"\n'
            '                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");\n}\n'
        )
    return (
        f'#define POLICY_INIT u64 pol_; asm volatile("createpolicy.fractional.L2::{policy}.b64 %0, 1.0;" : "=l"(pol_));\n'
        "__device__ __forceinline__ uint4 ld_x(const void* p, u64 pol) {\n"
        f'    uint4 r; asm volatile("{load}.v4.u32 {{%0,%1,%2,%3}}, [%4], %5;"\n'
        '                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p), "l"(pol));\n'
        "    return r;\n}\n"
        "__device__ __forceinline__ void st_y(void* p, uint4 v, u64 pol) {\n"
        f'    asm volatile("{store}.v4.u32 [%0], {{%1,%2,%3,%4}}, %5;"\n'
        '                 :: "l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w), "l"(pol) : "memory");\n}\n'
    )


# Per precision: storage type, unpack (uint4 -> VEC floats), pack (VEC floats -> uint4), and the scalar
# element conversions of the tail and the direct variant.
FLOAT_PREC = {
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
        # code c -> float: 0x4B000000 | (c ^ 0x80) is the float 2**23 + c + 128, exactly; subtract.
        "unpack": "const u32 w[4] = {r.x ^ 0x80808080u, r.y ^ 0x80808080u, r.z ^ 0x80808080u, r.w ^ 0x80808080u};\n"
        "#pragma unroll\n"
        "    for (int i = 0; i < 16; ++i) "
        "{ v[i] = (__uint_as_float(prmt(w[i / 4], 0x4B000000u, 0x7540u | (i % 4))) - 8388736.0f) * in_scale; }",
        # low bytes of four codes-as-float-bits -> one word (three byte permutes)
        "pack": "u32 q[16];\n#pragma unroll\n    for (int i = 0; i < 16; ++i) q[i] = quant_bits(v[i], inv_out_scale);\n"
        "    u32 w[4];\n#pragma unroll\n"
        "    for (int i = 0; i < 4; ++i) "
        "{ w[i] = prmt(prmt(q[4*i], q[4*i+1], 0x0040u), prmt(q[4*i+2], q[4*i+3], 0x0040u), 0x5410u); }\n"
        "    return make_uint4(w[0], w[1], w[2], w[3]);",
        "to_f": "((float)({e}) * in_scale)",
        "from_f": "((signed char)quant({e}, inv_out_scale))",
    },
}


def precision_code(precision: str, fold: bool) -> dict[str, str]:
    """`FLOAT_PREC`'s entry for ``precision``; folded int8 neither scales its codes on the way in nor on
    the way out (the weights carry both scales: `bench.gpu.kernel_source.folds`)."""
    prec = dict(FLOAT_PREC[precision])
    if fold:
        prec["unpack"] = prec["unpack"].replace(") * in_scale; }", "); }")
        prec["to_f"] = "((float)({e}))"
    return prec


def fold_code(fold: bool) -> str:
    """FOLD_S / FOLD_B: a weight as the kernel applies it (the identity unless folded)."""
    if fold:
        return "#define FOLD_S(s) ((in_scale * (s)) * inv_out_scale)\n#define FOLD_B(b) ((b) * inv_out_scale)\n"
    return "#define FOLD_S(s) (s)\n#define FOLD_B(b) (b)\n"


def quant_code(nan_safe: bool, fold: bool) -> str:
    nan = "    t = (t == t) ? t : 0.0f;  // NaN -> 0, as cvt.rni makes it\n" if nan_safe else ""
    scaled = "y" if fold else "y * inv_out_scale"  # folded: y is already in output codes
    first = "float t = y;" if fold else "float t = __fmul_rn(y, inv_out_scale);"
    return f"""
__device__ __forceinline__ int quant(float y, float inv_out_scale) {{  // symmetric int8, half to even
    // clamp after rounding: cvt.rni saturates huge values and turns NaN into 0 (as numpy does on x86)
    return min(max(__float2int_rn({scaled}), -{INT8_QMAX}), {INT8_QMAX});
}}
__device__ __forceinline__ u32 quant_bits(float y, float inv_out_scale) {{  // quant(), low byte of the result
    {first}
{nan}    t = fminf(fmaxf(t, -{INT8_QMAX}.0f), {INT8_QMAX}.0f);
    return __float_as_uint(__fadd_rn(t, 12582912.0f));  // 1.5 * 2**23: rounds to an integer, ties to even
}}
"""


def weight_code(precision: str, vec: int) -> str:
    """WLOAD(ptr, i): one weight as float; wload_vec: VEC consecutive weights from a vector-aligned index."""
    if precision in ("fp32", "int8"):
        one = "#define WLOAD(p, i) __ldg((const float*)(p) + (i))\n"
        loads = "\n".join(
            f"    {{ const uint4 r = ld_weights((const float*)p + i0 + {4 * q}); "
            f"w[{4 * q}] = __uint_as_float(r.x); w[{4 * q + 1}] = __uint_as_float(r.y); "
            f"w[{4 * q + 2}] = __uint_as_float(r.z); w[{4 * q + 3}] = __uint_as_float(r.w); }}"
            for q in range(vec // 4)
        )
    else:
        conv = "h2f" if precision == "fp16" else "b2f"
        one = f"#define WLOAD(p, i) {conv}(__ldg((const unsigned short*)(p) + (i)))\n"
        lo, hi = (
            ("h2f((u16)(u[i] & 0xffffu))", "h2f((u16)(u[i] >> 16))")
            if precision == "fp16"
            else ("__uint_as_float(u[i] << 16)", "__uint_as_float(u[i] & 0xffff0000u)")
        )
        loads = (
            "    const uint4 r = ld_weights((const u16*)p + i0);\n"
            "    const u32 u[4] = {r.x, r.y, r.z, r.w};\n"
            f"#pragma unroll\n    for (int i = 0; i < 4; ++i) {{ w[2*i] = {lo}; w[2*i+1] = {hi}; }}"
        )
    return one + f"__device__ __forceinline__ void wload_vec(const void* p, IDX i0, float (&w)[VEC]) {{\n{loads}\n}}\n"
