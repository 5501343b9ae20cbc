"""The `numpy` backend: the reference op on the CPU, timed with the host clock.

It exists so the whole pipeline (sweep, verify, time, store, compare, report) runs with real timings on
a machine without a GPU. Its output is computed in float64 and rounded to the point's precision (int8
codes re-quantized with the output scale), which is what a careful CPU implementation would return.
"""

from __future__ import annotations

import numpy as np

from bench import precision as prec
from bench import reference
from bench.backends.base import Backend, BackendInfo, BuildInfo, PreparedPoint
from bench.point import Point
from bench.problem import Problem
from bench.timing.host import measure_host
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings


class _NumpyPoint(PreparedPoint):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.build = BuildInfo()
        p = problem
        self._power = None if p.power_is_one else p.power
        self._out_scale = p.out_scale  # computed once, outside the timed region

    def _run(self) -> np.ndarray:
        p, pt = self.problem, self.problem.point
        if self._out_scale is not None:
            y = reference.scale(p.real_input(), pt.mode, p.shift, p.scale, self._power, pt.channel_axis, np.float64)
            return prec.quantize(y, self._out_scale)
        return reference.scale(p.x, pt.mode, p.shift, p.scale, self._power, pt.channel_axis)

    def output(self) -> np.ndarray:
        return self._run()

    def measure(self, timing: TimingSettings) -> Measurement:
        return measure_host(self._run, timing)


class NumpyBackend(Backend):
    name = "numpy"

    def info(self) -> BackendInfo:
        return BackendInfo(backend=self.name, backend_version=f"numpy {np.__version__}")

    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        return _NumpyPoint(problem)
