"""Where points run: --gpus parsing, core shares, exit descriptions, the placement flags' checks. Pure
logic and the CLI's refusals; nothing here starts a worker."""

from __future__ import annotations

import math

import pytest
from run_helpers import spec_for

from bench.errors import UserError
from bench.execution import Placement, affinity, executor_for
from bench.execution.exits import Exit, exit_from_logs
from bench.execution.local import InProcessExecutor
from bench.execution.local_cluster import parse_gpus
from bench.planning import PlannedPoint
from bench.point import Point

SPEC = spec_for([PlannedPoint(Point((1, 3, 3, 3), "channel", "fp32", None, "numpy"))])


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [("all", 4, [0, 1, 2, 3]), ("0,2,3", 4, [0, 2, 3]), ("1-3", 8, [1, 2, 3]), (" 3, 0 ", 4, [3, 0]), ("ALL", 1, [0])],
)
def test_gpus_name_positions_in_the_order_given(text, count, expected):
    assert parse_gpus(text, count) == expected


@pytest.mark.parametrize(
    ("text", "count", "message"),
    [
        ("0,0", 2, "GPU 0 is named twice"),
        ("2", 2, "GPU 2 does not exist here; this host shows 2 (0-1)"),
        ("gpu0", 2, "expected 'all' or GPU indices"),
        ("", 2, "expected 'all' or GPU indices"),
        ("-1", 2, "expected 'all' or GPU indices"),
    ],
)
def test_bad_gpus_are_refused_with_the_fix(text, count, message):
    with pytest.raises(UserError, match="--gpus") as info:
        parse_gpus(text, count)
    assert message in str(info.value)


def test_cpu_lists_round_trip_and_shares_cover_every_core_once():
    assert affinity.parse_cpus("0-3,8,10-11") == (0, 1, 2, 3, 8, 10, 11)
    assert affinity.format_cpus((0, 1, 2, 3, 8, 10, 11)) == "0-3,8,10-11"
    cpus = tuple(range(32))
    shares = affinity.split(cpus, 3)
    assert [len(s) for s in shares] == [10, 11, 11]
    assert sorted(c for s in shares for c in s) == list(cpus)
    assert all(s == tuple(range(s[0], s[-1] + 1)) for s in shares)  # contiguous: neighbouring cores stay together
    share = affinity.CoreShare(shares[1])
    assert share.timing == (10,) and share.data == tuple(range(11, 21))


def test_more_workers_than_cores_get_one_core_each_and_nothing_to_spare():
    shares = affinity.split((0, 1), 3)
    assert shares == [(0,), (1,), (0,)]
    assert affinity.CoreShare(shares[0]).data == ()


def test_a_share_outside_what_the_process_may_use_falls_back_to_what_it_may(monkeypatch):
    monkeypatch.setenv(affinity.ENV, "100000-100003")
    assert affinity.this_workers_share().cpus == affinity.available()
    monkeypatch.setenv(affinity.ENV, str(affinity.available()[-1]))
    assert affinity.this_workers_share().cpus == affinity.available()[-1:]


def test_pinned_moves_the_thread_and_puts_it_back():
    before = affinity.available()
    with affinity.pinned(before[:1]):
        assert affinity.available() == before[:1]
    assert affinity.available() == before


LOGS = [  # as Dask's nanny writes them (distributed.nanny, WorkerProcess._death_message), newest first
    "2026-11-26 17:40:27,087 - distributed.nanny - INFO - Worker process 23889 was killed by signal 6",
    "2026-11-26 17:40:20,001 - distributed.nanny - INFO - Worker process 23001 exited with status 3",
    "2026-11-26 17:40:10,001 - distributed.nanny - INFO - Worker process 22000 was killed by unknown signal",
]


def test_the_nannys_log_names_how_each_process_ended():
    assert exit_from_logs(LOGS, 23889) == Exit(signal=6)
    assert exit_from_logs(LOGS, 23001) == Exit(status=3)
    assert exit_from_logs(LOGS, 22000) == Exit()
    assert exit_from_logs(LOGS, 1) is None
    assert Exit(signal=11).describe() == "signal 11 (SIGSEGV: a segmentation fault)"
    assert Exit(signal=9).describe().startswith("signal 9 (SIGKILL: killed from outside")
    assert Exit(signal=6).describe() == "signal 6 (SIGABRT: aborted)"
    assert Exit(status=3).describe() == "exit status 3"
    assert "no exit status known" in Exit().describe()


def test_points_run_in_this_process_unless_workers_are_asked_for():
    assert isinstance(executor_for(SPEC, Placement()), InProcessExecutor)


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (Placement(gpus="all", scheduler="tcp://127.0.0.1:1"), "--gpus and --scheduler: choose one"),
        (Placement(point_timeout_s=0.0), "--point-timeout 0.0: expected a positive number"),
        (Placement(point_timeout_s=-5.0), "--point-timeout -5.0"),
        (Placement(point_timeout_s=math.nan), "--point-timeout nan"),
        (Placement(isolate=True, mixed_gpus=True), "--mixed-gpus chooses among the workers"),
        (Placement(isolate=True, gpu_model="H100"), "--gpu-model chooses among the workers"),
    ],
)
def test_contradictory_or_bad_placements_are_refused(placement, message):
    with pytest.raises(UserError) as info:
        executor_for(SPEC, placement)
    assert message in str(info.value)


def test_gpus_on_a_host_without_a_driver_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    pytest.importorskip("distributed")
    from bench.cli.main import main
    from bench.gpu import nvml

    if nvml.device_count():
        pytest.skip("this host has GPUs")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code = main(["run", "--backend", "numpy", "--shape", "1x3x3x3", "--gpus", "all", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --gpus: cannot count this host's GPUs")
    installed = nvml.available()[1] != "nvidia-ml-py (pynvml) is not installed"
    assert ("install the gpu extra" in err[0]) != installed, err[0]  # the fix for what is missing here


def test_gpus_hidden_by_cuda_visible_devices_are_refused(monkeypatch, capsys, tmp_path):
    pytest.importorskip("distributed")
    from bench.cli.main import main

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code = main(["run", "--backend", "numpy", "--shape", "1x3x3x3", "--gpus", "0", "--out", str(tmp_path)])
    assert code == 2 and "CUDA_VISIBLE_DEVICES hides every GPU" in capsys.readouterr().err
