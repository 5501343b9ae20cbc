"""CUDA kernels that make a point's input and judge its output on the GPU, and thin wrappers that launch them.

They are the device twins of host code, bit for bit where bits are defined:
- `make_input`: bench.inputs' generators (random, arange, zeros) in float32, then the storage cast the
  host path does (bench.problem.make_problem): fp16 and bf16 round to nearest even, int8 is quantized with
  the per-tensor scale amax / 127 in float64 (``clip(rint(x / scale), -127, 127)``), the amax a reduction
  (max is order independent, so the GPU's equals NumPy's).
- `DeviceReference`: bench.reference's float64 reference, element by element from the input as stored
  and the weights as the backend receives them (``(x * scale) + shift``, two roundings, no fused
  multiply-add, then ``pow`` where a power is not 1), its largest finite |value| (int8's output scale and
  the float tolerance) and the largest |output - expected| with bench.problem's NaN rules. The reference
  is recomputed in the comparison rather than stored: a 67M-element tensor's float64 reference would be
  another 512 MiB of device memory. CUDA's double ``pow`` is within 2 ulp, the host's libm within 1: with
  a power other than 1 the two references may differ in the last bits.
- `bytes_differ`: how many bytes of two buffers differ (the memcpy backend's check).

Like bench.gpu.kernel_source, the sources include no CUDA header, so NVRTC compiles them on any machine (the
tests compile every one on a CPU). Every launch goes through bench.gpu.cuda; results come back through a
small device buffer, downloaded (which waits for the stream).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bench import inputs, reference
from bench.gpu.kernel_elements import CONVERSIONS
from bench.precision import PRECISIONS, scale_of_amax

if TYPE_CHECKING:
    from bench.gpu.cuda import DeviceBuffer, Kernel, Stream

KINDS = ("random", "arange", "zeros")
WEIGHT_PRECISIONS = ("fp32", "fp16", "bf16")  # what shift/scale/power are stored as (int8 points: fp32)
OPTIONS = ("--fmad=false",)  # no contraction: a * b + c rounds twice, as NumPy computes it
BLOCK = 256
MAX_BLOCKS = 8192

_TYPES = {"fp32": "float", "fp16": "u16", "bf16": "u16", "int8": "signed char"}
_TO_FLOAT = {"fp32": "({e})", "fp16": "h2f({e})", "bf16": "b2f({e})"}

_COMMON = (
    r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

"""
    + CONVERSIONS.lstrip("\n")
    + r"""// int8 quantization of a real value with a float64 scale: clip(rint(v / scale), -127, 127)
__device__ __forceinline__ double quant(double v, double scale) {
    return fmin(fmax(rint(__ddiv_rn(v, scale)), -127.0), 127.0);
}
// the largest of many non-negative doubles: their bit patterns order like their values
__device__ __forceinline__ void reduce_max(u64* dst, u64 bits) {
    for (int off = 16; off > 0; off >>= 1) {
        u64 other = __shfl_xor_sync(0xffffffffu, bits, off);
        bits = other > bits ? other : bits;
    }
    if ((threadIdx.x & 31) == 0 && bits != 0ull) atomicMax(dst, bits);
}
#define GRID_STRIDE(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)
"""
)


