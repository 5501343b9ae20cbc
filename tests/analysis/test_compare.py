"""compare(): verdicts from runs, comparable groups never pooled, repeats combined and said so, what the
other side recorded, --by splitting, each GPU's own noise, what ran, and the replay shortcut equal to
really scaled samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis import noise, noise_sources, replicates
from bench.analysis.compare import compare, compare_prepared
from bench.analysis.rule import DecisionRule
from bench.analysis.sides import prepare, sides
from bench.errors import UserError
from bench.report.render import comparison_markdown

POINTS = grid(sizes=(1_000, 1_000_000))


def runs(first_seed: int, count: int, **kw: object) -> pd.DataFrame:
    """`count` runs of POINTS with run-to-run noise, as one side."""
    return pd.concat(
        [
            make_run(POINTS, seed=first_seed + i, run_id=f"r{first_seed + i}", run_noise=0.003, **kw)
            for i in range(count)
        ],
        ignore_index=True,
    )


def verdicts(comp) -> dict[str, str]:
    return dict(zip(comp.points["point_key"], comp.points["verdict"], strict=True))


def test_faster_slower_same_and_summary() -> None:
    cand = runs(20, 3, slowdown={POINTS[0]: 0.8, POINTS[1]: 1.25})
    comp = compare(runs(10, 3), cand)
    v = verdicts(comp)
    assert v[POINTS[0].key] == "faster" and v[POINTS[1].key] == "slower"
    assert comp.summary.counts == {"slower": 1, "faster": 1, "same": len(POINTS) - 2, "undecided": 0, "ambiguous": 0}
    assert 0.97 < comp.summary.geomean_ratio < 1.03
    info = next(iter(comp.groups.values()))
    assert "from the sides' own repeated runs" in info.noise  # no profile given: the runs' own spread
    assert "base 3 runs (combined as repeats of one thing)" in info.runs_sentence()
    assert set(comp.points["runs_base"]) == {3}


def test_a_change_inside_the_band_is_never_slower() -> None:
    comp = compare(runs(10, 3), runs(20, 3, slowdown=dict.fromkeys(POINTS, 1.02)), decision=DecisionRule(0.03))
    assert "slower" not in set(comp.points["verdict"])


def test_unlike_timings_are_compared_per_group_and_never_pooled() -> None:
    base = pd.concat(
        [make_run(POINTS, seed=1, run_id="g1"), make_run(POINTS, seed=2, run_id="e1", timing_method="events")]
    )
    cand = pd.concat(
        [
            make_run(POINTS, seed=3, run_id="g2"),
            make_run(POINTS, seed=4, run_id="e2", timing_method="events", slowdown=dict.fromkeys(POINTS, 1.5)),
        ]
    )
    comp = compare(base, cand)
    assert len(comp.groups) == 2 and len(comp.points) == 2 * len(POINTS)
    assert np.isnan(comp.summary.geomean_ratio)  # one number over two timing methods would pool them
    by_group = {info.group.as_dict()["timing_method"]: comp.group_summary(gid) for gid, info in comp.groups.items()}
    assert by_group["graph"].geomean_ratio == pytest.approx(1.0, abs=0.01)
    assert by_group["events"].geomean_ratio == pytest.approx(1.5, rel=0.01)


def test_a_side_whose_runs_are_not_repeats_of_one_thing_is_refused_naming_the_mix() -> None:
    base = pd.concat(
        [make_run(POINTS, seed=1, run_id="a"), make_run(POINTS, seed=2, run_id="b").assign(git_commit="def5678")]
    )
    with pytest.raises(UserError, match=r"base mixes git_commit \(abc1234, def5678\) on the same point"):
        compare(base, make_run(POINTS, seed=3, run_id="c"))
    other = grid(sizes=(7,))  # runs of another commit that time other points are not combined: allowed
    base = pd.concat(
        [make_run(POINTS, seed=1, run_id="a"), make_run(other, seed=2, run_id="b").assign(git_commit="def5678")]
    )
    comp = compare(base, make_run(POINTS + other, seed=3, run_id="c"))
    assert "commit abc1234, def5678" in next(iter(comp.groups.values())).runs_sentence()


def test_only_ok_rows_are_timed_and_one_sided_points_say_what_the_other_side_recorded() -> None:
    extra = grid(sizes=(7,))
    base = make_run(POINTS, seed=1, statuses={POINTS[2]: ("skipped", "not supported")})
    cand = make_run(POINTS + extra, seed=2, statuses={POINTS[3]: ("failed", "CUDA error 700")}, run_id="run-b")
    comp = compare(base, cand)
    assert POINTS[2].key not in set(comp.points["point_key"])
    assert set(comp.only_cand["point_key"]) == {POINTS[2].key} | {p.key for p in extra}
    row = comp.only_base.set_index("point_key").loc[POINTS[3].key]
    assert row["other_status"] == "failed" and row["other_error"] == "CUDA error 700"
    text = comparison_markdown(comp)
    assert "Only in cand" in text and "CUDA error 700" in text


def test_a_point_timed_differently_on_the_other_side_says_so() -> None:
    cand = pd.concat(
        [make_run(POINTS[1:], seed=2, run_id="c"), make_run(POINTS[:1], seed=3, run_id="c2", timing_method="events")]
    )
    comp = compare(make_run(POINTS, seed=1), cand)
    row = comp.only_base.set_index("point_key").loc[POINTS[0].key]
    assert row["other_status"] == "measured differently" and "events" in row["other_error"]


def test_rows_that_cannot_be_judged_are_listed_not_dropped() -> None:
    cand = make_run(POINTS, seed=2, run_id="run-b")
    cand.at[0, "samples_us"] = [1.0, float("nan")] * 20
    comp = compare(make_run(POINTS, seed=1), cand)
    assert list(comp.problems["reason"]) == ["non-finite samples (NaN or inf): 20 of 40"]
    assert POINTS[0].key not in set(comp.points["point_key"])
    assert "Cannot be judged (1)" in comparison_markdown(comp)


def test_the_replay_shift_equals_really_scaled_samples() -> None:
    base, cand = runs(10, 2), runs(20, 2)
    slowed = cand.copy()
    slowed["samples_us"] = [
        np.asarray(s) * 1.07 if k == POINTS[4].key else s
        for s, k in zip(slowed["samples_us"], slowed["point_key"], strict=True)
    ]
    real = compare(base, slowed)
    prep = prepare(base, cand)
    shift = np.where(prep.described["point_key"] == POINTS[4].key, np.log(1.07), 0.0)
    replayed = compare_prepared(prep, cand_shift=shift, control=True)
    cols = ["point_key", "ratio", "ci_low", "ci_high", "p_slower", "verdict", "tail_ratio", "tail_verdict"]
    pd.testing.assert_frame_equal(real.points[cols], replayed.points[cols], check_exact=False, rtol=1e-9)
    scaled = replicates.scaled(cand, 1.07, cand["point_key"] == POINTS[4].key)
    pd.testing.assert_frame_equal(compare(base, scaled).points[cols], real.points[cols], check_exact=False, rtol=1e-9)


def _two_sides(df: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(base, cand) of `--by COLUMN` where the column has exactly two values."""
    (_, base), (_, cand) = sides(df, column).items()
    return base, cand


