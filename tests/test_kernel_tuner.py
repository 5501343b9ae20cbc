"""The kernel's tuner without a GPU: what it times, what it decides, what it stores and reads back.

The candidates' times come from a stand-in for `time_launches` (a function of the launch), so the
rules are checked exactly: the class is tuned on its first point, every other point times the class's
shortlist, decisions are stored per point and read back, imported launches win, and a second store
given the same times decides the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.backends import kernel_tuner as KT
from bench.backends.base import BackendOptions
from bench.gpu import kernel_generator as KG
from bench.gpu import kernel_layout as K
from bench.gpu import tuning as T
from bench.gpu import tuning_store as S
from bench.gpu.launch_sets import LaunchSet
from bench.point import Point


@dataclass
class _Device:
    name: str = "NVIDIA H200"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000001"
    index: int = 0
    driver_version: int = 13000
    l2_bytes: int = 60 << 20
    sm_count: int = 132
    compute_capability: str = "9.0"


@dataclass
class _Problem:
    point: Point
    power_is_one: bool = True


@dataclass
class _Point:
    """What the tuner reads of a prepared point."""

    problem: _Problem
    device: _Device = field(default_factory=_Device)

    @property
    def layouts(self) -> dict:
        p = self.problem.point
        out = {"vector": K.scale_layout(p.shape, p.mode, p.channel_axis, p.precision)}
        if p.numel <= K.DIRECT_MAX:
            out["direct"] = K.scale_layout(p.shape, p.mode, p.channel_axis, p.precision, "direct")
        return out


def _prepared(shape=(4, 64, 56, 56), mode="elementwise", precision="int8", axis=1) -> _Point:
    return _Point(_Problem(Point(shape, mode, precision, axis, "cuda")))


def _fake_times(speed: dict[str, float], calls: list) -> object:
    """time_launches whose every sample of a launch is its speed (default 10 us), recording the calls."""

    def time_launches(point, configs, rounds, run_timing):
        calls.append((point.problem.point.key, [c.label() for c in configs], rounds, run_timing.l2_mode))
        return [[speed.get(c.label(), 10.0)] * 20 * rounds for c in configs]

    return time_launches


def test_the_first_point_tunes_its_class_the_next_checks_the_shortlist_and_a_later_run_reads_both(
    tmp_path: Path, monkeypatch
) -> None:
    calls: list = []
    speeds = {"b128 v2 reuse streaming": 9.0, "b256 v4 reuse streaming": 9.2}  # a shortlist of two
    monkeypatch.setattr(KT, "time_launches", _fake_times(speeds, calls))
    first, second = _prepared(axis=1), _prepared(axis=0)
    tuner = KT.KernelTuner(BackendOptions(cache_dir=tmp_path))
    a, b = tuner.choose(first), tuner.choose(second)
    assert (a.source, b.source) == ("tuned", "checked")
    assert a.config == b.config == K.KernelConfig("vector", 128, 2, "reuse", "streaming")
    everything = len(T.candidates(first.layouts["vector"], "l2-9"))
    assert [len(c[1]) for c in calls] == [everything, len(calls[1][1]), len(calls[2][1])]
    assert calls[1][2] == T.FINALIST_ROUNDS and calls[2][0] == second.problem.point.key
    assert {c[3] for c in calls} == {"rotated"}  # timed the way points are: rotated buffers
    records = {(r.point_key, r.source) for _, r in S.all_records(tmp_path)}
    assert records == {(None, "tuned"), (first.problem.point.key, "tuned"), (second.problem.point.key, "checked")}
    calls.clear()
    later = KT.KernelTuner(BackendOptions(cache_dir=tmp_path))
    assert [later.choose(p).source for p in (first, second)] == ["cached", "cached"] and not calls


def test_a_point_of_the_class_takes_its_own_best_from_the_shortlist(tmp_path: Path, monkeypatch) -> None:
    """The class's pick was up to 16.5% from the best launch for some of the points it served: each
    point chooses among the class's shortlist on its own buffers."""
    speeds = {"b128 v2 reuse streaming": 9.0, "b256 v4 reuse streaming": 9.2}
    monkeypatch.setattr(KT, "time_launches", _fake_times(speeds, []))
    tuner = KT.KernelTuner(BackendOptions(cache_dir=tmp_path))
    assert tuner.choose(_prepared(axis=1)).config.block == 128
    speeds["b256 v4 reuse streaming"] = 8.0  # on this point another listed launch is clearly faster
    assert tuner.choose(_prepared(axis=0)).config == K.KernelConfig("vector", 256, 4, "reuse", "streaming")