def _value_code(kind: str) -> str:
    """``float value_at(u64 i, u32 key)``: element i of the data spec, as bench.inputs defines it."""
    if kind == "random":
        body = f"""
    const u32 hi = (u32)(i >> 32), lo = (u32)i * {inputs.INDEX_MUL:#x}u;
    int total = 0;
#pragma unroll
    for (u32 d = 0; d < {inputs.DRAWS}u; ++d) {{
        const u32 h = fmix32(lo ^ fmix32(key + (d + 1u) * {inputs.DRAW_STEP:#x}u + hi * {inputs.HIGH_MUL:#x}u));
        total += (int)(h & {inputs.HALF_MASK:#x}u) + (int)(h >> 16);
    }}
    return __int2float_rn(total - {inputs.CENTRE}) * {2.0**-inputs.SCALE_LOG2!r}f;  // both exact"""
    elif kind == "arange":
        body = "\n    return __fadd_rn(__ull2float_rn(i), 1.0f);  // float32(float32(i) + 1), as NumPy fills it"
    elif kind == "zeros":
        body = "\n    return 0.0f;"
    else:
        raise ValueError(f"data.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return f"""
__device__ __forceinline__ u32 fmix32(u32 h) {{
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16; return h;
}}
__device__ __forceinline__ float value_at(u64 i, u32 key) {{{body}
}}
"""


@functools.cache
def input_source(kind: str, precision: str) -> str:
    """Kernels `make_input` (element i of the spec, stored in ``precision``) and, for int8, `input_amax`
    (the largest |value|, as float32 bits, that the quantization scale is taken from)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    store = {
        "fp32": "out[i] = v;",
        "fp16": "out[i] = f2h(v);",
        "bf16": "out[i] = f2b(v);",
        "int8": "out[i] = (signed char)(int)quant((double)v, in_scale);",
    }[precision]
    return (
        _COMMON
        + _value_code(kind)
        + f"""
extern "C" __global__ void make_input({_TYPES[precision]}* out, u64 n, u32 key, double in_scale) {{
    GRID_STRIDE(i, n) {{ const float v = value_at(i, key); {store} }}
}}
extern "C" __global__ void input_amax(u32* amax_bits, u64 n, u32 key) {{
    u32 m = 0u;
    GRID_STRIDE(i, n) {{ const u32 b = __float_as_uint(value_at(i, key)) & 0x7fffffffu; m = b > m ? b : m; }}
    for (int off = 16; off > 0; off >>= 1) {{ const u32 o = __shfl_xor_sync(0xffffffffu, m, off); m = o > m ? o : m; }}
    if ((threadIdx.x & 31) == 0 && m != 0u) atomicMax(amax_bits, m);
}}
"""
    )


@functools.cache
def reference_source(precision: str, weight_precision: str, power: bool) -> str:
    """Kernels `reference_amax` (largest finite |reference|) and `max_error` (largest |output - expected|
    and whether a difference was NaN) for an input and output stored in ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if weight_precision not in WEIGHT_PRECISIONS:
        raise ValueError(f"weights are stored as one of {', '.join(WEIGHT_PRECISIONS)}, got {weight_precision!r}")
    t, w = _TYPES[precision], _TYPES[weight_precision]
    load = "(double)x[i] * in_scale" if precision == "int8" else f"(double){_TO_FLOAT[precision].format(e='x[i]')}"
    got = "(double)out[i] * out_scale" if precision == "int8" else f"(double){_TO_FLOAT[precision].format(e='out[i]')}"
    # int8: a NaN reference quantizes to code 0, as the host's quantize casts it (and the kernel writes it)
    expect = "isnan(r) ? 0.0 : quant(r, out_scale) * out_scale" if precision == "int8" else "r"
    wf = _TO_FLOAT[weight_precision]
    pw = f"\n    y = pow(y, (double){wf.format(e='power[k]')});" if power else ""
    return (
        _COMMON
        + f"""
struct Weights {{ const {w}* shift; const {w}* scale; const {w}* power; u64 inner; u64 modulus; }};
#define WEIGHT_PARAMS const {w}* shift, const {w}* scale, const {w}* power, u64 inner, u64 modulus
#define WEIGHTS Weights{{shift, scale, power, inner, modulus}}
// the float64 reference of element i: weights at (i / inner) % modulus (UNIFORM: 1, 1; CHANNEL: the
// product of the dims after the axis, the axis's size; ELEMENTWISE: 1, the product of dims from the axis)
__device__ __forceinline__ double reference_at(const {t}* x, u64 i, double in_scale, const Weights& wt) {{
    const u64 k = (i / wt.inner) % wt.modulus;
    const {w}* power = wt.power;
    double y = __dadd_rn(__dmul_rn({load}, (double){wf.format(e="wt.scale[k]")}), (double){wf.format(e="wt.shift[k]")});{pw}
    (void)power;
    return y;
}}
extern "C" __global__ void reference_amax(u64* amax_bits, const {t}* x, u64 n, double in_scale, WEIGHT_PARAMS) {{
    const Weights wt = WEIGHTS;
    u64 m = 0ull;
    GRID_STRIDE(i, n) {{
        const double r = fabs(reference_at(x, i, in_scale, wt));
        if (isfinite(r)) {{ const u64 b = (u64)__double_as_longlong(r); m = b > m ? b : m; }}
    }}
    reduce_max(amax_bits, m);
}}
// result[0]: the largest |got - expected| (bits); result[1]: 1 where a difference was NaN (inf - inf)
extern "C" __global__ void max_error(u64* result, const {t}* out, const {t}* x, u64 n, double in_scale,
                                     double out_scale, WEIGHT_PARAMS) {{
    const Weights wt = WEIGHTS;
    u64 m = 0ull;
    bool nan_diff = false;
    GRID_STRIDE(i, n) {{
        const double r = reference_at(x, i, in_scale, wt);
        const double e = {expect};
        const double g = {got};
        const bool gn = isnan(g), en = isnan(e);
        double d;
        if (gn && en) d = 0.0;                                         // NaN in both agrees
        else if (gn || en) d = __longlong_as_double(0x7ff0000000000000ll);  // NaN in one: infinite error
        else d = fabs(__dsub_rn(g, e));
        if (isnan(d)) nan_diff = true;
        else {{ const u64 b = (u64)__double_as_longlong(d); m = b > m ? b : m; }}
    }}
    reduce_max(&result[0], m);
    if (__any_sync(0xffffffffu, nan_diff) && (threadIdx.x & 31) == 0) atomicOr(&result[1], 1ull);
}}
"""
    )


BYTES_SOURCE = (
    _COMMON
    + r"""
extern "C" __global__ void bytes_differ(u64* count, const unsigned char* a, const unsigned char* b, u64 n) {
    u64 c = 0ull;
    GRID_STRIDE(i, n) { c += a[i] != b[i]; }
    for (int off = 16; off > 0; off >>= 1) c += __shfl_xor_sync(0xffffffffu, c, off);
    if ((threadIdx.x & 31) == 0 && c != 0ull) atomicAdd(count, c);
}
"""
)


def all_sources() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every source this module can launch, with a kernel name it defines and its NVRTC options."""
    out = [(input_source(k, p), "make_input", OPTIONS) for k in KINDS for p in PRECISIONS]
    out += [
        (reference_source(p, w, power), "max_error", OPTIONS)
        for p in PRECISIONS
        for w in WEIGHT_PRECISIONS
        for power in (False, True)
    ]
    return [*out, (BYTES_SOURCE, "bytes_differ", OPTIONS)]


# --- launching (bench.gpu.cuda does the CUDA calls) --------------------------------------------------


def _kernel(source: str, name: str, arch: str) -> Kernel:
    from bench.gpu import kernel_cache

    return kernel_cache.compile_kernel(source, name, arch, OPTIONS)


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, -(-n // BLOCK)))


def _launch(kernel: Kernel, n: int, args: Sequence[tuple[object, type]], stream: Stream) -> None:
    from bench.gpu import cuda

    if n == 0:
        return
    cuda.clear_last_error()
    kernel.bind(_grid(n), BLOCK, args)(stream)
    cuda.check_last_error(kernel.name)


def _scratch(nbytes: int, stream: Stream) -> DeviceBuffer:
    from bench.gpu import cuda

    buf = cuda.DeviceBuffer(nbytes)
    cuda.memset_async(buf.ptr, 0, nbytes, stream)
    return buf


def _u64s(buf: DeviceBuffer, count: int, stream: Stream) -> np.ndarray:
    return buf.download(np.zeros(count, dtype=np.uint64), stream)


_P = ctypes.c_void_p
_U64 = ctypes.c_uint64
_U32 = ctypes.c_uint32
_F64 = ctypes.c_double


def input_amax(kind: str, seed: int, numel: int, arch: str, stream: Stream) -> float:
    """The largest |value| of the data spec's float32 input (what int8's input scale comes from)."""
    key = inputs.seed_key(seed)
    with _scratch(4, stream) as bits:
        kernel = _kernel(input_source(kind, "int8"), "input_amax", arch)
        _launch(kernel, numel, [(bits.ptr, _P), (numel, _U64), (key, _U32)], stream)
        raw = bits.download(np.zeros(1, dtype=np.uint32), stream)
    return float(raw.view(np.float32)[0])


def make_input(
    kind: str, seed: int, numel: int, precision: str, arch: str, stream: Stream
) -> tuple[DeviceBuffer, float | None]:
    """A new device buffer holding the data spec's input stored in ``precision``, and int8's input scale
    (None for float precisions). The caller owns the buffer."""
    from bench.gpu import cuda

    itemsize = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}[precision]
    buf = cuda.DeviceBuffer(numel * itemsize)  # first: where a caller's primed throwaway just was
    try:
        in_scale = scale_of_amax(input_amax(kind, seed, numel, arch, stream)) if precision == "int8" else None
        kernel = _kernel(input_source(kind, precision), "make_input", arch)
        args = [(buf.ptr, _P), (numel, _U64), (inputs.seed_key(seed), _U32), (in_scale or 0.0, _F64)]
        _launch(kernel, numel, args, stream)
        stream.synchronize()
    except BaseException:
        buf.free()
        raise
    return buf, in_scale


def weight_indexing(shape: Sequence[int], mode: str, channel_axis: int | None) -> tuple[int, int]:
    """(inner, modulus): element i reads weight ``(i // inner) % modulus`` (bench.reference's layouts)."""
    mode = reference.normalize_mode(mode)
    if mode == "uniform":
        return 1, 1
    axis = reference.resolve_axis(shape, channel_axis)
    if mode == "channel":
        return max(1, math.prod(shape[axis + 1 :])), max(1, int(shape[axis]))
    return 1, max(1, math.prod(shape[axis:]))


class DeviceReference:
    """The float64 reference of one point on the GPU: the input as stored (``x_ptr``, not owned), the
    weights as the backend receives them (uploaded here, freed by `close`). ``power`` None: every power is 1."""

    def __init__(
        self,
        x_ptr: int,
        precision: str,
        in_scale: float | None,
        shape: Sequence[int],
        mode: str,
        channel_axis: int | None,
        shift: np.ndarray,
        scale: np.ndarray,
        power: np.ndarray | None,
        arch: str,
        stream: Stream,
    ) -> None:
        from bench.gpu import cuda

        self.x_ptr, self.precision, self.in_scale = x_ptr, precision, in_scale or 0.0
        self.numel = math.prod(shape)
        self.stream, self.arch = stream, arch
        expected = math.prod(reference.weight_shape(shape, mode, channel_axis))
        for name, w in (("shift", shift), ("scale", scale), ("power", power)):
            if w is not None and w.size != expected:
                raise ValueError(f"{name} has {w.size} values but {mode.upper()} mode on shape "
                                 f"{'x'.join(map(str, shape))} with channel_axis {channel_axis} expects {expected}")  # fmt: skip
        inner, modulus = weight_indexing(shape, mode, channel_axis)
        self.weight_precision = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[shift.dtype.name]
        self._buffers: list[DeviceBuffer] = []
        try:
            ptrs = []
            for w in (shift, scale, power):
                if w is None:
                    ptrs.append(0)
                    continue
                buf = cuda.DeviceBuffer(w.nbytes)
                self._buffers.append(buf)
                buf.upload(np.ascontiguousarray(w), stream)
                ptrs.append(buf.ptr)
        except BaseException:
            self.close()
            raise
        self._weights = [(ptrs[0], _P), (ptrs[1], _P), (ptrs[2], _P), (inner, _U64), (modulus, _U64)]
        self._source = reference_source(precision, self.weight_precision, power is not None)
        self._ref_max: float | None = None

    def ref_max_abs(self) -> float:
        """The largest finite |reference| (0.0 where none is finite); computed once."""
        if self._ref_max is None:
            with _scratch(8, self.stream) as bits:
                kernel = _kernel(self._source, "reference_amax", self.arch)
                args = [(bits.ptr, _P), (self.x_ptr, _P), (self.numel, _U64), (self.in_scale, _F64)]
                _launch(kernel, self.numel, [*args, *self._weights], self.stream)
                self._ref_max = float(_u64s(bits, 1, self.stream).view(np.float64)[0])
        return self._ref_max

    def max_error(self, out_ptr: int, out_scale: float | None) -> float:
        """The largest |output - expected| over every element (NaN where some difference was NaN); the
        output in the point's precision at ``out_ptr``, int8 codes dequantized with ``out_scale``."""
        with _scratch(16, self.stream) as result:
            kernel = _kernel(self._source, "max_error", self.arch)
            args = [(result.ptr, _P), (out_ptr, _P), (self.x_ptr, _P), (self.numel, _U64), (self.in_scale, _F64)]
            args += [(out_scale or 0.0, _F64), *self._weights]
            _launch(kernel, self.numel, args, self.stream)
            raw = _u64s(result, 2, self.stream)
        return float("nan") if raw[1] else float(raw[:1].view(np.float64)[0])

    def close(self) -> None:
        for buf in self._buffers:
            buf.free()
        self._buffers.clear()


def bytes_differ(a_ptr: int, b_ptr: int, nbytes: int, arch: str, stream: Stream) -> int:
    """How many of ``nbytes`` bytes at ``a_ptr`` and ``b_ptr`` differ."""
    with _scratch(8, stream) as count:
        kernel = _kernel(BYTES_SOURCE, "bytes_differ", arch)
        _launch(kernel, nbytes, [(count.ptr, _P), (a_ptr, _P), (b_ptr, _P), (nbytes, _U64)], stream)
        return int(_u64s(count, 1, stream)[0])
