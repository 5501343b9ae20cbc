"""Report rendering time for 10,000 rows (at most 15 s on CI). Run by `nox -s perf`
(pytest --benchmark-only); the normal test run skips it (--benchmark-skip)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import SynthPoint, make_run

from bench.report.markdown import report

SIZES = [round(10 ** (3 + i * 0.1)) for i in range(50)]  # 1e3 .. ~8e7, 50 sizes
ROWS = 10_000


def ten_thousand_rows() -> pd.DataFrame:
    """2 GPUs x {cuda, memcpy} x 2,500 workloads, 100 samples each: a large two-GPU comparison."""
    points = [
        SynthPoint((1, 1, 1, n), m, p, ax, b)
        for b in ("cuda", "memcpy")
        for n in SIZES
        for m in ("uniform", "channel", "elementwise")
        for p in ("fp32", "fp16", "bf16", "int8")
        for ax in ("default", "0", "1", "-1", "2")
    ][: ROWS // 2]
    h100 = make_run(points, n_samples=100, run_id="h100", seed=1)
    h200 = make_run(
        points, n_samples=100, run_id="h200", gpu_name="NVIDIA H200", seed=2, timestamp="2026-11-21T00:00:00+00:00"
    )
    return pd.concat([h100, h200], ignore_index=True)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    df = ten_thousand_rows()
    assert len(df) == ROWS
    return df


def test_report_10k_rows(benchmark, rows: pd.DataFrame, tmp_path: Path) -> None:
    path = benchmark.pedantic(report, args=(rows, tmp_path), kwargs={"sides_by": "gpu_name"}, rounds=2, iterations=1)
    assert path.exists()
    assert benchmark.stats.stats.max < 15.0, "a 10,000-row report renders in at most 15 s"
