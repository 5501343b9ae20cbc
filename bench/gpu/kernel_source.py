"""CUDA C++ source of the Scale op, y = (x * scale + shift) ** power, for one launch layout.

Pure Python: nothing here needs CUDA, so the source of every variant is tested on the CPU (and compiled
there when NVRTC is installed). `bench.gpu.kernel_layout` decides how a launch reads its tensor and
weights; this module writes the kernel that does it, one source per `KernelSpec`, from the pieces of
`bench.gpu.kernel_elements` (loads, stores, conversions, int8 quantization, weight reads). One family
of kernels, one arithmetic: every configuration computes bit for bit the same output.

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
- `bench.gpu.kernel_generator.generator_hash` names this module's code, its pieces' and the launch
  arithmetic's: a tuning decision is valid only for the launches and source it timed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.gpu import kernel_elements as E
from bench.gpu.kernel_layout import (
    WEIGHT_KINDS,
    KernelConfig,
    ScaleLayout,
    effective_config,
    vector_width,
)
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
            + (" for (int j = 0; j < VEC; ++j) { ws[j] = FOLD_S(ws[j]); wb[j] = FOLD_B(wb[j]); }" if spec.fold else "")
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
    prec = E.precision_code(spec.precision, spec.fold)
    vec = vector_width(spec.precision)
    div = (
        "#define DIV(n, d, m, s) ((IDX)(n) / (IDX)(d))\n"
        if spec.index64
        else "#define DIV(n, d, m, s) fdiv32((u32)(n), (m), (s))\n"
    )
    pow_line = "" if spec.power_is_one else "    y = powf(y, p);\n"
    return f"""// generated by bench/gpu/kernel_source.py ({FAMILY}): {spec}
{E.COMMON}
{E.io_code(spec.cache)}
typedef {"u64" if spec.index64 else "u32"} IDX;
#define VEC {vec}
#define BLOCK {spec.block}
#define VPT {spec.vpt}
#define UPOW {"1.0f" if spec.power_is_one else "u_power"}
{div}{E.weight_code(spec.precision, vec)}{E.fold_code(spec.fold)}
{E.quant_code(spec.nan_safe, spec.fold) if spec.precision == "int8" else ""}
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
    st = E.FLOAT_PREC[spec.precision]["T"]
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
    prec = E.precision_code(spec.precision, spec.fold)
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
