"""CUDA C++ source of the Scale op, y = (x * scale + shift) ** power, for one launch layout.

Pure Python: nothing here needs CUDA, so the source of every variant is tested on the CPU (and compiled
there when NVRTC is installed). `bench.gpu.kernel_layout` decides how a launch reads its tensor and
weights; this module writes the kernel that does it, one source per `KernelSpec`. One family of
kernels, one arithmetic: every configuration computes bit for bit the same output.

- **Arithmetic** is fp32 (one `fmaf`, `powf` only when some power is not 1). int8 is int8 codes in and
  out, y_q = clamp(rint(((x_q * in_scale) * scale + shift) ** power * (1 / out_scale)), -127, 127),
  round-half-to-even, fp32 weights. int8 with every power 1 folds the scales into the weights instead
  (`folds`): y_q = clamp(rint(fmaf(x_q, A, B)), -127, 127) with A = (in_scale * scale) * (1 / out_scale)
  and B = shift * (1 / out_scale), made where a weight is read (once per launch for UNIFORM, per vector
  for CHANNEL, once per lane for the 'reuse' grid): two multiplies fewer per element, where int8 is bound
  by instruction issue (`reports/kernel-tuning/`). Its result lies within a few units in the last place
  of the unfolded one before rounding, so a code can differ by one where the exact value sits on a
  half, inside int8's tolerance of one step. Its vector path converts without the conversion unit (16
  conversions per clock per SM on Hopper by the CUDA programming guide's throughput table, against 128
  fp32 operations; with two per element, int8 UNIFORM in blocks of 1024 ran at 96.9% of the copy on an
  H100, without them at 99.0%, and at 100.6% in blocks of 512): a code becomes a float by placing its
  byte in a float's mantissa (`prmt`) and subtracting the offset (exact), and a clamped float becomes
  a code by adding 1.5 * 2**23 (the FADD rounds to the nearest integer, ties to even, exactly as
  `cvt.rni`) and taking the low byte. NaN, which only a power or a
  non-finite weight can make, becomes 0 as `cvt.rni` makes it (`nan_safe`).
- Divisions by run-time sizes use the magic numbers of `kernel_layout.magic_divider` (`fdiv32`), or
  plain 64-bit division for tensors of 2^31 elements or more.
- No CUDA header is included, so NVRTC compiles the source anywhere.
- `bench.gpu.kernel_generator.generator_hash` names this module's text and the launch arithmetic's: a
  tuning decision is valid only for the launches and source it timed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.gpu.kernel_layout import (
    CACHE_HINTS,
    WEIGHT_KINDS,
    KernelConfig,
    ScaleLayout,
    effective_config,
    vector_width,
)
from bench.precision import INT8_QMAX
from bench.precision import info as precision_info

KERNEL_NAME = "scale_kernel"
FAMILY = "scale-v2"  # the kernel family's name; the tuning store also keys on kernel_generator.generator_hash


@dataclass(frozen=True)
class KernelSpec:
    """Everything that changes the generated source (run-time sizes do not)."""

    precision: str
    weights: str
    power_is_one: bool
    nan_safe: bool = True  # int8: NaN -> 0 on the vector path (needed only where a NaN can arise)
    index64: bool = False
    variant: str = "vector"
    block: int = 1024
    vpt: int = 1
    reuse: bool = False
    cache: str = "default"
    fold: bool = False  # int8 with every power 1: the scales ride on the weights (`folds`)

    def __post_init__(self) -> None:
        precision_info(self.precision)
        if self.fold and not (self.precision == "int8" and self.power_is_one):
            raise ValueError("fold needs int8 and every power 1")
        if self.weights not in WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHT_KINDS)}, got {self.weights!r}")
        KernelConfig(self.variant, self.block, self.vpt, "reuse" if self.reuse else "oneshot", self.cache)
        if self.reuse and self.weights not in ("channel", "periodic"):
            raise ValueError(f"reuse needs channel or periodic weights, got {self.weights!r}")


def kernel_spec(layout: ScaleLayout, config: KernelConfig, power_is_one: bool, nan_safe: bool = True) -> KernelSpec:
    """The source variant that runs ``config`` (made effective for the layout) on ``layout``."""
    cfg = effective_config(layout, config)
    return KernelSpec(
        layout.precision,
        layout.weights,
        power_is_one,
        nan_safe=nan_safe or not power_is_one,
        index64=layout.index64,
        variant=cfg.variant,
        block=cfg.block,
        vpt=cfg.vpt,
        reuse=cfg.grid == "reuse",
        cache=cfg.cache,
        fold=folds(layout.precision, power_is_one),
    )


def folds(precision: str, power_is_one: bool) -> bool:
    """Whether a point's kernels fold the int8 scales into the weights: a rule of the point (every launch
    of one point computes the same bits). It saves two multiplies per element and costs three per
    weight made: once per launch (UNIFORM), per vector (CHANNEL), or per element read (ELEMENTWISE), which
    the 'reuse' grid spreads over its vectors and which hides behind the weights' own memory traffic
    where no reuse is possible."""
    return precision == "int8" and power_is_one


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

_COMMON = (
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


def _io_code(cache_hint: str) -> str:
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


def folded(spec: KernelSpec) -> bool:
    """The codes go in and come out unscaled: A = (in_scale * scale) * (1 / out_scale) and B = shift *
    (1 / out_scale) are made per weight (`folds`; module docstring)."""
    return spec.fold


def _precision_code(spec: KernelSpec) -> dict[str, str]:
    """`_FLOAT_PREC`'s entry for the spec's precision; folded int8 neither scales its codes on the way in
    nor on the way out (the weights carry both scales)."""
    prec = dict(_FLOAT_PREC[spec.precision])
    if folded(spec):
        prec["unpack"] = prec["unpack"].replace(") * in_scale; }", "); }")
        prec["to_f"] = "((float)({e}))"
    return prec


def _fold_code(spec: KernelSpec) -> str:
    """FOLD_S / FOLD_B: a weight as the kernel applies it (the identity unless `folded`)."""
    if folded(spec):
        return "#define FOLD_S(s) ((in_scale * (s)) * inv_out_scale)\n#define FOLD_B(b) ((b) * inv_out_scale)\n"
    return "#define FOLD_S(s) (s)\n#define FOLD_B(b) (b)\n"


def _quant_code(nan_safe: bool, fold: bool) -> str:
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


def _weight_code(precision: str, vec: int) -> str:
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


def _vector_weights(spec: KernelSpec) -> tuple[str, str, str]:
    """(declare, load for vector `@VI@`, apply to `v[j]`) of the weights of one vector."""
    pw = not spec.power_is_one
    w = spec.weights
    if w == "uniform":
        return "", "", "v[j] = op(v[j], FOLD_S(u_scale), FOLD_B(u_shift), UPOW);"
    if w == "channel":
        load = (
            "{ const IDX q_ = DIV(@VI@, d1, m1, s1); const IDX c_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2; "
            "ws = FOLD_S(WLOAD(scale, c_)); wb = FOLD_B(WLOAD(shift, c_));"
            + (" wp = WLOAD(power, c_);" if pw else "")
            + " }"
        )
        return "float ws, wb, wp = 1.0f;", load, "v[j] = op(v[j], ws, wb, wp);"
    decl = "float ws[VEC], wb[VEC], wp[VEC];" + (
        "" if pw else "\n#pragma unroll\n    for (int j = 0; j < VEC; ++j) wp[j] = 1.0f;"
    )
    if w == "periodic":
        load = (
            "{ const IDX k0_ = (@VI@ - DIV(@VI@, d1, m1, s1) * (IDX)d1) * VEC; wload_vec(scale, k0_, ws); "
            "wload_vec(shift, k0_, wb);"
            + (" wload_vec(power, k0_, wp);" if pw else "")
            + (
                " for (int j = 0; j < VEC; ++j) { ws[j] = FOLD_S(ws[j]); wb[j] = FOLD_B(wb[j]); }"
                if folded(spec)
                else ""
            )
            + " }"
        )
    else:  # lane kinds: the first lane's index from a division, the others stepped
        power = " wp[j] = WLOAD(power, WI_);" if pw else ""
        if w == "lane_channel":
            init = (
                "IDX q_ = DIV((@VI@) * VEC, d1e, m1e, s1e); IDX r_ = (@VI@) * VEC - q_ * (IDX)d1e; "
                "IDX WI_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2;"
            )
            step = "if (++r_ == (IDX)d1e) { r_ = 0; if (++WI_ == (IDX)d2) WI_ = 0; }"
        else:
            init = "IDX WI_ = (@VI@) * VEC - DIV((@VI@) * VEC, d1e, m1e, s1e) * (IDX)d1e;"
            step = "if (++WI_ == (IDX)d1e) WI_ = 0;"
        load = (
            f"{{ {init}\n#pragma unroll\n        for (int j = 0; j < VEC; ++j) "
            f"{{ ws[j] = FOLD_S(WLOAD(scale, WI_)); wb[j] = FOLD_B(WLOAD(shift, WI_));{power} {step} }} }}"
        )
    return decl, load, "v[j] = op(v[j], ws[j], wb[j], wp[j]);"


def _element_weight(spec: KernelSpec) -> str:
    """Statements that set float es, eb, ep to the weights of element `e` (tail and direct paths)."""
    pw = not spec.power_is_one
    w = spec.weights
    if w == "uniform":
        return "const float es = FOLD_S(u_scale), eb = FOLD_B(u_shift), ep = UPOW;"
    if w == "table":
        idx = "const IDX k_ = e;"
    elif w in ("channel", "lane_channel"):
        idx = "const IDX q_ = DIV(e, d1e, m1e, s1e); const IDX k_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2;"
    else:
        idx = "const IDX k_ = e - DIV(e, d1e, m1e, s1e) * (IDX)d1e;"
    return (
        f"{idx} const float es = FOLD_S(WLOAD(scale, k_)), eb = FOLD_B(WLOAD(shift, k_)), "
        f"ep = {'WLOAD(power, k_)' if pw else '1.0f'};"
    )


def kernel_source(spec: KernelSpec) -> str:
    """The complete CUDA C++ source of one kernel variant, named `KERNEL_NAME`: the helpers and macros
    of its precision and options, the signature, then the body of its variant."""
    body = _direct_body(spec) if spec.variant == "direct" else _vector_body(spec)
    return _header(spec) + _signature(spec) + body


def _header(spec: KernelSpec) -> str:
    """Helpers, cache-hinted loads and stores, index type, compile-time sizes, weight loads, the op and
    the (un)packing of one 16-byte vector."""
    prec = _precision_code(spec)
    vec = vector_width(spec.precision)
    div = (
        "#define DIV(n, d, m, s) ((IDX)(n) / (IDX)(d))\n"
        if spec.index64
        else "#define DIV(n, d, m, s) fdiv32((u32)(n), (m), (s))\n"
    )
    pow_line = "" if spec.power_is_one else "    y = powf(y, p);\n"
    return f"""// generated by bench/gpu/kernel_source.py ({FAMILY}): {spec}
{_COMMON}
{_io_code(spec.cache)}
typedef {"u64" if spec.index64 else "u32"} IDX;
#define VEC {vec}
#define BLOCK {spec.block}
#define VPT {spec.vpt}
#define UPOW {"1.0f" if spec.power_is_one else "u_power"}
{div}{_weight_code(spec.precision, vec)}{_fold_code(spec)}
{_quant_code(spec.nan_safe, folded(spec)) if spec.precision == "int8" else ""}
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
"""


def _signature(spec: KernelSpec) -> str:
    """The entry point's parameters (`kernel_layout.ARG_NAMES` after the five pointers) and typed x, y."""
    st = _FLOAT_PREC[spec.precision]["T"]
    return f"""extern "C" __global__ void __launch_bounds__(BLOCK) {KERNEL_NAME}(
    const void* __restrict__ x_, void* __restrict__ y_,
    const void* __restrict__ shift, const void* __restrict__ scale, const void* __restrict__ power,
    u64 nvec, u32 tail, u64 d1, u32 m1, u32 s1, u64 d2, u32 m2, u32 s2, u64 d1e, u32 m1e, u32 s1e,
    u64 stride, u32 gblocks, u32 mg, u32 sg,
    float in_scale, float inv_out_scale, float u_shift, float u_scale, float u_power)
{{
    const {st}* __restrict__ x = (const {st}*)x_;
    {st}* __restrict__ y = ({st}*)y_;
"""


