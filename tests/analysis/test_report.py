"""report(): every plot is written and linked, readings and the not-timed table are in the markdown."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.report.markdown import report

POINTS = grid(sizes=(1_000, 100_000, 10_000_000), backends=("cuda", "memcpy"))


@pytest.fixture(scope="module")
def two_gpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h100 = make_run(POINTS, seed=1, run_id="h100", statuses={POINTS[0]: ("failed", "CUDA error: illegal address")})
    h200 = make_run(
        POINTS,
        seed=2,
        run_id="h200",
        gpu_name="NVIDIA H200",
        timestamp="2026-11-21T00:00:00+00:00",
        slowdown={p: 0.7 for p in POINTS if p.numel == 10_000_000},
        statuses={POINTS[1]: ("skipped", "int8 needs calibration data")},
    )
    out = tmp_path_factory.mktemp("report")
    return report(pd.concat([h100, h200], ignore_index=True), out, sides_by="gpu_name")


def test_every_png_exists_and_is_linked(two_gpus: Path) -> None:
    text = two_gpus.read_text()
    links = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", text)
    assert {"time_vs_numel.png", "bandwidth.png", "speedup.png", "samples.png"} <= set(links)
    for link in links:
        assert (two_gpus.parent / link).stat().st_size > 10_000


def test_markdown_says_what_was_measured_and_where(two_gpus: Path) -> None:
    text = two_gpus.read_text()
    assert "device time from CUDA-graph replay" in text and "cv" in text
    assert "NVIDIA H100 80GB HBM3" in text and "NVIDIA H200" in text and "560.35" in text
    assert text.count("**Reading:**") == 4
    assert "% of memcpy at the largest size" in text
    assert "CUDA error: illegal address" in text and "int8 needs calibration data" in text
    assert "NVIDIA H200 vs NVIDIA H100 80GB HBM3" in text and "faster" in text


def test_single_side_report_has_no_heatmap(tmp_path: Path) -> None:
    path = report(make_run(grid(sizes=(1_000, 1_000_000))), tmp_path)
    assert "speedup.png" not in path.read_text()
    assert "No memcpy rows" in path.read_text()
