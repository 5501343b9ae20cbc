"""The `numpy` backend: the Scale op on the CPU with NumPy, timed with the host clock.

It exists so the whole pipeline (sweep, verify, time, store, compare, report) runs with real timings on
a machine without a GPU. Like a careful CPU implementation, it allocates its buffers once and computes
in place (float64, rounded to the point's precision; int8 re-quantized with the output scale), in
page-aligned buffers: an allocation per call would time the memory allocator, and where a buffer falls
in its cache lines would differ from one process to the next.
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

PAGE = 4096


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An array starting on a page boundary. malloc's 16-byte alignment puts a buffer at a different
    offset within its cache lines and pages in every process, and NumPy's vector loops run measurably
    faster or slower with it (up to ~10% between two runs of the same point on a 2-core VM)."""
    dtype = np.dtype(dtype)
    nbytes = max(1, int(np.prod(shape)) * dtype.itemsize)
    raw = np.empty(nbytes + PAGE, dtype=np.uint8)
    start = -raw.ctypes.data % PAGE
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def _aligned_copy(a: np.ndarray) -> np.ndarray:
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out


class _NumpyPoint(PreparedPoint):
    def __init__(self, problem: Problem) -> None:
        p, pt = problem, problem.point
        self.build = BuildInfo()
        self.x = _aligned_copy(p.x)
        weights = reference.broadcast_weights(
            p.x.shape, pt.mode, p.shift, p.scale, None if p.power_is_one else p.power, pt.channel_axis
        )
        self.scale, self.shift, self.power = (None if w is None else _aligned_copy(w) for w in weights)
        self.in_scale = p.in_scale
        self.inv_out_scale = None if p.out_scale is None else 1.0 / p.out_scale  # outside the timed region
        self.work = aligned_empty(p.x.shape, np.float64)
        self.out = aligned_empty(p.x.shape, p.x.dtype)

    def _run(self) -> np.ndarray:
        w = self.work
        np.copyto(w, self.x, casting="unsafe")
        if self.in_scale is not None:
            w *= self.in_scale
        w *= self.scale
        w += self.shift
        if self.power is not None:
            with np.errstate(invalid="ignore"):
                np.power(w, self.power, out=w)
        if self.inv_out_scale is not None:  # symmetric int8, round half to even, as prec.quantize
            w *= self.inv_out_scale
            np.rint(w, out=w)
            np.clip(w, -prec.INT8_QMAX, prec.INT8_QMAX, out=w)
        np.copyto(self.out, w, casting="unsafe")
        return self.out

    def output(self) -> np.ndarray:
        return self._run().copy()

    def measure(self, timing: TimingSettings) -> Measurement:
        return measure_host(self._run, timing)


class NumpyBackend(Backend):
    name = "numpy"
    times_on_host = True

    def info(self) -> BackendInfo:
        return BackendInfo(backend=self.name, backend_version=f"numpy {np.__version__}")

    def prepare(self, point: Point, problem: Problem) -> PreparedPoint:
        return _NumpyPoint(problem)
