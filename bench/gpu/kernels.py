"""CUDA C++ source of the Scale op, y = (x * scale + shift) ** power, and its launch arithmetic.

Pure Python: nothing here needs CUDA, so the source of every variant, the index arithmetic and the
launch configuration are all tested on the CPU (and compiled there when NVRTC is installed).
`bench.gpu.cuda` compiles and launches what this module writes; `bench.gpu.tuning` picks among the
launch configurations (`KernelConfig`) by timing them on the GPU at hand.

One family of kernels, one arithmetic: every configuration computes bit for bit the same output, so
tuning can change speed and never results.

- **Layout.** `scale_layout` reduces every (shape, mode, channel axis) to one way of reading weights
  (`weights`): ``uniform`` (three scalars, passed as kernel parameters), ``channel`` (all lanes of a
  16-byte vector share one channel: one weight per vector), ``periodic`` (the weights repeat every P
  vectors and each lane reads its own, as 16-byte vectors too), ``lane_channel``/``lane_periodic``
  (the fallback: each lane's index stepped from the previous lane's) and ``table`` (the ``direct``
  variant: one weight per element). CHANNEL with an inner size that is not a multiple of the vector
  width (``channel_axis=-1``: inner size 1) is ELEMENTWISE with period inner*C in disguise: its weights
  are expanded on the host (`expand_weights`) and read as ``periodic`` vectors.
- **Vectors.** Every thread moves 16-byte vectors (4 fp32, 8 fp16/bf16, 16 int8), `vpt` of them loaded
  before any is used, so enough bytes are in flight to cover DRAM latency.
- **Grids.** ``oneshot`` (one block per block*vpt vectors), ``persistent`` (SMs x resident blocks, a
  grid-stride loop; 92-96% of the copy on the H100, so it is a pin option, not a tuning candidate) and
  ``reuse``: a thread's vpt vectors lie one weight period apart (a stride T that
  is a multiple of the period), so it reads its weights once and applies them to all of them. That is
  what lets int8 ELEMENTWISE, whose fp32 weights are 8 bytes per 1-byte element, stop re-reading its
  weights from L2 for every row of the batch.
- **Arithmetic** is fp32 (one `fmaf`, `powf` only when some power is not 1). int8 is int8 codes in and
  out, y_q = clamp(rint(((x_q * in_scale) * scale + shift) ** power * (1 / out_scale)), -127, 127),
  round-half-to-even, fp32 weights. Its vector path converts without the conversion unit (16
  conversions per clock per SM on Hopper by the CUDA programming guide's throughput table, against 128
  fp32 operations; with two per element, int8 UNIFORM in blocks of 1024 ran at 96.9% of the copy on an
  H100, without them at 99.0%, and at 100.6% in blocks of 512): a code becomes a float by placing its
  byte in a float's mantissa (`prmt`) and subtracting the offset (exact), and a clamped float becomes
  a code by adding 1.5 * 2**23 (the FADD rounds to the nearest integer, ties to even, exactly as
  `cvt.rni`) and taking the low byte. NaN, which only a power or a
  non-finite weight can make, becomes 0 as `cvt.rni` makes it (`nan_safe`).
- Weight indices need divisions by run-time sizes: 32-bit multiply-high "magic number" division with
  the numbers computed here (`magic_divider`). Tensors of 2^31 elements or more switch to 64-bit
  indices with plain division.
- No CUDA header is included, so NVRTC compiles the source anywhere.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from pathlib import Path

import numpy as np

from bench import reference
from bench.precision import INT8_QMAX
from bench.precision import info as precision_info

KERNEL_NAME = "scale_kernel"
FAMILY = "scale-v2"  # the kernel family's name; the tuning cache also keys on this file's hash
VECTOR_BYTES = 16  # one ld.global.v4.u32 / st.global.v4.u32 per vector
INDEX32_LIMIT = 2**31  # below this many elements every index, and index + grid stride, fits in 32 bits
MAX_GRID_X = 2**31 - 1
EXPAND_MAX = 1 << 20  # longest weight period (elements) expanded on the host to read weights as vectors
DIRECT_MAX = 1 << 12  # largest tensor (elements) the one-element-per-thread 'direct' variant takes
WEIGHT_KINDS = ("uniform", "channel", "periodic", "lane_channel", "lane_periodic", "table")
VARIANTS = ("vector", "direct")
GRIDS = ("oneshot", "persistent", "reuse")
BLOCKS = (32, 64, 128, 256, 512, 1024)

# name -> (load of x, store of y, L2 eviction policy made with createpolicy, or None)
CACHE_HINTS: dict[str, tuple[str, str, str | None]] = {
    "default": ("ld.global.nc", "st.global.wb", None),
    "streaming": ("ld.global.cs", "st.global.cs", None),  # evict-first: data touched once
    "prefetch": ("ld.global.nc.L2::256B", "st.global.wb", None),  # L2 fetches 256-byte sectors
    "streaming_prefetch": ("ld.global.cs.L2::256B", "st.global.cs", None),
    "evict_first": (
        "ld.global.nc.L1::no_allocate.L2::cache_hint",
        "st.global.L1::no_allocate.L2::cache_hint",
        "evict_first",
    ),
}


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


# --- layout ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleLayout:
    """Run-time sizes of one Scale call and how its weights are read (all derived from the shape).

    d1/d2 by `weights`: channel: inner size in vectors / channels; periodic: period in vectors / 1;
    lane_channel: inner size in elements / channels; lane_periodic: period in elements / 1. d1e is the
    divisor of the element paths (tail, lanes): the inner size (channel kinds) or the period (periodic
    kinds) in elements. ``expand`` > 0: the weights are expanded on the host to that many elements.
    """

    precision: str
    mode: str
    variant: str
    numel: int
    vec: int
    nvec: int  # whole 16-byte vectors
    tail: int  # elements after the last whole vector (< vec)
    weights: str
    d1: int
    d2: int
    d1e: int
    expand: int
    index64: bool

    @property
    def period_vectors(self) -> int | None:
        """Vectors after which every vector's weights repeat (what a 'reuse' grid's stride must be a
        multiple of); None where weights are read per lane or are uniform."""
        if self.weights == "channel":
            return self.d1 * self.d2
        if self.weights == "periodic":
            return self.d1
        return None

    @property
    def weight_count(self) -> int:
        """Values per weight array the kernel reads (after expansion)."""
        if self.weights == "uniform":
            return 1
        if self.weights in ("channel", "lane_channel"):
            return self.d2
        if self.weights == "table":
            return self.numel
        if self.weights == "periodic":
            return self.expand or min(self.d1e, self.numel)
        return self.d1e


def _channel_geometry(shape: tuple[int, ...], mode: str, channel_axis: int | None) -> tuple[int, int]:
    """(inner size, channels) for CHANNEL; (period W, 1) for ELEMENTWISE."""
    axis = reference.resolve_axis(shape, channel_axis)
    if mode == "channel":
        return math.prod(shape[axis + 1 :]), shape[axis]
    return math.prod(shape[axis:]), 1


def scale_layout(
    shape: Sequence[int], mode: str, channel_axis: int | None, precision: str, variant: str = "vector"
) -> ScaleLayout:
    """How the kernel reads ``shape``'s weights (see the module docstring); ``variant`` 'direct' is
    one element per thread for tensors of at most DIRECT_MAX elements, with one weight per element."""
    mode = reference.normalize_mode(mode)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    shape = tuple(int(d) for d in shape)
    numel = math.prod(shape)
    vec = vector_width(precision)
    nvec, tail = divmod(numel, vec)
    index64 = numel >= INDEX32_LIMIT

    def make(weights: str, d1: int = 1, d2: int = 1, d1e: int = 1, expand: int = 0) -> ScaleLayout:
        return ScaleLayout(precision, mode, variant, numel, vec, nvec, tail, weights, d1, d2, d1e, expand, index64)

    if mode == "uniform":
        return make("uniform")
    if variant == "direct":
        if numel > DIRECT_MAX:
            raise ValueError(f"the direct variant takes at most {DIRECT_MAX} elements, got {numel}")
        return make("table", expand=numel)
    inner, channels = _channel_geometry(shape, mode, channel_axis)
    if mode == "channel" and inner % vec == 0:
        return make("channel", inner // vec, channels, inner)
    period = inner * channels  # elements after which the weights repeat
    if period % vec == 0 and mode == "elementwise":
        return make("periodic", period // vec, 1, period)
    if period >= numel:  # no repeat inside the tensor: vector k's weights are elements k*vec.. as given
        expand = numel if mode == "channel" else 0
        if expand <= EXPAND_MAX:
            return make("periodic", -(-numel // vec), 1, -(-numel // vec) * vec, expand)
    else:
        expanded = period * (vec // math.gcd(period, vec))  # the shortest repeat that is whole vectors
        if expanded <= EXPAND_MAX:
            return make("periodic", expanded // vec, 1, expanded, expanded)
    if mode == "channel":
        return make("lane_channel", inner, channels, inner)
    return make("lane_periodic", period, 1, period)


def expand_weights(layout: ScaleLayout, shape: Sequence[int], channel_axis: int | None, w: np.ndarray) -> np.ndarray:
    """The weight array the kernel reads: ``w`` itself, or (``layout.expand`` > 0) w's values laid out
    per element of one period, repeated to ``layout.expand`` elements. Same values, same dtype, so the
    output is bit for bit what the unexpanded weights give."""
    w = np.ascontiguousarray(np.asarray(w).reshape(-1))
    if not layout.expand:
        return w
    if layout.weights == "table" and layout.mode == "uniform":
        return np.full(layout.expand, w[0], dtype=w.dtype)
    shape = tuple(int(d) for d in shape)
    inner, _ = _channel_geometry(shape, layout.mode, channel_axis)
    one = np.repeat(w, inner) if layout.mode == "channel" else w  # one period, per element
    reps = -(-layout.expand // one.size)
    return np.ascontiguousarray(np.tile(one, reps)[: layout.expand])


# --- launch configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelConfig:
    """What tuning chooses: a launch configuration of the one kernel family (never the arithmetic)."""

    variant: str = "vector"
    block: int = 1024
    vpt: int = 1  # vectors (or, direct: elements) per thread
    grid: str = "oneshot"
    cache: str = "default"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(map(str, BLOCKS))}, got {self.block}")
        if not 1 <= self.vpt <= 16:
            raise ValueError(f"vpt must be in [1, 16], got {self.vpt}")
        if self.grid not in GRIDS:
            raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {self.grid!r}")
        if self.cache not in CACHE_HINTS:
            raise ValueError(f"cache must be one of {', '.join(CACHE_HINTS)}, got {self.cache!r}")

    def label(self) -> str:
        if self.variant == "direct":
            return f"direct b{self.block}"
        return f"b{self.block} v{self.vpt} {self.grid} {self.cache}"

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


DEFAULT_CONFIG = KernelConfig()


def effective_config(layout: ScaleLayout, config: KernelConfig) -> KernelConfig:
    """``config`` as it runs on ``layout``: the direct variant needs a layout made for it; 'reuse' needs
    periodic weights (else it is 'oneshot'); the direct variant has no vectors, grid or cache choices;
    a block never has many more threads than the tensor has work (`fit_block`)."""
    if config.variant != layout.variant:
        raise ValueError(f"config variant {config.variant!r} on a layout made for {layout.variant!r}")
    if config.variant == "direct":
        return KernelConfig("direct", fit_block(config.block, layout.numel), 1, "oneshot", "default")
    grid = config.grid
    if grid == "reuse" and layout.period_vectors is None:
        grid = "oneshot"
    return replace(config, block=fit_block(config.block, layout.nvec), grid=grid)


def fit_block(block: int, work: int) -> int:
    """``block``, or the smallest power of two of at least 32 threads that covers ``work`` items: a
    27-element tensor needs one warp, and a block of 1024 threads takes longer to start and retire."""
    return min(block, max(32, 1 << max(0, work - 1).bit_length()))


@dataclass(frozen=True)
class Launch:
    grid: int
    block: int
    stride: int = 0  # reuse: vectors between a thread's vectors (a multiple of the weight period)
    group_blocks: int = 1  # reuse: blocks that cover one stride


def reuse_stride(period: int, block: int) -> int:
    """The smallest multiple of ``period`` whose blocks are at least 7/8 busy (at most 64 periods)."""
    best = period
    for m in range(1, 65):
        t = m * period
        blocks = -(-t // block)
        if blocks * block - t <= t // 8:
            return t
        best = t
    return best


def launch_config(layout: ScaleLayout, config: KernelConfig, sm_count: int, threads_per_sm: int = 2048) -> Launch:
    """Grid and block for ``config`` (already effective) on a GPU with ``sm_count`` SMs."""
    if config.variant == "direct":
        return Launch(max(1, -(-layout.numel // config.block)), config.block)
    per_block = config.block * config.vpt
    oneshot = max(1, -(-layout.nvec // per_block))
    if config.grid == "persistent":
        resident = max(1, sm_count) * max(1, threads_per_sm // config.block)
        return Launch(min(oneshot, resident, MAX_GRID_X), config.block)
    if config.grid == "reuse":
        period = layout.period_vectors
        assert period is not None, "reuse needs periodic weights (effective_config falls back)"
        stride = reuse_stride(period, config.block)
        group_blocks = -(-stride // config.block)
        rows = -(-layout.nvec // stride)  # strides the tensor spans
        groups = max(1, -(-rows // config.vpt))
        grid = group_blocks * groups
        if grid > MAX_GRID_X or group_blocks >= 2**32:
            raise ValueError(f"the reuse grid needs {grid} blocks, over CUDA's {MAX_GRID_X}")
        return Launch(grid, config.block, stride, group_blocks)
    return Launch(min(oneshot, MAX_GRID_X), config.block)


# --- the kernel's arguments --------------------------------------------------------------------------------

ARG_NAMES = (
    "nvec",
    "tail",
    "d1",
    "m1",
    "s1",
    "d2",
    "m2",
    "s2",
    "d1e",
    "m1e",
    "s1e",
    "stride",
    "gblocks",
    "mg",
    "sg",
    "in_scale",
    "inv_out_scale",
    "u_shift",
    "u_scale",
    "u_power",
)
_ARG_KINDS = ("u64", "u32", "u64", "u32", "u32", "u64", "u32", "u32", "u64", "u32", "u32", "u64", "u32", "u32", "u32")


def kernel_args(
    layout: ScaleLayout,
    launch: Launch,
    in_scale: float | None,
    out_scale: float | None,
    uniform: tuple[float, float, float] = (0.0, 1.0, 1.0),
) -> list[tuple[str, int | float]]:
    """The scalar arguments after the five pointers (x, y, shift, scale, power), in the kernel's order,
    as (kind, value) with kind 'u64', 'u32' or 'f32'. Magic numbers are zero for 64-bit indices.
    ``uniform`` is (shift, scale, power) of UNIFORM mode, passed by value."""
    m1, m2, m1e = (_magic_or_zero(d, layout.index64) for d in (layout.d1, layout.d2, layout.d1e))
    mg = magic_divider(launch.group_blocks)  # block indices are 32-bit in every layout
    ints = [
        layout.nvec,
        layout.tail,
        layout.d1,
        m1.m,
        m1.s,
        layout.d2,
        m2.m,
        m2.s,
        layout.d1e,
        m1e.m,
        m1e.s,
        launch.stride,
        launch.group_blocks,
        mg.m,
        mg.s,
    ]
    out: list[tuple[str, int | float]] = list(zip(_ARG_KINDS, ints, strict=True))
    floats = [
        1.0 if in_scale is None else float(in_scale),
        # the kernel multiplies by 1/out_scale: a division per element made int8 compute-bound
        1.0 if out_scale is None else float(np.float32(1.0) / np.float32(out_scale)),
        *(float(v) for v in uniform),
    ]
    return out + [("f32", v) for v in floats]


def _magic_or_zero(d: int, index64: bool) -> MagicDivider:
    return MagicDivider(d, 0, 0) if index64 or not 1 <= d < 2**32 else magic_divider(d)


# --- the kernel's work, replayed in Python (what the tests check the launch arithmetic with) -----------------


def thread_vectors(layout: ScaleLayout, config: KernelConfig, launch: Launch, block: int, thread: int) -> list[int]:
    """The vectors (vector variant) or elements (direct) one thread of the launch processes, as the
    generated source computes them."""
    b = launch.block
    if config.variant == "direct":
        e = block * b + thread
        return [e] if e < layout.numel else []
    if config.grid == "reuse":
        g = block // launch.group_blocks
        lane = (block - g * launch.group_blocks) * b + thread
        if lane >= launch.stride:
            return []
        vis = [(g * config.vpt + u) * launch.stride + lane for u in range(config.vpt)]
        return [v for v in vis if v < layout.nvec]
    out = []
    base = block * b * config.vpt + thread
    while base < layout.nvec:
        out += [v for v in (base + u * b for u in range(config.vpt)) if v < layout.nvec]
        base += launch.grid * b * config.vpt
    return out


def thread_tail(layout: ScaleLayout, launch: Launch, block: int, thread: int) -> int | None:
    """The tail element (numel % vec of them after the last whole vector) one thread handles, if any."""
    if block == launch.grid - 1 and thread >= launch.block - layout.tail:
        return layout.nvec * layout.vec + thread - (launch.block - layout.tail)
    return None


def weight_index(layout: ScaleLayout, e: int) -> int:
    """Index into the (expanded) weight arrays of element ``e``, by the kernel's arithmetic."""
    w = layout.weights
    if w == "uniform":
        return 0
    if w == "table":
        return e
    if w in ("channel", "lane_channel"):
        return (e // layout.d1e) % layout.d2
    return e % layout.d1e


# --- source generation ------------------------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        precision_info(self.precision)
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
    )