def test_two_fresh_stores_given_times_within_the_tie_decide_the_same(tmp_path: Path, monkeypatch) -> None:
    picks = []
    for store, jitter in (("a", 1.0), ("b", 1.003)):  # the second store sees the best 0.3% slower
        speeds = {"b128 v2 reuse streaming": 9.0 * jitter, "b256 v4 reuse streaming": 9.01}
        monkeypatch.setattr(KT, "time_launches", _fake_times(speeds, []))
        picks.append(KT.KernelTuner(BackendOptions(cache_dir=tmp_path / store)).choose(_prepared()).config)
    assert picks[0] == picks[1]


def test_imported_launches_win_and_a_foreign_set_is_dropped_with_a_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(KT, "time_launches", _fake_times({}, []))
    p = _prepared()
    launch = K.KernelConfig("vector", 512, 1, "oneshot", "evict_first")
    mine = LaunchSet(
        "NVIDIA H200", KG.generator_hash(), "graph-rotated", {p.problem.point.key: launch.as_dict()}, "base"
    )
    choice = KT.KernelTuner(BackendOptions(cache_dir=tmp_path, launches=mine)).choose(p)
    assert (choice.source, choice.config) == ("imported", launch)
    assert not S.all_records(tmp_path)  # nothing decided here
    foreign = LaunchSet("NVIDIA H100", KG.generator_hash(), "graph-rotated", mine.launches, "h100 runs")
    assert KT.KernelTuner(BackendOptions(cache_dir=tmp_path, launches=foreign)).choose(p).source == "tuned"
    assert "not using the launches of h100 runs: they were decided on a NVIDIA H100" in capsys.readouterr().err


def test_candidates_are_timed_with_the_runs_method_and_l2_state(tmp_path: Path, monkeypatch) -> None:
    from bench.timing.settings import TimingSettings

    calls: list = []
    monkeypatch.setattr(KT, "time_launches", _fake_times({}, calls))
    warm = TimingSettings(method="events", rotate_buffers=False)
    KT.KernelTuner(BackendOptions(cache_dir=tmp_path, timing=warm)).choose(_prepared())
    assert {c[3] for c in calls} == {"warm"}
    [(path, _)] = [(p, r) for p, r in S.all_records(tmp_path) if r.point_key is None]
    assert "events-warm" in str(path)
    assert KT.tuning_settings(warm).method == "events" and not KT.tuning_settings(warm).rotate_buffers


@pytest.mark.parametrize("pin", ["default", "block=128,vpt=2"])
def test_a_pin_times_nothing(tmp_path: Path, monkeypatch, pin: str) -> None:
    monkeypatch.setattr(KT, "time_launches", lambda *a: pytest.fail("timed although pinned"))
    choice = KT.KernelTuner(BackendOptions(cache_dir=tmp_path, kernel_config=pin)).choose(_prepared())
    assert choice.source == ("default" if pin == "default" else "pinned")


def test_a_class_that_lists_one_launch_gives_it_to_its_points_without_timing(tmp_path: Path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(KT, "time_launches", _fake_times({"b128 v1 oneshot streaming": 5.0}, calls))
    tuner = KT.KernelTuner(BackendOptions(cache_dir=tmp_path))
    first, other = _prepared(mode="uniform", axis=None), _prepared((5, 64, 56, 56), mode="uniform", axis=None)
    tuner.choose(first)  # UNIFORM reads no weights to reuse: one family of launches
    n = len(calls)
    choice = tuner.choose(other)
    assert (choice.source, choice.config.block, len(calls)) == ("checked", 128, n)
    record = S.load_point(tuner._identity, tmp_path, choice.key, other.problem.point.key)
    assert "the class's only launch" in S.describe(record, "cached")
