"""Run one task where the GPU is: make the data, build, verify against the reference, time, and return
the row. The same code serves this process (bench.execution.local) and a Dask worker.

Each phase's failure is recorded with where it came from (`error_origin`): `backend` when the backend
raised while building, running or timing (TensorRT, CUDA, the kernel), `harness` when this project's
own code raised (making data, the reference, the check: a bug, with the raising frame in `warnings`),
`resources` when the point does not fit in memory. A failing point is a row and the sweep goes on;
only a lost CUDA context (a sticky error) stops this worker, because nothing after it can run here.

Memory: a point's footprint is checked against what is free before anything is allocated; the shared
float32 input of a shape is made inside the point's error handling and only one shape's input is kept
at a time; a float build-only point makes no input at all.

Where the data lives (`RunSpec.verify`): with 'device' (opt-in; 'host' is the default), a backend that can
(`Backend.verifies_on_device`: cuda, memcpy) gets its input made on the GPU, one shape's input kept
there for its points, and its output judged there (bench.device_data); the host makes only the weights.
Other backends (numpy, TensorRT), and every backend with 'host', get the NumPy path. The phases keep
their meaning either way: `data` makes the input, `reference` the reference (on the device: its largest
|value|, which int8's output scale needs before the build; where the channel axis is out of range, after
the build, as on the host), `verify` runs the point once and compares.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench import device_data, resources, rows
from bench.backends import create
from bench.backends.base import Backend, BackendInfo, PreparedPoint
from bench.errors import UserError
from bench.execution.task import PointTask, RunSpec, TaskResult
from bench.point import Point
from bench.problem import Problem, Verification, make_problem, needs_input
from bench.timing.settings import TimingSettings

# Prepared points kept open between the rounds of a point, at most this share of free host memory and
# of the GPU's memory (nothing else of this worker's lives there while a point is timed). A point that
# is prepared again pays its data, build, reference and verification again: on the H100's default
# sweep those are three quarters of a point's time, so rounds are cheap only while points stay open.
ROUND_CACHE_SHARE = 0.25
ROUND_CACHE_DEVICE_SHARE = 0.5


def round_settings(timing: TimingSettings) -> TimingSettings:
    """One round's share of a point's budget: warm-up, sampling times and sample counts divided by the
    number of rounds (at least 2 samples a round), so that all rounds together stay within max_time_s."""
    r = timing.rounds
    if r <= 1:
        return timing
    return replace(
        timing,
        warmup_s=timing.warmup_s / r,
        min_samples=max(2, -(-timing.min_samples // r)),
        max_samples=max(2, timing.max_samples // r),
        min_time_s=timing.min_time_s / r,
        max_time_s=timing.max_time_s / r,
    )


def verify(backend: Backend, problem: Problem, out: np.ndarray) -> Verification:
    """Judge one output. memcpy (verifies_scale False) must return its input byte for byte."""
    if getattr(backend, "verifies_scale", True):
        return problem.check(out)
    x = problem.x
    same = x is not None and out.shape == x.shape and out.dtype == x.dtype and np.array_equal(out, x)
    return Verification(0.0 if same else float("inf"), 0.0, bool(same))


class _Phase:
    """Times one phase of a point into ``phases`` and tags its exceptions with their origin."""

    def __init__(self, phases: dict[str, float], name: str, origin: str) -> None:
        self.phases, self.name, self.origin = phases, name, origin

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> bool:
        self.phases[self.name] = self.phases.get(self.name, 0.0) + time.perf_counter() - self.t0
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, PointFailure):
            origin = "resources" if isinstance(exc, MemoryError) else self.origin
            raise PointFailure(exc, origin) from exc
        return False


class PointFailure(Exception):
    """A point's own failure, with where it came from; the worker turns it into a failed row."""

    def __init__(self, exc: Exception, origin: str) -> None:
        super().__init__(str(exc))
        self.exc, self.origin = exc, origin


