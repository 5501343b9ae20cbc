"""A point's data made and judged on the GPU (`--verify device`): the host makes only the weights.

On the H200's default sweep (`bench phases results/carried-h200-2026-12-04`) the host's NumPy work (the
input, its casts, the float64 reference and the comparison) took more of the points' own time than their
timing did; on the GPU that work is a few passes over device memory, and the input is no longer uploaded
per point. The rules are the host path's, bit for bit where bits are defined (bench.gpu.data_kernels
says which):

- `DeviceInputs` (one per worker) makes a shape's input on the device from its data spec and stored
  precision, and keeps it for the shape's other points (one shape at a time). Every prepared point that
  uses it holds it (`SharedInput.acquire`/`release`): a point kept open between rounds keeps its input
  alive after the worker has moved to another shape, and no point frees what others read.
- `DeviceData` is what a `Problem` carries instead of a host input: the shared input and, for a backend
  judged against the Scale reference, the reference on the device (its largest |value| gives int8's
  output scale and the float tolerance before the backend runs).
- `verify` compares a backend's output buffer with it and returns the same `Verification` the host's
  `Problem.check` does, with the same tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench import precision as prec
from bench import reference
from bench.point import Point
from bench.problem import Problem, Verification

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.gpu.data_kernels import DeviceReference


class SharedInput:
    """One shape's input on the device in one precision, freed when its last holder releases it."""

    def __init__(self, key: tuple, buffer: DeviceBuffer, in_scale: float | None) -> None:
        self.key, self.buffer, self.in_scale = key, buffer, in_scale
        self._holds = 1  # the maker's

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    @property
    def alive(self) -> bool:
        return self._holds > 0

    def acquire(self) -> SharedInput:
        if self._holds <= 0:
            raise RuntimeError("a released device input cannot be held again")
        self._holds += 1
        return self

    def release(self) -> None:
        """Drop one hold; the last one frees the buffer."""
        if self._holds <= 0:
            return
        self._holds -= 1
        if self._holds == 0:
            self.buffer.free()


def input_key(point: Point) -> tuple:
    """What a device input is made from: the same key, the same bits."""
    return (tuple(point.shape), point.data, point.precision)


def axis_resolves(point: Point) -> bool:
    """Whether the point's channel axis is in range: where it is not, TensorRT is let to refuse it, and the
    reference raises only when asked for (after the build, as on the host path)."""
    if point.mode == "uniform":
        return True
    try:
        reference.resolve_axis(point.shape, point.channel_axis)
    except ValueError:
        return False
    return True


@dataclass
class DeviceData:
    """A problem's input on the device, and its reference there (None where nothing is referenced)."""

    input: SharedInput
    reference: DeviceReference | None
    arch: str
    stream: Stream

    def ref_max_abs(self) -> float:
        if self.reference is None:
            raise RuntimeError("this point has no reference on the device (its backend is not judged by one)")
        return self.reference.ref_max_abs()

    def close(self) -> None:
        """Free the reference's weights; the input belongs to its holders."""
        if self.reference is not None:
            self.reference.close()
            self.reference = None


class DeviceInputs:
    """A worker's maker of device inputs: one stream, and the inputs of one shape and data spec at a time
    (one per precision: the runner runs a shape's points together, their precisions interleaved)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._stream: Stream | None = None
        self._kept: dict[tuple, SharedInput] = {}

    @property
    def stream(self) -> Stream:
        if self._stream is None:
            from bench.gpu.cuda import Stream

            self._stream = Stream()
        return self._stream

    def drop_unless(self, point: Point) -> None:
        """Release the inputs kept for another shape or data spec than ``point``'s (before its memory is
        counted); a point still open holds its own."""
        keep = input_key(point)[:2]
        for key in [k for k in self._kept if k[:2] != keep]:
            self._kept.pop(key).release()

    def input_for(self, point: Point) -> SharedInput:
        """The device input of ``point``'s shape, data spec and precision, made where it is not kept."""
        from bench.gpu import data_kernels

        self.drop_unless(point)
        key = input_key(point)
        if key not in self._kept:
            from bench.gpu.placement import prime_allocations

            nbytes = math.prod(point.shape) * prec.info(point.precision).itemsize
            prime_allocations([nbytes], self.stream)  # as a point's own input was: GpuPreparedPoint.prime
            buf, in_scale = data_kernels.make_input(
                point.data.kind, point.data.seed, math.prod(point.shape), point.precision, self.device.arch, self.stream
            )
            self._kept[key] = SharedInput(key, buf, in_scale)
        return self._kept[key]

    def attach(self, problem: Problem) -> Problem:
        """``problem`` (weights only) with its input on the device (and int8's input scale)."""
        shared = self.input_for(problem.point)
        problem.in_scale = shared.in_scale
        problem.device = DeviceData(shared, None, self.device.arch, self.stream)
        return problem

    def add_reference(self, problem: Problem) -> None:
        """Give an attached problem its reference on the device (the weights uploaded as the backend gets
        them); a weight count that does not fit the mode raises ValueError, as bench.reference does."""
        from bench.gpu.data_kernels import DeviceReference

        data, point = problem.device, problem.point
        if data is None:
            raise RuntimeError("attach the problem's device input before its reference")
        data.reference = DeviceReference(
            data.input.buffer.ptr,
            point.precision,
            data.input.in_scale,
            point.shape,
            point.mode,
            point.channel_axis,
            problem.shift,
            problem.scale,
            None if problem.power_is_one else problem.power,
            self.device.arch,
            self.stream,
        )

    def close(self) -> None:
        while self._kept:
            self._kept.popitem()[1].release()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()


def verify(problem: Problem, out_ptr: int, verifies_scale: bool) -> Verification:
    """Judge the output at ``out_ptr`` (the point's precision and shape) the way the host path does:
    against the Scale reference, or (memcpy) byte for byte against the input."""
    from bench.gpu import data_kernels

    data = problem.device
    if data is None:
        raise RuntimeError("verify on the device needs a problem whose input is on the device")
    if not verifies_scale:
        differ = data_kernels.bytes_differ(out_ptr, data.input.buffer.ptr, data.input.nbytes, data.arch, data.stream)
        return Verification(0.0 if differ == 0 else float("inf"), 0.0, differ == 0)
    if data.reference is None:
        raise RuntimeError("this point's device data has no reference to verify against")
    out_scale = problem.out_scale
    max_err = data.reference.max_error(out_ptr, out_scale)
    tol = prec.tolerance(problem.point.precision, data.ref_max_abs(), out_scale)
    return Verification(max_err, tol, bool(max_err <= tol))
