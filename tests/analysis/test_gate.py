"""The gate's decisions on runs with known truth: A/A passes, injected slowdowns fail by name, nothing it
cannot judge passes (issue 13's list, each case), the baseline's problems refuse, the memcpy yardstick
measures the machine, foreign comparisons are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis import stats
from bench.analysis.gate import EXIT_FAIL, EXIT_PASS, EXIT_REFUSED, gate
from bench.analysis.render import gate_lines, gate_markdown

POINTS = grid()
WITH_COPY = grid(backends=("cuda", "memcpy"))


def run(seed: int, points=POINTS, **kw: object) -> pd.DataFrame:
    return make_run(points, seed=seed, run_id=f"run-{seed}", run_noise=0.002, **kw)


def runs(first: int, count: int, points=POINTS, **kw: object) -> pd.DataFrame:
    return pd.concat([run(first + i, points, **kw) for i in range(count)], ignore_index=True)


def text(result) -> str:
    return "\n".join(gate_lines(result, limit=None))


def with_samples(df: pd.DataFrame, point, samples: list[float]) -> pd.DataFrame:
    """`df` with one point's samples replaced (as a broken timing or a damaged file would leave them)."""
    out = df.copy()
    i = out.index[out["point_key"] == point.key][0]
    out.at[i, "samples_us"] = samples
    return out


def test_a_a_passes_with_one_run_a_side_and_with_several() -> None:
    for base, cand in ((run(1), run(2)), (runs(1, 3), runs(10, 3))):
        result = gate(base, cand)
        assert result.exit_code == EXIT_PASS, text(result)
        assert result.headline().startswith(f"PASS: {len(POINTS)} points judged, none slower")


def test_injected_slowdown_fails_and_names_exactly_those_points() -> None:
    slowed = [POINTS[0], POINTS[7], POINTS[13]]
    result = gate(runs(1, 3), runs(10, 3, slowdown=dict.fromkeys(slowed, 1.10)))
    assert result.exit_code == EXIT_FAIL
    assert set(result.failures["point_key"]) == {p.key for p in slowed}
    for p in slowed:
        assert f"slower: {p.mode} {p.precision} {p.shape_str}" in text(result)


def test_every_point_slowed_5_percent_fails_and_a_1_percent_drift_does_not() -> None:
    assert gate(runs(1, 3), runs(10, 3, slowdown=dict.fromkeys(POINTS, 1.05))).exit_code == EXIT_FAIL
    assert gate(runs(1, 3), runs(10, 3, slowdown=dict.fromkeys(POINTS, 1.01))).exit_code == EXIT_PASS


def test_the_fewest_samples_a_run_may_have_still_catch_a_25_percent_slowdown() -> None:
    """MIN_SAMPLES (stats.py) is set so: one run a side, a 240-point sweep, 20 samples a run."""
    sizes = [1_000 * 2**i for i in range(20)]
    points = grid(sizes=sizes, precisions=("fp32", "fp16", "bf16", "int8"))
    n = stats.MIN_SAMPLES
    base = make_run(points, seed=1, n_samples=n, run_noise=0.002)
    cand = make_run(points, seed=2, n_samples=n, run_noise=0.002, slowdown={points[5]: 1.25}, run_id="run-b")
    result = gate(base, cand)
    assert len(points) == 240 and result.exit_code == EXIT_FAIL
    assert list(result.failures["point_key"]) == [points[5].key]
    fewer = gate(base, make_run(points, seed=2, n_samples=n - 1, run_noise=0.002, run_id="run-b"))
    assert fewer.exit_code == EXIT_FAIL and len(fewer.unjudgeable) == 240


