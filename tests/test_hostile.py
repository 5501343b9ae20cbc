"""Hostile input and hostile moments, as a user meets them: `python -m bench` in a fresh process, real
signals, a second process, journals left by killed runs. Every case ends in exit 2 with one line naming the
file or flag and the fix (never a traceback), or in a correct result; no run is left that `--resume` cannot
finish. (A few cases that need a bug or a setting no flag can make run in this process, and say so.)"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import ROOT, bench, finish, records, refused, run_id_of, start, stop, wait_for_records
from run_helpers import run_planned

from bench.planning import PlannedPoint
from bench.point import Point
from bench.results import load
from bench.results.journal import encode
from bench.results.store import journal_path, parquet_path, pending_runs
from bench.timing.settings import TimingSettings

# Six numpy points of about 0.1 s each (a noise target they cannot reach, so each runs to its time cap): a run
# lasts long enough to be killed, interrupted or joined half-way.
SLOW = ["--shape", "1x3x3x3", "--shape", "2x3x4x5", "--backend", "numpy", "--min-time", "0.05", "--max-time", "0.1",
        "--target-noise", "1e-9", "--no-progress"]  # fmt: skip
# The same points, quick: enough samples each to judge noise, in about a second for the whole run.
QUICK = ["--shape", "1x3x3x3", "--shape", "2x3x4x5", "--backend", "numpy", "--max-time", "0.02", "--min-time", "0.002",
         "--no-progress"]  # fmt: skip
POINTS = 6


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def finished_rows(out: Path):
    df = load(out)
    assert len(df) == POINTS and df.set_index(["point_key", "backend"]).index.is_unique, df[["point_key", "backend"]]
    return df


# -- a run killed with kill -9 after two points: the journal every resume test starts from --------------------


@pytest.fixture(scope="module")
def killed_template(tmp_path_factory) -> tuple[Path, str, list[dict]]:
    """A SLOW run in its own folder, killed with SIGKILL once two points are in its journal: (folder, run id,
    the journal's records at the kill)."""
    out = tmp_path_factory.mktemp("killed") / "out"
    proc = start("run", *SLOW, "--out", str(out))
    journal = wait_for_records(proc, out, 2)
    assert journal is not None, stop(proc)
    stop(proc, signal.SIGKILL)
    kept = [r for r in records(journal) if r["kind"] == "row"]
    assert 2 <= len(kept) < POINTS, len(kept)
    return out, run_id_of(journal), kept


@pytest.fixture
def killed(killed_template, tmp_path) -> tuple[Path, str, list[dict]]:
    """A copy of the killed run for one test to change."""
    out, run_id, kept = killed_template
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy, run_id, kept


def test_resume_completes_a_killed_run_keeping_every_finished_point_unchanged(killed):
    out, run_id, kept = killed
    done = bench("run", *SLOW, "--out", str(out), "--resume", run_id)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming {run_id}: {len(kept)} of {POINTS} points already done" in done.stdout
    df = finished_rows(out).set_index(["point_key", "backend"])
    for record in kept:
        r = record["row"]
        assert df.loc[(r["point_key"], r["backend"]), "samples_us"].tolist() == r["samples_us"]
    assert not pending_runs(out)


@pytest.mark.parametrize(
    "change, needle",
    [
        (["--precision", "fp16"], "points:"),
        (["--max-time", "0.5"], "timing max_time_s"),
        (["--shape", "4x4"], "points:"),
    ],
)
def test_resume_refuses_a_command_that_plans_a_different_run(killed, change, needle):
    out, run_id, _ = killed
    before = journal_path(out, run_id).read_bytes()
    refused(bench("run", *SLOW, *change, "--out", str(out), "--resume", run_id), "plans a different run", needle)
    assert journal_path(out, run_id).read_bytes() == before  # nothing mixed in, nothing lost


def test_resume_with_another_sweep_is_refused(killed):
    out, run_id, _ = killed
    refused(bench("run", "--sweep", "seed", "--out", str(out), "--resume", run_id), "plans a different run", "sweep")


@pytest.mark.parametrize("value, needle", [("../x/ID", "not a path"), ("", "a run id is letters")])
def test_resume_takes_a_run_id(tmp_path, value, needle):
    refused(bench("run", *QUICK, "--out", str(tmp_path), "--resume", value), "--resume", needle)
    assert not list(tmp_path.glob("*.parquet"))  # `--resume ''` used to start a new run


def test_a_second_process_writing_the_same_run_is_refused_and_the_first_finishes(killed):
    out, run_id, kept = killed
    first = start("run", *SLOW, "--out", str(out), "--resume", run_id)
    try:
        assert wait_for_records(first, out, len(kept) + 1) is not None, stop(first)  # it holds the lock, working
        first.send_signal(signal.SIGSTOP)  # stopped, it holds the lock however long the second one takes to start
        refused(bench("run", *SLOW, "--out", str(out), "--resume", run_id), "being written by another process")
        refused(bench("run", *SLOW, "--out", str(out), "--resume"), "being written by another process")
    finally:
        first.send_signal(signal.SIGCONT)
        code, _, err = finish(first)
    assert code == 0, err[-2000:]
    finished_rows(out)


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_keep_what_finished_and_say_how_to_finish(tmp_path, sig, code, word):
    out = tmp_path / "out"
    proc = start("run", *SLOW, "--out", str(out))
    journal = wait_for_records(proc, out, 2)
    assert journal is not None, stop(proc)
    returncode, stdout, stderr = stop(proc, sig)
    run_id = run_id_of(journal)
    assert returncode == code and "Traceback" not in stderr, (returncode, stderr[-2000:])
    assert f"{word}" in stdout and f"--resume {run_id}" in stdout, stdout[-1000:]
    kept = len([r for r in records(journal) if r["kind"] == "row"])
    assert f"{kept} finished points kept" in stdout
    done = bench("run", *SLOW, "--out", str(out), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    finished_rows(out)


# A process that runs the CLI and kills itself with SIGKILL at one moment of writing the results file: the
# state a kill at that moment leaves (no hook in the harness; the kill is real).
KILL_IN_FINALIZE = """
import os, signal, sys
import bench.results.store as store
from bench.cli.main import main
moment = sys.argv.pop(1)
real_write, real_replace = store.pq.write_table, store.os.replace
def write(table, where, **kw):
    real_write(table, where, **kw)
    if moment == "writing":  # half of the file on disk, then killed
        os.truncate(where, os.path.getsize(where) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
def replace(src, dst):
    real_replace(src, dst)
    if moment == "renamed":  # the results file in place, the journal not yet removed
        os.kill(os.getpid(), signal.SIGKILL)
store.pq.write_table, store.os.replace = write, replace
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("moment", ["writing", "renamed"])
def test_a_kill_during_finalize_leaves_a_run_that_resume_finishes(killed, moment):
    out, run_id, _ = killed
    args = ["run", *SLOW, "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_FINALIZE, moment, *args, "--resume", run_id],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    if moment == "writing":
        assert list(out.glob(f".{run_id}.parquet.*.tmp")) and not parquet_path(out, run_id).exists()
        done = bench(*args, "--resume", run_id)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not list(out.glob(".*.tmp"))  # the half-written file of the killed finalize is gone
    else:
        assert parquet_path(out, run_id).exists() and journal_path(out, run_id).exists()
        refused(bench(*args, "--resume"), "no unfinished run")
        refused(bench(*args, "--resume", run_id), "already finished", "leftover journal was removed")
        assert not journal_path(out, run_id).exists()
    finished_rows(out)


def test_resume_refuses_a_checkout_whose_code_changed_since_the_run_started(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "bench", tree / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tree), "BENCH_GIT_COMMIT": ""}
    out = tmp_path / "out"
    args = [sys.executable, "-m", "bench", "run", *SLOW, "--out", str(out)]
    proc = subprocess.Popen(args, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = wait_for_records(proc, out, 2)
    assert journal is not None, stop(proc)
    stop(proc, signal.SIGKILL)
    with (tree / "bench" / "stats.py").open("a") as fh:
        fh.write("# changed while the run was stopped\n")
    again = subprocess.run([*args, "--resume"], cwd=tree, env=env, capture_output=True, text=True, timeout=120)
    refused(again, "plans a different run", "code_digest")
    assert journal.exists()


def test_run_ids_carry_48_random_bits():
    from bench.cli.run import new_run_id

    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i.rsplit("-", 1)[1]) == 12 for i in ids)


# -- damaged and foreign journals ------------------------------------------------------------------------------


def test_a_damaged_record_is_reported_and_its_point_runs_again(killed):
    out, run_id, kept = killed
    path = journal_path(out, run_id)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:40] + b"\xff\xfe garbage" + lines[1][49:]  # bad bytes inside the first row
    path.write_bytes(b"\n".join(lines))
    done = bench("run", *SLOW, "--out", str(out), "--resume", run_id)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "line 2: damaged record" in done.stdout and f"{len(kept) - 1} of {POINTS} points already done" in done.stdout
    finished_rows(out)


def test_records_that_pass_their_checksum_but_are_not_this_runs_rows_run_again(killed):
    """A valid checksum does not make a record one of this run's rows: another run's, an unknown status, a
    value the schema cannot hold, a round that failed. Each is reported by line; its point runs again."""
    out, run_id, kept = killed
    path = journal_path(out, run_id)
    first, second = kept[0], kept[1]
    foreign = {**first, "row": {**first["row"], "run_id": "20261126T000000Z-other-000000000000"}}
    typed = {**second, "row": {**second["row"], "samples_us": "not a list of samples"}}
    bogus = {**first, "row": {**first["row"], "status": "bogus"}}
    failed_round = {"kind": "round", "round": 0, "row": {**first["row"], "status": "failed"}}
    header, *_ = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header + b"\n" + b"".join(encode(r) for r in (foreign, typed, bogus, failed_round)))
    done = bench("run", *SLOW, "--out", str(out), "--resume", run_id)
    assert done.returncode == 0, done.stderr[-2000:]
    for line, why in [(2, "a row of another run"), (3, "a row that does not fit the schema"),
                      (4, "a row with status 'bogus'"), (5, "a round with status 'failed'")]:  # fmt: skip
        assert f"line {line}: {why}" in done.stdout, done.stdout[:3000]
    assert f"resuming {run_id}: 0 of {POINTS} points already done" in done.stdout
    df = finished_rows(out)
    assert set(df["run_id"]) == {run_id} and set(df["status"]) == {"ok"}


@pytest.mark.parametrize(
    "content, needle",
    [(b"not a header\n", "not a resumable journal"), (b"", "the journal is empty"),
     (encode({"kind": "row"}), "not a resumable journal"), (b'00000000 ["a list"]\n', "not a resumable journal")],
)  # fmt: skip
def test_a_journal_without_an_intact_header_is_refused(tmp_path, content, needle):
    path = journal_path(tmp_path, "20261204T000000Z-host-0123456789ab")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    refused(bench("run", *QUICK, "--out", str(tmp_path), "--resume"), needle, "start a new run")


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_a_journal_that_is_not_a_regular_file_is_refused_without_hanging(tmp_path, kind):
    path = journal_path(tmp_path, "20261204T000000Z-host-0123456789ab")
    path.parent.mkdir(parents=True)
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    refused(bench("run", *QUICK, "--out", str(tmp_path), "--resume", timeout=60), "not a regular file")


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead

    return apply


def test_a_full_disk_mid_run_keeps_the_journal_valid_exits_2_and_resume_completes(tmp_path):
    args = ["run", *QUICK, "--precision", "fp16", "--out", str(tmp_path)]
    full = bench(*args, preexec_fn=_limit_file_size(12_000))
    refused(full, "cannot write to the journal", "--resume")
    (journal,) = pending_runs(tmp_path)
    assert 0 < len([r for r in records(journal) if r["kind"] == "row"]) < POINTS
    done = bench(*args, "--resume", run_id_of(journal))
    assert done.returncode == 0, done.stderr[-2000:]
    finished_rows(tmp_path)


def test_a_full_disk_before_the_first_record_leaves_no_journal_and_says_nothing_was_measured(tmp_path):
    refused(bench("run", *QUICK, "--out", str(tmp_path), preexec_fn=_limit_file_size(100)), "nothing was measured")
    assert not pending_runs(tmp_path) and not list((tmp_path / ".journal").iterdir())


def test_an_out_folder_replaced_during_the_run_is_one_line_and_the_journal_finishes_the_run(tmp_path):
    out, moved = tmp_path / "out", tmp_path / "moved"
    proc = start("run", *SLOW, "--out", str(out))
    journal = wait_for_records(proc, out, 1)
    assert journal is not None, stop(proc)
    proc.send_signal(signal.SIGSTOP)  # the swap lands before it finishes
    out.rename(moved)
    out.write_text("a file where the results folder was")
    proc.send_signal(signal.SIGCONT)
    code, _, err = finish(proc)
    refused(subprocess.CompletedProcess([], code, "", err), "cannot write", "--resume")
    out.unlink()
    moved.rename(out)
    done = bench("run", *SLOW, "--out", str(out), "--resume", run_id_of(journal))
    assert done.returncode == 0, done.stderr[-2000:]
    finished_rows(out)


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_an_unusable_out_folder_exits_2_naming_the_flag(tmp_path, kind):
    out = write(tmp_path / "a-file", "x") if kind == "file" else Path("/proc/self/no-such/results")
    refused(bench("run", *QUICK, "--out", str(out)), "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the /proc case covers it")
def test_a_read_only_out_folder_exits_2(tmp_path):
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    refused(bench("run", *QUICK, "--out", str(out)), "--out")


# -- runs that could never finish -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--shape", "1x3x3x3", "--mode", "channel", "--channel-axis", "7", "--backend", "numpy"],
        ["--shape", "1x3x3x3", "--mode", "channel", "--channel-axis", "7", "--backend", "cuda"],  # no GPU needed
        ["--sweep", "smoke", "--shard", "7/108"],
    ],
)
def test_a_plan_whose_points_are_all_skipped_finishes_with_their_rows(tmp_path, args):
    done = bench("run", *args, "--out", str(tmp_path), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    df = load(tmp_path)
    assert len(df) >= 1 and (df["status"] == "skipped").all() and df["error"].str.len().gt(0).all()
    assert not pending_runs(tmp_path)


def test_every_point_gets_its_first_round_however_small_the_time_cap(tmp_path):
    """In this process: a cap of 0, which no flag accepts (the runner's own rule, under the validation)."""
    timing = TimingSettings(warmup_s=0.0, min_samples=2, min_time_s=0.0, max_time_s=0.0, rounds=5)
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))], timing)
    r = df.iloc[0]
    assert r["status"] == "ok" and len(r["round_sizes"]) == 1 and r["stop_reason"] == "time_cap"


