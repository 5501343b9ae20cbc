"""The gate's decisions on runs with known truth: A/A passes, injected slowdowns fail by name, noise is
ambiguous (never a failure), lost points fail, foreign comparisons are refused."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis.gate import EXIT_FAIL, EXIT_PASS, EXIT_REFUSED, gate
from bench.analysis.render import gate_lines, gate_markdown

POINTS = grid()


def run(seed: int, **kw: object) -> pd.DataFrame:
    return make_run(POINTS, seed=seed, **kw)


def test_a_a_passes() -> None:
    result = gate(run(1), run(2, run_id="run-b"))
    assert result.exit_code == EXIT_PASS
    assert set(result.comparison.points["verdict"]) == {"same"}


def test_injected_slowdown_fails_and_names_exactly_those_points() -> None:
    slowed = [POINTS[0], POINTS[7], POINTS[13]]
    result = gate(run(1), run(2, slowdown={p: 1.10 for p in slowed}))
    assert result.exit_code == EXIT_FAIL
    assert set(result.failures["point_key"]) == {p.key for p in slowed}
    text = "\n".join(gate_lines(result))
    for p in slowed:
        assert f"{p.mode} {p.precision} {p.shape_str}" in text


def test_slowdown_inside_threshold_passes() -> None:
    result = gate(run(1), run(2, slowdown={POINTS[0]: 1.02}))
    assert result.exit_code == EXIT_PASS


def test_few_noisy_samples_are_ambiguous_not_a_failure() -> None:
    noisy = {"noise": 0.3, "n_samples": 6}
    result = gate(run(1, **noisy), run(2, slowdown={POINTS[0]: 1.10}, **noisy))
    assert result.exit_code == EXIT_PASS
    assert POINTS[0].key in set(result.ambiguous["point_key"])
    assert "more samples" in "\n".join(gate_lines(result))


def test_missing_points_fail_unless_allowed() -> None:
    cand = make_run(POINTS[1:], seed=2)
    failed = gate(run(1), cand)
    assert failed.exit_code == EXIT_FAIL
    assert list(failed.missing["point_key"]) == [POINTS[0].key]
    assert gate(run(1), cand, allow_missing=True).exit_code == EXIT_PASS


def test_point_that_now_fails_counts_as_missing() -> None:
    cand = run(2, statuses={POINTS[3]: ("failed", "CUDA error 700")})
    result = gate(run(1), cand)
    assert result.exit_code == EXIT_FAIL
    assert list(result.missing["other_status"]) == ["failed"]


def test_different_gpus_refused_unless_cross() -> None:
    base, cand = run(1), run(2, gpu_name="NVIDIA H200", slowdown={POINTS[0]: 1.5})
    refused = gate(base, cand)
    assert refused.exit_code == EXIT_REFUSED
    assert "GPUs" in refused.headline() and "--cross" in refused.headline()
    crossed = gate(base, cand, cross=True)
    assert crossed.exit_code == EXIT_PASS
    assert POINTS[0].key in set(crossed.comparison.points.query("verdict == 'slower'")["point_key"])
    assert "not gated" in gate_markdown(crossed)


@pytest.mark.parametrize("change", [{"timing_method": "events"}, {"l2_flush": True}])
def test_different_timing_method_refused(change: dict) -> None:
    result = gate(run(1), run(2, **change))
    assert result.exit_code == EXIT_REFUSED
    assert next(iter(change)) in result.headline()


def test_different_backends_refused() -> None:
    cand = make_run(grid(backends=("tensorrt",)), seed=2)
    assert gate(run(1), cand).exit_code == EXIT_REFUSED