def _release(prepared: PreparedPoint | device_data.DeviceData | device_data.DeviceInputs, backend: Backend) -> None:
    """Close a prepared point (or device data). After a sticky CUDA error every CUDA call fails, freeing
    memory too: that failure belongs to the lost context, which the point's row already records, so it is
    not raised again."""
    try:
        prepared.close()
    except Exception:
        if not backend.context_error():
            raise


@dataclass
class _Open:
    """A point prepared and verified, kept open for its next round."""

    prepared: PreparedPoint
    row: dict
    host_bytes: int
    device_bytes: int


class PointWorker:
    """Holds the backends of one process and runs tasks on them, one at a time."""

    def __init__(
        self,
        spec: RunSpec,
        name: str = "local",
        facts: Callable[[], dict] | None = None,
        backends: dict[str, Backend] | None = None,
    ) -> None:
        from bench.env import host_facts

        self.spec = spec
        self.name = name
        self.backends: dict[str, Backend] = backends or {b: create(b, spec.options) for b in spec.backends}
        self.infos: dict[str, BackendInfo] = {}
        self.run_columns = {
            "run_id": spec.run_id,
            "sweep": spec.sweep,
            "plan_id": spec.plan_id,
            **(facts or host_facts)(),
            "worker": name if name != "local" else f"local:{socket.gethostname()}",
        }
        self._input: tuple[tuple, np.ndarray] | None = None  # (shape, data spec) -> float32 input
        self._device_inputs: device_data.DeviceInputs | None = None  # one shape's input on the GPU
        self._open: dict[tuple[str, str], _Open] = {}

    def start(self) -> dict[str, BackendInfo]:
        """Start every backend before any point: a missing package or GPU stops here with one message."""
        for name, backend in self.backends.items():
            try:
                self.infos[name] = backend.info()
            except UserError:
                raise
            except Exception as exc:
                needs = " (it needs an NVIDIA GPU and its CUDA driver)" if backend.needs_gpu else ""
                raise UserError(
                    f"backend {name} cannot start on this machine{needs}: {type(exc).__name__}: {exc}"
                ) from exc
        return self.infos

    # -- one task ---------------------------------------------------------------------------------
    def _backend(self, name: str) -> Backend:
        """The backend of a point. One with no point to run was not started (it may need a GPU this machine
        lacks); its skipped points still need it for their row, and constructing one needs no GPU."""
        if name not in self.backends:
            self.backends[name] = create(name, self.spec.options)
        return self.backends[name]

    def execute(self, task: PointTask) -> TaskResult:
        point = task.point
        backend = self._backend(point.backend)
        timing = round_settings(self.spec.timing)
        row = rows.base_row(
            self.run_columns, point, self.infos.get(point.backend), backend.bytes_moved(point), self.spec.timing
        )
        row["attempts"] = task.attempt
        if task.skip_reason is not None:
            return TaskResult(task, rows.finished(row, "skipped", error=task.skip_reason, error_origin="plan"))
        if self.spec.build_only and not backend.can_build_only:
            reason = f"--build-only: the {backend.name} backend builds nothing ahead of time"
            return TaskResult(task, rows.finished(row, "skipped", error=reason, error_origin="plan"))
        phases: dict[str, float] = {}
        kept = self._open.pop(task.point_id, None)
        prepared: PreparedPoint | None = None
        keep_open = False
        try:
            if kept is None:
                if self._device_inputs is not None:  # another shape's input is not this point's to pay for
                    self._device_inputs.drop_unless(point)
                refusal = self._does_not_fit(point, backend, row)
                if refusal is not None:
                    return TaskResult(task, refusal)
                prepared, row = self._prepare(point, backend, row, phases)
                if prepared is None:  # built only, or a mismatch: the row is final
                    return TaskResult(task, row)
            else:  # a later round of a point kept open: prepared and verified already
                prepared, row = kept.prepared, {**kept.row, "started_at": row["started_at"], "attempts": task.attempt}
            with _Phase(phases, "timing", "backend"), self._timing():
                m = prepared.measure(timing)
            done = rows.finished({**row, **rows.measurement_columns(m, row["bytes_moved"])}, "ok", phases)
            if not task.last_round:
                keep_open = self._keep(task, prepared, row, backend)
            return TaskResult(task, done)
        except PointFailure as failure:
            result = TaskResult(task, rows.failed(row, failure.exc, failure.origin, phases))
            if failure.origin == "backend":
                lost = backend.context_error()
                if lost:
                    result.row["error"] += f" (the CUDA context is lost: {lost}; this process cannot use the GPU again)"
                    result.context_lost = lost
            return result
        finally:
            if prepared is not None and not keep_open:
                _release(prepared, backend)

    def _does_not_fit(self, point: Point, backend: Backend, row: dict) -> dict | None:
        on_device = self._on_device(point, backend)  # the host then holds the weights alone
        need_host = resources.host_bytes(
            point, makes_input=needs_input(point, self.spec.build_only) and not on_device, runs=not self.spec.build_only
        )
        need_device = 0 if self.spec.build_only else backend.device_bytes(point, self.spec.timing)
        if on_device and getattr(backend, "verifies_scale", True):
            need_device += point.weight_bytes  # the device reference's own copy of the weights
        row.update(host_bytes_needed=need_host, device_bytes_needed=need_device)
        free_device = backend.device_free_bytes() if need_device else None
        why = resources.shortfall(need_host, need_device, resources.host_available(), free_device)
        if why is None:
            return None
        return rows.finished(row, "skipped", error=f"does not fit: {why}", error_origin="resources")

    def _input_for(self, point: Point) -> np.ndarray | None:
        """The float32 input shared by every point of one shape and data recipe; one shape at a time."""
        if point.data.kind != "random":
            return None
        key = (point.shape, point.data)
        if self._input is None or self._input[0] != key:
            self._input = None  # drop the previous shape's input before making the next
            x = make_problem(Point(point.shape, "uniform", "fp32", None, point.backend, point.weights, point.data)).x
            self._input = (key, x)
        return self._input[1]

    def _problem(self, point: Point, with_input: bool, phases: dict[str, float]) -> Problem:
        """The point's input and weights (the reference follows when first asked for). A worker that makes
        data ahead overrides this to hand over what it made."""
        with _Phase(phases, "data", "harness"):
            x_real = self._input_for(point) if with_input else None
            return make_problem(point, x_real, with_input=with_input)

    def _on_device(self, point: Point, backend: Backend) -> bool:
        """Whether this point's data is made and judged on the GPU (see the module docstring)."""
        return self.spec.verify == "device" and backend.verifies_on_device and not self.spec.build_only

    def _device_problem(self, point: Point, backend: Backend, phases: dict[str, float]) -> Problem:
        """The point's weights on the host, its input made (or kept) on the GPU, and where the backend is
        judged against the Scale reference, that reference's largest |value| (int8's output scale)."""
        if self._device_inputs is None:
            from bench.backends.gpu_common import gpu_device

            self._device_inputs = device_data.DeviceInputs(gpu_device(backend.options.device))
        with _Phase(phases, "data", "harness"):
            problem = self._device_inputs.attach(make_problem(point, with_input=False))
        if getattr(backend, "verifies_scale", True) and device_data.axis_resolves(point):
            with _Phase(phases, "reference", "harness"):
                self._device_inputs.add_reference(problem)
                problem.device.ref_max_abs()  # type: ignore[union-attr]
        return problem

    def _timing(self) -> contextlib.AbstractContextManager:
        """Entered around a point's timing: a worker that makes data ahead pins the timing thread here."""
        return contextlib.nullcontext()

    def _prepare(
        self, point: Point, backend: Backend, row: dict, phases: dict[str, float]
    ) -> tuple[PreparedPoint | None, dict]:
        """Data, build, reference and verification of one point. Returns (prepared, row) when it is ready to
        time, else (None, final row)."""
        on_device = self._on_device(point, backend)
        problem: Problem | None = None
        try:
            if on_device:
                problem = self._device_problem(point, backend, phases)
            else:
                problem = self._problem(point, needs_input(point, self.spec.build_only), phases)
            with _Phase(phases, "build", "backend"):
                prepared = backend.prepare(point, problem)
            return self._verify(prepared, problem, backend, row, phases, on_device)
        finally:
            if problem is not None and problem.device is not None:
                _release(problem.device, backend)  # the reference's weights; the input stays with its holders

    def _verify(
        self,
        prepared: PreparedPoint,
        problem: Problem,
        backend: Backend,
        row: dict,
        phases: dict[str, float],
        on_device: bool,
    ) -> tuple[PreparedPoint | None, dict]:
        """Run a built point once and judge its output (on the host, or on the device)."""
        try:
            row = {**row, **rows.build_columns(prepared.build)}
            if self.spec.build_only:
                return None, rows.finished(row, "built", phases)
            if on_device:
                verifies_scale = getattr(backend, "verifies_scale", True)
                if verifies_scale and problem.device.reference is None:  # type: ignore[union-attr]
                    with _Phase(phases, "reference", "harness"):  # an axis out of range raises here, as on the host
                        self._device_inputs.add_reference(problem)  # type: ignore[union-attr]
                with _Phase(phases, "verify", "backend"):
                    out_ptr = prepared.device_output()  # type: ignore[attr-defined]
                with _Phase(phases, "verify", "harness"):
                    check = device_data.verify(problem, out_ptr, verifies_scale)
            else:
                with _Phase(phases, "reference", "harness"):
                    problem.expected  # noqa: B018 (computed here so its cost is its own phase)
                with _Phase(phases, "verify", "backend"):
                    out = prepared.output()
                with _Phase(phases, "verify", "harness"):
                    check = verify(backend, problem, out)
            where = "device" if on_device else "host"
            row.update(rows.verification_columns(check.max_abs_err, check.tolerance, check.correct, where))
            if not check.correct:
                msg = f"output differs from the reference: max |err| {check.max_abs_err:.3g} > tolerance {check.tolerance:.3g}"
                return None, rows.finished(row, "mismatch", phases, error=msg, error_origin="backend")
            return prepared, row
        finally:
            if self.spec.build_only or not row.get("correct", False):
                _release(prepared, backend)

    def _keep(self, task: PointTask, prepared: PreparedPoint, row: dict, backend: Backend) -> bool:
        """Keep a verified point open for its next round when it is small enough; else it is prepared again."""
        need_host = 0 if prepared.shed_host_data() else int(row.get("host_bytes_needed") or 0)
        need_device = int(row.get("device_bytes_needed") or 0)
        held_host = sum(o.host_bytes for o in self._open.values()) + need_host
        held_device = sum(o.device_bytes for o in self._open.values()) + need_device
        free_host = resources.host_available()
        free_device = backend.device_free_bytes() if need_device else None
        if free_host is not None and held_host > ROUND_CACHE_SHARE * free_host:
            return False
        if free_device is not None and held_device > ROUND_CACHE_DEVICE_SHARE * (free_device + held_device):
            return False
        self._open[task.point_id] = _Open(prepared, row, need_host, need_device)
        return True

    def close(self) -> None:
        for kept in self._open.values():
            kept.prepared.close()
        self._open.clear()
        self._input = None
        if self._device_inputs is not None:
            inputs, self._device_inputs = self._device_inputs, None
            made_for = next((b for b in self.backends.values() if b.verifies_on_device), None)
            if made_for is not None:
                _release(inputs, made_for)
            else:
                inputs.close()
        for backend in self.backends.values():
            backend.close()