def test_a_time_cap_of_zero_is_refused(tmp_path):
    proc = bench("run", "--sweep", "smoke", "--min-time", "0", "--max-time", "0", "--out", str(tmp_path))
    refused(proc, "max_time_s must be more than 0")


# -- the time cap bounds warm-up too -----------------------------------------------------------------------------


@pytest.mark.parametrize("warmup", ["5", "1e308"])
def test_a_warm_up_longer_than_half_the_time_cap_is_refused(tmp_path, warmup):
    proc = bench("run", *QUICK, "--warmup", warmup, "--max-time", "0.1", "--out", str(tmp_path))
    refused(proc, "warmup_s", "half of max_time_s")


def test_the_default_warm_up_gives_way_to_a_small_time_cap_and_points_get_samples(tmp_path):
    done = bench("run", *QUICK, "--out", str(tmp_path))  # --max-time 0.02: the default warm-up is 0.02 s
    assert done.returncode == 0, done.stderr[-2000:]
    df = load(tmp_path)
    assert all(s["warmup_s"] == 0.01 for s in df["timing_settings"])  # what ran is what the row says
    assert (df["n_samples"] >= 10).all(), df["n_samples"].tolist()


def test_warm_up_stays_within_the_time_cap_in_the_timing_loop(tmp_path):
    """In this process: settings no flag accepts (warm-up far past the cap) still stop at the cap."""
    timing = TimingSettings(warmup_s=5.0, min_samples=2, min_time_s=0.01, max_time_s=0.1, target_noise=1e-9)
    t0 = time.monotonic()
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))], timing)
    assert time.monotonic() - t0 < 2.0 and df.iloc[0]["phase_s"]["timing"] < 0.1 + 0.05
    assert df.iloc[0]["n_samples"] > 1


