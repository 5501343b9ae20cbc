"""The device data path without a GPU: every kernel source compiles (NVRTC runs on a CPU), the weight
indexing the kernels use is the reference's broadcasting, a shared device input is freed only by its
last holder, and the host path (the numpy backend, `--verify host`) still judges on the host.

What needs a GPU (bits, errors, a whole sweep) is in tests/gpu/test_device_data.py."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from nvrtc_helpers import needs_nvrtc
from run_helpers import run_planned, spec_for

from bench import device_data, reference
from bench.backends.base import Backend
from bench.cli.main import main
from bench.execution.worker import PointWorker
from bench.gpu import data_kernels as D
from bench.gpu import placement
from bench.planning import PlannedPoint
from bench.point import Point, WeightsSpec
from bench.problem import make_problem


@needs_nvrtc
@pytest.mark.parametrize("arch", ["sm_90", "sm_80"])
def test_every_data_kernel_source_compiles(arch):
    from bench.gpu.kernel_cache import compile_cubin

    sources = D.all_sources()
    kinds = len(D.KINDS) * 4 + 4 * len(D.WEIGHT_PRECISIONS) * 2 + 1
    assert len(sources) == kinds
    for source, name, options in sources:
        cubin = compile_cubin(source, name, arch, options)
        assert len(cubin) > 0 and name.encode() in cubin


@needs_nvrtc
def test_the_kernels_are_compiled_without_contraction_and_with_every_name():
    from bench.gpu.kernel_cache import compile_ptx

    ptx = compile_ptx(D.reference_source("fp32", "fp32", False), "ref", "compute_90", D.OPTIONS)
    assert "fma.rn.f64" not in ptx and "mul.rn.f64" in ptx and "add.rn.f64" in ptx
    for name in ("reference_amax", "max_error"):
        assert f".entry {name}" in ptx
    ptx = compile_ptx(D.input_source("random", "int8"), "gen", "compute_90", D.OPTIONS)
    assert ".entry make_input" in ptx and ".entry input_amax" in ptx
    assert "cvt.rni.f64.f64" in ptx  # rint: round half to even, as NumPy's


def test_sources_name_what_they_refuse():
    with pytest.raises(ValueError, match="precision"):
        D.input_source("random", "fp8")
    with pytest.raises(ValueError, match=r"data\.kind"):
        D.input_source("ones", "fp32")
    with pytest.raises(ValueError, match="weights are stored"):
        D.reference_source("int8", "int8", False)


def _cases():
    for shape in [(2, 3, 5, 7), (3, 5, 7), (7,), (4, 1, 6), (2, 3, 4, 5, 6)]:
        yield shape, "uniform", None
        for mode in ("channel", "elementwise"):
            for axis in sorted({None, 0, len(shape) - 1, -1} - ({None} if len(shape) < 3 else set()), key=str):
                yield shape, mode, axis


@pytest.mark.parametrize(("shape", "mode", "axis"), list(_cases()))
def test_weight_indexing_picks_what_the_reference_broadcasts(shape, mode, axis):
    count = math.prod(reference.weight_shape(shape, mode, axis))
    w = np.arange(count, dtype=np.float64) + 1.0
    scale, _, _ = reference.broadcast_weights(shape, mode, None, w, None, axis)
    expected = np.broadcast_to(scale, shape).reshape(-1)
    inner, modulus = D.weight_indexing(shape, mode, axis)
    picked = w[(np.arange(math.prod(shape)) // inner) % modulus]
    np.testing.assert_array_equal(picked, expected)


class _Buffer:
    def __init__(self) -> None:
        self.nbytes, self.freed = 64, 0

    def free(self) -> None:
        self.freed += 1


def test_a_shared_input_is_freed_by_its_last_holder_only_once():
    buf = _Buffer()
    shared = device_data.SharedInput(("k",), buf, None)  # type: ignore[arg-type]
    point_a, point_b = shared.acquire(), shared.acquire()
    shared.release()  # the worker moves to another shape
    point_a.release()
    assert buf.freed == 0 and shared.alive  # a point kept open still reads it
    point_b.release()
    assert buf.freed == 1 and not shared.alive
    shared.release()
    assert buf.freed == 1
    with pytest.raises(RuntimeError, match="released"):
        shared.acquire()


def test_the_input_key_is_shape_data_and_precision():
    a = Point((2, 3), "uniform", "fp16", None, "cuda")
    assert device_data.input_key(a) == device_data.input_key(Point((2, 3), "channel", "fp16", 0, "memcpy"))
    assert device_data.input_key(a) != device_data.input_key(Point((2, 3), "uniform", "bf16", None, "cuda"))


def test_a_bad_verify_value_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--sweep", "smoke", "--verify", "gpu", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--verify" in err and "'device', 'host'" in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_the_numpy_backend_is_judged_on_the_host_whatever_verify_says(tmp_path):
    planned = [
        PlannedPoint(Point((2, 3, 4, 5), m, p, None, "numpy")) for m in ("uniform", "channel") for p in ("fp16", "int8")
    ]
    df, summary = run_planned(tmp_path, planned, verify="device")
    assert summary.counts == {"ok": 4}
    assert df["correct"].all()
    assert {json.loads(e)["verified_on"] for e in df["environment"]} == {"host"}
    assert (df["max_abs_err"] <= df["tolerance"]).all()


def test_a_worker_keeps_one_shapes_inputs_one_per_precision_and_makes_each_once(monkeypatch):
    made: list[tuple] = []

    def fake_make_input(kind, seed, numel, precision, arch, stream):
        made.append((numel, precision))
        return _Buffer(), (0.5 if precision == "int8" else None)

    class _Device:
        arch = "sm_90"

    primed: list[list[int]] = []
    monkeypatch.setattr(D, "make_input", fake_make_input)
    monkeypatch.setattr(placement, "prime_allocations", lambda sizes, stream: primed.append(list(sizes)))
    inputs = device_data.DeviceInputs(_Device())  # type: ignore[arg-type]
    inputs._stream = object()  # type: ignore[assignment]  (no GPU: the fake maker ignores it)
    a16, a8 = (Point((2, 3, 4), "channel", p, None, "cuda") for p in ("fp16", "int8"))
    first = inputs.input_for(a16)
    assert inputs.input_for(Point((2, 3, 4), "uniform", "fp16", None, "memcpy")) is first
    quantized = inputs.input_for(a8)
    assert inputs.input_for(a16) is first and quantized.in_scale == 0.5
    assert made == [(24, "fp16"), (24, "int8")]  # each precision of the shape made once
    held = first.acquire()  # a point kept open between rounds
    inputs.input_for(Point((5, 5), "uniform", "fp16", None, "cuda"))  # the next shape
    assert not quantized.alive and quantized.buffer.freed == 1
    assert first.alive and first.buffer.freed == 0
    held.release()
    assert first.buffer.freed == 1
    inputs._stream = None
    inputs.close()
    assert len(made) == 3
    assert primed == [[48], [24], [50]]  # each input primed at its own size before it was made


class _DeviceJudged(Backend):
    """A backend the device path serves, asked only what a point needs (no GPU): input, output, weights."""

    name = "cuda"
    needs_gpu = True
    verifies_on_device = True

    def info(self):  # pragma: no cover - never started
        raise AssertionError

    def prepare(self, point, problem):  # pragma: no cover - never prepared
        raise AssertionError

    def device_bytes(self, point, timing):
        return 2 * point.tensor_bytes + point.weight_bytes

    def device_free_bytes(self):
        return 1 << 50


def _room(verify: str, point: Point) -> tuple[dict | None, dict]:
    spec = dataclasses.replace(spec_for([PlannedPoint(point)]), verify=verify)
    worker = PointWorker(spec, facts=dict, backends={"cuda": _DeviceJudged()})
    row: dict = {}
    return worker._does_not_fit(point, worker.backends["cuda"], row), row


def test_the_device_path_needs_host_memory_for_the_weights_alone(monkeypatch):
    monkeypatch.setenv("BENCH_HOST_MEMORY_LIMIT", str(256 << 20))
    point = Point((64, 256, 128, 128), "channel", "fp32", None, "cuda")  # 1 GiB a tensor, made on the GPU
    refused, _ = _room("host", point)
    assert refused is not None and "does not fit" in refused["error"]
    fits, row = _room("device", point)
    assert fits is None and row["host_bytes_needed"] < 1 << 20


def test_the_device_path_counts_the_references_copy_of_the_weights():
    point = Point((8, 64, 56, 56), "elementwise", "int8", 0, "cuda")  # shift and scale in fp32: 8 bytes an element
    _, host_row = _room("host", point)
    _, device_row = _room("device", point)
    assert host_row["device_bytes_needed"] == 2 * point.tensor_bytes + point.weight_bytes
    assert device_row["device_bytes_needed"] == host_row["device_bytes_needed"] + point.weight_bytes


def test_an_int8_nan_reference_is_expected_as_code_zero_on_both_paths():
    """The host's quantize casts a NaN reference to code 0 (what the cuda kernel writes); the device's
    comparison expects the same, not NaN (which an int8 output can never match). The GPU test
    test_an_int8_nan_reference_expects_code_zero_as_the_host_does runs it."""
    weights = WeightsSpec(kind="constant", shift=[0.0, float("nan"), 0.5], scale=1.0)
    problem = make_problem(Point((2, 3, 5, 7), "channel", "int8", None, "cuda", weights))
    with np.errstate(invalid="ignore"):
        nan = np.isnan(problem._reference)
        assert nan.any() and (problem.expected[nan] == 0.0).all()
    assert "isnan(r) ? 0.0 : quant(r, out_scale) * out_scale" in D.reference_source("int8", "fp32", True)
