"""A 220-point gate, from reading the results files to the decision, well under 2 s. Run by `nox -s perf`
(pytest --benchmark-only); the normal test run skips it (--benchmark-skip). It gates a committed H100 run
against the committed H100 baseline (four runs and its noise profile), as `gate --baseline` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis import baseline, noise_sources
from bench.analysis.gate import EXIT_PASS, gate
from bench.results import load

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "results" / "_baselines" / "nvidia-h100-80gb-hbm3.json"
CAND = ROOT / "results" / "h100-rotated-rounds1-2026-11-26" / "20261126T222728Z-vm-49be71ba58af.parquet"


def gate_committed() -> int:
    base = load([str(f) for f in baseline.run_files(MANIFEST)])
    result = gate(base, load(CAND), sources=noise_sources.Sources(MANIFEST.parent))
    return result.n_gated if result.exit_code == EXIT_PASS else -result.exit_code


@pytest.mark.skipif(not CAND.is_file(), reason="the committed H100 runs are not in this checkout")
def test_a_220_point_gate_takes_under_2_seconds(benchmark) -> None:
    gated = benchmark.pedantic(gate_committed, rounds=3, iterations=1)
    assert gated == 220
    assert benchmark.stats.stats.max < 2.0