@pytest.mark.parametrize(
    ("samples", "reason"),
    [
        ([], "no samples"),
        ([50.0], "1 sample(s), fewer than the 20 a run needs"),  # one sample, 10x slower
        ([5.0] * 19 + [float("nan")], "non-finite samples (NaN or inf): 1 of 20"),
        ([5.0] * 19 + [float("inf")], "non-finite samples (NaN or inf): 1 of 20"),
        ([5.0] * 19 + [0.0], "non-positive samples (zero or negative times): 1 of 20"),
        ([-5.0] * 30, "non-positive samples (zero or negative times): 30 of 30"),
    ],
)
def test_a_candidate_point_that_cannot_be_judged_fails_by_name(samples: list[float], reason: str) -> None:
    cand = with_samples(run(2), POINTS[3], samples)
    result = gate(run(1), cand, allow_missing=True)
    assert result.exit_code == EXIT_FAIL
    assert f"cannot be judged: {POINTS[3].mode} {POINTS[3].precision} {POINTS[3].shape_str}" in text(result)
    assert reason in text(result)


def test_round_sizes_that_do_not_add_up_fail() -> None:
    cand = run(2)
    cand.at[0, "round_sizes"] = np.array([100, 50])
    result = gate(run(1), cand)
    assert result.exit_code == EXIT_FAIL and "round sizes [100, 50] add up to 150, not to the 200 samples" in text(
        result
    )


@pytest.mark.parametrize("status", ["failed", "mismatch", "skipped"])
def test_a_gated_point_not_timed_in_the_candidate_fails_even_with_allow_missing(status: str) -> None:
    cand = run(2, statuses={POINTS[3]: (status, "CUDA error 700")})
    result = gate(run(1), cand, allow_missing=True)
    assert result.exit_code == EXIT_FAIL
    assert f"{status} in cand: CUDA error 700" in text(result)


def test_a_point_failing_in_one_of_the_candidate_runs_fails() -> None:
    cand = pd.concat([run(3), run(4, statuses={POINTS[3]: ("failed", "CUDA error 700")})], ignore_index=True)
    result = gate(runs(1, 2), cand)
    assert result.exit_code == EXIT_FAIL and "ok in 1 run(s) but failed in 1 run(s)" in text(result)


def test_missing_points_fail_unless_allowed() -> None:
    cand = run(2, points=POINTS[1:])
    failed = gate(run(1), cand)
    assert failed.exit_code == EXIT_FAIL
    assert list(failed.missing["point_key"]) == [POINTS[0].key]
    assert gate(run(1), cand, allow_missing=True).exit_code == EXIT_PASS


def test_nothing_to_judge_fails() -> None:
    empty = run(2).iloc[0:0]
    result = gate(run(1), empty)
    assert result.exit_code == EXIT_FAIL and "no points to judge" in result.headline()
    other = make_run(grid(sizes=(7,)), seed=2)
    result = gate(run(1), other, allow_missing=True)
    assert result.exit_code == EXIT_FAIL and "no points to judge" in result.headline()


def test_a_base_point_that_cannot_be_judged_refuses() -> None:
    base = with_samples(run(1), POINTS[2], [5.0, float("nan")] * 20)
    result = gate(base, run(2))
    assert result.exit_code == EXIT_REFUSED
    assert result.headline().startswith("REFUSED: the baseline is unusable: 1 point(s) cannot be judged")
    assert "non-finite samples" in result.headline()


def test_a_base_point_that_failed_in_one_of_its_runs_refuses() -> None:
    base = pd.concat([run(1), run(3, statuses={POINTS[2]: ("failed", "CUDA error 700")})], ignore_index=True)
    result = gate(base, run(2))
    assert result.exit_code == EXIT_REFUSED and "failed in 1 run(s)" in result.headline()


def test_a_baseline_without_timed_points_refuses() -> None:
    base = run(1, statuses=dict.fromkeys(POINTS, ("failed", "no GPU")))
    assert gate(base, run(2)).headline() == "REFUSED: the baseline is unusable: it has no timed (status ok) points"


def test_different_gpus_refused_unless_cross() -> None:
    base, cand = run(1), run(2, gpu_name="NVIDIA H200", slowdown={POINTS[0]: 1.5})
    refused = gate(base, cand)
    assert refused.exit_code == EXIT_REFUSED
    assert "different GPUs" in refused.headline() and "--cross" in refused.headline()
    crossed = gate(base, cand, cross=True)
    assert crossed.exit_code == EXIT_PASS
    assert POINTS[0].key in set(crossed.comparison.points.query("verdict == 'slower'")["point_key"])
    assert "not gated" in gate_markdown(crossed)


