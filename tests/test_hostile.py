"""Issue 8's reproductions, as a hostile user would try them: every one exits 2 with one line naming the
file or flag and the fix (never a traceback), or keeps every measured point, or flags what it must."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from run_helpers import run_planned

from bench.cli.main import main
from bench.planning import PlannedPoint
from bench.point import Point
from bench.results import load
from bench.results.journal import Journal, encode
from bench.results.store import RunWriter, journal_path, pending_runs
from bench.timing.settings import TimingSettings

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--shape", "1x3x3x3", "--shape", "2x3x4x5", "--backend", "numpy", "--max-time", "0.02", "--min-time", "0.002"]


def bench(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a subprocess (what a user types), text output captured."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=full_env, **kw)


def refused(capsys, argv: list[str], *needles: str) -> str:
    """main(argv) exits 2 with one 'error:' line containing every needle, and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- sweep files -----------------------------------------------------------------------------------


def test_a_sweep_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path, capsys):
    f = write(tmp_path / "latin1.toml", '[axes]\nshape = ["1x3"]\nname = "caf\xe9"\n'.encode("latin-1"))
    refused(capsys, ["plan", "--sweep", str(f)], "latin1.toml", "not UTF-8", "save it as UTF-8")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    f = write(tmp_path / "bom.toml", b'\xef\xbb\xbf[axes]\nshape = ["1x3x3x3"]\n')
    assert main(["plan", "--sweep", str(f)]) == 0


@pytest.mark.parametrize(
    "doc, needle",
    [
        ('case = [1, 2]\n[axes]\nshape = ["1x3"]\n', "[[case]] #1 must be a table"),
        ('[axes]\nshape = ["1x3"]\n[measure]\nmax_time_s = nan\n', "max_time_s must be a finite"),
        ('[axes]\nshape = ["1x3"]\n[measure]\nmin_time_s = inf\n', "min_time_s must be a finite"),
        ('[axes]\nshape = ["1x3"]\n[weights]\npower = nan\n', "power must be a finite number"),
        ('[axes]\nshape = ["1x3"]\n[weights]\nshift = [1.0, inf]\n', "shift must be a finite number"),
        ('[axes]\nshape = ["1x3"]\n[weights]\nscale = -inf\n', "scale must be a finite number"),
        ('[axes]\nshape = ["1x3"]\n[measure]\nrounds = 10000\n', "rounds (10000) must be at most max_samples / 2"),
        ('[axes]\nshape = ["99999999999x99999999999x99999999999"]\n', "too large to address"),
        ('name = 3\n[axes]\nshape = ["1x3"]\n', "name must be text"),
        ("[axes]\nshape = [true]\n", "is not a shape"),
        ("[axes\n", "not valid TOML"),
    ],
)
def test_bad_sweep_documents_exit_2_naming_the_field(tmp_path, capsys, doc, needle):
    f = write(tmp_path / "bad.toml", doc)
    refused(capsys, ["plan", "--sweep", str(f)], "bad.toml", needle)


@pytest.mark.parametrize("flag, value", [("--max-time", "nan"), ("--min-time", "inf"), ("--target-noise", "nan")])
def test_nan_and_inf_timing_flags_are_refused(capsys, flag, value):
    refused(capsys, ["plan", "--sweep", "smoke", flag, value], "command line")


def test_a_sweep_name_with_rich_markup_is_printed_as_written(tmp_path, capsys):
    f = write(tmp_path / "m.toml", 'name = "odd [/] [bold]name"\n[axes]\nshape = ["1x3x3x3"]\nbackend = ["numpy"]\n')
    assert main(["plan", "--sweep", str(f)]) == 0
    assert "odd [/] [bold]name" in capsys.readouterr().out


def test_env_prints_the_extra_to_install_with_its_brackets():
    out = bench("env").stdout
    assert 'pip install "scale-bench[tensorrt]"' in out


# -- --out and --resume -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_an_unusable_out_folder_exits_2_naming_the_flag(tmp_path, capsys, kind):
    out = write(tmp_path / "a-file", "x") if kind == "file" else Path("/proc/self/no-such/results")
    refused(capsys, ["run", *TINY, "--out", str(out), "--no-progress"], "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the /proc case covers it")