def _scalar_element(spec: KernelSpec) -> str:
    """Statements that compute y[e] from x[e] one element at a time (the tail and the direct variant)."""
    prec = _precision_code(spec)
    element = _element_weight(spec)
    return f"""        const float xs_ = {prec["to_f"].format(e="x[e]")};
        {element}
        y[e] = {prec["from_f"].format(e="op(xs_, es, eb, ep)")};"""


def _direct_body(spec: KernelSpec) -> str:
    """One element per thread."""
    return f"""    const IDX e = (IDX)blockIdx.x * BLOCK + threadIdx.x;
    if (e < (IDX)nvec * VEC + tail) {{
{_scalar_element(spec)}
    }}
}}
"""


def _vector_body(spec: KernelSpec) -> str:
    """VPT 16-byte vectors per thread (loaded before any is used), then the last numel % VEC elements."""
    decl, load, apply = _vector_weights(spec)
    compute = f"""float v[VEC];
                unpack(r[u], v, in_scale);
#pragma unroll
                for (int j = 0; j < VEC; ++j) {apply}
                st_y(yv + vi, pack(v, inv_out_scale), pol_);"""
    loop = _reuse_loop(decl, load, compute) if spec.reuse else _grid_stride_loop(decl, load, compute)
    return f"""    POLICY_INIT
    const IDX n = (IDX)nvec;
    const uint4* __restrict__ xv = (const uint4*)x_;
    uint4* __restrict__ yv = (uint4*)y_;
{loop}    if (blockIdx.x == gridDim.x - 1 && threadIdx.x >= BLOCK - tail) {{  // the last numel % VEC elements
        const IDX e = n * VEC + (threadIdx.x - (BLOCK - tail));
{_scalar_element(spec)}
    }}
}}
"""