@pytest.mark.parametrize("change", [{"timing_method": "events"}, {"l2_flush": True}, {"l2_mode": "rotated"}])
def test_a_candidate_timed_another_way_is_refused(change: dict) -> None:
    result = gate(run(1), run(2, **change))
    assert result.exit_code == EXIT_REFUSED
    assert "share no comparable group" in result.headline()
    assert ("they differ in the L2 state" in result.headline()) == ("timing_method" not in change)


def test_one_point_timed_another_way_fails_by_name() -> None:
    cand = pd.concat([run(2, points=POINTS[1:]), make_run(POINTS[:1], seed=3, run_id="c2", timing_method="events")])
    result = gate(run(1), cand)
    assert result.exit_code == EXIT_FAIL and "measured differently in cand: timed as backend cuda, events" in text(
        result
    )


def test_different_backends_refused() -> None:
    assert gate(run(1), make_run(grid(backends=("tensorrt",)), seed=2)).exit_code == EXIT_REFUSED


def test_the_yardstick_is_not_gated_and_its_drift_widens_the_band() -> None:
    big = [p for p in WITH_COPY if p.numel == 10_000_000]
    machine = dict.fromkeys(big, 1.04)  # the machine got 4% slower at one size: copies and kernels alike
    result = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=machine))
    assert result.exit_code == EXIT_PASS, text(result)
    widened = result.comparison.points.query("backend == 'cuda' and numel == 10000000")
    assert (widened["band_high"] > 1.06).all() and set(widened["verdict"]) == {"same"}
    copy_only = {p: 1.20 for p in WITH_COPY if p.backend == "memcpy" and p.numel == 1_000}
    assert gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=copy_only)).exit_code == EXIT_PASS
    gated = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=copy_only), gate_yardstick=True)
    assert gated.exit_code == EXIT_FAIL and set(gated.failures["backend"]) == {"memcpy"}


def test_a_machine_that_drifted_beyond_the_threshold_refuses_and_a_1_percent_drift_passes() -> None:
    drifted = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.08)))
    assert drifted.exit_code == EXIT_REFUSED
    assert "the machine: memcpy (graph, warm L2) took 1.08" in drifted.headline()
    assert "nox -s gate" in drifted.headline()
    small = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.01)))
    assert small.exit_code == EXIT_PASS
    assert any("took 1.01" in n for n in small.notes)


def test_copies_too_noisy_to_show_a_move_do_not_refuse_and_a_shown_drift_does() -> None:
    # events timing of a tiny copy is host-bound: ~10% run to run on the H100. Two such runs of one
    # commit (an A/A pair) leave the copies' median 15% apart by chance; that is no evidence of drift.
    def noisy(seed: int, **kw: object) -> pd.DataFrame:
        return make_run(WITH_COPY, seed=seed, run_id=f"events-{seed}", run_noise=0.10, timing_method="events", **kw)

    copies = {p: 1.15 for p in WITH_COPY if p.backend == "memcpy"}
    result = gate(noisy(1), noisy(2, slowdown=copies))
    assert result.exit_code == EXIT_PASS, text(result)
    assert any("too few copies show it" in n for n in result.notes)
    quiet = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.15)))
    assert quiet.exit_code == EXIT_REFUSED and "judged slower beyond the band" in quiet.headline()


def test_a_noise_history_tells_one_baseline_run_which_points_are_noisy() -> None:
    # one point flips between two states from run to run (the H100's L2-resident fp32 8x128x56x56 points
    # move by up to 9%); every other point moves by 0.2%
    flippy, quiet = POINTS[3], POINTS[9]

    def one(seed: int, state: float, **kw: object) -> pd.DataFrame:
        slow = {flippy: state, **kw.pop("slowdown", {})}  # type: ignore[dict-item]
        return run(seed, slowdown=slow, **kw)

    history = pd.concat([one(20 + i, s) for i, s in enumerate((1.0, 1.08, 1.0, 1.08, 1.0))], ignore_index=True)
    base, cand = one(1, 1.0), one(2, 1.08)
    blind = gate(base, cand)
    assert blind.exit_code == EXIT_FAIL and list(blind.failures["point_key"]) == [flippy.key]
    told = gate(base, cand, history=history)
    assert told.exit_code == EXIT_PASS, text(told)
    assert any("noise history: 5 other run(s)" in n for n in told.notes)
    slowed = gate(base, one(2, 1.08, slowdown={quiet: 1.10}), history=history)
    assert slowed.exit_code == EXIT_FAIL and list(slowed.failures["point_key"]) == [quiet.key]