# -- noise -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target, met", [("1e-9", False), ("0.99", True)])
def test_points_that_miss_the_noise_target_are_flagged_and_counted_and_others_are_not(tmp_path, target, met):
    done = bench("run", *QUICK, "--target-noise", target, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    ok = load(tmp_path)
    assert len(ok) == POINTS and (ok["status"] == "ok").all() and (ok["n_samples"] >= 10).all()
    assert (ok["noise_target_met"] == met).all()
    assert all(any("noise target missed" in w for w in ws) != met for ws in ok["warnings"])
    if met:
        assert set(ok["stop_reason"]) == {"noise_target"} and "noise target missed" not in done.stdout
    else:
        assert set(ok["stop_reason"]) <= {"time_cap", "sample_cap"}
        assert f"noise target missed on {POINTS} of {POINTS} timed points" in done.stdout


def test_rounds_keep_their_time_cap_and_flag(tmp_path):
    timing = TimingSettings(warmup_s=0.001, min_samples=2, max_samples=2000, min_time_s=0.001, max_time_s=0.05,
                            target_noise=1e-9, rounds=1000)  # fmt: skip
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))], timing)
    r = df.iloc[0]
    assert r["phase_s"]["timing"] < 0.05 + 0.2  # the cap bounds all rounds together (one round may overrun)
    assert r["noise_target_met"] == False and r["stop_reason"] == "time_cap"  # noqa: E712
    assert any("time cap" in w for w in r["warnings"])


