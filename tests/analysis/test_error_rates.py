"""scripts/gate_error_rates.py: repeats found by commit and comparable group, every kind of split, and the
same table on every run (seeded)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from analysis_fixtures import grid, make_run, write_run

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gate_error_rates.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("gate_error_rates", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_table_counts_splits_and_is_deterministic(script, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    points = grid(sizes=(1_000, 100_000, 10_000_000))
    for i in range(4):
        write_run(make_run(points, seed=i, run_id=f"g{i}", run_noise=0.002), tmp_path / f"g{i}.parquet")
    for i in range(2):  # another commit: its own set, never split against the first
        write_run(
            make_run(points, seed=10 + i, run_id=f"o{i}", run_noise=0.002).assign(git_commit="fff0000"),
            tmp_path / f"o{i}.parquet",
        )
    argv = [str(tmp_path), "--points-per-split", "2", "--max-splits", "2", "--factors", "10%"]
    assert script.main(argv) == 0
    first = capsys.readouterr().out
    assert script.main(argv) == 0
    assert capsys.readouterr().out == first
    rows = [line for line in first.splitlines() if line.startswith("| NVIDIA")]
    configs = [
        "1 vs 1",
        "1 vs 1, history of 2",  # the same pairs, each point's noise learned from the set's other runs
        "3 vs 1",
        "2 vs 2, interleaved",
        "2 vs 2, blocked",
        "2 vs 2, nested",
        "1 vs 1",  # two runs: no history to learn from
    ]
    assert [r.split(" | ")[1] for r in rows] == configs
    assert [int(r.split(" | ")[2]) for r in rows] == [2] * 7  # 12 ordered pairs, 4 leave-one-outs, 2 halvings each kind
    assert all(r.split(" | ")[4] == "0 (0.0%)" for r in rows)  # A/A: no false alarm on these runs
    assert "commit abc1234 (4 runs)" in rows[0] and "commit fff0000 (2 runs)" in rows[6]
    sets = [line for line in first.splitlines() if line.startswith("- NVIDIA")]
    kinds = [line for line in first.splitlines() if line.startswith("  - ") and "A/A false alarms" in line]
    assert len(sets) == 2 and len(kinds) == 7
    assert all("A/A false alarms 0 of 2 (0.0%) (met)" in k for k in kinds)


def test_no_repeats_is_refused(script, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_run(make_run(grid(), seed=1), tmp_path / "one.parquet")
    assert script.main([str(tmp_path)]) == 2
    assert "no set of two or more runs" in capsys.readouterr().err
