"""Workers on real GPUs (skipped without one; run on the device): a sticky CUDA error in the middle of a
sweep is contained, and a worker per GPU fills each row's host, GPU index and GPU UUID.

Run on the device: PYTHONPATH=. python3 -m pytest -m gpu tests/gpu/test_cluster_gpu.py (needs dask,
distributed: the cluster extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import load

pytestmark = [pytest.mark.gpu, pytest.mark.cluster]
pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
CRASH = Path(__file__).with_name("crash_mid_sweep.toml")


def bench_run(args: list[str], out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_TEST_BACKENDS": "1"}
    cmd = [sys.executable, "-m", "bench", "run", "--out", str(out), "--no-progress", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_an_illegal_address_mid_sweep_fails_that_point_and_the_rest_run(tmp_path):
    proc = bench_run(["--sweep", str(CRASH), "--isolate"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = load(tmp_path).sort_values("started_at").reset_index(drop=True)
    bad = df[df["backend"] == "test-illegal-address"]
    assert len(bad) == 1
    row = bad.iloc[0]
    assert (row["status"], row["error_origin"], row["attempts"]) == ("failed", "backend", 1)
    assert "cudaErrorIllegalAddress" in row["error"] and "the CUDA context is lost" in row["error"]
    after = df.iloc[bad.index[0] + 1 :]
    assert len(after) > 0 and (after["status"] != "failed").all() and (after["status"] == "ok").any()
    assert (after["worker"] != row["worker"]).all()  # a fresh worker took over
    assert (df.drop(bad.index)["status"].isin(["ok", "skipped"])).all()


def test_a_worker_per_gpu_fills_host_gpu_index_and_uuid(tmp_path):
    from bench.gpu import nvml

    gpus = nvml.device_count() or 0
    if gpus < 1:
        pytest.skip("NVML shows no GPU")
    proc = bench_run(["--sweep", "smoke", "--backend", "cuda", "--rounds", "1", "--gpus", "all"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ok = load(tmp_path).query("status == 'ok'")
    assert ok["host"].notna().all() and ok["gpu_index"].notna().all() and ok["gpu_uuid"].notna().all()
    assert ok.groupby("worker")["gpu_uuid"].nunique().eq(1).all()  # each worker on one GPU
    assert ok["gpu_uuid"].nunique() == min(gpus, ok["worker"].nunique()) and ok["gpu_index"].nunique() == gpus
