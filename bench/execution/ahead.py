"""A point worker that makes the next point's data while the current point runs.

Making a big point's input and float64 reference is CPU work of the same order as timing it (on a 2-core
VM, 0.15 s to cast a 64x256x64x64 input to fp16, 0.3 s for its reference, 2.3 s to quantize it to int8).
A worker told which point comes next (`make_ahead`) makes that point's problem and reference in one
background thread, pinned to the data cores of its share, while the current point is built, verified
and timed; the thread running points is pinned to the timing core only while it times
(bench.execution.affinity). What was made ahead counts in the point's `data` and `reference` phases
(the work it took, though it overlapped the previous point).

Nothing is made ahead where it could disturb a measurement or the machine: for backends timed with the
host clock (their timing loop shares the host's caches and memory bandwidth with the data threads), for
builds, for later rounds (the point is usually kept open), when the share has no core besides the timing
core, and when the point's data would take more than a quarter of the free host memory. Nor for a point
whose data is made on the GPU (`--verify device`, bench.device_data): its input and reference are GPU
work, made by the thread that times, between points, never beside a measurement; the host's share (the
weights) is small, and a host input made ahead would be made for nobody.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from bench import resources
from bench.execution import affinity
from bench.execution.task import PointTask, RunSpec
from bench.execution.worker import PointWorker
from bench.point import Point
from bench.problem import Problem, make_problem

AHEAD_MEMORY_SHARE = 0.25  # make data ahead only when it needs at most this share of free host memory
INPUTS_KEPT = 2  # float32 inputs kept: the current shape's and the next one's


def _made_ahead(point: Point, x_real: np.ndarray | None) -> tuple[Problem, dict[str, float]]:
    """The point's problem with its reference computed, and the seconds each took."""
    t0 = time.perf_counter()
    problem = make_problem(point, x_real)
    t1 = time.perf_counter()
    problem.expected  # noqa: B018 (cached on the problem; this is the work done ahead)
    return problem, {"data": t1 - t0, "reference": time.perf_counter() - t1}


class AheadWorker(PointWorker):
    """PointWorker plus data made ahead on the data cores, and the timing thread pinned while it times."""

    def __init__(self, spec: RunSpec, share: affinity.CoreShare, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.share = share
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="bench-ahead", initializer=affinity.pin, initargs=(share.data,))
            if share.data
            else None
        )
        self._ahead: dict[tuple[str, str], Future] = {}
        self._inputs: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._inputs_lock = threading.Lock()

    def make_ahead(self, task: PointTask | None) -> bool:
        """Start making ``task``'s data in the background; whether it was started."""
        if task is not None and task.point_id in self._ahead:
            return True
        self._drop_ahead()  # one point ahead at most: data made for a point that went elsewhere is dropped
        if task is None or not self._worth_ahead(task):
            return False
        self._ahead[task.point_id] = self._pool.submit(self._make, task.point)  # type: ignore[union-attr]
        return True

    def _worth_ahead(self, task: PointTask) -> bool:
        point = task.point
        if self._pool is None or task.skip_reason is not None or task.round > 0 or self.spec.build_only:
            return False
        if point.backend not in self.backends:
            return False
        backend = self.backends[point.backend]
        if backend.times_on_host:
            return False
        if self._on_device(point, backend):  # its data is made on the GPU, by the thread that times
            return False
        free = resources.host_available()
        need = resources.host_bytes(point)
        return free is None or need <= AHEAD_MEMORY_SHARE * free

    def _make(self, point: Point) -> tuple[Problem, dict[str, float]]:
        t0 = time.perf_counter()
        x_real = self._input_for(point)
        problem, phases = _made_ahead(point, x_real)
        phases["data"] += time.perf_counter() - t0 - sum(phases.values())
        return problem, phases

    def _input_for(self, point: Point) -> np.ndarray | None:
        """The shared float32 input of a shape and data recipe; two kept (this shape's and the next)."""
        if point.data.kind != "random":
            return None
        key = (point.shape, point.data)
        with self._inputs_lock:
            if key in self._inputs:
                self._inputs.move_to_end(key)
                return self._inputs[key]
            while len(self._inputs) >= INPUTS_KEPT:
                self._inputs.popitem(last=False)
            x = make_problem(Point(point.shape, "uniform", "fp32", None, point.backend, point.weights, point.data)).x
            self._inputs[key] = x
            return x

    def _problem(self, point: Point, with_input: bool, phases: dict[str, float]) -> Problem:
        ahead = self._ahead.pop((point.key, point.backend), None)
        if ahead is not None and with_input:
            try:
                problem, made = ahead.result()
            except Exception:  # made again below, where its error is recorded with its origin
                pass
            else:
                for name, seconds in made.items():
                    phases[name] = phases.get(name, 0.0) + seconds
                return problem
        return super()._problem(point, with_input, phases)

    def _timing(self) -> contextlib.AbstractContextManager:
        return affinity.pinned(self.share.timing)

    def _drop_ahead(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()

    def close(self) -> None:
        self._drop_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._inputs_lock:
            self._inputs.clear()
        super().close()