def test_a_noise_history_that_holds_the_candidate_or_another_gpu_is_refused() -> None:
    from bench.errors import UserError

    with pytest.raises(UserError, match="noise history holds candidate run"):
        gate(run(1), run(2), history=pd.concat([run(2), run(3)], ignore_index=True))
    other = pd.concat([run(4 + i, gpu_name="NVIDIA H200") for i in range(3)], ignore_index=True)
    with pytest.raises(UserError, match="noise history was timed on NVIDIA H200, the base on NVIDIA H100"):
        gate(run(1), run(2), history=other)


def test_a_noise_history_with_unusable_rows_or_mixed_commits_says_so() -> None:
    from bench.errors import UserError

    history = pd.concat([run(20 + i) for i in range(3)], ignore_index=True)
    broken = history.copy()
    first = broken.index[broken["point_key"] == POINTS[0].key][0]
    broken.at[first, "samples_us"] = [float("nan")] * 200  # one point's history row is NaN
    result = gate(run(1), run(2), history=broken)
    assert result.exit_code == EXIT_PASS, text(result)
    assert any("1 point(s) judged without it" in n and "non-finite samples" in n for n in result.notes)
    mixed = history.assign(git_commit=["abc1234"] * (len(history) - 1) + ["fff0000"])
    with pytest.raises(UserError, match="give the noise history runs of one git_commit"):
        gate(run(1), run(2), history=mixed)


def test_the_decision_states_its_error_control() -> None:
    result = gate(run(1), run(2))
    assert any("Benjamini-Hochberg over the 18 gated points at alpha 0.01" in n for n in result.notes)


def test_with_one_run_a_side_a_shift_of_every_point_needs_the_yardstick_to_be_blamed_on_the_change() -> None:
    kernels = {p: 1.05 for p in WITH_COPY if p.backend == "cuda"}
    assert gate(run(1, WITH_COPY), run(2, WITH_COPY, slowdown=kernels)).exit_code == EXIT_FAIL  # the copy did not move
    busy = gate(run(1), run(2, slowdown=dict.fromkeys(POINTS, 1.08)))  # no copy: a busy machine looks the same
    assert busy.exit_code == EXIT_PASS
    info = next(iter(busy.comparison.groups.values()))
    assert (
        "the shift all points share (+8" in info.prior.describe()
        and "cannot be told from the machine" in info.prior.describe()
    )
    one = gate(run(1), run(2, slowdown={POINTS[0]: 1.25}))  # one point still shows
    assert one.exit_code == EXIT_FAIL and list(one.failures["point_key"]) == [POINTS[0].key]


def test_a_candidate_whose_every_point_failed_fails() -> None:
    result = gate(run(1), run(2, statuses=dict.fromkeys(POINTS, ("failed", "CUDA error 700"))))
    assert result.exit_code == EXIT_FAIL and len(result.unjudgeable) == len(POINTS)


def test_a_run_on_both_sides_is_refused() -> None:
    from bench.errors import UserError

    base = pd.concat([run(1), make_run(POINTS, seed=2, run_id="b2")])
    with pytest.raises(UserError, match="run\\(s\\) b2 are on both sides: a run compared with itself"):
        gate(base, make_run(POINTS, seed=2, run_id="b2"))


def test_candidate_runs_timed_another_way_than_the_base_are_named_not_judged() -> None:
    cand = pd.concat([run(2), run(3, l2_mode="rotated")], ignore_index=True)
    result = gate(run(1), cand)
    assert result.exit_code == EXIT_PASS
    assert "not judged: cand also holds runs timed another way than any base run" in text(result)
    assert "not judged" not in text(gate(run(1), run(2)))
