"""kill -9 at random moments of a smoke run (rounds 1 and 9), a random torn tail on the journal after each
kill, then --resume, killed again: every planned point is present exactly once at the end, and every sample
the journal kept after any kill is in the results file unchanged. An interruption loses at most the work in
flight.

The kills form one chain per test: the run is killed, resumed, the resume killed, and so on, 20 times, and
the last resume finishes. Each kill lands while a process is writing the run (after a random number of new
journal records, plus a random few milliseconds, so some land inside a record); every trial costs one
process start instead of two, and none is lost to a run that finished before its kill."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import finish, records, run_id_of, start, stop, wait_for_records

from bench.results import load

KILLS = 20
SMOKE = ["run", "--sweep", "smoke", "--shape", "1x3x3x3", "--shape", "2x8x16x16", "--warmup", "0.0005",
         "--min-time", "0.001", "--max-time", "0.003", "--no-progress"]  # fmt: skip
POINTS = 72  # 2 shapes x 3 modes x 4 precisions x 3 axes (UNIFORM once per shape and precision)
TIMED = 56  # the rest are skipped (an axis out of range for the shape)


def _keep(journal: Path, rows: dict, rounds: dict) -> None:
    """Note the rows and rounds the journal holds intact (the first version of each: nothing may change it)."""
    for rec in records(journal):
        r = rec.get("row")
        if not isinstance(r, dict):
            continue
        pid = (r["point_key"], r["backend"])
        if rec["kind"] == "row":
            rows.setdefault(pid, r)
        elif rec["kind"] == "round":
            rounds.setdefault((pid, rec["round"]), r["samples_us"])


def _tear(journal: Path, rng: random.Random) -> None:
    """Cut a random number of bytes (up to 300, never into the header) off the journal's end."""
    data = journal.read_bytes()
    tear = rng.randint(0, min(300, max(0, len(data) - data.find(b"\n") - 1)))
    journal.write_bytes(data[: len(data) - tear])


@pytest.mark.parametrize("rounds", [1, 9])
def test_kill_9_with_torn_tails_then_resume_loses_nothing(tmp_path, rounds):
    rng = random.Random(rounds)
    out = tmp_path / "out"
    args = [*SMOKE, "--rounds", str(rounds), "--out", str(out)]
    expected_records = POINTS + (TIMED * rounds if rounds > 1 else 0)
    step = max(2, 2 * expected_records // KILLS)  # new records before a kill: the chain spans about one run
    rows: dict = {}
    rounds_kept: dict = {}
    run_id: str | None = None
    written = 0
    kills = 0
    for _ in range(KILLS):
        proc = start(*args, *(["--resume", run_id] if run_id else []))
        target = written + rng.randint(0 if run_id is None else 1, step)
        journal = wait_for_records(proc, out, target)
        if journal is None:  # the run finished before this kill: the chain is done
            code, _, err = stop(proc)
            assert code == 0, err[-2000:]
            break
        time.sleep(rng.uniform(0, 0.003))  # sometimes inside the next record
        code, _, err = stop(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL, (code, err[-2000:])  # killed mid-run, not ended by an error
        kills += 1
        run_id = run_id_of(journal)
        _tear(journal, rng)
        _keep(journal, rows, rounds_kept)
        written = len(records(journal))
    assert kills >= KILLS // 2, f"only {kills} kills landed mid-run: the test lost its premise"
    if not list(out.glob("*.parquet")):
        done = start(*args, "--resume", run_id)
        code, _, err = finish(done, timeout=300)
        assert code == 0, err[-2000:]
    df = load(out)
    assert len(df) == POINTS and df.set_index(["point_key", "backend"]).index.is_unique
    assert (df["run_id"] == run_id).all() and not list((out / ".journal").glob("*.journal"))
    by = {(r.point_key, r.backend): r for r in df.itertuples()}
    for pid, r in rows.items():
        if r.get("samples_us") is not None:
            assert list(by[pid].samples_us) == list(r["samples_us"]), f"kept samples of {pid} changed"
    for (pid, rnd), samples in rounds_kept.items():
        if pid in rows:
            continue
        sizes = np.asarray(by[pid].round_sizes)
        begin = int(sizes[:rnd].sum())
        assert list(by[pid].samples_us[begin : begin + len(samples)]) == list(samples), f"round {rnd} of {pid}"
    assert rows and (rounds == 1 or rounds_kept)  # the chain kept work of its own to check
