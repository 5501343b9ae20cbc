"""The tuner's and the copy contest's interleaved clock on a scripted device (tests/scripted_cuda.py):
a real `CudaScalePoint` / `MemcpyPoint`, its real plans, rotation and tuner, with CUDA replaced by a
device clock on which each launch costs what the test says. Each contender's samples must be its own
launch's time, on its own rotated buffers, with the run's default timing (graph, rotated L2)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import scripted_cuda as SC

from bench.backends.base import BackendOptions
from bench.gpu import kernel_cache
from bench.gpu import tuning as T
from bench.gpu import tuning_store as S
from bench.point import Point
from bench.problem import make_problem


@dataclass
class _Device:
    name: str = "NVIDIA H200"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000001"
    index: int = 0
    driver_version: str = "13.0"
    l2_bytes: int = 50 << 20
    sm_count: int = 132
    max_threads_per_sm: int = 2048
    compute_capability: str = "9.0"
    arch: str = "sm_90"


def _kernel_name(source: str) -> str:
    return "k" + hashlib.sha256(source.encode()).hexdigest()[:12]


def _cost_us(name: str, pointers: tuple[int, ...]) -> float:
    """Every launch its own time, 2-3 us, whichever buffer set it runs on."""
    if name == "cudaMemcpyAsync":
        return 2.5
    return 2.0 + int(name[1:], 16) % 1000 / 1000


@pytest.fixture
def device(monkeypatch) -> SC.ScriptedDevice:
    dev = SC.ScriptedDevice(_cost_us)
    SC.install(monkeypatch, dev)

    def compile_kernels(sources, name, arch, options=()):
        return [SC.Kernel(_kernel_name(s), dev) for s in sources]

    monkeypatch.setattr(kernel_cache, "compile_kernels", compile_kernels)
    monkeypatch.setattr(kernel_cache, "compile_kernel", lambda s, n, a, o=(): compile_kernels([s], n, a)[0])
    return dev


def test_each_tuning_candidate_is_timed_as_its_own_launch_on_rotated_buffers(tmp_path: Path, device, capsys) -> None:
    from bench.backends.cuda_backend import CudaScalePoint
    from bench.backends.kernel_tuner import KernelTuner

    point = Point((4, 64, 56, 56), "uniform", "fp32", None, "cuda")  # 6.4 MB a set: rotated
    tuner = KernelTuner(BackendOptions(cache_dir=tmp_path))
    prepared = CudaScalePoint(make_problem(point), _Device(), tuner)
    assert prepared.build.kernel_config["source"] == "tuned"
    names = {cfg.label(): plan.kernel.name for cfg, plan in prepared._plans.items()}
    [cls] = [r for _, r in S.all_records(tmp_path) if r.point_key is None]
    assert len(cls.candidates) > 2
    for cand in cls.candidates:
        assert cand.median_us == pytest.approx(_cost_us(names[cand.label], ()), rel=1e-9), cand.label
    fastest = min(c.median_us for c in cls.candidates)
    [chosen] = [c for c in cls.candidates if c.config == cls.chosen]
    assert chosen.median_us <= fastest * (1 + T.CAP)
    sets = prepared.buffer_sets(tuner.run_timing)
    assert sets > 1
    for name in names.values():  # every launch ran on the point's own input and on every copy of it
        inputs = {ptrs[0] for ran, ptrs in device.ran if ran == name}
        assert prepared.x.ptr in inputs and len(inputs) == sets, name
    assert "one by one" not in capsys.readouterr().err  # timed interleaved, not by the fallback


def test_each_copy_contender_is_timed_as_its_own_copy(device, monkeypatch, capsys) -> None:
    from bench.backends.memcpy_backend import MemcpyPoint
    from bench.gpu import data_kernels
    from bench.timing.settings import TimingSettings

    monkeypatch.setattr(data_kernels, "bytes_differ", lambda *a: 0)
    point = Point((4, 64, 56, 56), "uniform", "fp32", None, "memcpy")
    prepared = MemcpyPoint(make_problem(point), _Device(), TimingSettings())
    medians = prepared.build.builder_settings["contenders_median_us"]
    assert medians.pop("cudaMemcpyAsync") == pytest.approx(2.5)
    from bench.gpu import copy_kernel

    for config in copy_kernel.CANDIDATES:
        expected = _cost_us(_kernel_name(copy_kernel.source(config)), ())
        assert medians[config.label()] == pytest.approx(expected, rel=1e-9), config
    assert min(medians.values()) < 2.5  # a kernel beat the driver's copy here
    assert prepared.build.kernel_config["copy"] != "cudaMemcpyAsync"
    assert "one by one" not in capsys.readouterr().err


def test_one_replay_is_one_sample_of_every_launch_each_on_its_own_buffer_sets(device) -> None:
    from bench.gpu import cuda
    from bench.timing.interleaved import time_interleaved

    costs = {"a": 1.0, "b": 3.0, "c": 7.5}
    device.cost_us = lambda name, pointers: costs[name[0]]
    launches = [[SC.Launch(f"{n}{s}", (s,), device) for s in range(sets)] for n, sets in (("a", 1), ("b", 4), ("c", 3))]
    samples = time_interleaved(launches, cuda.Stream(), floor_us=20.0, budget_s=0.01, min_replays=12, max_replays=50)
    assert [len(s) for s in samples] == [len(samples[0])] * 3 and len(samples[0]) >= 12
    for name, got in zip(costs, samples, strict=True):
        assert got == pytest.approx([costs[name]] * len(got))
    # graphs: the probe, forward, backward; the last replay ran forward on an odd count of replays
    backward = len(samples[0]) % 2 == 0
    calls = device.graphs_nodes[2 if backward else 1] - 2 * len(launches)  # less the event nodes
    last = [name for name, _ in device.ran[-calls:]]
    order = "cba" if backward else "abc"
    runs = [n for i, n in enumerate(last) if i == 0 or n[0] != last[i - 1][0]]
    assert [n[0] for n in runs] == list(order)  # one segment of each launch, the first behind its lead-in
    for name, sets in (("b", 4), ("c", 3)):  # a segment cycles over its launch's sets, a whole number of times
        got = [n for n in last if n[0] == name]
        if name == order[0]:
            got = got[len(got) // 2 :]  # the timed segment after its lead-in
        assert got == [f"{name}{i % sets}" for i in range(len(got))] and len(got) % sets == 0


def test_contenders_are_timed_one_by_one_where_the_interleaved_graph_cannot_be_captured(
    device, monkeypatch, capsys
) -> None:
    from bench.backends.memcpy_backend import MemcpyPoint
    from bench.gpu import copy_kernel, data_kernels
    from bench.gpu.cuda import CudaError
    from bench.timing.settings import TimingSettings

    def refuse(self, stream) -> None:
        raise CudaError("cudaEventRecordWithFlags failed: cudaErrorStreamCaptureUnsupported")

    monkeypatch.setattr(SC.Event, "record_in_graph", refuse)
    monkeypatch.setattr(data_kernels, "bytes_differ", lambda *a: 0)
    point = Point((4, 64, 56, 56), "uniform", "fp32", None, "memcpy")
    fast = TimingSettings(warmup_s=0.0001, min_samples=5, min_time_s=0.0001, max_time_s=0.01)
    prepared = MemcpyPoint(make_problem(point), _Device(), fast)
    assert "one by one" in capsys.readouterr().err
    medians = prepared.build.builder_settings["contenders_median_us"]
    assert medians.pop("cudaMemcpyAsync") == pytest.approx(2.5)
    for config in copy_kernel.CANDIDATES:
        assert medians[config.label()] == pytest.approx(_cost_us(_kernel_name(copy_kernel.source(config)), ()))


def test_a_candidate_that_cannot_launch_is_its_error_and_the_others_are_still_timed_interleaved(
    tmp_path: Path, device, monkeypatch, capsys
) -> None:
    """A launch refused by the driver (too many resources for its block) must not invalidate the graph
    that times the other candidates: it is found by one eager launch and recorded with its error."""
    from bench.backends.cuda_backend import CudaScalePoint
    from bench.backends.kernel_tuner import KernelTuner
    from bench.gpu.cuda import CudaError

    def compile_kernels(sources, name, arch, options=()):  # blocks of 1024 cannot launch on this device
        return [SC.Kernel(("z" if "#define BLOCK 1024" in s else "k") + _kernel_name(s)[1:], device) for s in sources]

    monkeypatch.setattr(kernel_cache, "compile_kernels", compile_kernels)
    launch = SC.Launch.__call__

    def refuse_big_blocks(self, stream) -> None:
        if self.name.startswith("z"):
            raise CudaError("cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")
        launch(self, stream)

    monkeypatch.setattr(SC.Launch, "__call__", refuse_big_blocks)
    point = Point((4, 64, 56, 56), "uniform", "fp32", None, "cuda")
    prepared = CudaScalePoint(make_problem(point), _Device(), KernelTuner(BackendOptions(cache_dir=tmp_path)))
    [cls] = [r for _, r in S.all_records(tmp_path) if r.point_key is None]
    refused = [c for c in cls.candidates if c.config["block"] == 1024]
    assert refused and all(c.error and "OUT_OF_RESOURCES" in c.error for c in refused)
    names = {cfg.label(): plan.kernel.name for cfg, plan in prepared._plans.items()}
    for cand in cls.candidates:
        if cand.config["block"] != 1024:
            assert cand.median_us == pytest.approx(_cost_us(names[cand.label], ()), rel=1e-9), cand.label
    assert cls.chosen["block"] != 1024
    assert "one by one" not in capsys.readouterr().err
