"""The `cuda` and `memcpy` backends and the device timing loop on a real GPU (skipped without one).

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.backends.cuda_backend import CudaBackend
from bench.backends.memcpy_backend import MemcpyBackend
from bench.point import Point, WeightsSpec
from bench.problem import make_problem
from bench.timing.settings import TimingSettings

pytestmark = pytest.mark.gpu

FAST = TimingSettings(warmup_s=0.005, min_samples=5, min_time_s=0.01, max_time_s=0.3)
SHAPES = [(1, 3, 3, 3), (2, 3, 5, 7), (4, 64, 56, 56), (3, 5, 7), (7,)]
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def _cases() -> list[tuple[tuple[int, ...], str, int | None]]:
    out = []
    for shape in SHAPES:
        out.append((shape, "uniform", None))
        for mode in ("channel", "elementwise"):
            for axis in sorted({None, 0, len(shape) - 1, -1} - ({None} if len(shape) < 2 else set()), key=str):
                out.append((shape, mode, axis))
    return out


@pytest.fixture(scope="module")
def cuda_backend() -> CudaBackend:
    return CudaBackend()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "mode", "axis"), _cases())
def test_cuda_kernel_matches_the_reference(cuda_backend, shape, mode, axis, precision) -> None:
    point = Point(shape, mode, precision, axis, "cuda")
    assert cuda_backend.unsupported(point) is None
    problem = make_problem(point)
    with cuda_backend.prepare(point, problem) as prepared:
        result = problem.check(prepared.output())
    assert result.correct, f"{point.label()}: max error {result.max_abs_err} > {result.tolerance}"


# ELEMENTWISE shapes for the row-group path (several outer rows, W % VEC == 0 in some precisions) and
# around it: outer rows not a multiple of the rows per thread, W not a multiple of the block, odd sizes
ELEMENTWISE_CASES = [
    ((8, 256, 64, 64), None),  # W = 1M elements, 8 outer rows: the tuned shape
    ((5, 3, 7, 8), 1),  # W = 168: vectors of 4 and 8, not 16; 5 rows
    ((11, 64), -1),  # W = 64: every precision, 11 rows
    ((3, 4, 16), 1),  # 3 rows
    ((19, 2, 8, 8), 1),  # 19 rows: 2 groups of 8 and a partial one
    ((2, 3, 5, 7), 1),  # W = 105: per-lane weights, tail
    ((3, 5, 7), 0),
    ((3, 5, 7), 1),
    ((3, 5, 7), -1),
    ((9, 13, 11), 1),  # odd sizes
    ((4, 8, 2), 1),  # W = 16: two vectors of fp32, one of fp16, less than one of int8
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "axis"), ELEMENTWISE_CASES)
def test_cuda_elementwise_default_path_matches_the_reference(cuda_backend, shape, axis, precision) -> None:
    point = Point(shape, "elementwise", precision, axis, "cuda")
    problem = make_problem(point)
    with cuda_backend.prepare(point, problem) as prepared:
        result = problem.check(prepared.output())
        rows = prepared.build.builder_settings["rows"]
    assert result.correct, f"{point.label()} rows {rows}: max error {result.max_abs_err} > {result.tolerance}"


def _run_kernel_directly(point: Point, rows: int, block: int, max_blocks: int | None) -> tuple[object, int]:
    """Compile the variant with ``rows`` outer rows per thread and run it once; (verification, rows used)."""
    import ctypes

    from bench.gpu import cuda, kernels

    problem = make_problem(point)
    layout = kernels.scale_layout(point.shape, point.mode, point.channel_axis, point.precision)
    spec = kernels.kernel_spec(layout, problem.power_is_one, rows=rows, block=block)
    cfg = kernels.spec_launch_config(layout, spec, max_blocks)
    if max_blocks is not None and spec.rows > 1:
        assert cfg.grid < -(-layout.outer // spec.rows)  # the kernel's loop over row groups runs
    kern = cuda.compile_kernel(kernels.kernel_source(spec), kernels.KERNEL_NAME, cuda.Device(0).arch)
    ct = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}
    arrays = (problem.x, None, problem.shift, problem.scale, problem.power)
    bufs = [cuda.DeviceBuffer(problem.x.nbytes if a is None else a.nbytes) for a in arrays]
    try:
        for b, a in zip(bufs, arrays, strict=True):
            if a is not None:
                b.upload(a)
        args = [(b.ptr, ctypes.c_void_p) for b in bufs]
        args += [(v, ct[k]) for k, v in kernels.kernel_args(layout, problem.in_scale, problem.out_scale)]
        with cuda.Stream() as stream:
            kern.launch(cfg.dims, cfg.block, args, stream)
            stream.synchronize()
        out = bufs[1].download(np.empty_like(problem.x))
    finally:
        for b in bufs:
            b.free()
    return problem.check(out), spec.rows


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("rows", [2, 8])
@pytest.mark.parametrize(("shape", "axis"), ELEMENTWISE_CASES)
def test_cuda_elementwise_row_groups_match_the_reference(shape, axis, rows, precision) -> None:
    point = Point(shape, "elementwise", precision, axis, "cuda")
    result, used = _run_kernel_directly(point, rows, 1024, None)
    assert result.correct, f"{point.label()} rows {used}: max error {result.max_abs_err} > {result.tolerance}"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("rows", [1, 2, 3, 8])
def test_cuda_elementwise_row_groups_with_a_capped_grid(precision, rows) -> None:
    """A persistent-style grid (fewer x blocks than row groups) exercises the kernel's row-group loop."""
    point = Point((23, 6, 8, 8), "elementwise", precision, 1, "cuda")
    result, used = _run_kernel_directly(point, rows, 128, 2 * 3)
    assert used == rows
    assert result.correct, f"{point.label()} rows {used}: max error {result.max_abs_err} > {result.tolerance}"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("power", [2.0, 0.5])
