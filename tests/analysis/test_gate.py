"""The gate's decisions on runs with known truth: A/A passes, injected slowdowns fail by name, nothing it
cannot judge passes, it fails closed (an estimate beyond the threshold never passes), the baseline's
problems and foreign comparisons refuse, the memcpy yardstick measures the machine but never excuses a
change, a shift every point shares is refused not absorbed, tails are judged, noisy timing is refused
for lack of power, and what ran leads the summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis import noise, noise_sources, stats
from bench.analysis.gate import EXIT_FAIL, EXIT_PASS, EXIT_REFUSED, gate
from bench.errors import UserError
from bench.report.gate_render import gate_lines, gate_markdown

POINTS = grid()
WITH_COPY = grid(backends=("cuda", "memcpy"))


def run(seed: int, points=POINTS, run_noise: float = 0.002, **kw: object) -> pd.DataFrame:
    return make_run(points, seed=seed, run_id=f"run-{seed}", run_noise=run_noise, **kw)


def runs(first: int, count: int, points=POINTS, **kw: object) -> pd.DataFrame:
    return pd.concat([run(first + i, points, **kw) for i in range(count)], ignore_index=True)


def profile(points=POINTS, **kw: object) -> noise_sources.Sources:
    """A noise profile of the synthetic machine, from five runs that are never on either side."""
    return noise_sources.Sources(None, [noise.build([runs(500, 5, points, **kw)], "five other runs")])


PROFILE = profile()
PROFILE_COPY = profile(WITH_COPY)


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
        result = gate(base, cand, sources=PROFILE)
        assert result.exit_code == EXIT_PASS, text(result)
        assert result.headline().startswith("PASS: what ran: the same launch/tactics on all 18 gated points; 18 points")


def test_injected_slowdown_fails_and_names_exactly_those_points() -> None:
    slowed = [POINTS[0], POINTS[7], POINTS[13]]
    result = gate(runs(1, 3), runs(10, 3, slowdown=dict.fromkeys(slowed, 1.10)), sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert set(result.failures["point_key"]) == {p.key for p in slowed}
    for p in slowed:
        assert f"slower (median and p90): {p.mode} {p.precision} {p.shape_str}" in text(result)


def test_every_kernel_slowed_5_percent_fails_and_a_1_percent_drift_of_everything_does_not() -> None:
    kernels = {p: 1.05 for p in WITH_COPY if p.backend == "cuda"}
    slowed = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=kernels), sources=PROFILE_COPY)
    assert slowed.exit_code == EXIT_FAIL and len(slowed.failures) == len(POINTS)
    drift = gate(
        runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.01)), sources=PROFILE_COPY
    )
    assert drift.exit_code == EXIT_PASS, text(drift)


def test_a_regression_of_many_points_cannot_hide_itself_with_one_run_a_side() -> None:
    """The noise comes from the profile, not from the scatter of the ratios: 100 of 240 points 8% slower
    stay 8% slower, each shown beyond the band."""
    points = grid(sizes=[1_000 * 2**i for i in range(20)], precisions=("fp32", "fp16", "bf16", "int8"))
    slowed = points[:100]
    sources = profile(points)
    result = gate(make_run(points, seed=1, run_noise=0.002), make_run(points, seed=2, run_noise=0.002, run_id="b",
                  slowdown=dict.fromkeys(slowed, 1.08)), sources=sources)  # fmt: skip
    assert result.exit_code == EXIT_FAIL and set(result.failures["point_key"]) == {p.key for p in slowed}


def test_the_fewest_samples_a_run_may_have_still_catch_a_25_percent_slowdown() -> None:
    """MIN_SAMPLES (stats.py) is set so: one run a side, a 240-point sweep, 20 samples a run."""
    points = grid(sizes=[1_000 * 2**i for i in range(20)], precisions=("fp32", "fp16", "bf16", "int8"))
    n = stats.MIN_SAMPLES
    base = make_run(points, seed=1, n_samples=n, run_noise=0.002)
    cand = make_run(points, seed=2, n_samples=n, run_noise=0.002, slowdown={points[5]: 1.25}, run_id="run-b")
    result = gate(base, cand, sources=profile(points))
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
    result = gate(run(1), cand, allow_missing=True, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert f"cannot be judged: {POINTS[3].mode} {POINTS[3].precision} {POINTS[3].shape_str}" in text(result)
    assert reason in text(result)


def test_round_sizes_that_do_not_add_up_fail() -> None:
    cand = run(2)
    cand.at[0, "round_sizes"] = np.array([100, 50])
    result = gate(run(1), cand, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert "round sizes [100, 50] add up to 150, not to the 200 samples" in text(result)


@pytest.mark.parametrize("status", ["failed", "mismatch", "skipped"])
def test_a_gated_point_not_timed_in_the_candidate_fails_even_with_allow_missing(status: str) -> None:
    cand = run(2, statuses={POINTS[3]: (status, "CUDA error 700")})
    result = gate(run(1), cand, allow_missing=True, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert f"{status} in cand: CUDA error 700" in text(result)


def test_a_point_failing_in_one_of_the_candidate_runs_fails() -> None:
    cand = pd.concat([run(3), run(4, statuses={POINTS[3]: ("failed", "CUDA error 700")})], ignore_index=True)
    result = gate(runs(1, 2), cand, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL and "ok in 1 run(s) but failed in 1 run(s)" in text(result)


def test_missing_points_fail_unless_allowed() -> None:
    cand = run(2, points=POINTS[1:])
    failed = gate(run(1), cand, sources=PROFILE)
    assert failed.exit_code == EXIT_FAIL
    assert list(failed.missing["point_key"]) == [POINTS[0].key]
    assert gate(run(1), cand, allow_missing=True, sources=PROFILE).exit_code == EXIT_PASS


def test_nothing_to_judge_fails() -> None:
    result = gate(run(1), run(2).iloc[0:0])
    assert result.exit_code == EXIT_FAIL and "no points to judge" in " ".join(result.notes)
    result = gate(run(1), make_run(grid(sizes=(7,)), seed=2), allow_missing=True, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL and "no points to judge" in result.headline()


def test_the_baselines_problems_refuse() -> None:
    base = with_samples(run(1), POINTS[2], [5.0, float("nan")] * 20)
    result = gate(base, run(2), sources=PROFILE)
    assert result.exit_code == EXIT_REFUSED
    assert result.headline().startswith("REFUSED: the baseline is unusable: 1 point(s) cannot be judged")
    base = pd.concat([run(1), run(3, statuses={POINTS[2]: ("failed", "CUDA error 700")})], ignore_index=True)
    assert "failed in 1 run(s)" in gate(base, run(2), sources=PROFILE).headline()
    base = run(1, statuses=dict.fromkeys(POINTS, ("failed", "no GPU")))
    assert gate(base, run(2)).headline() == "REFUSED: the baseline is unusable: it has no timed (status ok) points"


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [("gpu_name", "NVIDIA H200", "different GPUs"), ("driver_version", "590.10", "different drivers"),
     ("cuda_version", "13.1", "different CUDA versions"), ("backend_version", "10.16", "different backend versions")],
)  # fmt: skip
def test_another_gpu_driver_cuda_or_backend_version_is_a_comparison_not_a_gate(
    column: str, value: str, what: str
) -> None:
    base, cand = run(1), run(2, slowdown={POINTS[0]: 1.5}).assign(**{column: value})
    refused = gate(base, cand, sources=PROFILE)
    assert refused.exit_code == EXIT_REFUSED and what in refused.headline() and "--cross" in refused.headline()
    crossed = gate(base, cand, cross=True, sources=PROFILE)
    assert crossed.exit_code == EXIT_PASS and "not gated" in gate_markdown(crossed)
    assert POINTS[0].key in set(crossed.comparison.points.query("verdict == 'slower'")["point_key"])


@pytest.mark.parametrize("change", [{"timing_method": "events"}, {"l2_flush": True}, {"l2_mode": "rotated"}])
def test_a_candidate_timed_another_way_is_refused(change: dict) -> None:
    result = gate(run(1), run(2, **change), sources=PROFILE)
    assert result.exit_code == EXIT_REFUSED
    assert "share no comparable group" in result.headline()
    assert ("they differ in the L2 state" in result.headline()) == ("timing_method" not in change)


def test_one_point_timed_another_way_fails_by_name() -> None:
    cand = pd.concat([run(2, points=POINTS[1:]), make_run(POINTS[:1], seed=3, run_id="c2", timing_method="events")])
    result = gate(run(1), cand, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert "measured differently in cand: timed as backend cuda, events" in text(result)


def test_the_yardstick_is_not_gated_and_an_established_drift_widens_the_band_by_at_most_the_threshold() -> None:
    big = [p for p in WITH_COPY if p.numel == 10_000_000]
    machine = dict.fromkeys(big, 1.02)  # the machine got 2% slower at one size: copies and kernels alike
    result = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=machine), sources=PROFILE_COPY)
    assert result.exit_code == EXIT_PASS, text(result)
    widened = result.comparison.points.query("backend == 'cuda' and numel == 10000000")
    assert (widened["band_high"] > 1.045).all() and (widened["band_high"] <= 1.03**2 + 1e-9).all()
    copy_only = {p: 1.02 for p in WITH_COPY if p.backend == "memcpy" and p.numel == 1_000}
    assert (
        gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=copy_only), sources=PROFILE_COPY).exit_code
        == EXIT_PASS
    )
    copy_slow = {p: 1.20 for p in WITH_COPY if p.backend == "memcpy" and p.numel == 1_000}
    gated = gate(
        runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=copy_slow), gate_yardstick=True, sources=PROFILE_COPY
    )
    assert gated.exit_code == EXIT_FAIL and set(gated.failures["backend"]) == {"memcpy"}


def test_a_copy_that_moved_never_excuses_a_point_beyond_the_threshold() -> None:
    """Kernels 5% slower, their copies 2.5%: a driver or a change to the buffers slows both. The widened
    band keeps the kernels from being called slower, but their estimates are beyond the threshold:
    undecided, exit 2, never a pass."""
    change = {p: (1.05 if p.backend == "cuda" else 1.025) for p in WITH_COPY}
    result = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=change), sources=PROFILE_COPY)
    assert result.exit_code == EXIT_REFUSED and result.headline().startswith("UNDECIDED")
    assert len(result.undecided) == len(POINTS)
    assert result.comparison.points.query("backend == 'cuda'")["drift_established"].all()
    assert "a side would" in text(result)


def test_a_point_whose_own_copy_moved_beyond_the_threshold_is_refused_by_name() -> None:
    shape = {p: 1.20 for p in WITH_COPY if p.numel == 1_000 and p.precision == "fp16"}
    result = gate(runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=shape), sources=PROFILE_COPY)
    assert result.exit_code == EXIT_REFUSED
    assert set(result.refused_points["point_key"]) == {p.key for p in shape if p.backend == "cuda"}
    assert "its memcpy moved 1.20" in text(result)


def test_a_machine_that_drifted_beyond_the_threshold_refuses_and_a_1_percent_drift_passes() -> None:
    drifted = gate(
        runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.08)), sources=PROFILE_COPY
    )
    assert drifted.exit_code == EXIT_REFUSED
    assert (
        "the machine: memcpy (graph, warm L2) took 1.08" in drifted.headline() and "nox -s gate" in drifted.headline()
    )
    small = gate(
        runs(1, 3, WITH_COPY), runs(10, 3, WITH_COPY, slowdown=dict.fromkeys(WITH_COPY, 1.01)), sources=PROFILE_COPY
    )
    assert small.exit_code == EXIT_PASS, text(small)
    assert any("took 1.01" in n for n in small.notes)


def test_copies_too_noisy_to_establish_a_move_widen_nothing() -> None:
    def noisy(seed: int, **kw: object) -> pd.DataFrame:
        return make_run(WITH_COPY, seed=seed, run_id=f"n-{seed}", run_noise=0.03, **kw)

    sources = noise_sources.Sources(None, [noise.build([pd.concat([noisy(300 + i) for i in range(5)])], "noisy runs")])
    copies = {p: 1.03 for p in WITH_COPY if p.backend == "memcpy"}
    points = gate(noisy(1), noisy(2, slowdown=copies), sources=sources).comparison.points
    widened = points["band_high"].to_numpy() > 1.03 + 1e-9
    assert not (widened & ~points["drift_established"].to_numpy()).any()  # widened only where established
    assert widened.sum() <= len(POINTS) // 4  # and a 3% move in 3% noise is rarely established


def test_a_shift_every_point_shares_is_refused_when_no_copy_can_tell_it_from_the_machine() -> None:
    for factor in (2.0, 1.5, 1.08):
        result = gate(run(1), run(2, slowdown=dict.fromkeys(POINTS, factor)), sources=PROFILE)
        assert result.exit_code == EXIT_REFUSED and "cannot be told from the machine" in result.headline()
    kernels = {p: 1.05 for p in WITH_COPY if p.backend == "cuda"}  # with copies that did not move: the change
    assert gate(run(1, WITH_COPY), run(2, WITH_COPY, slowdown=kernels), sources=PROFILE_COPY).exit_code == EXIT_FAIL
    small = gate(run(1), run(2, slowdown={**dict.fromkeys(POINTS, 1.02), POINTS[0]: 1.10}), sources=PROFILE)
    assert small.exit_code == EXIT_FAIL and list(small.failures["point_key"]) == [POINTS[0].key]  # not absorbed
    assert any("a shared shift is never absorbed" in n for n in small.notes)


def test_a_tail_that_grows_fails_with_its_own_reason() -> None:
    cand = run(2)
    i = cand.index[cand["point_key"] == POINTS[4].key][0]
    x = np.asarray(cand.at[i, "samples_us"])
    slow = np.random.default_rng(3).random(x.size) < 0.45  # 45% of the calls twice as long: p90 x2
    cand.at[i, "samples_us"] = np.where(slow, 2 * x, x)
    result = gate(run(1), cand, sources=PROFILE)
    assert result.exit_code == EXIT_FAIL and list(result.failures["point_key"]) == [POINTS[4].key]
    assert "slower (p90)" in text(result) or "slower (median and p90)" in text(result)


def test_an_estimate_beyond_the_threshold_that_the_noise_cannot_decide_refuses_and_says_how_many_runs() -> None:
    loud = noise_sources.Sources(None, [noise.build([runs(500, 5, run_noise=0.01)], "louder runs")])
    result = gate(runs(1, 2, run_noise=0.01), runs(10, 2, run_noise=0.01, slowdown={POINTS[3]: 1.05}), sources=loud)
    assert result.exit_code == EXIT_REFUSED and result.headline().startswith("UNDECIDED")
    assert list(result.undecided["point_key"]) == [POINTS[3].key]
    assert "a side would" in text(result)


def test_timing_too_noisy_to_see_three_thresholds_is_refused_with_the_runs_it_would_take() -> None:
    events = dict(timing_method="events", run_noise=0.15)
    sources = noise_sources.Sources(None, [noise.build([pd.concat([make_run(POINTS, seed=400 + i, run_id=f"e{i}", **events)
                                                             for i in range(5)])], "events runs")])  # fmt: skip
    result = gate(make_run(POINTS, seed=1, **events), make_run(POINTS, seed=2, run_id="e-b", **events), sources=sources)
    assert result.exit_code == EXIT_REFUSED and "too noisy to gate" in result.headline()
    assert "runs a side would" in result.headline()


def test_what_ran_leads_the_summary_and_a_changed_launch_is_named_with_both_launches() -> None:
    def launched(df: pd.DataFrame, block: str | None = None) -> pd.DataFrame:
        config = {
            "variant": "vector",
            "block": "256",
            "vectors_per_thread": "4",
            "grid": "reuse",
            "cache_hint": "streaming",
        }
        configs = [dict(config) for _ in range(len(df))]
        if block:
            configs[int(np.flatnonzero(df["point_key"] == POINTS[5].key)[0])]["block"] = block
        return df.assign(kernel_config=configs, environment=json.dumps({"kernel_generator": "ca75dc7d0011"}))

    result = gate(launched(run(1)), launched(run(2, slowdown={POINTS[5]: 1.10}), block="512"), sources=PROFILE)
    assert result.exit_code == EXIT_FAIL
    assert result.headline().startswith(
        "FAIL: what ran: 1 of 18 gated points changed launch/tactics; 1 point(s) slower"
    )
    assert "kernel ca75dc7d b256 v4 reuse streaming -> kernel ca75dc7d b512 v4 reuse streaming" in text(result)
    assert f"{POINTS[5].mode} {POINTS[5].precision} {POINTS[5].shape_str}" in text(result)


def test_the_decision_states_its_rule() -> None:
    result = gate(run(1), run(2), sources=PROFILE)
    assert any("Decision rule: threshold ±3%" in n and "Over the 18 gated points" in n for n in result.notes)


def test_a_candidate_whose_every_point_failed_fails() -> None:
    result = gate(run(1), run(2, statuses=dict.fromkeys(POINTS, ("failed", "CUDA error 700"))), sources=PROFILE)
    assert result.exit_code == EXIT_FAIL and len(result.unjudgeable) == len(POINTS)


def test_a_run_on_both_sides_is_refused() -> None:
    base = pd.concat([run(1), make_run(POINTS, seed=2, run_id="b2")])
    with pytest.raises(UserError, match="run\\(s\\) b2 are on both sides: a run compared with itself"):
        gate(base, make_run(POINTS, seed=2, run_id="b2"))


def test_candidate_runs_timed_another_way_than_the_base_are_named_not_judged() -> None:
    cand = pd.concat([run(2), run(3, l2_mode="rotated")], ignore_index=True)
    result = gate(run(1), cand, sources=PROFILE)
    assert result.exit_code == EXIT_PASS, text(result)
    assert "not judged: cand also holds runs timed another way than any base run" in text(result)
