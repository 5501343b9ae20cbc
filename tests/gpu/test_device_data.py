"""Inputs made and outputs judged on a real GPU (`--verify device`, bench.device_data), against the host path.

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu/test_device_data.py -q
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from run_helpers import run_planned

from bench import device_data, inputs
from bench import precision as prec
from bench.backends.base import BackendOptions
from bench.backends.cuda_backend import CudaBackend
from bench.backends.gpu_common import gpu_device, poison_byte
from bench.backends.memcpy_backend import MemcpyBackend
from bench.cli.main import main
from bench.gpu import data_kernels as D
from bench.planning import PlannedPoint
from bench.point import DataSpec, Point, WeightsSpec
from bench.precision import PRECISIONS, numpy_dtype
from bench.problem import make_problem
from bench.results import load
from bench.timing.settings import TimingSettings

pytestmark = pytest.mark.gpu

BIG = (1, 2**12 + 1, 2**12 + 3)  # 16,789,507 elements: past 2**24, where float32 stops holding every integer


@pytest.fixture(scope="module")
def device():
    return gpu_device(0)


@pytest.fixture
def stream():
    from bench.gpu.cuda import Stream

    s = Stream()
    yield s
    s.close()


@pytest.fixture(scope="module")
def cuda_backend(tmp_path_factory) -> CudaBackend:
    return CudaBackend(BackendOptions(kernel_config="default", cache_dir=tmp_path_factory.mktemp("cache")))


def _download(ptr_owner, shape: tuple[int, ...], precision: str, stream) -> np.ndarray:
    host = np.empty(shape, dtype=numpy_dtype(precision))
    return ptr_owner.download(host, stream)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", D.KINDS)
@pytest.mark.parametrize("shape", [(7,), (3, 5, 7), (2, 3, 5, 7), (4, 64, 56, 56), BIG])
def test_the_gpu_input_is_the_host_input_bit_for_bit(device, stream, shape, kind, precision):
    point = Point(shape, "uniform", precision, None, "numpy", data=DataSpec(kind=kind, seed=3))
    host = make_problem(point)
    buf, in_scale = D.make_input(kind, 3, math.prod(shape), precision, device.arch, stream)
    try:
        got = _download(buf, shape, precision, stream)
    finally:
        buf.free()
    assert in_scale == host.in_scale
    if got.tobytes() != host.x.tobytes():
        diff = np.flatnonzero(got.view(np.uint8) != host.x.view(np.uint8))
        pytest.fail(f"{len(diff)} bytes differ, first at byte {diff[0]}: gpu {got.flat[diff[0] // got.itemsize]!r} "
                    f"host {host.x.flat[diff[0] // got.itemsize]!r}")  # fmt: skip


def _cases() -> list[tuple[tuple[int, ...], str, int | None]]:
    out = []
    for shape in [(2, 3, 5, 7), (3, 5, 7), (7,), (4, 64, 56, 56)]:
        out.append((shape, "uniform", None))
        for mode in ("channel", "elementwise"):
            for axis in sorted({None, 0, len(shape) - 1, -1} - ({None} if len(shape) < 3 else set()), key=str):
                out.append((shape, mode, axis))
    return out


def _device_problem(inputs: device_data.DeviceInputs, point: Point, referenced: bool = True):
    problem = inputs.attach(make_problem(point, with_input=False))
    if referenced:
        inputs.add_reference(problem)
    return problem


def _host_and_device_checks(device, cuda_backend, point: Point):
    """The point's output judged on the host path and on the device path (each with its own prepared
    point), and each path's int8 output scale: (host, device, host scale, device scale)."""
    host_problem = make_problem(point)
    with cuda_backend.prepare(point, host_problem) as prepared:
        host = host_problem.check(prepared.output())
    inputs = device_data.DeviceInputs(device)
    try:
        problem = _device_problem(inputs, point)
        dev_scale = problem.out_scale  # read while the device reference is open
        with cuda_backend.prepare(point, problem) as prepared:
            dev = device_data.verify(problem, prepared.device_output(), True)
        problem.device.close()
    finally:
        inputs.close()
    return host, dev, host_problem.out_scale, dev_scale


