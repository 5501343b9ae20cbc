"""Kernel tuning without a GPU: classes, candidates, the decision rule, the JSON records, the class lock,
carried launches (--tuning-from, `bench tuning export`) and --kernel-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import UserError
from bench.gpu import kernel_generator as KG
from bench.gpu import kernel_layout as K
from bench.gpu import launch_sets as LS
from bench.gpu import tuning as T
from bench.gpu import tuning_store as S

L2 = 50 << 20
ID = S.GpuIdentity("NVIDIA H100 80GB HBM3", "GPU-043ef562-893d-ff44-29ba-3f7aae966fbe", "580.159.04")


def _layout(shape, mode="channel", axis=None, precision="fp32", variant="vector"):
    return K.scale_layout(shape, mode, axis, precision, variant)


def _record(
    key: str = "fp32/uniform/uniform/hbm/pow1", identity: S.GpuIdentity = ID, point_key: str | None = None
) -> S.TuningRecord:
    cands = [
        T.Candidate(K.KernelConfig("vector", 512, 1, "oneshot", "evict_first").as_dict(), "a", 10.0, 9.9, 0.001, 80),
        T.Candidate(K.KernelConfig("vector", 1024, 2).as_dict(), "b", 9.5, 9.4, 0.001, 80),
        T.Candidate(K.KernelConfig("vector", 256, 8).as_dict(), "c", error="CudaError: too many resources"),
    ]
    return S.TuningRecord(
        key=key,
        gpu={"name": identity.name, "uuid": identity.uuid},
        driver=identity.driver,
        generator=identity.generator,
        timing=identity.timing,
        tuned_on={"shape": "64x256x64x64", "point_key": point_key or "p0"},
        settings={},
        candidates=cands,
        chosen=cands[T.decide(cands)].config,
        shortlist=[] if point_key else [cands[1].config, cands[0].config],
        point_key=point_key,
        tuning_s=1.5,
    )


def test_kernel_config_flag_parses_pairs_aliases_and_default() -> None:
    pin = T.parse_kernel_config("block=256, VPT=4 ,cache_hint=Streaming")
    assert pin.apply(K.KernelConfig("direct", 32)) == K.KernelConfig("direct", 256, 4, "oneshot", "streaming")
    assert T.parse_kernel_config("default").defaults_only
    assert T.parse_kernel_config(None) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("block", "not key=value"),
        ("block=", "not key=value"),
        ("blok=256", "unknown key 'blok'"),
        ("block=256,block=512", "given twice"),
        ("vpt=four", "must be an integer"),
        ("block=100", "block must be one of"),
        ("cache=magic", "cache must be one of"),
        ("grid=fractal", "grid must be one of"),
        ("variant=scalar", "variant must be one of"),
        ("block=" + "9" * 100_000, "100006 characters long"),
    ],
)
def test_a_bad_kernel_config_names_the_flag_and_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(UserError, match="--kernel-config") as err:
        T.parse_kernel_config(text)
    assert says in str(err.value) and len(str(err.value)) < 300


def test_a_bad_kernel_config_is_exit_2_with_one_line_before_any_work() -> None:
    cmd = [sys.executable, "-m", "bench", "plan", "--sweep", "smoke", "--kernel-config", "block=100"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--kernel-config" in proc.stderr


def test_size_classes_follow_the_direct_range_and_the_l2() -> None:
    assert T.size_class(27, 108, L2) == "tiny"
    assert T.size_class(K.DIRECT_MAX, 4 * K.DIRECT_MAX, L2) == "tiny"
    assert T.size_class(200_704, 802_816, L2) == "l2-9"  # 1x64x56x56 fp32: under 1 MiB
    assert T.size_class(3 << 20, 12 << 20, L2) == "l2-11"
    assert T.size_class(16 << 20, 25 << 20, L2) == "l2-12"  # in and out are exactly the L2
    assert T.size_class(16 << 20, 64 << 20, L2) == "hbm"


def test_tuning_keys_separate_what_runs_differently() -> None:
    ew1 = _layout((64, 256, 64, 64), "elementwise", 1, "int8")  # 65536-vector period: reuse pays
    ew3 = _layout((64, 256, 64, 64), "elementwise", -1, "int8")  # 4-vector period
    assert T.tuning_key(ew1, "hbm", True) == "int8/elementwise/periodic-p4/hbm/pow1"
    assert T.tuning_key(ew3, "hbm", True) == "int8/elementwise/periodic-p0/hbm/pow1"
    assert T.tuning_key(ew1, "hbm", False).endswith("/pow")
    assert T.tuning_key(_layout((1 << 31,), "uniform", None, "int8"), "hbm", True).endswith("/i64")
    # the same class for the default sweep's two large shapes of a mode and axis
    a, b = _layout((16, 256, 64, 64), axis=1), _layout((64, 256, 64, 64), axis=1)
    assert T.tuning_key(a, "hbm", True) == T.tuning_key(b, "hbm", True)


def test_candidates_are_fixed_ordered_unique_and_start_with_the_default() -> None:
    big = _layout((64, 256, 64, 64), "elementwise", 1, "int8")
    cands = T.candidates(big, "hbm")
    assert cands == T.candidates(big, "hbm")
    assert cands[0] == T.default_config(big, "hbm") == K.KernelConfig("vector", 256, 4, "reuse", "streaming")
    effective = [K.effective_config(big, c) for c in cands]
    assert len(set(effective)) == len(cands) and any(c.grid == "reuse" for c in cands)
    assert all(c.variant == "vector" for c in cands)
    uniform = _layout((64, 256, 64, 64), "uniform")
    assert not any(c.grid == "reuse" for c in T.candidates(uniform, "hbm"))  # nothing to reuse
    tiny_v, tiny_d = _layout((1, 3, 3, 3)), _layout((1, 3, 3, 3), variant="direct")
    tiny = T.candidates(tiny_v, "tiny", tiny_d)
    assert tiny[0].variant == "direct" and {c.variant for c in tiny} == {"vector", "direct"}
    assert len(tiny) == len({K.effective_config(tiny_d if c.variant == "direct" else tiny_v, c) for c in tiny})


def test_decide_takes_the_earliest_candidate_of_the_fastests_group_of_ties() -> None:
    c = [
        T.Candidate({}, "a", 2.0),
        T.Candidate({}, "b", 1.004),  # one link above the fastest: the earliest of the group wins
        T.Candidate({}, "c", 1.0),
        T.Candidate({}, "d", error="x"),
    ]
    assert T.decide(c) == 1
    assert T.decide(c, link=0.0, cap=0.0) == 2
    c[1].median_us = 1.0105  # past the cap
    assert T.decide(c) == 2
    chain = [T.Candidate({}, "a", 1.0095), T.Candidate({}, "b", 1.0045), T.Candidate({}, "c", 1.0)]
    assert T.decide(chain) == 0  # reached through b, each step under a link, within the cap
    chain.pop(1)
    assert T.decide(chain) == 1  # without b, a is a gap of 0.95% away: not a tie
    with pytest.raises(ValueError, match="no candidate could be timed"):
        T.decide([T.Candidate({}, "d", error="CompileError: boom")])


def test_two_noisy_timings_of_the_same_candidates_agree_unless_a_candidate_sits_at_the_tie() -> None:
    """The rule's point: timings that differ by noise far below the tie choose the same launch."""
    import numpy as np

    rng = np.random.default_rng(0)
    true = np.array([1.015, 1.003, 1.000, 1.020, 1.001])  # a default 1.5% off, two near-ties of the best
    picks = set()
    for _ in range(200):
        timed = true * (1 + rng.normal(0, 0.0005, true.size))  # 0.05%: a median of ~50 rotated samples
        picks.add(T.decide([T.Candidate({}, str(i), float(t)) for i, t in enumerate(timed)]))
    assert picks == {1}


