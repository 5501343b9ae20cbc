"""An existing Dask cluster reached through --scheduler: a real `dask scheduler` and two `dask worker`
processes on 127.0.0.1 (each offering the resource GPU=1, as the README tells users to start them),
started here as subprocesses. A smoke sweep runs through the CLI; a worker killed with kill -9 in the
middle of a sweep loses no point, also when its replacement comes back at the same address."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from run_helpers import FAST, run_through, spec_for

from bench.backends.base import BackendOptions
from bench.cli.main import main
from bench.execution.cluster import ClusterExecutor
from bench.execution.sources import RemoteSource
from bench.planning import expand, make_backends, plan
from bench.results import load
from bench.sweepfile import load_sweep

pytest.importorskip("distributed")
pytestmark = pytest.mark.cluster

WORKERS = 2
SCHEDULER_ARGS = ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
# One thread and the resource GPU=1 per worker, as the README says to start them (one worker per GPU).
WORKER_ARGS = [
    "--nthreads",
    "1",
    "--resources",
    "GPU=1",
    "--memory-limit",
    "0",
    "--no-dashboard",
    "--host",
    "127.0.0.1",
]


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    """tcp://127.0.0.1:PORT of a scheduler with two one-thread workers offering GPU=1; stopped at the end."""
    from distributed import Client

    where = tmp_path_factory.mktemp("dask")
    file = where / "scheduler.json"
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "error"}
    common = dict(cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", *SCHEDULER_ARGS, "--scheduler-file", str(file)], **common)]
    try:
        _wait_for(file.exists, 60, "the scheduler's address file")
        address = json.loads(file.read_text())["address"]
        for i in range(WORKERS):  # fixed ports: a worker's replacement comes back at its address
            port = ["--worker-port", str(_free_port())]
            procs.append(subprocess.Popen([*dask, "worker", address, *WORKER_ARGS, *port, "--name", f"w{i}"], **common))
        with Client(address, timeout=30) as client:
            client.wait_for_workers(WORKERS, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_smoke_sweep_through_scheduler_is_one_run_file_written_here(scheduler_address, tmp_path, capsys):
    code = main(["run", "--sweep", "smoke", "--rounds", "1", "--max-time", "0.02", "--min-time", "0.005", "--scheduler", scheduler_address,
                 "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert len(files) == 1 and files[0].endswith(".parquet")
    df = load(tmp_path)
    assert len(df) == len(expand(load_sweep("smoke"))) and df.set_index(["point_key", "backend"]).index.is_unique
    ok = df[df["status"] == "ok"]
    assert len(ok) > 0 and ok["correct"].all() and ok["worker"].nunique() == WORKERS


def test_a_worker_killed_mid_sweep_loses_no_point(scheduler_address, tmp_path):
    points = expand(load_sweep("smoke"))[:60]
    planned = plan(points, make_backends({"numpy"}, BackendOptions()))
    slower = replace(FAST, min_time_s=0.03, max_time_s=0.05)  # long enough for the replacement to take points
    spec = spec_for(planned, slower, run_id="killed")
    notes: list[str] = []
    executor = ClusterExecutor(spec, RemoteSource(scheduler_address), notice=notes.append)
    killed: list[int] = []

    def kill_one_after_five(row: dict) -> None:
        if len(killed) == 0 and row["status"] == "ok" and int(row["attempts"]) == 1:
            kill_one_after_five.seen = getattr(kill_one_after_five, "seen", 0) + 1
            if kill_one_after_five.seen == 5:
                address, pid = row["worker"].removeprefix("dask ").rsplit(" pid ", 1)
                os.kill(int(pid), signal.SIGKILL)
                killed.append((address, pid))

    df, summary = run_through(executor, spec, planned, tmp_path, on_row=kill_one_after_five)
    assert killed
    assert len(df) == len(planned) and df.set_index(["point_key", "backend"]).index.is_unique
    assert summary.counts == {
        "ok": int((df["status"] == "ok").sum()),
        "skipped": int((df["status"] == "skipped").sum()),
    }
    retried = df[df["attempts"] == 2]
    assert len(retried) >= 1 and (retried["status"] != "failed").all()
    assert all(any("signal 9 (SIGKILL" in w for w in ws) for ws in retried["warnings"])
    address, pid = killed[0]
    assert not df["worker"].str.endswith(f" pid {pid}")[df["attempts"] == 2].any()  # rerun elsewhere
    successor = df["worker"].str.startswith(f"dask {address} pid ") & ~df["worker"].str.endswith(f" pid {pid}")
    assert successor.any()  # the nanny's replacement, at the same address, was greeted and used
    assert any("its worker died (signal 9 (SIGKILL" in n for n in notes)
    assert Path(tmp_path / "killed.parquet").exists()


def test_two_runs_share_the_cluster_and_both_finish(scheduler_address, tmp_path):
    points = expand(load_sweep("smoke"))
    planned = plan(points, make_backends({"numpy"}, BackendOptions()))
    halves = {"first": planned[::2], "second": planned[1::2]}
    out: dict = {}

    def one(name: str) -> None:
        spec = spec_for(halves[name], FAST, run_id=name)
        out[name] = run_through(
            ClusterExecutor(spec, RemoteSource(scheduler_address)), spec, halves[name], tmp_path / name
        )

    threads = [threading.Thread(target=one, args=(name,)) for name in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for name, part in halves.items():
        df, _ = out[name]
        assert len(df) == len(part) and (df["run_id"] == name).all() and (df["status"] != "failed").all()
