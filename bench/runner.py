"""The harness's loop: for each planned point, prepare, verify, time and record (nvbench's shape: the
points declare axes, the harness owns the loop).

A point that fails is recorded with its error and the loop goes on; a wrong output is recorded as
`mismatch` and never timed. Every finished point is in the journal before the next one starts.
"""

from __future__ import annotations

import json
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from bench.backends.base import Backend, BackendInfo, BuildInfo
from bench.planning import PlannedPoint
from bench.point import Point
from bench.problem import Problem, Verification, make_problem
from bench.results.schema import SCHEMA_VERSION
from bench.results.store import RunWriter
from bench.stats import summarize
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings


@dataclass
class RunContext:
    run_id: str
    sweep: str
    timing: TimingSettings
    build_only: bool
    host: dict[str, str]  # bench.env.host_facts()


@dataclass
class RunSummary:
    counts: Counter = field(default_factory=Counter)  # status -> points
    rows: list[dict] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _env_columns(info: BackendInfo | None, backend: str) -> dict:
    if info is None:
        return {"backend": backend}
    return {
        "backend": info.backend,
        "backend_version": info.backend_version,
        "gpu_name": info.gpu_name,
        "compute_capability": info.compute_capability,
        "driver_version": info.driver_version,
        "cuda_version": info.cuda_version,
        "environment": json.dumps(info.extra, sort_keys=True, default=str),
    }


def base_row(ctx: RunContext, point: Point, info: BackendInfo | None, bytes_moved: int) -> dict:
    return {
        "run_id": ctx.run_id,
        "schema_version": SCHEMA_VERSION,
        "timestamp": _now(),
        "sweep": ctx.sweep,
        **ctx.host,
        **_env_columns(info, point.backend),
        "point_key": point.key,
        "shape": point.shape_str,
        "numel": point.numel,
        "mode": point.mode,
        "precision": point.precision,
        "channel_axis": point.axis_label,
        "workload": point.canonical(),
        "bytes_moved": bytes_moved,
        "timing_settings": json.dumps(ctx.timing.to_dict(), sort_keys=True),
    }


def measurement_columns(m: Measurement, bytes_moved: int) -> dict:
    stats = summarize(m.samples_us)
    median = stats["median_us"]
    return {
        "samples_us": np.asarray(m.samples_us, dtype=np.float64).tolist(),
        **stats,
        "noise": m.noise,
        "timing_method": m.timing_method,
        "batch": m.batch,
        "l2_flush": m.l2_flush,
        "hit_time_cap": m.hit_time_cap,
        "fallback_reason": m.fallback_reason,
        "enqueue_us": m.enqueue_us,
        "enqueue_bound": m.enqueue_bound,
        "throttled_samples": None if m.throttled is None else int(sum(m.throttled)),
        "clocks": json.dumps(m.clocks, sort_keys=True, default=str) if m.clocks else None,
        "warnings": "; ".join(m.warnings) or None,
        "gbps": bytes_moved / (median * 1e-6) / 1e9 if median and median > 0 else None,
    }


def build_columns(b: BuildInfo) -> dict:
    return {
        "build_s": b.build_s,
        "engine_bytes": b.engine_bytes,
        "engine_cached": b.cached if b.build_s is not None or b.engine_bytes is not None else None,
        "builder_settings": json.dumps(b.builder_settings, sort_keys=True, default=str) if b.builder_settings else None,
        "layer_info": b.layer_info,
    }


def verify(backend: Backend, problem: Problem, out: np.ndarray) -> Verification:
    """Judge one output. memcpy (verifies_scale False) must return its input byte for byte."""
    if getattr(backend, "verifies_scale", True):
        return problem.check(out)
    same = out.shape == problem.x.shape and out.dtype == problem.x.dtype and np.array_equal(out, problem.x)
    return Verification(0.0 if same else float("inf"), 0.0, bool(same))


def run_point(
    ctx: RunContext, backend: Backend, info: BackendInfo, pp: PlannedPoint, x_real: np.ndarray | None
) -> dict:
    """One point, start to finish; returns its row. Never raises for a point's own failure."""
    point = pp.point
    row = base_row(ctx, point, info, backend.bytes_moved(point))
    if not pp.runs:
        return {**row, "status": "skipped", "error": pp.skip_reason}
    if ctx.build_only and not backend.can_build_only:
        return {
            **row,
            "status": "skipped",
            "error": f"--build-only: the {backend.name} backend builds nothing ahead of time",
        }
    try:
        problem = make_problem(point, x_real)
        with backend.prepare(point, problem) as prepared:
            row.update(build_columns(prepared.build))
            if ctx.build_only:
                return {**row, "status": "built"}
            out = prepared.output()
            check = verify(backend, problem, out)
            row.update(max_abs_err=check.max_abs_err, tolerance=check.tolerance, correct=check.correct)
            if not check.correct:
                msg = f"output differs from the reference: max |err| {check.max_abs_err:.3g} > tolerance {check.tolerance:.3g}"
                return {**row, "status": "mismatch", "error": msg}
            m = prepared.measure(ctx.timing)
            row.update(measurement_columns(m, row["bytes_moved"]))
            return {**row, "status": "ok"}
    except Exception as exc:  # a point's failure is data: record it, go on
        message = str(exc).strip() or type(exc).__name__
        return {**row, "status": "failed", "error": f"{type(exc).__name__}: {message}", **_trace_hint(exc)}


def _trace_hint(exc: Exception) -> dict:
    # Keep the last frame of unexpected errors in `warnings`, for whoever reads a failed row later.
    tb = traceback.extract_tb(exc.__traceback__)
    return {"warnings": f"raised at {tb[-1].filename}:{tb[-1].lineno}"} if tb else {}


ProgressFn = Callable[[dict], None]


def run(
    ctx: RunContext,
    planned: list[PlannedPoint],
    backends: dict[str, Backend],
    infos: dict[str, BackendInfo],
    writer: RunWriter,
    on_row: ProgressFn | None = None,
) -> RunSummary:
    """Run every planned point not already in the writer's journal; rows go to the journal as they finish."""
    summary = RunSummary()
    done = writer.finished()
    inputs: dict[tuple, np.ndarray] = {}  # one float32 input per (shape, data), reused across modes/backends
    # Points of one shape and data run together, so the input is made once for all of them.
    ordered = sorted(planned, key=lambda pp: (pp.point.numel, pp.point.shape, pp.point.data.canonical()["kind"]))
    for pp in ordered:
        p = pp.point
        if (p.key, p.backend) in done:
            continue
        x_real = None
        if pp.runs and p.data.kind == "random":
            key = (p.shape, p.data)
            if key not in inputs:
                inputs.clear()
                inputs[key] = make_problem(Point(p.shape, "uniform", "fp32", None, p.backend, p.weights, p.data)).x
            x_real = inputs[key]
        row = run_point(ctx, backends[p.backend], infos.get(p.backend), pp, x_real)
        writer.append(row)
        summary.counts[row["status"]] += 1
        summary.rows.append(row)
        if on_row:
            on_row(row)
    return summary