def test_finalists_and_shortlist_are_in_the_fixed_order_capped_and_keep_the_chosen() -> None:
    medians = [1.04, 1.01, 1.00, 1.2, 1.02, 1.03, 1.005, 1.045, 1.02]
    one_pass = {"variant": "vector", "grid": "oneshot"}
    cands = [T.Candidate(one_pass, str(i), m) for i, m in enumerate(medians)]
    assert T.finalists(cands, margin=0.03, most=6) == [1, 2, 4, 5, 6, 8]
    assert T.finalists(cands, margin=0.03, most=3) == [1, 2, 6]  # the three fastest, in fixed order
    short = T.shortlist(cands, chosen=7)  # a chosen candidate the cap would drop stays
    assert 7 in short and len(short) == T.SHORTLIST_MAX and short == sorted(short)
    cands.append(T.Candidate({"variant": "vector", "grid": "reuse"}, "reuse", 1.3))  # far off, another family
    cands.append(T.Candidate({"variant": "vector", "grid": "reuse"}, "reuse2", 1.4))
    assert T.shortlist(cands, chosen=2) == [*T.shortlist(cands[:-2], chosen=2), 9]  # its fastest joins


KEY = "fp32/uniform/uniform/hbm/pow1"


def test_class_and_point_records_round_trip_through_their_json_files(tmp_path: Path) -> None:
    record, point = _record(), _record(point_key="abc123")
    path = S.save_record(ID, tmp_path, record)
    ppath = S.save_record(ID, tmp_path, point)
    assert path == S.class_path(ID, tmp_path, KEY) and ppath == S.point_path(ID, tmp_path, "abc123")
    for part in ("nvidia-h100-80gb-hbm3", "580.159.04", KG.generator_hash(), "graph-rotated"):
        assert part in str(path)
    loaded = S.load_record(path)
    assert loaded == record and loaded.config == K.KernelConfig("vector", 1024, 2)
    assert loaded.shortlist_configs == [
        K.KernelConfig("vector", 1024, 2),
        K.KernelConfig("vector", 512, 1, "oneshot", "evict_first"),
    ]
    assert S.load_class(ID, tmp_path, KEY) == record and S.load_point(ID, tmp_path, KEY, "abc123") == point
    assert S.load_point(ID, tmp_path, KEY, "other") is None
    assert sorted(p for p, _ in S.all_records(tmp_path)) == sorted([path, ppath])
    assert not list(path.parent.glob(".tmp-*"))  # written atomically, nothing left behind


