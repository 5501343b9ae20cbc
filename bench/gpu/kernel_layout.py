"""Launch layout and arithmetic of the Scale kernel: how each launch reads its tensor and weights.

Pure Python: nothing here needs CUDA, so the index arithmetic and the launch configuration are tested
on the CPU. `bench.gpu.kernel_source` writes the CUDA C++ source that runs what this module lays out,
`bench.gpu.cuda` compiles and launches it, and `bench.gpu.tuning` picks among the launch
configurations (`KernelConfig`) by timing them on the GPU at hand. Every configuration computes bit for
bit the same output, so tuning can change speed and never results.

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
- Weight indices need divisions by run-time sizes: 32-bit multiply-high "magic number" division with
  the numbers computed here (`magic_divider`). Tensors of 2^31 elements or more switch to 64-bit
  indices with plain division.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from bench import reference
from bench.precision import info as precision_info

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
        for name in ("block", "vpt"):  # 256.0 or True would pass the checks below and reach the kernel's source
            if type(getattr(self, name)) is not int:
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")
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
