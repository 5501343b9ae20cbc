"""The compare, gate and report commands through `python -m bench`'s entry point, on parquet files."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_fixtures import grid, make_run, write_run

from bench.cli.main import main

POINTS = grid(sizes=(1_000, 1_000_000))


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    return {
        "base": write_run(make_run(POINTS, seed=1, run_id="a"), tmp_path / "base" / "a.parquet"),
        "same": write_run(make_run(POINTS, seed=2, run_id="b"), tmp_path / "same" / "b.parquet"),
        "slow": write_run(make_run(POINTS, seed=3, run_id="c", slowdown={POINTS[4]: 1.1}), tmp_path / "slow.parquet"),
        "h200": write_run(
            make_run(POINTS, seed=4, run_id="d", gpu_name="NVIDIA H200", timestamp="2026-11-23T00:00:00+00:00"),
            tmp_path / "both" / "d.parquet",
        ),
    }


def test_gate_exit_codes_and_markdown(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["gate", str(runs["base"].parent), str(runs["same"].parent)]) == 0
    md = tmp_path / "gate.md"
    assert main(["gate", str(runs["base"]), str(runs["slow"]), "--threshold", "5%", "--markdown", str(md)]) == 1
    assert f"{POINTS[4].mode} {POINTS[4].precision} {POINTS[4].shape_str}" in md.read_text()
    assert main(["gate", str(runs["base"]), str(runs["h200"])]) == 2
    assert main(["gate", str(runs["base"]), str(runs["h200"]), "--cross"]) == 0
    assert "REFUSED" in capsys.readouterr().out


@pytest.mark.parametrize("flag,value", [("--threshold", "five"), ("--threshold", "5"), ("--alpha", "0%")])
def test_bad_values_name_the_flag(runs: dict[str, Path], flag: str, value: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["gate", str(runs["base"]), str(runs["same"]), flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and "0.05" in err


def test_compare_by_splits_one_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    write_run(make_run(POINTS, seed=1, run_id="a"), runs["h200"].parent / "a.parquet")
    md = tmp_path / "cmp.md"
    assert main(["compare", str(runs["h200"].parent), "--by", "gpu_name", "--markdown", str(md)]) == 0
    assert "NVIDIA H200 vs NVIDIA H100 80GB HBM3" in md.read_text()
    assert main(["compare", str(runs["base"])]) == 2  # no CAND and no --by


def test_report_command(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "x"
    assert main(["report", str(runs["base"]), str(runs["h200"]), "--out", str(out), "--by", "gpu_name"]) == 0
    assert (out / "report.md").exists() and any(out.glob("*-ratio.png"))