def _reuse_loop(decl: str, load: str, compute: str) -> str:
    """The 'reuse' grid: a thread reads its lane's weights once for its VPT vectors, one stride apart."""
    return f"""    {{  // reuse: this thread's VPT vectors are `stride` apart, a multiple of the weight period
        const u32 g = fdiv32(blockIdx.x, mg, sg);
        const IDX lane = (IDX)(blockIdx.x - g * gblocks) * BLOCK + threadIdx.x;
        if (lane < (IDX)stride) {{
            {decl}
            {load.replace("@VI@", "lane")}
            const IDX first = (IDX)g * VPT;
            uint4 r[VPT];
#pragma unroll
            for (int u = 0; u < VPT; ++u) {{
                const IDX vi = (first + u) * (IDX)stride + lane;
                if (vi < n) r[u] = ld_x(xv + vi, pol_);
            }}
#pragma unroll
            for (int u = 0; u < VPT; ++u) {{
                const IDX vi = (first + u) * (IDX)stride + lane;
                if (vi < n) {{
                {compute}
                }}
            }}
        }}
    }}
"""


def _grid_stride_loop(decl: str, load: str, compute: str) -> str:
    """The 'oneshot' and 'persistent' grids: blocks of BLOCK * VPT vectors, striding over the grid."""
    return f"""    for (IDX base = (IDX)blockIdx.x * (BLOCK * VPT) + threadIdx.x; base < n;
         base += (IDX)gridDim.x * (BLOCK * VPT)) {{
        uint4 r[VPT];
#pragma unroll
        for (int u = 0; u < VPT; ++u) {{
            const IDX vi = base + (IDX)u * BLOCK;
            if (vi < n) r[u] = ld_x(xv + vi, pol_);
        }}
#pragma unroll
        for (int u = 0; u < VPT; ++u) {{
            const IDX vi = base + (IDX)u * BLOCK;
            if (vi < n) {{
                {decl}
                {load.replace("@VI@", "vi")}
                {compute}
            }}
        }}
    }}
"""
