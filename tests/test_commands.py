"""The command line: help for every command, refusals with exit code 2 before any work, and modules
that import without the optional packages (cuda-python, TensorRT, NVML)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from without_modules import run_without

from bench.cli.main import COMMANDS, main
from bench.errors import UserError
from bench.results import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"] if command else ["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--shape", "2x3y"], "--shape: shape[0] '2x3y' is malformed"),
        (["run", "--shape", "1x3x3x3", "--precision", "fp12"], "allowed: fp32, fp16, bf16, int8"),
        (["run", "--shape", "1x3x3x3", "--backend", "opencl"], "allowed: numpy, cuda, memcpy, tensorrt, tensorrt-rtx"),
        (["run", "--sweep", "nightly"], "no sweep of that name"),
        (["run", "--sweep", "smoke", "--shard", "5/4"], "--shard '5/4': need 1 <= I <= N"),
        (["run", "--sweep", "smoke", "--target-noise", "3"], "target_noise must be a fraction"),
        (["run", "--mode", "uniform"], "give --sweep NAME"),
        (["plan", "--sweep", "smoke", "--channel-axis", "first"], "'first' is not a channel axis"),
    ],
)
def test_bad_values_are_refused_with_exit_code_2_naming_the_fix(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)] if argv[0] == "run" else argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not list(tmp_path.iterdir())  # nothing was run or written


def test_resume_without_an_interrupted_run_says_so(tmp_path, capsys):
    assert main(["run", "--sweep", "seed", "--out", str(tmp_path), "--resume"]) == 2
    assert "no unfinished run" in capsys.readouterr().err


def test_plan_shows_counts_skips_and_an_estimate(capsys):
    assert main(["plan", "--sweep", "seed"]) == 0
    out = capsys.readouterr().out
    assert "7 points, 6 to run, 1 skipped" in out
    assert "out of range" in out and "estimated time" in out


def test_run_writes_one_parquet_and_prints_a_summary(tmp_path, capsys):
    assert main(["run", "--sweep", "seed", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    (path,) = tmp_path.glob("*.parquet")
    assert f"results: {path}" in out and "timed points" in out
    df = load(path)
    assert sorted(df["status"]) == ["failed", "ok", "ok", "ok", "ok", "ok", "skipped"]


def test_env_reports_what_the_machine_offers(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "GPU:" in out and "main job would run" in out


def test_every_module_imports_without_optional_packages():
    body = """
    from bench.cli.main import main
    for cmd in ("plan", "run", "env", "compare", "gate", "report"):
        try:
            main([cmd, "--help"])
        except SystemExit as e:
            assert e.code == 0, cmd
    print("imported", len(names))
    """
    proc = run_without({"cuda", "tensorrt", "tensorrt_rtx", "pynvml", "torch", "triton"}, body)
    assert proc.returncode == 0, proc.stderr
    assert "imported" in proc.stdout


def test_git_answers_for_a_checkout_and_a_stale_commit_variable_only_warns(monkeypatch, capsys):
    from bench.env import provenance

    monkeypatch.setenv("BENCH_GIT_COMMIT", "abc123")
    p = provenance()
    assert p["commit_source"] == "git" and p["git_commit"] != "abc123" and len(p["git_commit"]) == 40
    assert "BENCH_GIT_COMMIT=abc123 differs" in capsys.readouterr().err


def test_the_commit_variable_is_used_where_git_cannot_answer(monkeypatch, tmp_path):
    from bench.env import provenance

    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("BENCH_GIT_COMMIT", sha)
    p = provenance(cwd=tmp_path)  # not a checkout
    assert (p["git_commit"], p["commit_source"], p["git_dirty"]) == (sha, "env", None)
    monkeypatch.setenv("BENCH_GIT_COMMIT", "abc123")  # a short sha: verify_provenance could not check it
    with pytest.raises(UserError, match="BENCH_GIT_COMMIT must be the full 40-hex commit"):
        provenance(cwd=tmp_path)
    monkeypatch.delenv("BENCH_GIT_COMMIT")
    assert provenance(cwd=tmp_path)["git_commit"] == "unknown"


def test_a_commits_code_digest_matches_the_digest_of_its_checked_out_tree(tmp_path):
    """What python -m bench provenance relies on: the digest from git's objects equals the tree's own."""
    import shutil

    from bench.env import code_digest, commit_digest

    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "bench", repo / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert commit_digest(sha, repo) == code_digest(repo / "bench")
    (repo / "bench" / "point.py").write_text("# changed\n")
    assert commit_digest(sha, repo) != code_digest(repo / "bench")


def test_provenance_verifies_committed_runs_and_names_the_commit_a_mislabelled_run_ran():
    """`python -m bench provenance`: the H100 baseline's runs are their commit's code; the runs that name a
    mistyped commit are not verified, and the line says whose code they ran."""
    ok = subprocess.run([sys.executable, "-m", "bench", "provenance", "results/h100-rotated2-rounds1-2026-11-26"],
                        cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and ok.stdout.strip().endswith("4 run(s), 0 not verified"), ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "bench", "provenance", "results/h100-rotated-rounds1-2026-11-26"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "the recorded commit is mistyped" in bad.stdout, bad.stdout + bad.stderr


def test_phases_says_where_a_committed_run_spent_its_time():
    run = "archive/results-v2/h100-x2-2026-11-26/20261126T190837Z-vm-ecb540ec734d.parquet"
    out = subprocess.run([sys.executable, "-m", "bench", "phases", run, "--by", "shape"], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "320 points (240 ok)" in out.stdout and "seconds per phase by shape:" in out.stdout
    assert all(phase in out.stdout for phase in ("data", "build", "reference", "verify", "timing"))


@pytest.mark.parametrize(
    ("column", "says"),
    [("nothere", "'nothere' is not a results column"), ("samples_us", "samples_us holds a list<item: double>"),
     ("phase_s", "phase_s holds a struct<"), ("", "'' is not a results column")],
)  # fmt: skip
def test_phases_by_a_column_that_cannot_group_rows_is_refused_before_reading(column, says, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["phases", "no-such-results", "--by", column])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "argument --by" in err and says in err and "\n" not in err
