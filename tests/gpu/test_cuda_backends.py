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
    from bench.gpu import cuda, kernel_cache

    with pytest.raises(cuda.CudaError, match=r"cudaMalloc\(.*\) failed: cudaErrorMemoryAllocation"):
        cuda.DeviceBuffer(1 << 50)
    with pytest.raises(cuda.CompileError, match="nvrtcCompileProgram failed"):
        kernel_cache.compile_kernel("this is not C++", "k", cuda.Device(0).arch)


def test_backend_info_describes_the_gpu() -> None:
    info = CudaBackend().info()
    assert info.gpu_name and info.compute_capability and info.cuda_version
    assert info.extra["sm_count"] > 0 and info.extra["l2_bytes"] > 0
    assert "nvrtc" in info.backend_version and info.extra["kernel_tuning"] == "tuned per class"
    assert info.extra["uuid"].startswith("GPU-")
    assert MemcpyBackend().info().backend_version.startswith("cudaMemcpyAsync")


ROTATION_CASES = [
    ((8, 128, 56, 56), "uniform", "fp32", None),  # 25.7 MB of input and output: 5 sets on a 50 MiB L2
    ((8, 128, 56, 56), "elementwise", "fp16", 1),  # weights per element rotate too
    ((4, 64, 56, 56), "channel", "int8", -1),
]


@pytest.mark.parametrize(("shape", "mode", "precision", "axis"), ROTATION_CASES)
def test_every_rotated_buffer_set_computes_the_verified_output(cuda_backend, shape, mode, precision, axis) -> None:
    from bench.gpu import cuda

    for backend in (cuda_backend, MemcpyBackend()):
        point = Point(shape, mode if backend is cuda_backend else "uniform", precision, axis, backend.name)
        if backend is not cuda_backend and axis is not None:
            point = replace(point, channel_axis=None)
        problem = make_problem(point)
        with backend.prepare(point, problem) as prepared:
            own = prepared.output()
            sets = prepared.buffer_sets(FAST)
            assert sets > 1 and sets * sum(b.nbytes for b in prepared.call_buffers()) >= 2 * prepared.device.l2_bytes
            rotation = prepared.rotation(sets)
            assert len(rotation.enqueues) == len(rotation.outputs) == sets
            assert len(set(rotation.outputs)) == sets
            for i in (1, sets - 1):
                rotation.enqueues[i](prepared.stream)
                cuda.memset_async(prepared.out.ptr, 0, prepared.out.nbytes, prepared.stream)
                cuda.memcpy_dtod_async(prepared.out.ptr, rotation.outputs[i], prepared.out.nbytes, prepared.stream)
                copy = prepared.out.download(np.empty_like(own), prepared.stream)
                assert copy.tobytes() == own.tobytes(), f"{point.label()}: set {i} computed something else"


def test_rotated_timing_cycles_every_set_and_says_so(cuda_backend) -> None:
    point = Point((8, 128, 56, 56), "channel", "fp32", None, "cuda")
    with cuda_backend.prepare(point, make_problem(point)) as prepared:
        rotated = prepared.measure(FAST)
        warm = prepared.measure(replace(FAST, rotate_buffers=False))
        events = prepared.measure(replace(FAST, method="events"))
        flushed = prepared.measure(replace(FAST, l2_flush=True, rotate_buffers=False))
        set_bytes, l2_bytes = sum(b.nbytes for b in prepared.call_buffers()), prepared.device.l2_bytes
    sets = rotated.buffer_sets
    assert sets * set_bytes >= 2 * l2_bytes > (sets - 1) * set_bytes  # 5 on the H100's 50 MiB
    assert rotated.l2_mode == "rotated" and rotated.batch % sets == 0
    assert events.l2_mode == "rotated" and events.batch % sets == 0
    assert (warm.l2_mode, warm.buffer_sets) == ("warm", 1)
    assert (flushed.l2_mode, flushed.buffer_sets, flushed.batch) == ("flushed", 1, 1)
    # streamed from memory, a call takes at least as long as with its data left in the L2 by the last
    assert np.median(rotated.samples_us) >= 0.97 * np.median(warm.samples_us)


def test_a_tiny_point_stays_on_one_buffer_set(cuda_backend) -> None:
    point = Point((1, 3, 3, 3), "uniform", "fp32", None, "cuda")
    with cuda_backend.prepare(point, make_problem(point)) as prepared:
        m = prepared.measure(FAST)
    assert (m.l2_mode, m.buffer_sets) == ("rotated", 1)
