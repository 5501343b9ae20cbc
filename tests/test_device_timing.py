"""Pure parts of the device timing loop and the NVML wrapper: batch sizing, fallback bookkeeping,
throttle flags, and that nothing imports cuda-python or pynvml before it is needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.gpu import nvml
from bench.timing import batching as B
from bench.timing import device as D


def test_batch_reaches_the_floor_within_bounds() -> None:
    assert B.batch_for(1.0, 20.0) == 20
    assert B.batch_for(7.0, 20.0) == 3
    assert B.batch_for(500.0, 20.0) == 1  # a long call is its own sample
    assert B.batch_for(0.0, 20.0) == B.MAX_BATCH  # a call too short to measure: as many as allowed
    assert B.batch_for(1e-6, 20.0, max_batch=100) == 100
    assert B.batch_for(10.0, 20.0, min_batch=8) == 8


def test_graph_batches_amortize_the_graph_launch_but_not_for_long_calls() -> None:
    assert B.desired_batch("graph", 1.0, 20.0) == B.GRAPH_MIN_BATCH
    assert B.desired_batch("events", 1.0, 20.0) == 20
    assert B.desired_batch("graph", 150.0, 20.0) == 2  # 100 calls would make a 15 ms sample
    assert B.desired_batch("graph", 5000.0, 20.0) == 1


@pytest.mark.parametrize("method", ["graph", "events"])
@pytest.mark.parametrize(("overhead_us", "call_us"), [(5.0, 0.8), (5.0, 150.0), (30.0, 0.1), (0.0, 2.0)])
def test_batch_sizing_converges_to_a_sample_above_the_floor(method: str, overhead_us: float, call_us: float) -> None:
    """A sample of k calls costs a fixed overhead plus k calls; starting from one call's time (which
    includes the overhead), sizing must end at a sample >= the floor within SIZING_ROUNDS."""
    floor = 20.0
    k = B.desired_batch(method, overhead_us + call_us, floor)
    for _ in range(D.SIZING_ROUNDS):
        new = B.next_batch(method, k, overhead_us + k * call_us, floor)
        if new is None:
            break
        assert new > k
        k = new
    assert overhead_us + k * call_us >= floor
    assert B.next_batch(method, k, overhead_us + k * call_us, floor) is None


def test_first_batch_is_one_call_when_cold_and_a_whole_round_of_buffer_sets_otherwise() -> None:
    assert B.sample_batch("graph", 1.0, 20.0, sets=1, cold=True) == 1  # a second call would find the data in L2
    assert B.sample_batch("events", 1.0, 20.0, sets=1, cold=False) == 20
    assert B.sample_batch("events", 1.0, 20.0, sets=3, cold=False) == 21  # each of the 3 sets gets 7 calls
    assert B.sample_batch("graph", 1.0, 20.0, sets=7, cold=False) == 105  # GRAPH_MIN_BATCH, rounded up
    assert B.sample_batch("graph", 5000.0, 20.0, sets=4, cold=False) == 4


def test_next_batch_grows_when_a_sample_reads_zero() -> None:
    assert B.next_batch("events", 4, 0.0, 20.0) == 64
    assert B.next_batch("events", B.MAX_BATCH, 0.0, 20.0) is None


def test_graph_is_kept_unless_capture_failed_and_the_reason_is_recorded() -> None:
    assert D.choose_method("graph", None) == D.MethodChoice("graph", None)
    assert D.choose_method("events", RuntimeError("x")) == D.MethodChoice("events", None)
    fell = D.choose_method("graph", RuntimeError("cudaStreamBeginCapture failed: cudaErrorStreamCaptureUnsupported"))
    assert fell.method == "events"
    assert "cudaErrorStreamCaptureUnsupported" in fell.fallback_reason
    with pytest.raises(ValueError, match="timing method"):
        D.choose_method("host", None)


def test_enqueue_bound_when_the_host_is_slower_than_the_device() -> None:
    assert D.is_enqueue_bound(5.4, 1.0) is True  # graph: device time without launch overhead
    assert D.is_enqueue_bound(5.3, 5.5) is True  # events: a host-bound run's per-call time is the enqueue time
    assert D.is_enqueue_bound(5.4, 150.0) is False
    assert D.is_enqueue_bound(None, 1.0) is None


def test_l2_flush_writes_twice_the_l2() -> None:
    assert D.flush_bytes(50 * 2**20) == 100 * 2**20
    assert D.flush_bytes(0) >= 1 << 20


def test_throttle_summary_counts_flagged_samples() -> None:
    assert D.throttle_summary([False, False, None]) is None
    assert (
        D.throttle_summary([True, False, True]) == "2 of 3 samples were taken while the GPU reported a throttle reason"
    )


BITS = {"GpuIdle": 0x1, "ApplicationsClocksSetting": 0x2, "SwPowerCap": 0x4, "HwSlowdown": 0x8}


def test_idle_and_clock_settings_are_not_throttling() -> None:
    assert nvml.is_throttled(0x1 | 0x2, BITS) is False
    assert nvml.is_throttled(0x1 | 0x4, BITS) is True
    assert nvml.is_throttled(None, BITS) is None
    assert nvml.reason_names(0x5, BITS) == ["GpuIdle", "SwPowerCap"]


def test_nvml_degrades_to_nothing_without_a_gpu() -> None:
    ok, why = nvml.available()
    if ok:
        pytest.skip("NVML answers here")
    assert why
    assert nvml.snapshot(0) == {}
    assert nvml.throttle_mask(0) is None
    assert nvml.driver_version() is None


def test_gpu_available_reports_why_not_instead_of_raising() -> None:
    from bench.gpu.cuda import gpu_available

    ok, why = gpu_available()
    assert isinstance(ok, bool) and why


def test_gpu_modules_import_without_loading_cuda_python_or_pynvml() -> None:
    code = (
        "import sys\n"
        "import bench.gpu.cuda, bench.gpu.nvml, bench.gpu.kernel_layout, bench.gpu.kernel_source, bench.timing.device\n"
        "import bench.gpu.kernel_generator, bench.gpu.kernel_cache, bench.gpu.cuda_values\n"
        "import bench.backends.cuda_backend, bench.backends.memcpy_backend, bench.backends.gpu_common\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('cuda', 'pynvml')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_cuda_python_is_a_user_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from bench.errors import UserError
    from bench.gpu import cuda

    cuda._rt.cache_clear()
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import raises ImportError
    try:
        with pytest.raises(UserError, match=r"scale-bench\[gpu\]"):
            cuda._rt()
        assert cuda.gpu_available()[0] is False
    finally:
        monkeypatch.undo()
        cuda._rt.cache_clear()


def test_buffer_sets_pass_twice_the_l2_or_stay_far_below_it() -> None:
    from bench.timing.device import ROTATE_MAX_SETS, buffer_sets, flush_bytes

    l2 = 50 * 2**20
    target = flush_bytes(l2)
    for set_bytes in (1 << 17, 800_000, 1_605_632, 25_690_112, 51_380_224, target - 1):
        n = buffer_sets(set_bytes, l2)
        assert n > 1 and n * set_bytes >= target and (n - 1) * set_bytes < target, set_bytes
    assert buffer_sets(target, l2) == 1 and buffer_sets(4 * target, l2) == 1  # one set already streams
    tiny = target // ROTATE_MAX_SETS - 1
    assert buffer_sets(tiny, l2) == 1 and tiny * ROTATE_MAX_SETS < target  # would need too many copies
    assert buffer_sets(0, l2) == 1


def test_rotation_sets_only_where_the_l2_mode_is_rotated_and_asks_the_size_only_then() -> None:
    from bench.timing.settings import TimingSettings

    l2 = 50 << 20
    asked = []

    def size() -> int:
        asked.append(1)
        return 10 << 20

    assert D.rotation_sets(TimingSettings(rotate_buffers=False), size, l2) == 1
    assert D.rotation_sets(TimingSettings(l2_flush=True, rotate_buffers=False), size, l2) == 1
    assert not asked  # a warm or flushed L2 times one set: its size is never needed
    assert D.rotation_sets(TimingSettings(), size, l2) == D.buffer_sets(10 << 20, l2) == 10
    assert D.rotation_sets(TimingSettings(), lambda: 0, l2) == 1  # nothing to copy