# -- sweep files and flags -----------------------------------------------------------------------------------------


def test_a_sweep_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path):
    f = write(tmp_path / "latin1.toml", '[axes]\nshape = ["1x3"]\nname = "caf\xe9"\n'.encode("latin-1"))
    refused(bench("plan", "--sweep", str(f)), "latin1.toml", "not UTF-8", "save it as UTF-8")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    f = write(tmp_path / "bom.toml", b'\xef\xbb\xbf[axes]\nshape = ["1x3x3x3"]\n')
    assert bench("plan", "--sweep", str(f)).returncode == 0


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
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ('[axes]\nshape = ["1x3"]\nmode = ' + "[" * 12 + "]" * 12 + "\n", "nested more than 8 levels"),
        ('[axes]\nshape = ["1x3"]\n[measure]\nwarmup_s = 0.9\n', "warmup_s (0.9) must be at most half"),
    ],
)
def test_bad_sweep_documents_exit_2_naming_the_field(tmp_path, doc, needle):
    f = write(tmp_path / "bad.toml", doc)
    refused(bench("plan", "--sweep", str(f)), "bad.toml", needle)


@pytest.mark.parametrize("flag, value", [("--max-time", "nan"), ("--min-time", "inf"), ("--target-noise", "nan")])
def test_nan_and_inf_timing_flags_are_refused(flag, value):
    refused(bench("plan", "--sweep", "smoke", flag, value), "command line", flag.lstrip("-").replace("-", "_"))


