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
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from bench.backends.base import Backend, BackendInfo, BuildInfo, PreparedPoint
from bench.planning import PlannedPoint
from bench.point import Point
from bench.problem import Problem, Verification, make_problem
from bench.results.schema import SCHEMA_VERSION
from bench.results.store import RunWriter
from bench.stats import rel_mad, summarize
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
    return datetime.now(UTC).isoformat(timespec="seconds")


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
        "round_sizes": m.round_sizes,
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


def start_point(
    ctx: RunContext, backend: Backend, info: BackendInfo | None, pp: PlannedPoint, x_real: np.ndarray | None
) -> tuple[dict, PreparedPoint | None]:
    """Prepare and verify one point. Returns its row and, when it is ready to be timed, the prepared
    point (the caller times and closes it); else the row is final. Never raises for the point's own failure."""
    point = pp.point
    row = base_row(ctx, point, info, backend.bytes_moved(point))
    if not pp.runs:
        return {**row, "status": "skipped", "error": pp.skip_reason}, None
    if ctx.build_only and not backend.can_build_only:
        return {
            **row,
            "status": "skipped",
            "error": f"--build-only: the {backend.name} backend builds nothing ahead of time",
        }, None
    prepared = None
    try:
        problem = make_problem(point, x_real)
        prepared = backend.prepare(point, problem)
        row.update(build_columns(prepared.build))
        if ctx.build_only:
            prepared.close()
            return {**row, "status": "built"}, None
        check = verify(backend, problem, prepared.output())
        row.update(max_abs_err=check.max_abs_err, tolerance=check.tolerance, correct=check.correct)
        if not check.correct:
            prepared.close()
            msg = f"output differs from the reference: max |err| {check.max_abs_err:.3g} > tolerance {check.tolerance:.3g}"
            return {**row, "status": "mismatch", "error": msg}, None
        return row, prepared
    except Exception as exc:  # a point's failure is data: record it, go on
        if prepared is not None:
            prepared.close()
        return failed(row, exc), None


def failed(row: dict, exc: Exception) -> dict:
    message = str(exc).strip() or type(exc).__name__
    return {**row, "status": "failed", "error": f"{type(exc).__name__}: {message}", **_trace_hint(exc)}


def finish_point(row: dict, m: Measurement) -> dict:
    return {**row, **measurement_columns(m, row["bytes_moved"]), "status": "ok"}


def run_point(
    ctx: RunContext, backend: Backend, info: BackendInfo | None, pp: PlannedPoint, x_real: np.ndarray | None
) -> dict:
    """One point, start to finish, in one round; returns its row."""
    row, prepared = start_point(ctx, backend, info, pp, x_real)
    if prepared is None:
        return row
    with prepared:
        try:
            return finish_point(row, prepared.measure(ctx.timing))
        except Exception as exc:
            return failed(row, exc)


def round_settings(timing: TimingSettings) -> TimingSettings:
    """One round's share of a point's sampling budget."""
    r = timing.rounds
    return replace(
        timing,
        min_samples=max(2, -(-timing.min_samples // r)),
        max_samples=max(2, timing.max_samples // r),
        min_time_s=timing.min_time_s / r,
        max_time_s=timing.max_time_s / r,
    )


def merge_rounds(parts: list[Measurement], timing: TimingSettings) -> Measurement:
    """The rounds of one point as one measurement: samples pooled, caps and warnings kept."""
    samples = np.concatenate([m.samples_us for m in parts])
    first = parts[0]
    return replace(
        first,
        samples_us=samples,
        warmup_s=sum(m.warmup_s for m in parts),
        measure_s=sum(m.measure_s for m in parts),
        hit_time_cap=any(m.hit_time_cap for m in parts) and rel_mad(samples) > timing.target_noise,
        noise=rel_mad(samples),
        throttled=None if any(m.throttled is None for m in parts) else [t for m in parts for t in m.throttled or []],
        warnings=[*dict.fromkeys(w for m in parts for w in m.warnings if "time cap" not in w)],
        round_sizes=[len(m.samples_us) for m in parts],
    )


def _trace_hint(exc: Exception) -> dict:
    # Keep the last frame of unexpected errors in `warnings`, for whoever reads a failed row later.
    tb = traceback.extract_tb(exc.__traceback__)
    return {"warnings": f"raised at {tb[-1].filename}:{tb[-1].lineno}"} if tb else {}


ProgressFn = Callable[[dict], None]


def _inputs(planned: list[PlannedPoint]):
    """(planned point, shared float32 input or None), points of one shape and data together so the
    input is made once for all modes, precisions and backends."""
    cache: dict[tuple, np.ndarray] = {}
    for pp in sorted(planned, key=lambda pp: (pp.point.numel, pp.point.shape, pp.point.data.canonical()["kind"])):
        p = pp.point
        x_real = None
        if pp.runs and p.data.kind == "random":
            key = (p.shape, p.data)
            if key not in cache:
                cache.clear()
                cache[key] = make_problem(Point(p.shape, "uniform", "fp32", None, p.backend, p.weights, p.data)).x
            x_real = cache[key]
        yield pp, x_real


def run(
    ctx: RunContext,
    planned: list[PlannedPoint],
    backends: dict[str, Backend],
    infos: dict[str, BackendInfo],
    writer: RunWriter,
    on_row: ProgressFn | None = None,
) -> RunSummary:
    """Run every planned point not already in the writer's journal; rows go to the journal as they finish.

    With ``timing.rounds`` > 1 (asv's rounds), every point is prepared and verified first, then timed in
    that many short rounds over all points, so a slow spell of the machine (another job, a busy host)
    touches a few of a point's rounds instead of all of its samples. The prepared points stay open
    meanwhile: meant for small sweeps on shared CPUs, not for 256 MiB GPU tensors.
    """
    summary = RunSummary()
    done = writer.finished()
    todo = [(pp, x) for pp, x in _inputs(planned) if (pp.point.key, pp.point.backend) not in done]

    def record(row: dict) -> None:
        writer.append(row)
        summary.counts[row["status"]] += 1
        summary.rows.append(row)
        if on_row:
            on_row(row)

    if ctx.timing.rounds <= 1:
        for pp, x_real in todo:
            record(run_point(ctx, backends[pp.point.backend], infos.get(pp.point.backend), pp, x_real))
        return summary

    per_round = round_settings(ctx.timing)
    open_points: list[tuple[dict, PreparedPoint, list[Measurement]]] = []
    with ExitStack() as stack:
        for pp, x_real in todo:
            row, prepared = start_point(ctx, backends[pp.point.backend], infos.get(pp.point.backend), pp, x_real)
            if prepared is None:
                record(row)
            else:
                stack.enter_context(prepared)
                open_points.append((row, prepared, []))
        errors: dict[int, Exception] = {}
        for _ in range(ctx.timing.rounds):
            for i, (_row, prepared, parts) in enumerate(open_points):
                if i in errors:
                    continue
                try:
                    parts.append(prepared.measure(per_round))
                except Exception as exc:
                    errors[i] = exc
        for i, (row, _prepared, parts) in enumerate(open_points):
            record(failed(row, errors[i]) if i in errors else finish_point(row, merge_rounds(parts, ctx.timing)))
    return summary
