"""The error-rate replay (bench.analysis.error_rates, as reports/gate/recipes/gate_error_rates.py runs it): repeats
found by commit and comparable group, every kind of split with the noise each is given, the same table on
every run (seeded), and a slowdown injected into the estimates equal to one injected into the samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from analysis_fixtures import grid, make_run

from bench.analysis import error_rates, noise
from bench.analysis.rule import DecisionRule
from bench.report import error_rates as text

POINTS = grid(sizes=(1_000, 100_000, 10_000_000))


def frames() -> pd.DataFrame:
    runs = [make_run(POINTS, seed=i, run_id=f"g{i}", run_noise=0.002) for i in range(4)]
    # another commit: its own set, never split against the first
    runs += [
        make_run(POINTS, seed=10 + i, run_id=f"o{i}", run_noise=0.002).assign(git_commit="fff0000") for i in range(2)
    ]
    return pd.concat(runs, ignore_index=True)


def test_every_split_kind_is_replayed_deterministically() -> None:
    df = frames()
    elsewhere = noise.build(
        [pd.concat([make_run(POINTS, seed=50 + i, run_id=f"x{i}", run_noise=0.002) for i in range(3)])], "another card"
    )
    kwargs = dict(given=[elsewhere], points_per_split=2, max_splits=2, factors=(0.10,))
    rows = error_rates.measure(df, DecisionRule(), **kwargs)
    again = error_rates.measure(df, DecisionRule(), **kwargs)
    table = text.table(rows, DecisionRule(), 2, 2, 0)
    assert table == text.table(again, DecisionRule(), 2, 2, 0)
    kinds = [(rs.label.split("commit ")[1], kind) for rs, kind, _ in rows]
    assert kinds == [
        ("abc1234", "1 vs 1, default profile"),
        ("abc1234", "1 vs 1, profile from 2 other runs"),  # the set's other runs, never the pair
        ("abc1234", "1 vs 1, profile another card"),
        ("abc1234", "3 vs 1"),
        ("abc1234", "2 vs 2, interleaved"),
        ("abc1234", "2 vs 2, blocked"),
        ("abc1234", "2 vs 2, nested"),
        ("fff0000", "1 vs 1, default profile"),  # two runs: nothing else to learn noise from
        ("fff0000", "1 vs 1, profile another card"),
    ]
    assert all(t.gate_runs == 2 and t.aa_fail == 0 for _, _, t in rows)
    assert all(t.one[0.10][0] == t.one[0.10][2] == 4 for _, kind, t in rows if "default" not in kind)
    assert "A/A false alarms 0 of 2 (0.0%) (met)" in text.goals(rows)


def test_a_profile_built_from_the_sets_own_runs_is_not_offered_to_it() -> None:
    df = frames()
    own = noise.build([df[df["run_id"].isin(["g0", "g1", "g2"])]], "leaky")
    rows = error_rates.measure(df, DecisionRule(), given=[own], points_per_split=1, max_splits=1, factors=(0.10,))
    assert not any(kind == "1 vs 1, profile leaky" for rs, kind, _ in rows if "abc1234" in rs.label)


def test_no_repeats_measure_nothing() -> None:
    assert error_rates.measure(make_run(POINTS, seed=1), DecisionRule()) == []


def test_the_recipe_runs_the_module(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from analysis_fixtures import write_run

    for i in range(2):
        write_run(make_run(POINTS, seed=i, run_id=f"s{i}", run_noise=0.002), tmp_path / f"s{i}.parquet")
    root = Path(__file__).resolve().parents[2]
    script = root / "reports" / "gate" / "recipes" / "gate_error_rates.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "--max-splits", "1", "--points-per-split", "1",
                           "--factors", "10%"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| 1 vs 1, default profile | 1 |" in done.stdout