def _same(a: float, b: float, rel: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("shape", "mode", "axis"), _cases())
def test_the_device_check_agrees_with_the_host_check(device, cuda_backend, shape, mode, axis, precision):
    point = Point(shape, mode, precision, axis, "cuda", data=DataSpec(seed=1))
    host, dev, host_scale, dev_scale = _host_and_device_checks(device, cuda_backend, point)
    assert dev_scale == host_scale
    assert dev.correct and host.correct, (dev, host)
    assert _same(dev.max_abs_err, host.max_abs_err, 1e-9), (dev, host)
    assert dev.tolerance == host.tolerance


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("power", [2.0, 0.5])
def test_the_device_check_agrees_with_a_power(device, cuda_backend, precision, power):
    """A power goes through CUDA's pow (within 2 ulp) and the host's (within 1): the references may differ
    in their last bits, far below any tolerance. Power 0.5 makes NaN wherever x * scale + shift < 0 (int8:
    code 0 on both paths)."""
    point = Point((4, 64, 56, 56), "channel", precision, None, "cuda", WeightsSpec(power=power), DataSpec(seed=2))
    host, dev, _, _ = _host_and_device_checks(device, cuda_backend, point)
    assert dev.correct == host.correct and _same(dev.max_abs_err, host.max_abs_err, 1e-6), (dev, host)
    assert math.isclose(dev.tolerance, host.tolerance, rel_tol=1e-12)


def _both_judges(device, stream, point: Point, out: np.ndarray) -> tuple[float, float]:
    """(device, host) max |out - expected| of the output ``out``: the device reference is built on the host
    problem's own input and weights (uploaded) with the host's output scale, so both judge the same bits."""
    from bench.gpu.cuda import DeviceBuffer

    host = make_problem(point)
    with DeviceBuffer(host.x.nbytes) as x, DeviceBuffer(out.nbytes) as got:
        x.upload(np.ascontiguousarray(host.x), stream)
        got.upload(np.ascontiguousarray(out), stream)
        power = None if host.power_is_one else host.power
        ref = D.DeviceReference(x.ptr, point.precision, host.in_scale, point.shape, point.mode,
                                point.channel_axis, host.shift, host.scale, power, device.arch, stream)  # fmt: skip
        try:
            dev = ref.max_error(got.ptr, host.out_scale)
        finally:
            ref.close()
    return dev, host.check(out).max_abs_err


NAN_CHANNEL = WeightsSpec(kind="constant", shift=[0.0, float("nan"), 0.5], scale=[1.0, 2.0, 0.5])


def test_an_int8_nan_reference_expects_code_zero_as_the_host_does(device, stream):
    """The host quantizes a NaN reference to code 0 (NumPy's cast), which is what the cuda kernel writes:
    the best int8 output is judged exact on both paths, and a NaN channel is no infinite error."""
    point = Point((2, 3, 5, 7), "channel", "int8", None, "cuda", NAN_CHANNEL, DataSpec(seed=4))
    host = make_problem(point)
    best = prec.quantize(host.expected, host.out_scale)  # NaN -> 0, as the host's expected holds it
    assert np.isnan(host._reference.reshape(2, 3, 35)[:, 1]).all() and not best.reshape(2, 3, 35)[:, 1].any()
    assert _both_judges(device, stream, point, best) == (0.0, 0.0)
    wrong = best.copy()
    wrong.reshape(2, 3, 35)[1, 1, 7] = 5  # a code where the NaN channel expects 0
    dev, host_err = _both_judges(device, stream, point, wrong)
    assert dev == host_err == 5 * host.out_scale


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_the_float_nan_and_infinity_rules_are_the_hosts(device, stream, precision):
    """NaN in both agrees, NaN in one is an infinite error, infinity where the reference is finite is an
    infinite error: the device's verdict is the host's on each."""
    point = Point((2, 3, 5, 7), "channel", precision, None, "cuda", NAN_CHANNEL, DataSpec(seed=4))
    host = make_problem(point)
    best = host.expected.astype(numpy_dtype(precision))  # NaN where the reference is NaN
    dev, host_err = _both_judges(device, stream, point, best)
    assert dev == host_err and math.isfinite(dev)  # the rounding to the precision only: the same bits judged
    for k, value in ((0, np.nan), (100, np.inf), (44, 1.0)):  # k = 44: channel 1 (NaN) gets a number
        out = best.copy()
        out.reshape(-1)[k] = value
        dev, host_err = _both_judges(device, stream, point, out)
        assert dev == host_err == math.inf, (k, value, dev, host_err)