def test_sides_by_gpu_put_the_earliest_first() -> None:
    h200 = make_run(POINTS, seed=2, gpu_name="NVIDIA H200", timestamp="2026-11-22T00:00:00+00:00")
    h100 = make_run(POINTS, seed=1, timestamp="2026-11-21T00:00:00+00:00")
    base, cand = _two_sides(pd.concat([h200, h100], ignore_index=True), "gpu_name")
    assert set(base["gpu_name"]) == {"NVIDIA H100 80GB HBM3"} and set(cand["gpu_name"]) == {"NVIDIA H200"}


def test_sides_by_backend_join_on_point_key_only() -> None:
    df = make_run(grid(sizes=(10_000_000,), backends=("cuda", "memcpy")))
    base, cand = _two_sides(df, "backend")
    comp = compare(base, cand, by="backend")
    assert len(comp.points) == len(grid(sizes=(10_000_000,)))
    assert (comp.points["verdict"] == "faster").all()  # memcpy (2,500 GB/s) beats cuda (2,000)


def test_sides_by_l2_mode_put_untimed_rows_on_their_runs_side() -> None:
    """Rows written before rotated buffers read as one warm set; a skipped row has no l2_mode of its
    own and goes with what its run's settings asked for."""
    skip = {POINTS[0]: ("skipped", "not supported")}
    warm = make_run(POINTS, seed=1, run_id="w", statuses=skip, timestamp="2026-11-21T00:00:00+00:00")
    warm["l2_flush"] = warm["l2_flush"].astype(object)  # a schema 2 row as migrated: warm where it was timed
    warm.loc[warm["status"] != "ok", ["l2_mode", "l2_flush"]] = None
    warm["timing_settings"] = [{"l2_flush": False, "rotate_buffers": False}] * len(warm)
    rotated = make_run(
        POINTS, seed=2, run_id="r", statuses=skip, l2_mode="rotated", timestamp="2026-11-26T00:00:00+00:00"
    )
    rotated["l2_flush"] = rotated["l2_flush"].astype(object)
    rotated.loc[rotated["status"] != "ok", ["l2_mode", "l2_flush"]] = None  # as a results file has them
    rotated["timing_settings"] = [{"l2_flush": False, "rotate_buffers": True}] * len(rotated)
    base, cand = _two_sides(pd.concat([warm, rotated], ignore_index=True), "l2_mode")
    assert set(base["run_id"]) == {"w"} and set(cand["run_id"]) == {"r"}
    assert len(base) == len(cand) == len(POINTS)


