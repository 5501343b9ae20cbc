"""The `cuda` and `memcpy` backends and the device timing loop on a real GPU (skipped without one).

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.backends.base import BackendOptions
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
def cuda_backend(tmp_path_factory) -> CudaBackend:
    """The default launch of every class (tests/gpu/test_kernel_tuning.py checks every candidate)."""
    return CudaBackend(BackendOptions(kernel_config="default", cache_dir=tmp_path_factory.mktemp("cache")))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "mode", "axis"), _cases())
def test_cuda_kernel_matches_the_reference(cuda_backend, shape, mode, axis, precision) -> None:
    point = Point(shape, mode, precision, axis, "cuda")
    assert cuda_backend.unsupported(point) is None
    problem = make_problem(point)
    with cuda_backend.prepare(point, problem) as prepared:
        result = problem.check(prepared.output())
    assert result.correct, f"{point.label()}: max error {result.max_abs_err} > {result.tolerance}"


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
    assert "nvrtc" in info.backend_version and info.extra["kernel_tuning"] == "tuned per class"
    assert info.extra["uuid"].startswith("GPU-")
    assert MemcpyBackend().info().backend_version.startswith("cudaMemcpyAsync")
