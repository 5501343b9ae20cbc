"""Every tuning candidate on a real GPU: the same output as every other candidate, and the reference's,
for every mode, precision and weight kind, odd sizes and tails; the tuner's records and pins.

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import reference
from bench.backends.base import BackendOptions
from bench.backends.cuda_backend import CudaBackend
from bench.gpu import kernel_generator as KG
from bench.gpu import kernel_layout as K
from bench.gpu import tuning as T
from bench.gpu import tuning_store as S
from bench.gpu.launch_sets import LaunchSet
from bench.point import Point, WeightsSpec
from bench.problem import make_problem

pytestmark = pytest.mark.gpu

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# odd sizes and tails; (3, 257, 129) spans many blocks and reuse groups with a tail of 3 (int8)
SHAPES = [(1, 3, 3, 3), (2, 3, 5, 7), (3, 5, 7), (7,), (2, 16, 9, 9), (5, 3, 56), (3, 257, 129)]


def _cases(shapes=SHAPES):
    out = []
    for shape in shapes:
        out.append((shape, "uniform", None))
        axes = sorted({None if len(shape) >= 3 else 0, 0, len(shape) - 1, -1}, key=str)
        out += [(shape, mode, a) for mode in ("channel", "elementwise") for a in axes]
    return out


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> CudaBackend:
    return CudaBackend(BackendOptions(kernel_config="default", cache_dir=tmp_path_factory.mktemp("cache")))


def _every_candidate(prepared) -> list[K.KernelConfig]:
    vector, direct = prepared.layouts["vector"], prepared.layouts.get("direct")
    sizes = ["l2-9", "hbm"] + (["tiny"] if direct is not None else [])
    return list(dict.fromkeys(c for size in sizes for c in T.candidates(vector, size, direct)))


def _check_all(backend, point) -> int:
    problem = make_problem(point)
    with backend.prepare(point, problem) as prepared:
        first = None
        configs = _every_candidate(prepared)
        for cfg in configs:
            ran = prepared.select(cfg)
            out = prepared.output()
            result = problem.check(out)
            assert result.correct, f"{point.label()} {ran}: max error {result.max_abs_err} > {result.tolerance}"
            if first is None:
                first = out
            assert out.tobytes() == first.tobytes(), f"{point.label()} {ran}: not bit for bit the first candidate's"
    return len(configs)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "mode", "axis"), _cases())
def test_every_candidate_computes_the_same_correct_output(backend, shape, mode, axis, precision) -> None:
    assert _check_all(backend, Point(shape, mode, precision, axis, "cuda")) >= 2


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "mode", "axis"), _cases([(2, 3, 5, 7), (5, 3, 56)]))
def test_per_lane_weights_are_right_in_every_candidate(backend, monkeypatch, shape, mode, axis, precision) -> None:
    monkeypatch.setattr(K, "EXPAND_MAX", 4)  # no expansion: each lane's weight index is stepped
    _check_all(backend, Point(shape, mode, precision, axis, "cuda"))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(
    ("shape", "mode", "axis"), [((2, 3, 5, 7), "channel", None), ((3, 257, 129), "elementwise", 1)]
)
def test_every_candidate_applies_power(backend, shape, mode, axis, precision) -> None:
    _check_all(backend, Point(shape, mode, precision, axis, "cuda", weights=WeightsSpec(power=2.0)))


@pytest.mark.parametrize("shape", [(1, 3, 3, 3), (3, 257, 129)])
def test_int8_turns_nan_into_zero_in_every_candidate(backend, shape) -> None:
    """A negative base to power 0.5 is NaN; int8 holds no NaN and the kernel writes 0, as cvt.rni does."""
    point = Point(shape, "elementwise", "int8", -1, "cuda", weights=WeightsSpec(power=0.5))
    problem = make_problem(point)
    ref = reference.scale(problem.real_input(), "elementwise", problem.shift, problem.scale, problem.power, -1)
    nan = np.isnan(ref)
    assert nan.any() and not nan.all()
    with backend.prepare(point, problem) as prepared:
        for cfg in _every_candidate(prepared):
            prepared.select(cfg)
            out = prepared.output()
            assert (out[nan] == 0).all(), cfg
            err = np.abs(out[~nan] * problem.out_scale - problem.expected[~nan]).max()
            assert err <= problem.out_scale * 1.0001, cfg


def test_a_class_is_tuned_on_its_first_point_checked_on_the_next_and_both_read_back_later(tmp_path, capfd) -> None:
    first_point = Point((4, 64, 56, 56), "elementwise", "int8", 1, "cuda")
    second_point = Point((4, 64, 56, 56), "elementwise", "int8", 0, "cuda")  # same class, another axis
    backend = CudaBackend(BackendOptions(cache_dir=tmp_path))
    seen = {}
    for point in (first_point, second_point):
        problem = make_problem(point)
        with backend.prepare(point, problem) as prepared:
            seen[point.key] = dict(prepared.build.kernel_config)
            assert problem.check(prepared.output()).correct
            own = 5  # input, output and three weight buffers, each with one allocation of copies
            assert len(prepared._buffers) <= 2 * own, "the candidates' buffer copies were not shared"
    tuned, checked = seen[first_point.key], seen[second_point.key]
    assert tuned["source"] == "tuned" and checked["source"] == "checked"
    assert tuned["tuning_key"] == checked["tuning_key"] == "int8/elementwise/periodic-p3/l2-9/pow1"
    records = {(r.point_key, r.source): r for _, r in S.all_records(tmp_path)}
    cls = records[(None, "tuned")]
    assert cls.timing == "graph-rotated" and all(c.median_us for c in cls.candidates)
    assert cls.config in cls.shortlist_configs and 1 <= len(cls.shortlist) <= T.SHORTLIST_MAX
    point_record = records[(second_point.key, "checked")]
    assert [c.config for c in point_record.candidates] == cls.shortlist
    assert (first_point.key, "tuned") in records
    err = capfd.readouterr().err
    assert f"kernel tuning [{cls.gpu['name']}] {cls.key}: timing" in err and "candidates timed in" in err
    assert "one by one" not in err, err  # timed interleaved in one graph, not by the fallback
    again = CudaBackend(BackendOptions(cache_dir=tmp_path))  # a later run: every decision read back
    for point in (first_point, second_point):
        with again.prepare(point, make_problem(point)) as prepared:
            assert prepared.build.kernel_config == {**seen[point.key], "source": "cached"}


def test_imported_launches_are_run_as_given_and_others_are_decided_here(tmp_path, capfd) -> None:
    point = Point((4, 64, 56, 56), "channel", "fp16", 2, "cuda")
    other = Point((4, 64, 56, 56), "channel", "fp16", 0, "cuda")
    problem = make_problem(point)
    probe = CudaBackend(BackendOptions(cache_dir=tmp_path / "probe", kernel_config="default"))
    with probe.prepare(point, problem) as prepared:
        name = prepared.device.name
    launch = K.KernelConfig("vector", 128, 2, "oneshot", "streaming")
    carried = LaunchSet(name, KG.generator_hash(), "graph-rotated", {point.key: launch.as_dict()}, origin="test")
    backend = CudaBackend(BackendOptions(cache_dir=tmp_path / "store", launches=carried))
    with backend.prepare(point, problem) as prepared:
        cfg = prepared.build.kernel_config
        assert problem.check(prepared.output()).correct
    assert (cfg["source"], cfg["block"], cfg["vectors_per_thread"], cfg["cache_hint"]) == (
        "imported",
        128,
        2,
        "streaming",
    )
    with backend.prepare(other, make_problem(other)) as prepared:
        assert prepared.build.kernel_config["source"] == "tuned"
    assert "not among the imported launches" in capfd.readouterr().err
    foreign = LaunchSet(
        "NVIDIA B200", KG.generator_hash(), "graph-rotated", {point.key: launch.as_dict()}, origin="b200"
    )
    with CudaBackend(BackendOptions(cache_dir=tmp_path / "store", launches=foreign)).prepare(
        point, problem
    ) as prepared:
        assert prepared.build.kernel_config["source"] in ("tuned", "cached", "checked")
    assert "not using the launches of b200" in capfd.readouterr().err


def test_bench_tuning_scan_times_every_candidate_of_each_point(tmp_path) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "scan.jsonl"
    cmd = [sys.executable, "-m", "bench", "tuning", "scan", "--shape", "4x64x56x56", "--mode", "channel",
           "--precision", "fp16", "--channel-axis", "1", "--backend", "cuda", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False)
    assert proc.returncode == 0, proc.stderr
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(line["candidates"]) >= 10 and all(c["median_us"] and c["samples"] for c in line["candidates"])


def test_a_pinned_configuration_is_run_as_given_and_recorded(tmp_path) -> None:
    point = Point((4, 64, 56, 56), "channel", "fp16", -1, "cuda")
    problem = make_problem(point)
    backend = CudaBackend(BackendOptions(cache_dir=tmp_path, kernel_config="block=128,vpt=2,cache=streaming"))
    with backend.prepare(point, problem) as prepared:
        assert problem.check(prepared.output()).correct
        cfg = prepared.build.kernel_config
    assert (cfg["block"], cfg["vectors_per_thread"], cfg["cache_hint"], cfg["source"]) == (
        128,
        2,
        "streaming",
        "pinned",
    )
    assert not S.all_records(tmp_path)  # nothing was tuned


def test_interleaved_timing_times_each_launch_as_itself() -> None:
    """Copies of 256 MiB and 64 MiB interleaved in one graph: each segment times its own launch (about
    4x apart), on each of several buffer sets. Both stream from memory: a 16 MiB copy repeated on one
    buffer set stays in the 50 MiB L2 and runs 5.9x faster than a 64 MiB one, not 4x (graph-replayed,
    warm L2: 5.73 vs 33.94 us on the H200, 7.66 vs 46.86 on the H100; 256 MiB took 129.08 and 180.00,
    3.8x the 64 MiB copy: reports/bandwidth/s1-graph-timing-warm-l2-memcpy-h200-vs-h100.md)."""
    from bench.gpu import cuda
    from bench.timing.interleaved import time_interleaved

    big, small = 256 << 20, 64 << 20
    stream = cuda.Stream()
    bufs = [cuda.DeviceBuffer(big) for _ in range(4)]
    try:

        def copy(dst: int, src: int, n: int):
            return lambda s: cuda.memcpy_dtod_async(dst, src, n, s)

        launches = [
            [copy(bufs[0].ptr, bufs[1].ptr, big), copy(bufs[2].ptr, bufs[3].ptr, big)],
            [copy(bufs[1].ptr, bufs[0].ptr, small)],
        ]
        samples = time_interleaved(launches, stream, floor_us=20.0, budget_s=0.05, min_replays=12, max_replays=50)
    finally:
        stream.synchronize()
        for b in bufs:
            b.free()
        stream.close()
    assert all(len(s) >= 12 for s in samples)
    ratio = float(np.median(samples[0]) / np.median(samples[1]))
    assert 3.0 < ratio < 5.0, ratio


def test_event_nodes_in_a_replayed_graph_time_what_plain_events_time() -> None:
    """An event recorded as a graph node (cudaEventRecordExternal) takes a timestamp on every replay:
    a 64 MiB copy timed interleaved (alone, and beside a 16 MiB one in two graphs that share the
    events) reads what the point's own loop (plain events around graph replays) reads, and its samples
    differ from replay to replay."""
    from bench.gpu import cuda
    from bench.timing.device import measure
    from bench.timing.interleaved import time_interleaved
    from bench.timing.settings import TimingSettings

    big, small = 64 << 20, 16 << 20
    stream = cuda.Stream()
    bufs = [cuda.DeviceBuffer(big) for _ in range(2)]
    try:

        def copy(n: int):
            return lambda s: cuda.memcpy_dtod_async(bufs[0].ptr, bufs[1].ptr, n, s)

        alone = time_interleaved([[copy(big)]], stream, floor_us=20.0, budget_s=0.05, min_replays=12, max_replays=50)
        pair = time_interleaved(
            [[copy(big)], [copy(small)]], stream, floor_us=20.0, budget_s=0.05, min_replays=12, max_replays=50
        )
        plain = measure(copy(big), stream, TimingSettings(rotate_buffers=False), nvml_index=None)
    finally:
        stream.synchronize()
        for b in bufs:
            b.free()
        stream.close()
    reference = float(np.median(plain.samples_us))
    for samples in (alone[0], pair[0]):
        assert len(set(samples)) > 1, samples  # a timestamp per replay, not one kept from the first
        assert abs(float(np.median(samples)) / reference - 1) < 0.05, (np.median(samples), reference)