def test_a_record_is_only_reused_for_the_gpu_model_driver_generator_and_timing_it_was_made_for(tmp_path: Path) -> None:
    S.save_record(ID, tmp_path, _record())
    other_model = S.GpuIdentity("NVIDIA H200", ID.uuid, ID.driver)
    other_driver = S.GpuIdentity(ID.name, ID.uuid, "590.1")
    other_source = S.GpuIdentity(ID.name, ID.uuid, ID.driver, generator="0" * 16)
    other_timing = S.GpuIdentity(ID.name, ID.uuid, ID.driver, timing="events-warm")
    for identity in (other_model, other_driver, other_source, other_timing):
        assert S.load_class(identity, tmp_path, KEY) is None


def test_a_record_made_for_another_class_or_by_the_older_tuner_is_not_used(tmp_path: Path, capsys) -> None:
    path = S.save_record(ID, tmp_path, _record())
    path.write_text(_record(key="fp16/uniform/uniform/hbm/pow1").to_json())  # a file moved by hand
    assert S.load_class(ID, tmp_path, KEY) is None
    assert "made for another class" in capsys.readouterr().err
    path.write_text(json.dumps({**json.loads(_record().to_json()), "format": "scale-bench kernel tuning record 1"}))
    assert S.load_class(ID, tmp_path, KEY) is None  # timed on one buffer set: tuned again


def test_another_card_of_the_same_model_reuses_the_decision(tmp_path: Path) -> None:
    """Cards of one model time the same launch, so a card-to-card comparison compares cards, not launches."""
    S.save_record(ID, tmp_path, _record())
    same_model = S.GpuIdentity(ID.name, "GPU-ffffffff-0000-0000-0000-000000000000", ID.driver)
    assert S.load_class(same_model, tmp_path, KEY) == S.load_record(S.class_path(ID, tmp_path, KEY))


def test_a_damaged_record_is_ignored_and_said_so(tmp_path: Path, capsys) -> None:
    path = S.class_path(ID, tmp_path, KEY)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "scale-bench kernel tuning record 2", "key": ')  # killed mid-write (no rename)
    assert S.load_class(ID, tmp_path, KEY) is None
    assert "damaged" in capsys.readouterr().err
    path.write_bytes(b"\xff\xfe garbage")
    assert S.load_class(ID, tmp_path, KEY) is None
    path.write_text(json.dumps({**json.loads(_record().to_json()), "chosen": {"block": 100}}))
    with pytest.raises(ValueError, match="block"):
        S.load_record(path)


def test_a_decision_is_one_line_with_the_winner_and_the_first_candidate() -> None:
    line = S.describe(_record(), "tuned")
    assert "\n" not in line and KEY in line
    assert "b 9.50 us" in line and "(a 10.00 us)" in line and "3 candidates" in line
    assert "cached record of" in S.describe(_record(), "cached")


