"""Crash isolation for real: points that abort their process, exit from under it or hang become failed
rows saying so, each worker is replaced, and the points after them run (`--isolate`, one worker on this
host). The misbehaving backends (bench.backends.testing) exist only where BENCH_TEST_BACKENDS=1; the run
is a subprocess, since a point that crashes in-process would take the test with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results import load

pytest.importorskip("distributed")
pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]

SWEEP = """
name = "crashes"
[axes]
shape = ["1x3x3x3", "2x3x4x4", "3x3x5x5"]
mode = ["channel"]
precision = ["fp32"]
channel_axis = ["default"]
backend = ["numpy"]
[[case]]
name = "good points, before and after the bad ones"
[[case]]
name = "bad points, in the middle of the sweep"
shape = "2x3x4x4"
backend = ["test-abort", "test-exit", "test-hang"]
[measure]
warmup_s = 0.001
min_samples = 3
min_time_s = 0.002
max_time_s = 0.02
"""


def bench_run(args: list[str], tmp_path: Path, sweep: str = SWEEP, **env: str) -> subprocess.CompletedProcess:
    file = tmp_path / "sweep.toml"
    file.write_text(sweep)
    return subprocess.run(
        [sys.executable, "-m", "bench", "run", "--sweep", str(file), "--out", str(tmp_path / "out"), "--no-progress",
         *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_crashes_and_a_hang_are_failed_rows_and_the_sweep_goes_on(tmp_path):
    proc = bench_run(["--isolate", "--point-timeout", "4"], tmp_path, BENCH_TEST_BACKENDS="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = load(tmp_path / "out").set_index("backend")
    assert sorted(df.index) == ["numpy", "numpy", "numpy", "test-abort", "test-exit", "test-hang"]
    good = df.loc["numpy"]
    assert (good["status"] == "ok").all() and good["correct"].all() and (good["attempts"] == 1).all()

    abort = df.loc["test-abort"]
    assert (abort["status"], abort["error_origin"], abort["attempts"]) == ("failed", "worker", 2)
    assert abort["error"].startswith("worker died: signal 6 (SIGABRT: aborted) on ")
    assert "on attempt 1 it died of signal 6 (SIGABRT" in abort["error"]

    exited = df.loc["test-exit"]
    assert (exited["status"], exited["error_origin"], exited["attempts"]) == ("failed", "worker", 2)
    assert exited["error"].startswith("worker died: exit status 3 on ")

    hang = df.loc["test-hang"]
    assert (hang["status"], hang["error_origin"], hang["attempts"]) == ("failed", "timeout", 1)
    assert hang["error"].startswith("timed out: no result within --point-timeout 4 s")
    assert hang["worker"] != abort["worker"] != exited["worker"]  # each in its own process
    assert "running it once more on a fresh worker" in proc.stderr


def test_the_test_backends_do_not_exist_for_users(tmp_path):
    proc = bench_run(["--isolate"], tmp_path, BENCH_TEST_BACKENDS="0")
    assert proc.returncode == 2
    assert "'test-abort' is not a backend" in proc.stderr and "test-" not in proc.stderr.split("allowed:")[1]


LOST = SWEEP.replace('backend = ["test-abort", "test-exit", "test-hang"]', 'backend = "test-lost-context"')


def test_a_worker_whose_device_context_is_lost_is_replaced_before_the_next_point(tmp_path):
    (tmp_path / "lost").mkdir()
    proc = bench_run(["--isolate"], tmp_path / "lost", BENCH_TEST_BACKENDS="1", sweep=LOST)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = load(tmp_path / "lost" / "out").sort_values("started_at").reset_index(drop=True)
    assert list(df["backend"]) == ["numpy", "numpy", "test-lost-context", "numpy"]
    lost = df.iloc[2]
    assert (lost["status"], lost["error_origin"], lost["attempts"]) == ("failed", "backend", 1)
    assert "the device context of this process is lost" in lost["error"]
    assert lost["error"].endswith("the worker was replaced and the sweep went on")
    assert df.iloc[3]["status"] == "ok" and df.iloc[3]["worker"] != lost["worker"] == df.iloc[1]["worker"]


def test_in_this_process_a_lost_context_stops_the_run_and_says_how_to_go_on(tmp_path):
    proc = bench_run([], tmp_path, BENCH_TEST_BACKENDS="1", sweep=LOST)
    assert proc.returncode == 1
    assert "left the CUDA context unusable" in proc.stdout and "--isolate" in proc.stdout
