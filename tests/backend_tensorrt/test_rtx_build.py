"""Every network the harness makes, built ahead of time through the real TensorRT-RTX (no GPU needed).

This is the shared code path of both TensorRT backends (network definition, precision recipes,
builder config, error capture, engine cache) run against a real TensorRT module; only the choices
that differ by generation are tested as pure functions (test_trt_features.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.backends.base import BackendOptions
from bench.backends.tensorrt.backend import BuildOnlyError, TensorRTRTXBackend
from bench.backends.tensorrt.build import EngineBuilder
from bench.backends.tensorrt.capture import TensorRTError
from bench.point import Point, WeightsSpec
from bench.problem import make_problem

pytestmark = [
    pytest.mark.rtx,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorrt_rtx") is None,
        reason="tensorrt_rtx is not installed: pip install 'scale-bench[rtx]' (tensorrt-rtx-cu13)",
    ),
]

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
AXES = (None, 0, 1, 2, -1)


def _points() -> list[Point]:
    points = []
    for shape in ((1, 3, 3, 3), (2, 2, 3, 4)):
        for precision in PRECISIONS:
            points.append(Point(shape, "uniform", precision, None, "tensorrt-rtx"))
            for mode in ("channel", "elementwise"):
                points += [Point(shape, mode, precision, axis, "tensorrt-rtx") for axis in AXES]
    for shape in ((4, 6), (2, 3, 2, 2, 2)):  # rank 2 and rank 5
        points += [Point(shape, "uniform", p, None, "tensorrt-rtx") for p in ("fp32", "int8")]
        for mode in ("channel", "elementwise"):
            points += [Point(shape, mode, p, axis, "tensorrt-rtx") for p in ("fp32", "int8") for axis in (1, -1)]
        points.append(Point(shape, "channel", "fp16", 0, "tensorrt-rtx"))
    # add_scale's default axis agrees with bench.reference (axis 1) on rank 4, and on rank 2 by
    # coincidence (-1 == 1); see test_add_scale_default_axis for rank 3 and 5.
    points += [Point((4, 6), m, "fp32", None, "tensorrt-rtx") for m in ("channel", "elementwise")]
    # the seed's own examples: constant weights, arange data; and a power that is not 1
    seed = WeightsSpec(kind="constant", shift=[-2.5, -7.0, -11.5], scale=0.5)
    points.append(Point((1, 3, 3, 3), "channel", "fp32", None, "tensorrt-rtx", weights=seed))
    points.append(Point((1, 3, 3, 3), "elementwise", "bf16", None, "tensorrt-rtx", weights=WeightsSpec(power=2.0)))
    return points


POINTS = _points()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> TensorRTRTXBackend:
    """One backend (one Builder, one logger) for all builds, as a sweep uses it."""
    options = BackendOptions(build_only=True, cache_dir=tmp_path_factory.mktemp("trt-cache"))
    with TensorRTRTXBackend(options) as b:
        yield b


@pytest.mark.parametrize("point", POINTS, ids=[p.label() for p in POINTS])
def test_builds_ahead_of_time(backend: TensorRTRTXBackend, point: Point) -> None:
    assert backend.unsupported(point) is None
    prepared = backend.prepare(point, make_problem(point))
    build = prepared.build
    assert build.engine_bytes is not None and build.engine_bytes > 0
    assert build.build_s is not None and build.build_s > 0
    assert not build.cached
    assert build.builder_settings["target"] == "aot"
    assert build.builder_settings["precision"]["typing"] == "strong"
    assert build.builder_settings["layer_call"] == ("add_scale" if point.channel_axis is None else "add_scale_nd")
    assert build.layer_info and "builder log" in build.layer_info  # no inspector without a GPU
    with pytest.raises(BuildOnlyError, match="only built"):
        prepared.output()


@pytest.mark.parametrize(("shape", "axis"), [((4, 6), -1), ((5, 4, 6), 0), ((2, 5, 4, 6), 1), ((2, 3, 5, 4, 6), 2)])
def test_add_scale_default_axis(backend: TensorRTRTXBackend, shape: tuple[int, ...], axis: int) -> None:
    """TensorRT-RTX's add_scale puts the channel on the third axis from the end (the last on rank 2):
    layer.channel_axis says so. It is recorded per row as builder_settings['trt_channel_axis']."""
    weights = WeightsSpec(kind="constant", shift=[1.0] * shape[axis], scale=[0.5] * shape[axis])
    point = Point(shape, "channel", "fp32", None, "tensorrt-rtx", weights=weights)
    build = backend.prepare(point, make_problem(point)).build
    assert build.builder_settings["trt_channel_axis"] == axis


def _failure(backend: TensorRTRTXBackend, point: Point) -> str:
    assert backend.unsupported(point) is None  # TensorRT judges, not the planner
    with pytest.raises(TensorRTError) as info:
        backend.prepare(point, make_problem(point))
    return str(info.value)


def test_wrong_weight_count_fails_with_tensorrts_message(backend: TensorRTRTXBackend) -> None:
    weights = WeightsSpec(kind="constant", shift=[-2.5, -7.0, -11.5, 1.0], scale=0.5)
    point = Point((1, 3, 3, 3), "channel", "fp32", None, "tensorrt-rtx", weights=weights)
    msg = _failure(backend, point)
    assert "shift weights has count 4 but 3 was expected" in msg
    assert "CUDA driver version is insufficient" not in msg


def test_axis_out_of_range_fails_with_tensorrts_message(backend: TensorRTRTXBackend) -> None:
    msg = _failure(backend, Point((1, 3, 3, 3), "channel", "fp32", 5, "tensorrt-rtx"))
    assert "channel axis 5 must be in range [-4, 4)" in msg
    assert "CUDA driver version is insufficient" not in msg


def test_v2_is_skipped_on_rtx(tmp_path: Path) -> None:
    b = TensorRTRTXBackend(BackendOptions(build_only=True, trt_api="v2", cache_dir=tmp_path))
    reason = b.unsupported(Point((1, 3, 3, 3), "uniform", "fp32", None, "tensorrt-rtx"))
    assert reason is not None and "execute_async_v2" in reason


def test_engine_cache_skips_the_second_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point = Point((2, 2, 3, 4), "channel", "fp16", 0, "tensorrt-rtx")
    problem = make_problem(point)
    first = TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=tmp_path)).prepare(point, problem)
    assert not first.build.cached

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the engine cache should have skipped this build")

    monkeypatch.setattr(EngineBuilder, "_build", no_build)
    second = TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=tmp_path)).prepare(point, problem)
    assert second.build.cached
    assert second.build.engine_bytes == first.build.engine_bytes
    assert second.build.build_s == first.build.build_s  # the original build's time, kept with the engine
    assert second.build.builder_settings == first.build.builder_settings
    assert second.build.layer_info == first.build.layer_info
    # another workload is another key: it is built
    other = Point((2, 2, 3, 4), "channel", "fp16", 1, "tensorrt-rtx")
    with pytest.raises(AssertionError, match="engine cache"):
        TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=tmp_path)).prepare(other, make_problem(other))
    # an engine another version of the harness's network code built is not this code's engine
    from bench.backends.tensorrt import build as build_module

    monkeypatch.setattr(build_module, "recipe_digest", lambda: "0" * 16)
    with pytest.raises(AssertionError, match="engine cache"):
        TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=tmp_path)).prepare(point, problem)


def test_info_without_a_gpu(tmp_path: Path) -> None:
    import tensorrt_rtx

    info = TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=tmp_path)).info()
    assert info.backend == "tensorrt-rtx"
    assert info.backend_version == tensorrt_rtx.__version__
    assert info.extra["trt_module"] == "tensorrt_rtx"
    if info.gpu_name is None:
        assert info.extra["build_target"] == "aot"


def test_execution_without_a_gpu_is_refused_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs on every host: the GPU probe is told there is no GPU (a GPU host answers it truthfully
    otherwise), and the real TensorRT-RTX adapter must refuse before any point, naming --build-only."""
    from bench.errors import UserError
    from bench.gpu import cuda

    monkeypatch.setattr(cuda, "gpu_available", lambda: (False, "no usable CUDA device (test)"))
    b = TensorRTRTXBackend(BackendOptions(build_only=False, cache_dir=tmp_path))
    with pytest.raises(UserError, match="--build-only") as info:
        b.info()
    assert "\n" not in str(info.value) and "no usable CUDA device (test)" in str(info.value)
    point = Point((1, 3, 3, 3), "uniform", "fp32", None, "tensorrt-rtx")
    with pytest.raises(BuildOnlyError, match="--build-only"):  # a caller that skips info() gets the same words
        b.prepare(point, make_problem(point))