@cache
def generator_hash() -> str:
    """Hash of this module's text: a tuning decision is valid only for the source it timed."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


_COMMON = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned short u16;

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
__device__ __forceinline__ u32 prmt(u32 a, u32 b, u32 sel) {
    u32 d; asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel)); return d;
}
"""


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


def _quant_code(nan_safe: bool) -> str:
    nan = "    t = (t == t) ? t : 0.0f;  // NaN -> 0, as cvt.rni makes it\n" if nan_safe else ""
    return f"""
__device__ __forceinline__ int quant(float y, float inv_out_scale) {{  // symmetric int8, half to even
    // clamp after rounding: cvt.rni saturates huge values and turns NaN into 0 (as numpy does on x86)
    return min(max(__float2int_rn(y * inv_out_scale), -{INT8_QMAX}), {INT8_QMAX});
}}
__device__ __forceinline__ u32 quant_bits(float y, float inv_out_scale) {{  // quant(), low byte of the result
    float t = __fmul_rn(y, inv_out_scale);
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
        return "", "", "v[j] = op(v[j], u_scale, u_shift, UPOW);"
    if w == "channel":
        load = (
            "{ const IDX q_ = DIV(@VI@, d1, m1, s1); const IDX c_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2; "
            "ws = WLOAD(scale, c_); wb = WLOAD(shift, c_);" + (" wp = WLOAD(power, c_);" if pw else "") + " }"
        )
        return "float ws, wb, wp = 1.0f;", load, "v[j] = op(v[j], ws, wb, wp);"
    decl = "float ws[VEC], wb[VEC], wp[VEC];" + (
        "" if pw else "\n#pragma unroll\n    for (int j = 0; j < VEC; ++j) wp[j] = 1.0f;"
    )
    if w == "periodic":
        load = (
            "{ const IDX k0_ = (@VI@ - DIV(@VI@, d1, m1, s1) * (IDX)d1) * VEC; wload_vec(scale, k0_, ws); "
            "wload_vec(shift, k0_, wb);" + (" wload_vec(power, k0_, wp);" if pw else "") + " }"
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
            f"{{ ws[j] = WLOAD(scale, WI_); wb[j] = WLOAD(shift, WI_);{power} {step} }} }}"
        )
    return decl, load, "v[j] = op(v[j], ws[j], wb[j], wp[j]);"


def _element_weight(spec: KernelSpec) -> str:
    """Statements that set float es, eb, ep to the weights of element `e` (tail and direct paths)."""
    pw = not spec.power_is_one
    w = spec.weights
    if w == "uniform":
        return "const float es = u_scale, eb = u_shift, ep = UPOW;"
    if w == "table":
        idx = "const IDX k_ = e;"
    elif w in ("channel", "lane_channel"):
        idx = "const IDX q_ = DIV(e, d1e, m1e, s1e); const IDX k_ = q_ - DIV(q_, d2, m2, s2) * (IDX)d2;"
    else:
        idx = "const IDX k_ = e - DIV(e, d1e, m1e, s1e) * (IDX)d1e;"
    return (
        f"{idx} const float es = WLOAD(scale, k_), eb = WLOAD(shift, k_), ep = {'WLOAD(power, k_)' if pw else '1.0f'};"
    )


def kernel_source(spec: KernelSpec) -> str:
    """The complete CUDA C++ source of one kernel variant, named `KERNEL_NAME`."""
    prec = _FLOAT_PREC[spec.precision]
    vec = vector_width(spec.precision)
    st = prec["T"]
    div = (
        "#define DIV(n, d, m, s) ((IDX)(n) / (IDX)(d))\n"
        if spec.index64
        else "#define DIV(n, d, m, s) fdiv32((u32)(n), (m), (s))\n"
    )
    pow_line = "" if spec.power_is_one else "    y = powf(y, p);\n"
    header = f"""// generated by bench/gpu/kernels.py ({FAMILY}): {spec}
{_COMMON}
{_io_code(spec.cache)}
typedef {"u64" if spec.index64 else "u32"} IDX;
#define VEC {vec}
#define BLOCK {spec.block}
#define VPT {spec.vpt}
#define UPOW {"1.0f" if spec.power_is_one else "u_power"}
{div}{_weight_code(spec.precision, vec)}
{_quant_code(spec.nan_safe) if spec.precision == "int8" else ""}
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
    signature = f"""extern "C" __global__ void __launch_bounds__(BLOCK) {KERNEL_NAME}(
    const void* __restrict__ x_, void* __restrict__ y_,
    const void* __restrict__ shift, const void* __restrict__ scale, const void* __restrict__ power,
    u64 nvec, u32 tail, u64 d1, u32 m1, u32 s1, u64 d2, u32 m2, u32 s2, u64 d1e, u32 m1e, u32 s1e,
    u64 stride, u32 gblocks, u32 mg, u32 sg,
    float in_scale, float inv_out_scale, float u_shift, float u_scale, float u_power)
{{
    const {st}* __restrict__ x = (const {st}*)x_;
    {st}* __restrict__ y = ({st}*)y_;
"""
    element = _element_weight(spec)
    scalar = f"""        const float xs_ = {prec["to_f"].format(e="x[e]")};
        {element}
        y[e] = {prec["from_f"].format(e="op(xs_, es, eb, ep)")};"""
    if spec.variant == "direct":
        body = f"""    const IDX e = (IDX)blockIdx.x * BLOCK + threadIdx.x;
    if (e < (IDX)nvec * VEC + tail) {{
{scalar}
    }}
}}
"""
        return header + signature + body
    decl, load, apply = _vector_weights(spec)
    compute = f"""float v[VEC];
                unpack(r[u], v, in_scale);
#pragma unroll
                for (int j = 0; j < VEC; ++j) {apply}
                st_y(yv + vi, pack(v, inv_out_scale), pol_);"""
    if spec.reuse:
        loop = f"""    {{  // reuse: this thread's VPT vectors are `stride` apart, a multiple of the weight period
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
    else:
        loop = f"""    for (IDX base = (IDX)blockIdx.x * (BLOCK * VPT) + threadIdx.x; base < n;
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
    body = f"""    POLICY_INIT
    const IDX n = (IDX)nvec;
    const uint4* __restrict__ xv = (const uint4*)x_;
    uint4* __restrict__ yv = (uint4*)y_;
{loop}    if (blockIdx.x == gridDim.x - 1 && threadIdx.x >= BLOCK - tail) {{  // the last numel % VEC elements
        const IDX e = n * VEC + (threadIdx.x - (BLOCK - tail));
{scalar}
    }}
}}
"""
    return header + signature + body