def test_a_read_only_out_folder_exits_2(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    refused(capsys, ["run", *TINY, "--out", str(out), "--no-progress"], "--out")


def test_resume_takes_a_run_id_not_a_path(tmp_path, capsys):
    refused(capsys, ["run", *TINY, "--out", str(tmp_path), "--resume", "../x/ID"], "--resume", "not a path")


def _killed_run(out: Path, extra: list[str] | None = None) -> str:
    """A run that stopped after its header and two points: its run id."""
    assert main(["run", *TINY, *(extra or []), "--out", str(out), "--no-progress"]) == 0
    # make an unfinished run of the same plan by hand: copy the header and the first two rows
    (done,) = out.glob("*.parquet")
    run_id = done.stem
    rows = load(done).to_dict("records")
    done.unlink()
    ident = _identity(extra)
    with Journal.create(journal_path(out, run_id), {"run_id": run_id, "identity": ident}) as j:
        for r in rows[:2]:
            j.append({"kind": "row", "row": {k: _plain(v) for k, v in r.items()}})
    return run_id


def _plain(v):
    import numpy as np

    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _identity(extra: list[str] | None) -> dict:
    """The plan identity `run` computes for TINY plus ``extra`` (through the same code)."""
    import argparse

    from bench.cli import run as run_cli
    from bench.cli.common import backend_options, planned_points
    from bench.planning import plan_identity

    parser = argparse.ArgumentParser()
    run_cli.add_arguments(parser)
    args = parser.parse_args([*TINY, *(extra or [])])
    sweep, planned, _, timing = planned_points(args)
    return plan_identity(sweep, planned, timing, {"build_only": False, **backend_options(args).identity()}, None)


def test_resume_completes_a_killed_run_with_every_point_once(tmp_path):
    run_id = _killed_run(tmp_path)
    assert main(["run", *TINY, "--out", str(tmp_path), "--resume", run_id, "--no-progress"]) == 0
    df = load(tmp_path)
    assert len(df) == 6 and df.set_index(["point_key", "backend"]).index.is_unique


@pytest.mark.parametrize(
    "change, needle",
    [
        (["--precision", "fp16"], "points:"),
        (["--max-time", "0.5"], "timing max_time_s"),
        (["--shape", "4x4"], "points:"),
    ],
)
def test_resume_refuses_a_command_that_plans_a_different_run(tmp_path, capsys, change, needle):
    run_id = _killed_run(tmp_path)
    capsys.readouterr()
    refused(
        capsys, ["run", *TINY, *change, "--out", str(tmp_path), "--resume", run_id], "plans a different run", needle
    )
    assert journal_path(tmp_path, run_id).exists()  # nothing was mixed in, nothing lost


def test_resume_with_another_sweep_is_refused(tmp_path, capsys):
    run_id = _killed_run(tmp_path)
    capsys.readouterr()
    refused(capsys, ["run", "--sweep", "seed", "--out", str(tmp_path), "--resume", run_id], "plans a different run")


def test_a_second_writer_of_the_same_run_is_refused(tmp_path, capsys):
    run_id = _killed_run(tmp_path)
    holder, _ = RunWriter.resume(tmp_path, run_id)  # another process holds the run (flock is per open file)
    try:
        capsys.readouterr()
        refused(capsys, ["run", *TINY, "--out", str(tmp_path), "--resume", run_id], "being written by another process")
    finally:
        holder.close()


def test_run_ids_carry_48_random_bits():
    from bench.cli.run import new_run_id

    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i.rsplit("-", 1)[1]) == 12 for i in ids)


# -- damaged journals -----------------------------------------------------------------------------------


def test_a_damaged_record_is_reported_and_its_point_runs_again(tmp_path, capsys):
    run_id = _killed_run(tmp_path)
    path = journal_path(tmp_path, run_id)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:40] + b"\xff\xfe garbage" + lines[1][49:]  # bad bytes inside the first row
    path.write_bytes(b"\n".join(lines))
    capsys.readouterr()
    assert main(["run", *TINY, "--out", str(tmp_path), "--resume", run_id, "--no-progress"]) == 0
    assert "line 2: damaged record" in capsys.readouterr().out
    assert len(load(tmp_path)) == 6


@pytest.mark.parametrize("header", [b"not a header\n", b"", encode({"kind": "row"}), b'00000000 ["a list"]\n'])
def test_a_journal_without_an_intact_header_is_refused(tmp_path, capsys, header):
    path = journal_path(tmp_path, "r1")
    path.parent.mkdir(parents=True)
    path.write_bytes(header)
    refused(capsys, ["run", *TINY, "--out", str(tmp_path), "--resume", "r1"], "r1")


