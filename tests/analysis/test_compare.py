"""compare(): verdicts, join keys, unmatched points and --by splitting of one frame."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis.compare import compare, split_by
from bench.analysis.render import comparison_markdown
from bench.errors import UserError

POINTS = grid(sizes=(1_000, 1_000_000))


def test_faster_slower_same_and_summary() -> None:
    cand = make_run(POINTS, seed=2, slowdown={POINTS[0]: 0.8, POINTS[1]: 1.25})
    comp = compare(make_run(POINTS, seed=1), cand)
    verdicts = dict(zip(comp.points["point_key"], comp.points["verdict"], strict=True))
    assert verdicts[POINTS[0].key] == "faster"
    assert verdicts[POINTS[1].key] == "slower"
    assert comp.summary.counts == {"faster": 1, "slower": 1, "same": len(POINTS) - 2, "ambiguous": 0}
    assert 0.97 < comp.summary.geomean_ratio < 1.03


def test_only_ok_rows_are_timed_and_one_sided_points_listed() -> None:
    extra = grid(sizes=(7,))
    base = make_run(POINTS, seed=1, statuses={POINTS[2]: ("skipped", "not supported")})
    cand = make_run(POINTS + extra, seed=2)
    comp = compare(base, cand)
    assert POINTS[2].key not in set(comp.points["point_key"])
    assert set(comp.only_cand["point_key"]) == {POINTS[2].key} | {p.key for p in extra}
    assert comp.only_base.empty
    assert "Only in cand" in comparison_markdown(comp)


def test_split_by_gpu_puts_earliest_side_first() -> None:
    h200 = make_run(POINTS, seed=2, gpu_name="NVIDIA H200", timestamp="2026-11-22T00:00:00+00:00")
    h100 = make_run(POINTS, seed=1, timestamp="2026-11-21T00:00:00+00:00")
    base, cand = split_by(pd.concat([h200, h100], ignore_index=True), "gpu_name")
    assert set(base["gpu_name"]) == {"NVIDIA H100 80GB HBM3"} and set(cand["gpu_name"]) == {"NVIDIA H200"}


def test_split_by_backend_joins_on_point_key_only() -> None:
    df = make_run(grid(sizes=(10_000_000,), backends=("cuda", "memcpy")))
    base, cand = split_by(df, "backend")
    comp = compare(base, cand, by="backend")
    assert len(comp.points) == len(grid(sizes=(10_000_000,)))
    assert (comp.points["verdict"] == "faster").all()  # memcpy (2,500 GB/s) beats cuda (2,000)


def test_split_by_needs_exactly_two_values() -> None:
    df = pd.concat([make_run(POINTS, gpu_name=g) for g in ("A100", "H100", "H200")], ignore_index=True)
    with pytest.raises(UserError, match="found 3: 'A100', 'H100', 'H200'"):
        split_by(df, "gpu_name")
    with pytest.raises(UserError, match="no such column"):
        split_by(df, "gpu")
