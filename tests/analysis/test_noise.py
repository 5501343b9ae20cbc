"""Noise profiles: built from repeated runs (never from ratios), robust to a point that happened to agree
with itself, stored and read back exactly, refused when damaged, combined towards the noisier, looked up
by size class with fallbacks, and a default that covers every timing method the harness has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import grid, make_run

from bench.analysis import noise, noise_sources
from bench.errors import UserError

POINTS = grid(sizes=(1_000, 100_000, 10_000_000), precisions=("fp32", "fp16", "bf16", "int8"))


def runs(first: int, count: int, run_noise: float = 0.002, **kw: object) -> pd.DataFrame:
    return pd.concat(
        [make_run(POINTS, seed=first + i, run_id=f"r{first + i}", run_noise=run_noise, **kw) for i in range(count)],
        ignore_index=True,
    )


def test_a_profile_measures_the_run_to_run_noise_of_each_size_class() -> None:
    profile = noise.build([runs(1, 6, run_noise=0.004)], "six runs")
    entries = [e["median"] for e in profile.classes.values()]
    assert profile.machine == "NVIDIA H100 80GB HBM3" and len(profile.runs) == 6
    assert all(0.002 < e.s0 < 0.008 for e in entries)  # the runs moved by 0.4%; samples add a little
    assert all(noise.MIN_DF <= e.df <= noise.MAX_DF for e in entries)
    assert len(profile.points) == len(POINTS)  # and each point's own history


def test_one_run_a_side_gives_no_profile_and_sides_never_mix() -> None:
    assert noise.build([runs(1, 1)], "one") is None
    base, cand = runs(1, 2), runs(10, 2, slowdown=dict.fromkeys(POINTS, 1.5))
    apart = noise.build([base, cand], "two sides")
    together = noise.build([pd.concat([base, cand])], "pooled wrongly")
    s0 = [e["median"].s0 for e in apart.classes.values()]
    assert max(s0) < 0.01 < min(e["median"].s0 for e in together.classes.values())  # the change is not noise


def test_a_profile_of_two_gpus_is_refused() -> None:
    with pytest.raises(UserError, match="a noise profile is of one machine"):
        noise.build([pd.concat([runs(1, 2), runs(5, 2, gpu_name="NVIDIA H200")])], "mixed")


def test_round_trip_and_damaged_files(tmp_path: Path) -> None:
    profile = noise.build([runs(1, 4)], "four runs")
    path = noise.write(profile, tmp_path / "x.noise.json")
    back = noise.read(path)
    assert back.classes.keys() == profile.classes.keys() and back.points.keys() == profile.points.keys()
    key = next(iter(profile.classes))
    assert back.classes[key]["p90"].s0 == pytest.approx(profile.classes[key]["p90"].s0, rel=1e-5)
    (tmp_path / "bad.noise.json").write_text("{not json")
    with pytest.raises(UserError, match="not a readable noise profile"):
        noise.read(tmp_path / "bad.noise.json")
    content = json.loads(path.read_text())
    content["classes"][0]["median"]["s0"] = -1
    (tmp_path / "neg.noise.json").write_text(json.dumps(content))
    with pytest.raises(UserError, match=r"classes\[0\] has a non-positive or non-finite s0/df for median"):
        noise.read(tmp_path / "neg.noise.json")
    with pytest.raises(UserError, match="not a noise profile"):
        noise.from_json({"classes": []}, "x")


def test_combining_believes_the_noisier_source() -> None:
    quiet, loud = noise.build([runs(1, 4, 0.001)], "quiet"), noise.build([runs(1, 4, 0.01)], "loud")
    both = noise.combine([quiet, loud])
    for key, entries in both.classes.items():
        assert entries["median"].s0 == max(quiet.classes[key]["median"].s0, loud.classes[key]["median"].s0)
    assert both.source == "quiet + loud"


def test_lookup_falls_back_to_the_nearest_size_then_the_default() -> None:
    profile = noise.build([runs(1, 4)], "four runs")
    points = make_run(POINTS[:1] + grid(sizes=(10**9,), backends=("tensorrt",))[:1], seed=1)
    found = noise_sources.for_points(profile, points.assign(timing_method=["graph", "events"]))
    assert "its size class" in found.how[0] and found.hist_nu["median"][0] == 3.0
    assert found.how[1].startswith("the default noise profile")  # events: the profile knows graph only
    far = noise_sources.for_points(profile, make_run(grid(sizes=(10**9,)), seed=1).iloc[:1])
    assert "the nearest size class" in far.how[0] and far.hist_nu["median"][0] == 0.0


def test_the_default_covers_graph_events_and_host_timing_and_is_wider_than_the_committed_gpus() -> None:
    default = noise_sources.default_profile()
    methods = {(k[1], k[2]) for k in default.classes}
    assert {("graph", "rotated"), ("graph", "warm"), ("events", "warm"), ("host", "warm")} <= methods
    h100 = noise.read(
        Path(__file__).resolve().parents[2] / "results" / "_baselines" / "nvidia-h100-80gb-hbm3.noise.json"
    )
    for (_, method, l2, size), entries in h100.classes.items():
        fallback = default.lookup("cuda", method, l2, size)
        assert fallback is not None and fallback[0]["median"].s0 >= entries["median"].s0
    unknown = noise_sources.for_points(default, make_run(POINTS[:1], seed=1).assign(timing_method="sampled"))
    assert unknown.s0["median"][0] == noise_sources.UNKNOWN_NOISE


def test_size_classes_are_octaves_of_bytes() -> None:
    assert noise.size_class(1024) == 10 and noise.size_class(2047) == 10 and noise.size_class(None) == -1
    assert noise.size_label(20) == "1-2 MiB" and noise.size_label(-1) == "size not recorded"
    assert np.isfinite(noise.size_class(3.0))


def test_a_profile_of_runs_that_are_also_on_a_side_lends_its_classes_not_its_point_histories() -> None:
    base = runs(1, 4)
    elsewhere = noise.build([runs(20, 4)], "other runs")
    same = noise.build([base], "the base's own runs")
    resolved = noise_sources.resolve(noise_sources.Sources(None, [elsewhere, same]), {"NVIDIA H100 80GB HBM3": [base]})
    profile = resolved["NVIDIA H100 80GB HBM3"]
    assert profile.points == elsewhere.points  # the base's runs count once, as the base's
    alone = noise_sources.resolve(noise_sources.Sources(None, [same]), {"NVIDIA H100 80GB HBM3": [runs(40, 1)]})
    assert alone["NVIDIA H100 80GB HBM3"].points == same.points


def test_a_profile_of_another_gpu_is_refused() -> None:
    h200 = noise.build([runs(1, 3, gpu_name="NVIDIA H200")], "h200 runs")
    with pytest.raises(UserError, match="--noise-from: a profile of NVIDIA H200, but the sides ran on NVIDIA H100"):
        noise_sources.resolve(noise_sources.Sources(None, [h200]), {"NVIDIA H100 80GB HBM3": [runs(9, 1)]})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: c.update(classes=5), "classes must be a list of objects, not int"),
        (lambda c: c.update(points={"a": 1}), "points must be a list of objects, not dict"),
        (lambda c: c.update(runs=7), "runs must be a list of run ids"),
        (lambda c: c.update(machine=["NVIDIA H200"]), "machine must be a GPU name"),
        (lambda c: c["classes"][0].update(size_class=float("inf")), "Infinity is not a JSON number"),
        (lambda c: c["classes"][0]["median"].update(df=float("inf")), "Infinity is not a JSON number"),
        (lambda c: c["classes"][0]["p90"].update(df=1e308 * 10), "Infinity is not a JSON number"),
    ],
)
def test_a_profile_of_the_wrong_shape_is_one_user_error_naming_the_field(tmp_path: Path, change, says) -> None:
    content = noise.build([runs(1, 3)], "three runs").to_json()
    change(content)
    path = tmp_path / "x.noise.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError, match=str(path)) as exc:
        noise.read(path)
    assert says in str(exc.value)


def test_a_profile_path_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, no_hang) -> None:
    import os

    os.mkfifo(tmp_path / "x.noise.json")
    with pytest.raises(UserError, match="not a readable noise profile: it is not a regular file"):
        noise.read(tmp_path / "x.noise.json")


def test_bench_noise_build_default_and_show_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from analysis_fixtures import write_run

    from bench.cli.main import main

    for i in range(3):
        write_run(make_run(POINTS, seed=i, run_id=f"r{i}", run_noise=0.003), tmp_path / "runs" / f"r{i}.parquet")
    out = tmp_path / "h100.noise.json"
    assert main(["noise", "build", str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert noise.read(out).runs == ("r0", "r1", "r2")
    assert main(["noise", "show", str(out)]) == 0
    assert "NVIDIA H100 80GB HBM3: 3 runs" in capsys.readouterr().out
    module = tmp_path / "noise_default.py"
    assert main(["noise", "default", str(out), "--out", str(module)]) == 0
    assert "2 times the largest s0" in module.read_text()
    for factor in ("nan", "inf", "0", "-2"):  # a default of no noise, or NaN noise, would decide every comparison
        assert main(["noise", "default", str(out), "--out", str(tmp_path / "bad.py"), "--factor", factor]) == 2
        assert "--factor" in capsys.readouterr().err and not (tmp_path / "bad.py").exists()
    assert main(["noise", "build", str(tmp_path / "runs"), "--out", str(tmp_path)]) == 2  # a folder: one line
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path}: cannot write it (Is a directory)")
