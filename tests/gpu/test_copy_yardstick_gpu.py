"""The copy yardstick on a real GPU (skipped without one): every copy-kernel launch copies byte for byte,
odd sizes included, and a `bench run --backend memcpy` records which copy won and every contender's median.

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu/test_copy_yardstick_gpu.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import what_ran
from bench.backends.base import BackendOptions
from bench.backends.memcpy_backend import DRIVER_COPY, MemcpyBackend, contender_label, contenders
from bench.point import Point
from bench.problem import make_problem
from bench.results import load
from bench.timing.settings import TimingSettings

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
FAST = TimingSettings(warmup_s=0.005, min_samples=5, min_time_s=0.01, max_time_s=0.3)
# (shape, precision): 1, 15, 16, 17, 4095 and 2^20 + 3 bytes in int8, and two ordinary tensors
CASES = [((1,), "int8"), ((15,), "int8"), ((16,), "int8"), ((17,), "int8"), ((4095,), "int8"),
         ((2**20 + 3,), "int8"), ((3, 5, 7), "fp16"), ((4, 64, 56, 56), "fp32")]  # fmt: skip


@pytest.mark.parametrize(("shape", "precision"), CASES)
def test_every_copy_contender_copies_byte_for_byte(shape, precision) -> None:
    from bench.gpu import cuda

    backend = MemcpyBackend(BackendOptions(timing=FAST))
    point = Point(shape, "uniform", precision, None, "memcpy")
    problem = make_problem(point)
    with backend.prepare(point, problem) as prepared:
        chosen = prepared.build.kernel_config["copy"]
        assert chosen in {contender_label(c) for c in contenders()}
        for config in contenders():
            prepared.select(config)
            out = prepared.output()  # poisons the output first; raises where a byte differs
            assert out.view(np.uint8).tobytes() == np.ascontiguousarray(problem.x).view(np.uint8).tobytes(), config
            rotation = prepared.rotation(3)  # the copies the timing cycles over: each set copies too
            for enqueue, ptr in zip(rotation.enqueues, rotation.outputs, strict=True):
                cuda.memset_async(ptr, 0xFF, problem.x.nbytes, prepared.stream)
                enqueue(prepared.stream)
                with cuda.DeviceBuffer(problem.x.nbytes) as staging:
                    cuda.memcpy_dtod_async(staging.ptr, ptr, problem.x.nbytes, prepared.stream)
                    got = staging.download(np.empty(problem.x.nbytes, np.uint8), prepared.stream)
                assert got.tobytes() == problem.x.view(np.uint8).tobytes(), (config, hex(ptr))


def test_a_memcpy_run_records_the_winner_and_every_contender_s_median(tmp_path) -> None:
    cmd = [sys.executable, "-m", "bench", "run", "--backend", "memcpy", "--mode", "uniform", "--precision", "fp32",
           "--shape", "1x64x64x64", "--shape", "1x64x2048x2048", "--max-time", "0.3", "--out", str(tmp_path),
           "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "one by one" not in proc.stderr, proc.stderr[-3000:]  # the contest ran interleaved, not the fallback
    df = load(tmp_path)
    assert len(df) == 2 and (df["status"] == "ok").all(), df[["shape", "status", "error"]]
    for _, row in df.iterrows():
        settings = json.loads(row["builder_settings"])
        medians = settings["contenders_median_us"]
        assert DRIVER_COPY in medians and any(k.startswith("copy kernel ") for k in medians), medians
        winner = dict(row["kernel_config"])["copy"]
        assert settings["call"] == winner == what_ran.label(row.to_dict())
        best = min(medians.values())
        assert medians[winner] <= best * 1.005 + 1e-9  # the rule: within the tie of the fastest
        print(f"{row['shape']}: {winner} ran {row['median_us']:.2f} us; contenders {medians}")


def test_a_copy_kernel_that_does_not_copy_is_never_timed_or_chosen(monkeypatch) -> None:
    """A contender that writes nothing would be the fastest 'copy': it is refused before timing."""
    from bench.gpu import copy_kernel

    broken = contenders()[1]
    real = copy_kernel.source

    def source(config):
        text = real(config)
        if config != broken:
            return text
        body = text.index("\n{", text.index(copy_kernel.KERNEL_NAME + "("))
        return text[: body + 2] + "}\n"  # the same signature, an empty body

    monkeypatch.setattr(copy_kernel, "source", source)
    backend = MemcpyBackend(BackendOptions(timing=FAST))
    point = Point((4, 64, 56, 56), "uniform", "fp32", None, "memcpy")
    with backend.prepare(point, make_problem(point)) as prepared:
        failed = prepared.build.builder_settings["contenders_failed"]
        assert "differ from the input" in failed[contender_label(broken)]
        assert prepared.build.kernel_config["copy"] != contender_label(broken)