def test_the_class_lock_makes_a_second_process_wait_until_the_first_has_decided(tmp_path: Path) -> None:
    """Two workers of one host meeting a new class: the second blocks on the lock, then reads the record."""
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time; from pathlib import Path\n"
            "from bench.gpu import tuning_store as S\n"
            f"ID = S.GpuIdentity({ID.name!r}, {ID.uuid!r}, {ID.driver!r})\n"
            f"with S.class_lock(ID, Path({str(tmp_path)!r}), {KEY!r}):\n"
            "    print('locked', flush=True); time.sleep(1.5)\n"
        )],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    import time

    t0 = time.perf_counter()
    with S.class_lock(ID, tmp_path, KEY):
        waited = time.perf_counter() - t0
    holder.wait(timeout=10)
    assert waited > 0.5, f"the second holder did not wait for the first ({waited:.2f} s)"


def _rows(point_launches: dict[str, tuple[int, int]], generator: str = "g1", gpu: str = "NVIDIA H200") -> list[dict]:
    return [
        {
            "backend": "cuda", "status": "ok", "point_key": key, "gpu_name": gpu, "driver_version": "580",
            "timing_method": "graph", "l2_mode": "rotated", "kernel_generator": generator,
            "kernel_config": {"variant": "vector", "block": str(b), "vectors_per_thread": str(v), "grid": "oneshot",
                              "cache_hint": "streaming", "source": "tuned", "grid_blocks": "99"},
        }
        for key, (b, v) in point_launches.items()
    ]  # fmt: skip


def test_launches_made_from_results_rows_round_trip_and_stand_only_for_their_gpu_and_generator(tmp_path: Path) -> None:
    rows = [*_rows({"p1": (256, 4), "p2": (512, 1)}), {"backend": "memcpy", "status": "ok", "point_key": "p1"}]
    rows.append({**_rows({"p3": (256, 1)})[0], "status": "skipped"})  # ran nothing: not a launch
    ls = LS.from_rows(rows, "runs")
    assert ls.lookup("p1") == K.KernelConfig("vector", 256, 4, "oneshot", "streaming")
    assert ls.lookup("p3") is None and ls.timing == "graph-rotated" and ls.generator == "g1"
    again = LS.read(ls.write(tmp_path / "x.launches.json"))
    assert again.launches == ls.launches and again.digest() == ls.digest()
    assert ls.refusal("NVIDIA H200", "g1") is None
    assert "decided on a NVIDIA H200" in ls.refusal("NVIDIA H100 80GB HBM3", "g1")
    assert "kernel generator g1" in ls.refusal("NVIDIA H200", "g2")