@pytest.mark.parametrize(
    ("shape", "mode", "axis"), [((2, 3, 5, 7), "channel", None), ((4, 64, 56, 56), "elementwise", 1)]
)
def test_cuda_kernel_applies_power(cuda_backend, shape, mode, axis, precision, power) -> None:
    if precision == "int8" and power == 0.5:
        pytest.skip("a negative base to power 0.5 is NaN, which int8 cannot hold: the reference's cast is undefined")
    point = Point(shape, mode, precision, axis, "cuda", weights=WeightsSpec(power=power))
    problem = make_problem(point)
    with cuda_backend.prepare(point, problem) as prepared:
        result = problem.check(prepared.output())
    assert result.correct, f"{point.label()} power {power}: max error {result.max_abs_err} > {result.tolerance}"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("shape", [(1, 3, 3, 3), (2, 3, 5, 7), (4, 64, 56, 56)])
def test_memcpy_copies_the_input_and_skips_other_modes(shape, precision) -> None:
    backend = MemcpyBackend()
    point = Point(shape, "uniform", precision, None, "memcpy")
    problem = make_problem(point)
    with backend.prepare(point, problem) as prepared:
        out = prepared.output()
    assert out.tobytes() == problem.x.tobytes()
    assert backend.unsupported(replace(point, mode="channel")) is not None
    assert backend.verifies_scale is False


def test_graph_and_events_both_time_and_graph_is_faster_for_a_tiny_tensor(cuda_backend) -> None:
    point = Point((1, 3, 3, 3), "channel", "fp32", None, "cuda")
    with cuda_backend.prepare(point, make_problem(point)) as prepared:
        graph = prepared.measure(FAST)
        events = prepared.measure(replace(FAST, method="events"))
    assert graph.timing_method == "graph" and graph.fallback_reason is None
    assert events.timing_method == "events"
    assert np.median(graph.samples_us) < np.median(events.samples_us)
    assert events.enqueue_bound  # Python launches a 3-element kernel slower than the GPU runs it
    assert graph.batch * np.median(graph.samples_us) >= FAST.sample_floor_us


def test_cold_timing_flushes_before_every_single_call(cuda_backend) -> None:
    point = Point((4, 64, 56, 56), "uniform", "fp16", None, "cuda")
    with cuda_backend.prepare(point, make_problem(point)) as prepared:
        m = prepared.measure(replace(FAST, l2_flush=True))
    assert m.l2_flush and m.batch == 1 and len(m.samples_us) >= FAST.min_samples


def test_an_uncapturable_enqueue_falls_back_to_events_and_says_why() -> None:
    from bench.gpu import cuda
    from bench.timing.device import measure

    with cuda.Stream() as stream, cuda.DeviceBuffer(1 << 20) as a, cuda.DeviceBuffer(1 << 20) as b:

        def enqueue(s: cuda.Stream) -> None:
            cuda.memcpy_dtod_async(b.ptr, a.ptr, a.nbytes, s)
            s.synchronize()  # illegal while capturing

        m = measure(enqueue, stream, FAST)
    assert m.timing_method == "events"
    assert m.fallback_reason and "capture" in m.fallback_reason


def test_cuda_errors_name_the_call_and_the_error() -> None:
    from bench.gpu import cuda

    with pytest.raises(cuda.CudaError, match=r"cudaMalloc\(.*\) failed: cudaErrorMemoryAllocation"):
        cuda.DeviceBuffer(1 << 50)
    with pytest.raises(cuda.CompileError, match="nvrtcCompileProgram failed"):
        cuda.compile_kernel("this is not C++", "k", cuda.Device(0).arch)


def test_backend_info_describes_the_gpu() -> None:
    info = CudaBackend().info()
    assert info.gpu_name and info.compute_capability and info.cuda_version
    assert info.extra["sm_count"] > 0 and info.extra["l2_bytes"] > 0
    assert "nvrtc" in info.backend_version
    assert MemcpyBackend().info().backend_version.startswith("cudaMemcpyAsync")
