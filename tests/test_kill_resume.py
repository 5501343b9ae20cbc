"""kill -9 at random moments of a smoke run (rounds 1 and 9), a random torn tail on the journal, then
--resume: every planned point is present exactly once and every sample the journal kept is in the
results file unchanged. Issue 8's contract: an interruption loses at most the work in flight."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bench.results import load
from bench.results.journal import decode
from bench.results.store import pending_runs

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 20
SMOKE = ["run", "--sweep", "smoke", "--shape", "1x3x3x3", "--shape", "2x8x16x16", "--warmup", "0.001",
         "--min-time", "0.02", "--max-time", "0.05", "--no-progress"]  # fmt: skip
POINTS = 72  # 2 shapes x 3 modes x 4 precisions x 3 axes (UNIFORM once per shape and precision)


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def _intact(journal: Path) -> tuple[dict, dict]:
    """(rows, rounds) the journal holds intact: point id -> row; (point id, round) -> samples."""
    rows, rounds = {}, {}
    data = journal.read_bytes()
    for line in data[: data.rfind(b"\n") + 1].split(b"\n")[1:-1]:
        rec = decode(line)
        if not rec or not isinstance(rec.get("row"), dict):
            continue
        r = rec["row"]
        pid = (r["point_key"], r["backend"])
        if rec["kind"] == "row":
            rows.setdefault(pid, r)
        elif rec["kind"] == "round":
            rounds.setdefault((pid, rec["round"]), r["samples_us"])
    return rows, rounds


def trial(tmp: Path, seed: int, rounds: int) -> tuple[str | None, bool]:
    """One kill, tear, resume: (None when every check holds, else what failed; whether a run was resumed)."""
    rng = random.Random(seed * 7919 + rounds)
    out = tmp / f"r{rounds}-t{seed}"
    args = [*SMOKE, "--rounds", str(rounds), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not (out.exists() and pending_runs(out)):
        time.sleep(0.01)  # the kill lands while the run is going: after its journal exists
    time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pending = pending_runs(out) if out.exists() else []
    finished = list(out.glob("*.parquet")) if out.exists() else []
    if finished:  # it finished before the kill: nothing to resume
        return (None if len(load(out)) == POINTS else "finished with missing points"), False
    if not pending:  # killed before its journal existed: nothing was measured, nothing kept
        return None, False
    journal = pending[0]
    data = journal.read_bytes()
    tear = rng.randint(0, min(300, max(0, len(data) - data.find(b"\n") - 1)))
    journal.write_bytes(data[: len(data) - tear])  # a random torn tail
    rows, kept_rounds = _intact(journal)
    run_id = journal.name.split(".")[0]
    done = subprocess.run(_cmd(*args, "--resume", run_id), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return f"resume exited {done.returncode}: {done.stderr[-400:]}", True
    df = load(out)
    if len(df) != POINTS or not df.set_index(["point_key", "backend"]).index.is_unique:
        return f"{len(df)} rows, unique={df.set_index(['point_key', 'backend']).index.is_unique}", True
    by = {(r.point_key, r.backend): r for r in df.itertuples()}
    for pid, r in rows.items():
        if r.get("samples_us") is not None and list(by[pid].samples_us) != list(r["samples_us"]):
            return f"kept samples of {pid} changed", True
    for (pid, rnd), samples in kept_rounds.items():
        if pid in rows:
            continue
        sizes = np.asarray(by[pid].round_sizes)
        start = int(sizes[:rnd].sum())
        if list(by[pid].samples_us[start : start + len(samples)]) != list(samples):
            return f"kept round {rnd} of {pid} changed", True
    return None, True


@pytest.mark.parametrize("rounds", [1, 9])
def test_kill_9_with_torn_tails_then_resume_loses_nothing(tmp_path, rounds):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: trial(tmp_path, s, rounds), range(TRIALS)))
    failed = [(seed, problem) for seed, (problem, _) in enumerate(results) if problem]
    assert not failed, failed
    resumed = sum(1 for _, r in results if r)
    assert resumed >= TRIALS // 3, f"only {resumed} of {TRIALS} kills landed mid-run: the test lost its premise"
