"""Results store: rows survive a killed run, --resume completes it, and foreign files are refused."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.errors import UserError
from bench.results import SCHEMA_VERSION, RunWriter, load
from bench.results.journal import decode
from bench.results.schema import COLUMNS, SCHEMA
from bench.results.store import journal_path

ROOT = Path(__file__).resolve().parent.parent


def bench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def row(key: str, backend: str = "numpy", median: float = 10.0, **extra) -> dict:
    samples = [median, median * 1.01, median * 0.99]
    return {
        "run_id": "r1", "schema_version": SCHEMA_VERSION, "point_key": key, "backend": backend, "status": "ok",
        "shape": "1x3x3x3", "numel": 27, "mode": "uniform", "precision": "fp32", "channel_axis": "default",
        "samples_us": samples, "median_us": median, "bytes_moved": 216, "l2_flush": False, **extra,
    }  # fmt: skip


def writer(tmp_path, run_id: str = "r1") -> RunWriter:
    return RunWriter.start(tmp_path, run_id, {"identity": {}})


def test_finalize_writes_one_parquet_with_every_schema_column_and_raw_samples(tmp_path):
    w = writer(tmp_path)
    w.append(row("a"))
    w.append(row("b", median=20.0))
    path = w.finalize([("a", "numpy"), ("b", "numpy")])
    assert path == tmp_path / "r1.parquet"
    assert not journal_path(tmp_path, "r1").exists()
    assert pq.read_schema(path).equals(SCHEMA)  # the pinned schema, exactly
    df = load(tmp_path)
    assert list(df.columns) == list(COLUMNS)
    assert df["samples_us"].iloc[1].dtype == np.float64
    assert df["samples_us"].iloc[1].tolist() == [20.0, 20.2, 19.8]


def test_memcpy_ratio_is_bandwidth_against_the_copy_of_the_same_tensor(tmp_path):
    w = writer(tmp_path)
    w.append(row("a", backend="memcpy", median=10.0, gbps=21.6))
    w.append(row("a", backend="cuda", median=12.5, gbps=17.28))
    w.append(row("b", backend="cuda", median=20.0, gbps=21.6, bytes_moved=432))  # weights as large as x
    w.append(row("c", backend="cuda", median=10.0, gbps=21.6, precision="fp16"))  # no fp16 memcpy row
    df = load(w.finalize(list(w.rows))).set_index("point_key")
    assert df.loc["a"].set_index("backend").loc["memcpy", "pct_of_memcpy"] == pytest.approx(100.0)
    assert df.loc["a"].set_index("backend").loc["cuda", "pct_of_memcpy"] == pytest.approx(80.0)
    assert df.loc["b", "pct_of_memcpy"] == pytest.approx(100.0)
    assert np.isnan(df.loc["c", "pct_of_memcpy"])


def test_a_torn_last_record_is_reported_cut_off_and_its_point_runs_again(tmp_path):
    w = writer(tmp_path)
    w.append(row("a"))
    w.append(row("b"))
    w.close()
    path = journal_path(tmp_path, "r1")
    path.write_bytes(path.read_bytes()[:-10])  # the process died mid-write of b
    resumed, contents = RunWriter.resume(tmp_path, "r1")
    assert resumed.finished() == {("a", "numpy")}
    assert contents.torn_bytes > 0 and "torn" in contents.problems()[0]
    resumed.append(row("c"))  # lands on its own line, not on the end of the torn one
    resumed.close()
    again, contents = RunWriter.resume(tmp_path, "r1")
    assert again.finished() == {("a", "numpy"), ("c", "numpy")} and not contents.problems()
    again.close()


def test_load_refuses_foreign_and_damaged_files_by_name(tmp_path):
    foreign = tmp_path / "other.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)
    with pytest.raises(UserError, match=r"other\.parquet: not a scale-bench results file"):
        load(foreign)
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UserError, match=r"damaged\.parquet: not a readable parquet file"):
        load(damaged)
    with pytest.raises(UserError, match="no such results file"):
        load(tmp_path / "missing.parquet")


def test_load_refuses_a_newer_schema_and_fills_columns_an_older_file_lacks(tmp_path):
    newer = tmp_path / "newer.parquet"
    pd.DataFrame({"schema_version": [SCHEMA_VERSION + 1], "point_key": ["a"]}).to_parquet(newer)
    with pytest.raises(UserError, match="newer scale-bench"):
        load(newer)
    older = tmp_path / "older.parquet"
    pd.DataFrame({"schema_version": [1], "point_key": ["a"], "samples_us": [[1.0, 2.0]], "shape": ["2x3"],
                  "timestamp": ["2026-11-26T07:45:08+00:00"], "warnings": ["a; b"]}).to_parquet(older)  # fmt: skip
    df = load(older)
    assert list(df.columns) == list(COLUMNS) and df["pct_of_memcpy"].isna().all()
    r = df.iloc[0]
    assert r["dims"].tolist() == [2, 3] and list(r["warnings"]) == ["a", "b"] and r["timestamp"].year == 2026


def test_a_schema_2_file_reads_as_timed_on_one_buffer_set_and_is_left_as_written():
    """Schema 3 added rotated buffers; every row a schema 2 file timed ran on one set, warm or flushed."""
    import hashlib

    import pyarrow.parquet as pq

    v2 = sorted(p for p in (ROOT / "archive" / "results-v2").rglob("*.parquet") if pq.read_table(p, columns=["schema_version"])
                .column(0)[0].as_py() == 2)[0]  # fmt: skip
    before = hashlib.sha256(v2.read_bytes()).hexdigest()
    df = load(v2)
    timed = df["l2_flush"].notna()
    assert timed.any() and list(df.columns) == list(COLUMNS)
    expected = df.loc[timed, "l2_flush"].map({True: "flushed", False: "warm"})
    assert (df.loc[timed, "l2_mode"] == expected).all() and (df.loc[timed, "buffer_sets"] == 1).all()
    assert df.loc[~timed, "l2_mode"].isna().all()
    assert all(s["rotate_buffers"] is False for s in df["timing_settings"] if s is not None)
    assert (df["schema_version"] == SCHEMA_VERSION).all()
    assert hashlib.sha256(v2.read_bytes()).hexdigest() == before


def test_a_killed_run_keeps_finished_points_and_resume_completes_it_without_redoing_them(tmp_path):
    out = tmp_path / "res"
    args = [
        "run",
        "--sweep",
        "smoke",
        "--rounds",
        "1",
        "--max-time",
        "0.2",
        "--min-time",
        "0.2",
        "--out",
        str(out),
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(bench_cmd(*args), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        journals = list((out / ".journal").glob("*.journal")) if out.exists() else []
        if journals and journals[0].read_bytes().count(b"\n") >= 6:  # header + 5 points
            journal = journals[0]
            break
        time.sleep(0.05)
    assert journal is not None, proc.stderr.read() if proc.poll() is not None else "no journal"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = {}
    for line in journal.read_bytes().split(b"\n")[1:]:
        record = decode(line)
        if record and record["kind"] == "row":
            r = record["row"]
            kept[(r["point_key"], r["backend"])] = r
    assert len(kept) >= 5 and not list(out.glob("*.parquet"))

    done = subprocess.run(bench_cmd(*args, "--resume"), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stdout
    df = load(out)
    assert len(df) == 108 and df.set_index(["point_key", "backend"]).index.is_unique
    for (key, backend), r in kept.items():  # the finished points were kept, not measured again
        again = df[(df.point_key == key) & (df.backend == backend)].iloc[0]
        assert again["timestamp"] == pd.Timestamp(r["timestamp"])
        assert again["samples_us"].tolist() == (r.get("samples_us") or [])