def test_non_object_and_foreign_lines_are_damaged_records_not_crashes(tmp_path):
    run_id = _killed_run(tmp_path)
    path = journal_path(tmp_path, run_id)
    with path.open("ab") as fh:
        fh.write(encode({"kind": "row", "row": "not a dict"}) + b'00000000 {"a": 1}\n' + b"[1, 2]\n")
    writer, contents = RunWriter.resume(tmp_path, run_id)
    writer.close()
    assert len(writer.finished()) == 2 and len(contents.damaged) == 2


# -- disk full -------------------------------------------------------------------------------------------


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead

    return apply


def test_a_full_disk_keeps_the_journal_valid_exits_2_and_resume_completes(tmp_path):
    args = ["run", *TINY, "--precision", "fp16", "--out", str(tmp_path), "--no-progress"]
    full = bench(*args, preexec_fn=_limit_file_size(12_000))
    assert full.returncode == 2, full.stderr
    assert full.stderr.startswith("error: cannot write") and "Traceback" not in full.stderr
    (journal,) = pending_runs(tmp_path)
    run_id = journal.name.split(".")[0]
    writer, contents = RunWriter.resume(tmp_path, run_id)
    writer.close()
    assert not contents.problems() and 0 < len(writer.finished()) < 6
    done = bench(*args, "--resume", run_id)
    assert done.returncode == 0, done.stderr
    assert len(load(tmp_path)) == 6


# -- results files ---------------------------------------------------------------------------------------


def test_a_results_file_with_a_wrong_column_type_exits_2_naming_file_and_column(tmp_path, capsys):
    run_planned(tmp_path / "ok", [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))])
    table = pq.read_table(next((tmp_path / "ok").glob("*.parquet")))
    i = table.schema.get_field_index("numel")
    bad = table.set_column(i, "numel", pa.array([str(v) for v in table.column("numel").to_pylist()]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    refused(capsys, ["report", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "r")], "bad.parquet", "numel")


# -- memory and failures ------------------------------------------------------------------------------------


def test_a_point_that_does_not_fit_is_a_skipped_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOST_MEMORY_LIMIT", str(64 << 20))
    big = PlannedPoint(Point((64, 256, 64, 64), "uniform", "fp32", None, "numpy"))  # 64 Mi elements
    small = PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))
    df, _ = run_planned(tmp_path, [big, small])
    by = df.set_index("shape")
    assert by.loc["64x256x64x64", "status"] == "skipped" and by.loc["64x256x64x64", "error_origin"] == "resources"
    assert (
        "does not fit: needs about" in by.loc["64x256x64x64", "error"]
        and "available" in by.loc["64x256x64x64", "error"]
    )
    assert by.loc["1x3x3x3", "status"] == "ok"


def test_a_harness_bug_is_told_apart_from_a_backend_failure(tmp_path, monkeypatch):
    import bench.problem

    def broken(self, out):
        raise ZeroDivisionError("a bug in the check")

    monkeypatch.setattr(bench.problem.Problem, "check", broken)
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))])
    r = df.iloc[0]
    assert (r["status"], r["error_origin"]) == ("failed", "harness")
    assert any("harness error raised at" in w and "test_hostile.py" in w for w in r["warnings"])


def test_points_that_miss_the_noise_target_are_flagged_and_counted(tmp_path, capsys):
    args = ["run", *TINY, "--target-noise", "1e-9", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    df = load(tmp_path)
    ok = df[df["status"] == "ok"]
    assert len(ok) == 6 and (ok["noise_target_met"] == False).all()  # noqa: E712
    assert set(ok["stop_reason"]) <= {"time_cap", "sample_cap"}
    assert all(any("noise target missed" in w for w in ws) for ws in ok["warnings"])
    assert "noise target missed on 6 of 6 timed points" in out


def test_rounds_keep_their_time_cap_and_flag(tmp_path):
    timing = TimingSettings(warmup_s=0.001, min_samples=2, max_samples=2000, min_time_s=0.001, max_time_s=0.05,
                            target_noise=1e-9, rounds=1000)  # fmt: skip
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))], timing)
    r = df.iloc[0]
    assert r["phase_s"]["timing"] < 0.05 + 0.2  # the cap bounds all rounds together (one round may overrun)
    assert r["noise_target_met"] == False and r["stop_reason"] == "time_cap"  # noqa: E712
    assert any("time cap" in w for w in r["warnings"])
