"""Kernel tuning without a GPU: classes, candidates, decisions, the JSON records and --kernel-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import UserError
from bench.gpu import kernels as K
from bench.gpu import tuning as T

L2 = 50 << 20
ID = T.GpuIdentity("NVIDIA H100 80GB HBM3", "GPU-043ef562-893d-ff44-29ba-3f7aae966fbe", "580.159.04")


def _layout(shape, mode="channel", axis=None, precision="fp32", variant="vector"):
    return K.scale_layout(shape, mode, axis, precision, variant)


def _record(key: str = "fp32/uniform/uniform/hbm/pow1", identity: T.GpuIdentity = ID) -> T.TuningRecord:
    cands = [
        T.Candidate(K.KernelConfig("vector", 512, 1, "oneshot", "evict_first").as_dict(), "a", 10.0, 9.9, 0.001, 80),
        T.Candidate(K.KernelConfig("vector", 1024, 2).as_dict(), "b", 9.5, 9.4, 0.001, 80),
        T.Candidate(K.KernelConfig("vector", 256, 8).as_dict(), "c", error="CudaError: too many resources"),
    ]
    return T.TuningRecord(
        key=key,
        gpu={"name": identity.name, "uuid": identity.uuid},
        driver=identity.driver,
        generator=identity.generator,
        tuned_on={"shape": "64x256x64x64"},
        settings={},
        candidates=cands,
        chosen=cands[T.decide(cands)].config,
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
    ],
)
def test_a_bad_kernel_config_names_the_flag_and_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(UserError, match="--kernel-config") as err:
        T.parse_kernel_config(text)
    assert says in str(err.value)


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


def test_decide_takes_the_fastest_median_and_the_earlier_on_a_tie() -> None:
    c = [
        T.Candidate({}, "a", 2.0),
        T.Candidate({}, "b", 1.0),
        T.Candidate({}, "c", 1.0),
        T.Candidate({}, "d", error="x"),
    ]
    assert T.decide(c) == 1
    with pytest.raises(ValueError, match="no candidate could be timed"):
        T.decide([T.Candidate({}, "d", error="CompileError: boom")])


def test_a_record_round_trips_through_its_json_file(tmp_path: Path) -> None:
    record = _record()
    path = T.save_record(ID, tmp_path, record)
    assert path == T.record_path(ID, tmp_path, record.key)
    assert "nvidia-h100-80gb-hbm3" in str(path) and "580.159.04" in str(path) and K.generator_hash() in str(path)
    loaded = T.load_record(path)
    assert loaded == record and loaded.config == K.KernelConfig("vector", 1024, 2)
    assert T.load_cached(ID, tmp_path, record.key) == record
    assert [p for p, _ in T.all_records(tmp_path)] == [path]
    assert not list(path.parent.glob(".tmp-*"))  # written atomically, nothing left behind


def test_a_record_is_only_reused_on_the_gpu_model_driver_and_generator_it_was_made_for(tmp_path: Path) -> None:
    T.save_record(ID, tmp_path, _record())
    key = "fp32/uniform/uniform/hbm/pow1"
    other_model = T.GpuIdentity("NVIDIA H200", ID.uuid, ID.driver)
    other_driver = T.GpuIdentity(ID.name, ID.uuid, "590.1")
    other_source = T.GpuIdentity(ID.name, ID.uuid, ID.driver, generator="0" * 16)
    for identity in (other_model, other_driver, other_source):
        assert T.load_cached(identity, tmp_path, key) is None


def test_another_card_of_the_same_model_reuses_the_decision(tmp_path: Path) -> None:
    """Cards of one model time the same launch, so a card-to-card comparison compares cards, not launches."""
    T.save_record(ID, tmp_path, _record())
    same_model = T.GpuIdentity(ID.name, "GPU-ffffffff-0000-0000-0000-000000000000", ID.driver)
    assert T.load_cached(same_model, tmp_path, "fp32/uniform/uniform/hbm/pow1") == _record_loaded(tmp_path)


def _record_loaded(tmp_path: Path) -> T.TuningRecord:
    return T.load_record(T.record_path(ID, tmp_path, "fp32/uniform/uniform/hbm/pow1"))


def test_a_damaged_record_is_ignored_and_said_so(tmp_path: Path, capsys) -> None:
    path = T.record_path(ID, tmp_path, "fp32/uniform/uniform/hbm/pow1")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "scale-bench kernel tuning record 1", "key": ')  # killed mid-write (no rename)
    assert T.load_cached(ID, tmp_path, "fp32/uniform/uniform/hbm/pow1") is None
    assert "damaged" in capsys.readouterr().err
    path.write_text(json.dumps({**json.loads(_record().to_json()), "chosen": {"block": 100}}))
    with pytest.raises(ValueError, match="block"):
        T.load_record(path)


def test_a_decision_is_one_line_with_the_winner_and_the_default() -> None:
    line = T.describe(_record(), "tuned")
    assert "\n" not in line and "fp32/uniform/uniform/hbm/pow1" in line
    assert "b 9.50 us" in line and "(default a 10.00 us)" in line and "3 candidates" in line
    assert "cached record of" in T.describe(_record(), "cached")