def test_sides_are_every_value_of_the_column_and_the_column_must_exist() -> None:
    df = pd.concat([make_run(POINTS, gpu_name=g) for g in ("A100", "H100", "H200")], ignore_index=True)
    assert list(sides(df, "gpu_name")) == ["A100", "H100", "H200"]
    with pytest.raises(UserError, match="no such column"):
        sides(df, "gpu")


def test_one_run_per_gpu_with_their_noise_profiles_gives_verdicts() -> None:
    """The H100-vs-H200 question with one run each: each side's points take the noise of their own GPU's
    profile (never the scatter of the ratios), so a 20% faster GPU is 'faster' point by point."""
    h100 = [make_run(POINTS, seed=30 + i, run_id=f"h{i}", run_noise=0.002) for i in range(4)]
    h200 = [make_run(POINTS, seed=40 + i, run_id=f"g{i}", run_noise=0.004, gpu_name="NVIDIA H200") for i in range(4)]
    sources = noise_sources.Sources(
        None, [noise.build([pd.concat(h100[1:])], "h100"), noise.build([pd.concat(h200[1:])], "h200")]
    )
    faster = {p: 0.8 for p in POINTS}
    cand = make_run(POINTS, seed=9, run_id="g-new", run_noise=0.004, gpu_name="NVIDIA H200", slowdown=faster)
    comp = compare(h100[0], cand, sources=sources)
    assert set(comp.points["verdict"]) == {"faster"}
    assert (comp.points["noise_cand"] > comp.points["noise_base"]).mean() > 0.5  # the H200's own, louder noise
    assert not comp.with_yardstick  # two GPUs: the copy's change is part of the answer
    info = next(iter(comp.groups.values()))
    assert info.noise.startswith("base run-to-run noise") and "h200" in info.noise


def test_what_ran_is_shown_per_point_and_splits_the_summary() -> None:
    import json

    def launched(df: pd.DataFrame, block: str) -> pd.DataFrame:
        config = {
            "variant": "vector",
            "block": block,
            "vectors_per_thread": "2",
            "grid": "rows",
            "cache_hint": "default",
        }
        blocks = [dict(config, block="128") if k == POINTS[0].key else dict(config) for k in df["point_key"]]
        return df.assign(kernel_config=blocks, environment=json.dumps({"kernel_generator": "abcdef012345"}))

    comp = compare(launched(runs(10, 2), "256"), launched(runs(20, 2), "512"))
    assert comp.summary.ran_changed == len(POINTS) - 1 and sum(comp.summary.changed_counts.values()) == len(POINTS) - 1
    row = comp.points.set_index("point_key").loc[POINTS[1].key]
    assert row["ran_base"] == "kernel abcdef01 b256 v2 rows default" and row["ran_cand"].startswith(
        "kernel abcdef01 b512"
    )
    md = comparison_markdown(comp)
    assert "launch/tactics changed: 11 points" in md and "same launch/tactics: 1 points" in md
    assert "kernel abcdef01 b256 v2 rows default -> kernel abcdef01 b512 v2 rows default" in md


def test_a_split_that_shares_no_point_is_refused_saying_why() -> None:
    card0 = make_run(POINTS[:9], seed=1, run_id="both").assign(gpu_index=0)
    card1 = make_run(POINTS[9:], seed=2, run_id="both").assign(gpu_index=1)
    base, cand = _two_sides(pd.concat([card0, card1], ignore_index=True), "gpu_index")
    with pytest.raises(UserError, match=r"no point was timed on both sides .* each point of a run spread over"):
        compare(base, cand, by="gpu_index", base_label="0", cand_label="1")
    both = pd.concat([card0, make_run(POINTS[:9], seed=3, run_id="both").assign(gpu_index=1)], ignore_index=True)
    assert len(compare(*_two_sides(both, "gpu_index"), by="gpu_index").points) == 9  # what both cards timed