def test_a_point_that_ran_two_launches_takes_the_one_most_runs_ran_and_says_so() -> None:
    rows = _rows({"p1": (256, 4)}) * 2 + _rows({"p1": (512, 1)})
    ls = LS.from_rows(rows, "runs")
    assert ls.lookup("p1").block == 256 and "1 points ran more than one launch" in ls.notes[0]


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([], "no cuda point ran"),
        (_rows({"p1": (256, 4)}) + _rows({"p2": (256, 4)}, gpu="NVIDIA H100"), "several GPU models"),
        (_rows({"p1": (256, 4)}) + _rows({"p2": (256, 4)}, generator="g2"), "several kernel generators"),
    ],
)
def test_rows_that_cannot_make_one_launch_set_are_refused(rows, says) -> None:
    with pytest.raises(UserError, match=says):
        LS.from_rows(rows, "runs")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "cannot read a launch set"),
        ('{"format": "something else"}', "not a launch set"),
        ('{"format": "scale-bench launches 1", "launches": {"p": {"block": 100}}}', "not valid"),
    ],
)
def test_a_bad_launch_set_file_is_one_user_error(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "l.json"
    path.write_text(content)
    with pytest.raises(UserError, match=says):
        LS.read(path)


def test_tuning_from_is_checked_before_any_work_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "l.json"
    bad.write_text("{}")
    for extra in (["--tuning-from", str(tmp_path / "missing")], ["--tuning-from", str(bad)],
                  ["--tuning-from", str(bad), "--kernel-config", "default"]):  # fmt: skip
        cmd = [sys.executable, "-m", "bench", "plan", "--sweep", "smoke", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False)
        assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, (extra, proc.stderr)
        assert "--tuning-from" in proc.stderr


def test_bench_tuning_export_writes_the_launches_committed_runs_ran(tmp_path: Path) -> None:
    root = Path(__file__).parents[1]
    runs = root / "results" / "h200-rotated-rounds1-2026-11-26"
    out = tmp_path / "h200.launches.json"
    cmd = [sys.executable, "-m", "bench", "tuning", "export", "--results", str(runs), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, check=False)
    assert proc.returncode == 0, proc.stderr
    ls = LS.read(out)
    assert ls.gpu_name == "NVIDIA H200" and len(ls.launches) == 220 and not ls.notes


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda d: d["launches"]["p1"].update(vpt=2.5),
            "the launch of point 'p1' is not valid: vpt must be an integer",
        ),
        (lambda d: d["launches"]["p1"].update(block=256.0), "block must be an integer, got 256.0"),
        (lambda d: d["launches"]["p1"].update(vpt=True), "vpt must be an integer, got True"),
        (lambda d: d.update(launches={}), "launches must be a non-empty object"),
        (lambda d: d.update(launches=[["p1", {}]]), "launches must be a non-empty object"),
        (lambda d: d.update(gpu_name=["NVIDIA H200"]), "gpu_name must be text or null, not list"),
        (lambda d: d.update(drivers=580), "drivers must be a list of strings"),
        (lambda d: d["launches"]["p1"].update(grid=float("nan")), "NaN is not a JSON number"),
    ],
)
def test_a_launch_set_of_the_wrong_types_is_refused_naming_the_field(tmp_path: Path, change, says: str) -> None:
    """A float or a flag passes every range check of a launch and would reach the kernel's source."""
    data = json.loads(LS.from_rows(_rows({"p1": (256, 4)}), "runs").to_json())
    change(data)
    path = tmp_path / "l.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=f"^--tuning-from {path}: ") as exc:
        LS.read(path)
    assert says in str(exc.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(gpu="NVIDIA H100"), "gpu must be dict"),
        (lambda d: d.update(gpu={"name": ["a"]}), "gpu.name must be text"),
        (lambda d: d.update(tuned_on=[1]), "tuned_on must be dict"),
        (lambda d: d["candidates"][1].update(median_us="fast"), "candidates[1].median_us must be int or float"),
        (lambda d: d.update(candidates=[1]), "candidates[0] must be an object"),
        (lambda d: d.update(point_key=5), "point_key must be str or NoneType"),
        (lambda d: d.update(chosen={"block": 1024, "vpt": 2.5}), "vpt must be an integer"),
    ],
)
def test_a_tuning_record_of_the_wrong_types_is_skipped_by_show_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture, change, says: str
) -> None:
    from bench.cli.main import main

    path = S.save_record(ID, tmp_path, _record(point_key="p1"))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    assert main(["tuning", "show", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"kernel tuning: skipping {path}: {says}" in err and "error: no tuning records" in err
    assert main(["tuning", "export", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "x.json")]) == 2
    assert "error: no point decisions" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_a_fifo_among_the_tuning_records_is_skipped_without_waiting(tmp_path: Path, capsys, no_hang) -> None:
    import os

    path = S.save_record(ID, tmp_path, _record(point_key="p1"))
    os.mkfifo(path.with_name("other.json"))
    assert [p for p, _ in S.all_records(tmp_path)] == [path]
    assert "cannot read a tuning record: it is not a regular file" in capsys.readouterr().err


def test_tuning_export_into_a_fifo_writes_through_it_and_a_folder_is_one_line(tmp_path: Path, capsys, no_hang) -> None:
    """`--out /dev/stdout` and friends: a target that is not a regular file is written, never renamed over."""
    import os
    import threading

    from bench.cli.main import main

    S.save_record(ID, tmp_path, _record(point_key="p1"))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["tuning", "export", "--cache-dir", str(tmp_path), "--out", str(fifo)]) == 0
    reader.join(timeout=10)
    assert fifo.is_fifo() and json.loads(got[0])["launches"]["p1"]["block"] == 1024
    assert main(["tuning", "export", "--cache-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path}: cannot write it (Is a directory)")


def test_tuning_from_a_fifo_named_json_is_refused_as_not_a_regular_file(tmp_path: Path, no_hang) -> None:
    import os

    from bench.cli.common import load_launches

    os.mkfifo(tmp_path / "l.json")
    with pytest.raises(UserError, match="cannot read a launch set: it is not a regular file"):
        load_launches(str(tmp_path / "l.json"))


def test_tuning_scan_refuses_an_output_it_cannot_write_before_any_gpu_work(tmp_path: Path) -> None:
    """A scan takes minutes of GPU time: an --out under a file is one line naming --out, on any machine."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    cmd = [sys.executable, "-m", "bench", "tuning", "scan", "--sweep", "smoke", "--backend", "cuda"]
    proc = subprocess.run(
        [*cmd, "--out", str(blocker / "scan.jsonl")],
        capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "tuning scan --out" in proc.stderr and "Traceback" not in proc.stderr