# --- indices past 2**32: the hash's upper half, 64-bit loops (16 GiB buffers: the H200 holds them) --------

PAST_32 = 2**32 + 4099


@pytest.mark.parametrize("kind", ["random", "arange"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_elements_past_two_to_the_32_are_the_host_rule(device, stream, kind, precision):
    from bench.gpu.cuda import DeviceBuffer, memcpy_dtod_async

    n, k = PAST_32, 10_000  # the last k elements straddle index 2**32
    itemsize = prec.info(precision).itemsize
    buf, _ = D.make_input(kind, 3, n, precision, device.arch, stream)
    try:
        with DeviceBuffer(k * itemsize) as tail:
            memcpy_dtod_async(tail.ptr, buf.ptr + (n - k) * itemsize, k * itemsize, stream)
            got = tail.download(np.empty(k, dtype=numpy_dtype(precision)), stream)
    finally:
        buf.free()
    if kind == "random":
        real = inputs.random_values(k, 3, start=n - k)
    else:  # bench.inputs.arange_values' rule, for the tail alone
        real = np.arange(n - k, n, dtype=np.int64).astype(np.float32) + np.float32(1.0)
    expected = real.astype(numpy_dtype(precision))
    assert got.tobytes() == expected.tobytes()


def test_the_reference_and_the_comparison_reach_elements_past_two_to_the_32(device, stream):
    """fp32 arange with shift 0 and scale 1: the reference is the input, its largest value the last
    element's; the input's own copy is exact, and one wrong element at the end is seen."""
    from bench.gpu.cuda import DeviceBuffer, memcpy_dtod_async, memset_async

    n = PAST_32
    x, _ = D.make_input("arange", 0, n, "fp32", device.arch, stream)
    try:
        ref = D.DeviceReference(x.ptr, "fp32", None, (n,), "uniform", None, np.zeros(1, np.float32),
                                np.ones(1, np.float32), None, device.arch, stream)  # fmt: skip
        last = float(np.float32(np.float32(n - 1) + np.float32(1.0)))
        try:
            assert ref.ref_max_abs() == last
            with DeviceBuffer(4 * n) as out:
                memcpy_dtod_async(out.ptr, x.ptr, 4 * n, stream)
                assert ref.max_error(out.ptr, None) == 0.0
                memset_async(out.ptr + 4 * (n - 1), 0, 4, stream)  # the last element: 0.0
                assert ref.max_error(out.ptr, None) == last
        finally:
            ref.close()
    finally:
        x.free()


def test_bytes_differ_counts_past_two_to_the_32_bytes(device, stream):
    from bench.gpu.cuda import DeviceBuffer, memset_async

    n = 2**32 + 77
    with DeviceBuffer(n) as a, DeviceBuffer(n) as b:
        memset_async(a.ptr, 7, n, stream)
        memset_async(b.ptr, 7, n, stream)
        assert D.bytes_differ(a.ptr, b.ptr, n, device.arch, stream) == 0
        memset_async(b.ptr + 5, 8, 1, stream)
        memset_async(b.ptr + n - 3, 8, 3, stream)  # past 2**32
        assert D.bytes_differ(a.ptr, b.ptr, n, device.arch, stream) == 4


@pytest.mark.parametrize("precision", PRECISIONS)
def test_memcpy_is_checked_byte_for_byte_on_the_device(device, precision):
    backend = MemcpyBackend()
    point = Point((4, 64, 56, 56), "uniform", precision, None, "memcpy")
    inputs = device_data.DeviceInputs(device)
    try:
        problem = _device_problem(inputs, point, referenced=False)
        with backend.prepare(point, problem) as prepared:
            ok = device_data.verify(problem, prepared.device_output(), False)
            bad = prepared.output()
            bad.view(np.uint8).flat[12345] ^= 1
            prepared.out.upload(np.ascontiguousarray(bad), prepared.stream)
            wrong = device_data.verify(problem, prepared.out.ptr, False)
    finally:
        inputs.close()
    assert ok.correct and ok.max_abs_err == 0.0
    assert not wrong.correct and wrong.max_abs_err == math.inf


def _tampered(device, cuda_backend, point: Point, tamper) -> tuple[bool, bool]:
    """(device verdict, host verdict) on the point's real output after ``tamper(out, host_problem)``."""
    host_problem = make_problem(point)
    inputs = device_data.DeviceInputs(device)
    try:
        problem = _device_problem(inputs, point)
        with cuda_backend.prepare(point, problem) as prepared:
            prepared.device_output()
            out = prepared.output()
            assert device_data.verify(problem, prepared.out.ptr, True).correct  # untampered: right
            tamper(out, host_problem)
            prepared.out.upload(np.ascontiguousarray(out), prepared.stream)
            dev = device_data.verify(problem, prepared.out.ptr, True)
        problem.device.close()
    finally:
        inputs.close()
    return dev.correct, host_problem.check(out).correct


def _largest(host_problem) -> int:
    return int(np.argmax(np.abs(np.nan_to_num(host_problem.expected.reshape(-1)))))


def test_an_int8_code_off_by_two_is_caught(device, cuda_backend):
    def tamper(out, hp):
        k = 1000
        code = int(np.rint(hp.expected.reshape(-1)[k] / hp.out_scale))
        out.reshape(-1)[k] = code + 2 if code <= 125 else code - 2

    assert _tampered(device, cuda_backend, Point((4, 64, 56, 56), "channel", "int8", None, "cuda"), tamper) == (
        False,
        False,
    )


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_one_nan_is_caught(device, cuda_backend, precision):
    def tamper(out, hp):
        out.reshape(-1)[777] = np.nan

    point = Point((2, 3, 5, 7), "elementwise", precision, 1, "cuda")
    assert _tampered(device, cuda_backend, point, tamper) == (False, False)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_one_unwritten_element_is_caught(device, cuda_backend, precision):
    def tamper(out, hp):
        k = _largest(hp)  # int8's poison (-128) is one step from -127: the largest value is far from it
        if precision == "int8":
            k = int(np.argmax(hp.expected.reshape(-1)))
        flat = out.reshape(-1).view(np.uint8)
        flat[k * out.itemsize : (k + 1) * out.itemsize] = poison_byte(precision)

    point = Point((4, 64, 56, 56), "channel", precision, None, "cuda")
    assert _tampered(device, cuda_backend, point, tamper) == (False, False)


def test_an_fp16_element_off_by_one_percent_is_caught(device, cuda_backend):
    def tamper(out, hp):
        k = _largest(hp)
        flat = out.reshape(-1)
        flat[k] = np.float16(float(flat[k]) * 1.01)

    point = Point((4, 64, 56, 56), "uniform", "fp16", None, "cuda")
    assert _tampered(device, cuda_backend, point, tamper) == (False, False)


def test_points_share_one_input_copy_it_when_rotating_and_never_free_it(device, cuda_backend):
    shape = (4, 64, 56, 56)
    a_point, b_point = (Point(shape, m, "fp16", None, "cuda") for m in ("uniform", "channel"))
    inputs = device_data.DeviceInputs(device)
    try:
        a = _device_problem(inputs, a_point)
        b = _device_problem(inputs, b_point)
        shared = a.device.input
        assert b.device.input is shared
        prep_a, prep_b = cuda_backend.prepare(a_point, a), cuda_backend.prepare(b_point, b)
        assert prep_a.x is shared.buffer and prep_b.x is shared.buffer
        tolerance = device_data.verify(a, prep_a.device_output(), True).tolerance
        rotation = prep_a.rotation(3)
        base, stride = prep_a._arenas[(shared.buffer.ptr, 3)]
        assert base != shared.buffer.ptr and stride >= shared.nbytes  # copies, not the shared buffer
        for enqueue in rotation.enqueues:
            enqueue(prep_a.stream)
        prep_a.stream.synchronize()
        for out_ptr in rotation.outputs:  # every set computed the point's output
            assert a.device.reference.max_error(out_ptr, a.out_scale) <= tolerance
        prep_a.close()
        assert shared.alive
        inputs.drop_unless(Point((8, 8), "uniform", "fp16", None, "cuda"))  # the worker moves on
        assert shared.alive  # point b still holds it
        host = make_problem(a_point).x
        assert _download(shared.buffer, shape, "fp16", prep_b.stream).tobytes() == host.tobytes()
        assert device_data.verify(b, prep_b.device_output(), True).correct
        prep_b.close()
        assert not shared.alive
        a.device.close()
        b.device.close()
    finally:
        inputs.close()


def test_a_worker_makes_a_shape_input_once_and_keeps_it_for_rounds(tmp_path, monkeypatch):
    made = []
    real = D.make_input

    def counting(*args, **kwargs):
        made.append(args[:4])
        return real(*args, **kwargs)

    monkeypatch.setattr(D, "make_input", counting)
    shapes = [(4, 64, 56, 56), (2, 3, 5, 7)]
    planned = [
        PlannedPoint(Point(s, m, "fp16", None, b))
        for s in shapes
        for m, b in (("uniform", "cuda"), ("channel", "cuda"), ("uniform", "memcpy"))
    ]
    timing = TimingSettings(warmup_s=0.001, min_samples=3, min_time_s=0.001, max_time_s=0.02, rounds=2)
    backends = {
        "cuda": CudaBackend(BackendOptions(kernel_config="default", cache_dir=tmp_path / "cache")),
        "memcpy": MemcpyBackend(),
    }
    df, summary = run_planned(tmp_path, planned, timing, backends=backends, verify="device")
    assert summary.counts == {"ok": 6}, df[["shape", "mode", "backend", "status", "error"]]
    assert df["correct"].all()
    assert {json.loads(e)["verified_on"] for e in df["environment"]} == {"device"}
    assert sorted({m[3] for m in made}) == ["fp16"] and len(made) == len(shapes)  # once per shape


def test_a_sweep_on_the_device_path_is_correct_and_agrees_with_the_host_path(tmp_path):
    def run(verify: str) -> dict:
        out = tmp_path / verify
        argv = ["run", "--backend", "cuda", "--backend", "memcpy", "--shape", "2x3x5x7", "--shape", "4x64x56x56"]
        for precision in PRECISIONS:
            argv += ["--precision", precision]
        for mode in ("uniform", "channel", "elementwise"):
            argv += ["--mode", mode]
        argv += ["--max-time", "0.05", "--min-time", "0.005", "--kernel-config", "default", "--verify", verify]
        assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--no-progress"]) == 0
        (path,) = out.glob("*.parquet")
        df = load(path)
        ran = df[df["status"] != "skipped"]
        assert (ran["status"] == "ok").all(), ran[["shape", "mode", "precision", "backend", "status", "error"]]
        assert ran["correct"].all()
        assert {json.loads(e)["verified_on"] for e in ran["environment"]} == {verify}
        assert all(p["data"] is not None and p["verify"] is not None for p in ran["phase_s"])
        return {(r.point_key, r.backend): r.max_abs_err for r in ran.itertuples()}

    device, host = run("device"), run("host")
    assert device.keys() == host.keys() and {b for _, b in device} == {"cuda", "memcpy"}
    for key, err in device.items():
        assert _same(err, host[key], 1e-9), (key, err, host[key])
