"""The compare, gate and report commands through `python -m bench`'s entry point, on parquet files:
sides of several runs, baseline manifests, output people can read (100 columns, both directions,
markup-proof) and machines can parse, and refusals (exit 2, one line) before anything is printed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import SynthPoint, grid, make_run, write_run

from bench.analysis import baseline
from bench.cli.main import main

POINTS = grid(sizes=(1_000, 1_000_000))


def write(tmp: Path, name: str, seed: int, points=POINTS, **kw: object) -> Path:
    run_id = kw.pop("run_id", name)
    return write_run(make_run(points, seed=seed, run_id=run_id, run_noise=0.002, **kw), tmp / f"{name}.parquet")


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    return {
        "base": write(tmp_path / "base", "a", 1),
        "same": write(tmp_path / "same", "b", 2),
        "slow": write(tmp_path, "slow", 3, slowdown={POINTS[4]: 1.1}),
        "h200": write(tmp_path / "both", "d", 4, gpu_name="NVIDIA H200", timestamp="2026-11-23T00:00:00+00:00"),
    }


def test_gate_exit_codes_and_markdown(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["gate", str(runs["base"].parent), str(runs["same"].parent)]) == 0
    md = tmp_path / "out" / "gate.md"
    assert main(["gate", str(runs["base"]), str(runs["slow"]), "--threshold", "3%", "--markdown", str(md)]) == 1
    assert f"{POINTS[4].mode} {POINTS[4].precision} {POINTS[4].shape_str}" in md.read_text()
    assert md.read_text().startswith(
        "# Regression gate: FAIL: what ran: the same launch/tactics on all 12 gated points; 1 point(s) slower"
    )
    assert main(["gate", str(runs["base"]), str(runs["h200"])]) == 2
    assert main(["gate", str(runs["base"]), str(runs["h200"]), "--cross"]) == 0
    assert "REFUSED" in capsys.readouterr().out


def test_several_runs_a_side_are_combined_and_said_so(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    more = write(tmp_path / "base", "c", 5)
    assert main(["gate", "--base", str(runs["base"]), "--base", str(more), "--cand", str(runs["same"])]) == 0
    assert "base 2 runs (combined as repeats of one thing), cand 1 run" in capsys.readouterr().out
    assert main(["gate", str(runs["base"].parent), "--cand", str(runs["same"])]) == 0  # a folder of two runs


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gate", "only-one-path"], "give BASE and CAND (got 1 path(s))"),
        (["gate", "nope.parquet", "nope2.parquet"], "nope.parquet: no such results file or folder"),
        (
            ["gate", "--baseline", "no-such-gpu", "x"],
            "--baseline: no baseline manifest results/_baselines/no-such-gpu.json",
        ),
        (["compare", "a.parquet"], "give BASE and CAND"),
    ],
)
def test_inputs_that_are_not_results_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1 and captured.out == ""


@pytest.mark.parametrize("command", ["gate", "compare"])
def test_an_unwritable_markdown_path_is_refused_before_any_verdict(
    command: str, runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target in (blocker / "out.md", tmp_path):
        assert main([command, str(runs["base"]), str(runs["same"]), "--markdown", str(target)]) == 2
        captured = capsys.readouterr()
        assert (
            captured.out == ""
            and captured.err.startswith(f"error: --markdown {target}")
            and captured.err.count("\n") == 1
        )


@pytest.mark.parametrize("flag,value", [("--threshold", "five"), ("--threshold", "5"), ("--alpha", "0%")])
def test_bad_values_name_the_flag(runs: dict[str, Path], flag: str, value: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["gate", str(runs["base"]), str(runs["same"]), flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and "0.05" in err


def test_compare_output_fits_100_columns_and_shows_the_largest_changes_both_ways(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    points = grid(sizes=(1_000, 10_000, 100_000, 1_000_000, 10_000_000))
    base = write(tmp_path, "base", 1, points)
    cand = write(tmp_path, "cand", 2, points, slowdown={points[3]: 0.5, points[20]: 2.0})
    assert main(["compare", str(base), str(cand), "--rows", "4"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    lines = out.splitlines()
    summary = next(i for i, line in enumerate(lines) if "points compared" in line)
    table = next(i for i, line in enumerate(lines) if line.startswith("point "))
    assert summary < table  # the decision and summary come first
    for p in (points[3], points[20]):
        assert any(f"{p.mode} {p.precision} {p.shape_str}" in line for line in lines[table:])
    assert "26 points between" in out


def test_markup_in_user_strings_is_printed_as_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    points = [SynthPoint((1, 1, 1, 1000 * (i + 1)), mode="[/]", channel_axis="[red]") for i in range(10)]
    base = write(tmp_path, "base", 1, points)
    cand = write(
        tmp_path, "cand", 2, points, slowdown={points[0]: 1.5}, statuses={points[1]: ("failed", "bad [/] tag [b]")}
    )
    assert main(["gate", str(base), str(cand)]) == 1
    out = capsys.readouterr().out
    assert "[/] fp32 1x1x1x1000 axis=[red]" in out and "bad [/] tag [b]" in out


@pytest.mark.parametrize("command", ["compare", "gate"])
def test_formats_for_machines(command: str, runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    args = [command, str(runs["base"]), str(runs["slow"])]
    main([*args, "--format", "json"])
    content = json.loads(capsys.readouterr().out)
    comparison = content if command == "compare" else content["comparison"]
    assert len(comparison["points"]) == len(POINTS) and {"ratio", "ci_low", "verdict", "p_adj"} <= set(
        comparison["points"][0]
    )
    if command == "gate":
        assert content["exit_code"] == 1 and content["failures"][0]["point_key"] == POINTS[4].key
    main([*args, "--format", "csv"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == len(POINTS) and "verdict" in table.columns
    main([*args, "--format", "md"])
    assert (
        "| point | base µs [95% CI] | cand µs [95% CI] | ratio [95% CI] | verdict | p90 ratio |"
        in capsys.readouterr().out
    )


def test_baseline_manifest_names_runs_in_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(3):
        write(tmp_path / "results" / "h100-day1", f"base-{i}", i)
    cand = write(tmp_path / "new", "cand", 9)
    assert main(["baseline", "make", "nvidia-h100-80gb-hbm3", "results/h100-day1", "--note", "three runs"]) == 0
    manifest = json.loads((tmp_path / "results" / "_baselines" / "nvidia-h100-80gb-hbm3.json").read_text())
    profile = json.loads((tmp_path / "results" / "_baselines" / "nvidia-h100-80gb-hbm3.noise.json").read_text())
    assert profile["runs"] == ["base-0", "base-1", "base-2"] and profile["classes"]  # the noise beside it
    assert manifest["runs"] == ["base-0", "base-1", "base-2"] and manifest["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert baseline.slug(manifest["gpu_name"]) == "nvidia-h100-80gb-hbm3"
    assert main(["gate", "--baseline", "nvidia-h100-80gb-hbm3", str(cand)]) == 0
    assert "base 3 runs (combined as repeats of one thing)" in capsys.readouterr().out
    from bench.results import load

    assert len(load("results")) == 3 * len(POINTS)  # the manifest is not a results file: nothing counted twice
    (tmp_path / "results" / "h100-day1" / "base-1.parquet").unlink()
    assert main(["gate", "--baseline", "nvidia-h100-80gb-hbm3", str(cand)]) == 2
    assert "run base-1 is not in" in capsys.readouterr().err
    (tmp_path / "results" / "_baselines" / "broken.json").write_text("{not json")
    assert main(["gate", "--baseline", "results/_baselines/broken.json", str(cand)]) == 2
    assert "not a readable JSON manifest" in capsys.readouterr().err


def test_gate_takes_noise_from_earlier_runs_or_a_profile_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no committed profiles here
    for i in range(4):
        write(tmp_path / "history", f"h{i}", 30 + i)
    base, cand = write(tmp_path, "a", 1), write(tmp_path, "b", 2)
    assert main(["gate", str(base), str(cand), "--noise-from", str(tmp_path / "history")]) == 0
    assert "from --noise-from (4 runs)" in capsys.readouterr().out
    assert main(["gate", str(base), str(cand), "--noise-from", str(cand)]) == 2
    assert "--noise-from holds candidate run(s) b" in capsys.readouterr().err
    from bench.analysis import noise
    from bench.results import load

    profile = noise.write(noise.build([load(tmp_path / "history")], "history"), tmp_path / "h.noise.json")
    assert main(["gate", str(base), str(cand), "--noise-from", str(profile)]) == 0
    assert str(profile) in " ".join(capsys.readouterr().out.split())
    (tmp_path / "broken.noise.json").write_text("{")
    assert main(["gate", str(base), str(cand), "--noise-from", str(tmp_path / "broken.noise.json")]) == 2
    assert "not a readable noise profile" in capsys.readouterr().err


def test_compare_by_splits_one_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    write(runs["h200"].parent, "a", 1)
    md = tmp_path / "cmp.md"
    assert main(["compare", str(runs["h200"].parent), "--by", "gpu_name", "--markdown", str(md)]) == 0
    assert "NVIDIA H200 vs NVIDIA H100 80GB HBM3" in md.read_text()
    assert main(["compare", str(runs["base"])]) == 2  # no CAND and no --by


def test_report_command(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "x"
    assert main(["report", str(runs["base"]), str(runs["h200"]), "--out", str(out), "--by", "gpu_name"]) == 0
    assert (out / "report.md").exists() and any(out.glob("*-ratio.png"))


def test_compare_several_sides_against_the_first(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    md = tmp_path / "three.md"
    assert main(["compare", str(runs["base"]), str(runs["same"]), str(runs["slow"]), "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "b vs a" in out and "slow vs a" in out
    text = md.read_text()
    assert (
        text.startswith("# a vs b vs slow")
        and "| point | a µs | a vs copy | a ran | b µs | b/a | b verdict | b vs copy | b ran |" in text
    )
    assert main(["compare", str(runs["base"]), str(runs["same"]), str(runs["slow"]), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == len(POINTS) and {"slow/a", "slow verdict", "b verdict"} <= set(table.columns)


def test_compare_by_gpu_index_of_one_run_refuses_when_each_point_ran_on_one_card(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    half = len(POINTS) // 2
    both = pd.concat(
        [make_run(POINTS[:half], seed=1, run_id="all").assign(gpu_index=0),
         make_run(POINTS[half:], seed=2, run_id="all").assign(gpu_index=1)], ignore_index=True,
    )  # fmt: skip
    path = write_run(both, tmp_path / "all.parquet")
    assert main(["compare", str(path), "--by", "gpu_index"]) == 2
    err = capsys.readouterr().err
    assert "no point was timed on both sides" in err and "ran on one card" in err and err.count("\n") == 1


def test_compare_gate_and_report_give_the_same_verdict_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    points = grid(sizes=(1_000, 1_000_000), backends=("cuda", "memcpy"))
    base = [write(tmp_path / "both", f"base-{i}", i, points, timestamp="2026-11-20T10:00:00+00:00") for i in range(2)]
    slowed = {p: 1.08 for p in points if p.backend == "cuda" and p.mode == "channel"}
    cand = [
        write_run(
            make_run(points, seed=10 + i, run_id=f"cand-{i}", run_noise=0.002, slowdown=slowed,
                     timestamp="2026-11-21T10:00:00+00:00").assign(git_commit="fff0000"),  # another commit: --by splits
            tmp_path / "both" / f"cand-{i}.parquet",
        )
        for i in range(2)
    ]  # fmt: skip
    sides = [*(a for p in base for a in ("--base", str(p))), *(a for p in cand for a in ("--cand", str(p)))]
    assert main(["compare", *sides, "--format", "json"]) == 0
    compared = json.loads(capsys.readouterr().out)["points"]
    assert main(["gate", *sides, "--format", "json"]) == 1
    gated = json.loads(capsys.readouterr().out)["comparison"]["points"]
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "both"), "--by", "git_commit", "--out", str(out)]) == 0
    text = (out / "report.md").read_text()

    def counts(rows: list[dict]) -> str:
        cuda = [r["verdict"] for r in rows if r["backend"] == "cuda"]
        return ", ".join(f"{v} {cuda.count(v)}" for v in ("slower", "faster", "same", "undecided", "ambiguous"))

    assert counts(compared) == counts(gated)
    assert f"verdicts (the decision rule above): {counts(compared)}" in text
    assert "Decision rule: threshold ±3%" in text


def test_baseline_make_names_the_manifest_as_gate_finds_it_and_writes_nowhere_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(2):
        write(tmp_path / "results" / "day1", f"base-{i}", i)
    cand = write(tmp_path / "new", "cand", 9)
    for name in ("../../escape", "", "x.json", "..", "results/_baselines/x"):  # a path or no name at all
        assert main(["baseline", "make", name, "results/day1"]) == 2
        assert "NAME is a GPU's name or slug" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == []
    assert main(["baseline", "make", "NVIDIA H100 80GB HBM3", "results/day1"]) == 0  # the GPU's name, as nox gives it
    assert (tmp_path / "results" / "_baselines" / "nvidia-h100-80gb-hbm3.json").is_file()
    assert main(["gate", "--baseline", "NVIDIA H100 80GB HBM3", str(cand)]) == 0


def test_a_baseline_that_cannot_have_its_noise_profile_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "results" / "day1", "only", 1)
    assert main(["baseline", "make", "gpu", "results/day1"]) == 2  # one run: no run-to-run noise to profile
    assert "a noise profile needs repeated runs" in capsys.readouterr().err
    assert not (tmp_path / "results" / "_baselines").exists()  # no manifest that a gate would trust alone
    write(tmp_path / "results" / "day1", "second", 2)
    (tmp_path / "results" / "_baselines").write_text("a file where the folder belongs")
    assert main(["baseline", "make", "gpu", "results/day1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write it (File exists: results/_baselines)" in err and "\n" not in err


def test_baseline_profile_refusals_name_the_command_and_do_not_wait_on_a_fifo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "_baselines").mkdir(parents=True)
    os.mkfifo(tmp_path / "results" / "_baselines" / "gpu.json")
    (tmp_path / "results" / "_baselines" / "nan.json").write_text('{"runs": ["a"], "note": NaN}')
    assert main(["baseline", "profile", "gpu"]) == 2
    assert "error: baseline profile: no baseline manifest results/_baselines/gpu.json" in capsys.readouterr().err
    assert main(["baseline", "profile", "nan"]) == 2
    assert "NaN is not a JSON number" in capsys.readouterr().err