def test_a_bad_axis_value_is_named_before_a_missing_shape():
    refused(bench("plan", "--precision", "fp64"), "--precision", "'fp64' is not a precision")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--bogus"], "python -m bench run: unrecognized arguments: --bogus; see python -m bench run --help"),
        (["run", "--method", "fast"], "argument --method: invalid choice: 'fast'"),
        (["plan", "--shard"], "argument --shard: expected one argument"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_flags_argparse_refuses_are_one_line_too(argv, needle):
    refused(bench(*argv), needle)


def test_the_console_script_names_itself_and_has_a_version():
    script = "import sys; from bench.cli.main import main; sys.argv[0] = '/usr/bin/scale-bench'; sys.exit(main())"
    argv = [sys.executable, "-c", script]
    kw = {"capture_output": True, "text": True, "env": {**os.environ, "PYTHONPATH": str(ROOT)}, "timeout": 60}
    version = subprocess.run([*argv, "--version"], **kw)
    assert version.returncode == 0 and version.stdout.strip() == "scale-bench 0.1.0"
    refused(subprocess.run([*argv, "run", "--bogus"], **kw), "error: scale-bench run: unrecognized arguments")
    assert "usage: scale-bench" in subprocess.run([*argv, "--help"], **kw).stdout


def test_a_sweep_name_with_rich_markup_is_printed_as_written(tmp_path):
    f = write(tmp_path / "m.toml", 'name = "odd [/] [bold]name"\n[axes]\nshape = ["1x3x3x3"]\nbackend = ["numpy"]\n')
    done = bench("plan", "--sweep", str(f))
    assert done.returncode == 0 and "odd [/] [bold]name" in done.stdout


def test_env_prints_the_extra_to_install_with_its_brackets():
    assert 'pip install "scale-bench[tensorrt]"' in bench("env").stdout


def test_plan_leaves_points_that_cannot_fit_host_memory_out_of_its_estimate():
    done = bench("plan", "--shape", "100000x100000x100", "--backend", "numpy")
    assert done.returncode == 0, done.stderr
    assert "3 would be skipped here for host memory" in done.stdout and "estimated time: 0.0 min" in done.stdout


def _table_width(stdout: str) -> int:
    return max(len(line) for line in stdout.splitlines() if line[:1] in "┏┃┡│└")


def test_piped_tables_fit_the_width_and_fold_instead_of_cutting(tmp_path):
    plan = bench("plan", "--sweep", "default")  # its table of skip reasons is wider than 100 columns
    assert plan.returncode == 0 and _table_width(plan.stdout) <= 100 and "…" not in plan.stdout, plan.stdout
    done = bench("run", *QUICK, "--shape", "64x16x64x64", "--channel-axis", "default", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _table_width(done.stdout) <= 100 and "…" not in done.stdout


# -- results files -------------------------------------------------------------------------------------------------


def test_a_results_file_with_a_wrong_column_type_exits_2_naming_file_and_column(tmp_path):
    run_planned(tmp_path / "ok", [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))])
    table = pq.read_table(next((tmp_path / "ok").glob("*.parquet")))
    i = table.schema.get_field_index("numel")
    bad = table.set_column(i, "numel", pa.array([str(v) for v in table.column("numel").to_pylist()]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    refused(bench("report", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "r")), "bad.parquet", "numel")


# -- memory and failures ---------------------------------------------------------------------------------------------


def test_a_point_that_does_not_fit_is_a_skipped_row_and_the_sweep_goes_on(tmp_path):
    done = bench("run", *QUICK, "--shape", "64x256x64x64", "--out", str(tmp_path),
                 extra_env={"BENCH_HOST_MEMORY_LIMIT": str(64 << 20)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    by = load(tmp_path).groupby("shape")
    big = by.get_group("64x256x64x64")
    assert (big["status"] == "skipped").all() and (big["error_origin"] == "resources").all()
    assert big["error"].str.contains("does not fit: needs about .* available", regex=True).all()
    assert (by.get_group("1x3x3x3")["status"] == "ok").all()


def test_a_harness_bug_is_told_apart_from_a_backend_failure(tmp_path, monkeypatch):
    """In this process: the bug is put there by the test."""
    import bench.problem

    def broken(self, out):
        raise ZeroDivisionError("a bug in the check")

    monkeypatch.setattr(bench.problem.Problem, "check", broken)
    df, _ = run_planned(tmp_path, [PlannedPoint(Point((1, 3, 3, 3), "uniform", "fp32", None, "numpy"))])
    r = df.iloc[0]
    assert (r["status"], r["error_origin"]) == ("failed", "harness")
    assert any("harness error raised at" in w and "test_hostile.py" in w for w in r["warnings"])


# -- compare, report, gate and selfcheck -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compare", "report"])
@pytest.mark.parametrize(
    "column, needle", [("samples_us", "differs from point to point"), ("gpu", "not a results column")]
)
def test_by_a_column_that_cannot_name_a_side_is_refused_before_reading(tmp_path, command, column, needle):
    out = ["--out", str(tmp_path / "r")] if command == "report" else []
    line = refused(bench(command, str(ROOT / "results"), "--by", column, *out), "argument --by", needle)
    assert len(line) < 400 and not (tmp_path / "r").exists()


def test_a_baseline_manifest_names_run_ids_not_patterns(tmp_path):
    (tmp_path / "results" / "_baselines").mkdir(parents=True)
    (tmp_path / "results" / "runs").mkdir()
    manifest = write(tmp_path / "results" / "_baselines" / "x.json", json.dumps({"runs": ["*"]}))
    for f in sorted((ROOT / "results" / "h200-rotated-rounds1-2026-11-26").glob("*.parquet"))[:1]:
        shutil.copy(f, tmp_path / "results" / "runs")
    cand = next((ROOT / "results" / "h100-rotated-rounds1-2026-11-26").glob("*.parquet"))
    refused(bench("gate", "--baseline", str(manifest), str(cand)), "'*' is not a run id")


def test_a_full_disk_while_the_report_is_written_is_one_line(tmp_path):
    out = tmp_path / "report"
    run = next((ROOT / "results" / "h200-rotated-rounds1-2026-11-26").glob("*.parquet"))
    refused(bench("report", str(run), "--out", str(out), preexec_fn=_limit_file_size(20_000)), "free space")


def test_a_report_folder_that_cannot_be_made_is_one_line_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = next((ROOT / "results" / "h200-rotated-rounds1-2026-11-26").glob("*.parquet"))
    refused(bench("report", str(run), "--out", str(blocker / "report")), "cannot make this folder")


def test_selfcheck_to_a_full_device_is_one_line():
    refused(bench("selfcheck", "--out", "/dev/full", timeout=300), "free space")


# -- Dask placements --------------------------------------------------------------------------------------------------


def _serve(reply: bytes | None) -> tuple[int, threading.Event]:
    """A TCP peer on 127.0.0.1 that sends ``reply`` to every connection (None: says nothing, like an HTTP
    server waiting for a request); (port, event that stops it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    done = threading.Event()
    held = []

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)
        for c in held:
            c.close()
        server.close()

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1], done


@pytest.mark.parametrize(
    "peer, needle",
    [
        ("garbage", "missing port number"),
        (None, "TimeoutError"),  # a port that never answers (an HTTP server waiting for its request)
        (b"\xff" * 64, "no Dask scheduler answered"),
        (struct.pack("<Q", 3 << 60) + b"x" * 64, "no Dask scheduler answered"),  # a frame of 3 EiB announced
    ],
)
def test_a_scheduler_address_that_is_not_a_scheduler_is_one_line_and_quick(tmp_path, peer, needle):
    pytest.importorskip("distributed")
    if peer == "garbage":
        address, done = "garbage", threading.Event()
    else:
        port, done = _serve(peer)
        address = f"tcp://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        proc = bench("run", *QUICK, "--out", str(tmp_path), "--scheduler", address,
                     extra_env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}, timeout=60)  # fmt: skip
        refused(proc, f"--scheduler {address}", needle)
        assert time.monotonic() - t0 < 20 and "Exception ignored" not in proc.stderr
    finally:
        done.set()


def test_a_run_on_an_isolated_worker_ends_without_a_traceback(tmp_path):
    pytest.importorskip("distributed")
    done = bench("run", *QUICK, "--out", str(tmp_path), "--isolate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "CommClosedError" not in done.stderr, done.stderr[-2000:]
    finished_rows(tmp_path)


def test_a_point_timeout_no_point_can_meet_is_refused(tmp_path):
    pytest.importorskip("distributed")
    proc = bench("run", *QUICK, "--point-timeout", "0.001", "--out", str(tmp_path))
    refused(proc, "--point-timeout 0.001", "max_time_s")
