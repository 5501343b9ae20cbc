"""Data made ahead: while a worker runs a point it makes the next point's input and reference on its spare
cores, and it times only on its timing core. Real NumPy points, in this process."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import ClassVar

import pytest
from run_helpers import FAST, spec_for

from bench.backends.numpy_backend import NumpyBackend
from bench.execution import affinity
from bench.execution.ahead import AheadWorker
from bench.execution.task import PointTask
from bench.execution.worker import PointWorker
from bench.planning import PlannedPoint
from bench.point import Point

needs_two_cores = pytest.mark.skipif(len(affinity.available()) < 2, reason="needs two cores to set one aside")


class OffHostNumpy(NumpyBackend):
    """The numpy op, declared as timed off the host (as GPU backends are); it notes the cores it was timed on."""

    times_on_host = False
    timed_on: ClassVar[list] = []

    def prepare(self, point, problem):
        prepared = super().prepare(point, problem)
        measure = prepared.measure

        def noting(timing):
            OffHostNumpy.timed_on.append(tuple(sorted(os.sched_getaffinity(0))))
            return measure(timing)

        prepared.measure = noting
        return prepared


def tasks(*precisions: str) -> list[PointTask]:
    return [PointTask(i, Point((2, 8, 16, 16), "channel", p, None, "numpy")) for i, p in enumerate(precisions)]


@needs_two_cores
def test_the_next_points_data_is_made_ahead_and_judges_it_as_before():
    a, b = tasks("fp16", "int8")
    spec = spec_for([PlannedPoint(a.point), PlannedPoint(b.point)], FAST)
    share = affinity.CoreShare(affinity.available()[:2])
    OffHostNumpy.timed_on.clear()
    ahead = AheadWorker(spec, share, backends={"numpy": OffHostNumpy()})
    plain = PointWorker(spec, backends={"numpy": NumpyBackend()})
    try:
        ahead.start(), plain.start()
        assert ahead.make_ahead(b) is True
        first, second = ahead.execute(a).row, ahead.execute(b).row
        for mine, theirs in ((first, plain.execute(a).row), (second, plain.execute(b).row)):
            assert mine["status"] == theirs["status"] == "ok"
            assert (mine["max_abs_err"], mine["tolerance"]) == (theirs["max_abs_err"], theirs["tolerance"])
        assert second["phase_s"]["reference"] > 0 and second["phase_s"]["data"] > 0
        assert OffHostNumpy.timed_on == [share.timing, share.timing]  # timed on the timing core alone
    finally:
        ahead.close(), plain.close()
    assert affinity.available() == tuple(sorted(os.sched_getaffinity(0)))  # pinned only while timing


@needs_two_cores
def test_nothing_is_made_ahead_where_it_could_disturb_or_has_no_core():
    (a,) = tasks("fp32")
    spec = spec_for([PlannedPoint(a.point)], FAST)
    two = affinity.CoreShare(affinity.available()[:2])
    host_timed = AheadWorker(spec, two, backends={"numpy": NumpyBackend()})
    one_core = AheadWorker(spec, affinity.CoreShare(affinity.available()[:1]), backends={"numpy": OffHostNumpy()})
    builds = AheadWorker(
        spec_for([PlannedPoint(a.point)], FAST, build_only=True), two, backends={"numpy": OffHostNumpy()}
    )
    try:
        assert host_timed.make_ahead(a) is False  # its timing loop shares the host's caches with the data threads
        assert one_core.make_ahead(a) is False  # no core besides the timing core
        assert builds.make_ahead(a) is False
        assert host_timed.make_ahead(None) is False
    finally:
        for w in (host_timed, one_core, builds):
            w.close()


class OnDeviceNumpy(OffHostNumpy):
    """Declared as a backend whose data is made and judged on the GPU (as cuda and memcpy are)."""

    verifies_on_device = True


@needs_two_cores
def test_a_point_whose_data_is_made_on_the_gpu_is_not_made_ahead_unless_verified_on_the_host():
    (a,) = tasks("fp16")
    two = affinity.CoreShare(affinity.available()[:2])
    device_spec = replace(spec_for([PlannedPoint(a.point)], FAST), verify="device")
    on_device = AheadWorker(device_spec, two, backends={"numpy": OnDeviceNumpy()})
    on_host = AheadWorker(replace(device_spec, verify="host"), two, backends={"numpy": OnDeviceNumpy()})
    try:
        assert on_device.make_ahead(a) is False  # its input is GPU work: nothing on the host to make
        assert on_host.make_ahead(a) is True
        assert on_host.execute(a).row["status"] == "ok"
    finally:
        on_device.close(), on_host.close()
