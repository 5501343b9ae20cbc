"""The shape of a results row: built from a point, a backend's build, a measurement, an error; and the
rows of one point timed in several rounds merged into one.

Rows are plain dicts (what the journal stores and bench.results.table turns into the pinned schema),
so they cross process and host boundaries as they are.
"""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench import reference
from bench.backends.base import BackendInfo, BuildInfo
from bench.comparability import UNIT
from bench.point import Point
from bench.results.schema import PHASES, SCHEMA_VERSION
from bench.stats import rel_mad, summarize
from bench.timing.measurement import Measurement
from bench.timing.settings import TimingSettings
from bench.timing.stopping import StopDecision, target_met, unmet_warning


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _resolved_axis(point: Point) -> int | None:
    if point.mode == "uniform":
        return None
    try:
        return reference.resolve_axis(point.shape, point.channel_axis)
    except ValueError:
        return None


def env_columns(info: BackendInfo | None, backend: str) -> dict:
    if info is None:
        return {"backend": backend}
    extra = dict(info.extra)
    return {
        "backend": info.backend,
        "backend_version": info.backend_version,
        "gpu_name": info.gpu_name,
        "gpu_uuid": extra.get("gpu_uuid"),
        "gpu_index": extra.get("gpu_index"),
        "compute_capability": info.compute_capability,
        "driver_version": info.driver_version,
        "cuda_version": info.cuda_version,
        "environment": json.dumps(extra, sort_keys=True, default=str),
    }


def point_columns(point: Point) -> dict:
    return {
        "point_key": point.key,
        "shape": point.shape_str,
        "dims": list(point.shape),
        "numel": point.numel,
        "mode": point.mode,
        "precision": point.precision,
        "channel_axis": point.axis_label,
        "channel_axis_arg": point.channel_axis,
        "resolved_axis": _resolved_axis(point),
        "workload": point.canonical(),
    }


def base_row(run: dict, point: Point, info: BackendInfo | None, bytes_moved: int, timing: TimingSettings) -> dict:
    """Columns every row of a point has, whatever happens to it. ``run``: run-wide columns (run id, sweep,
    plan id, host facts and provenance, worker)."""
    return {
        **run,
        "schema_version": SCHEMA_VERSION,
        "started_at": now_iso(),
        **env_columns(info, point.backend),
        **point_columns(point),
        "bytes_moved": bytes_moved,
        "timing_settings": timing.to_dict(),
        "attempts": 1,
    }


def measurement_columns(m: Measurement, bytes_moved: int) -> dict:
    stats = summarize(m.samples_us)
    median = stats["median_us"]
    samples = np.asarray(m.samples_us, dtype=np.float64)
    return {
        "samples_us": samples.tolist(),
        "round_sizes": [int(samples.size)],
        **stats,
        "unit": UNIT,
        "noise": m.noise,
        "timing_method": m.timing_method,
        "batch": m.batch,
        "l2_flush": m.l2_flush,
        "l2_mode": m.l2_mode,
        "buffer_sets": m.buffer_sets,
        "noise_target_met": m.noise_target_met,
        "stop_reason": m.stop_reason,
        "hit_time_cap": m.hit_time_cap,
        "fallback_reason": m.fallback_reason,
        "enqueue_us": m.enqueue_us,
        "enqueue_bound": m.enqueue_bound,
        "throttled_samples": None if m.throttled is None else int(sum(m.throttled)),
        "clocks": m.clocks or None,
        "warnings": list(m.warnings),
        "gbps": bytes_moved / (median * 1e-6) / 1e9 if median and median > 0 else None,
    }


def build_columns(b: BuildInfo) -> dict:
    kernel = getattr(b, "kernel_config", None)
    return {
        "build_s": b.build_s,
        "engine_bytes": b.engine_bytes,
        "engine_cached": b.cached if b.build_s is not None or b.engine_bytes is not None else None,
        "builder_settings": json.dumps(b.builder_settings, sort_keys=True, default=str) if b.builder_settings else None,
        "layer_info": b.layer_info,
        "kernel_config": {str(k): str(v) for k, v in kernel.items()} if kernel else None,
    }


VERIFIED_ON = "verified_on"  # the `environment` JSON field saying where the output was judged


def verification_columns(max_abs_err: float, tolerance: float, correct: bool, where: str) -> dict:
    """The check's columns, and where it ran ('host': NumPy, 'device': the GPU, bench.device_data) as the
    `verified_on` field of the row's `environment` JSON (the results schema keeps its columns; a row
    without the field was checked on the host, the only place checks ran before)."""
    return {"max_abs_err": max_abs_err, "tolerance": tolerance, "correct": correct, VERIFIED_ON: where}


def with_verification(row: dict) -> dict:
    """``row`` with its `verified_on` (set by `verification_columns`) moved into its `environment` JSON."""
    if VERIFIED_ON not in row:
        return row
    out = dict(row)
    where = out.pop(VERIFIED_ON)
    env = json.loads(out["environment"]) if isinstance(out.get("environment"), str) else {}
    out["environment"] = json.dumps({**env, VERIFIED_ON: where}, sort_keys=True, default=str)
    return out


def finished(row: dict, status: str, phases: dict[str, float] | None = None, **extra: Any) -> dict:
    """The row with its outcome and the time it finished."""
    out = with_verification({**row, **extra, "status": status, "timestamp": now_iso()})
    if phases is not None:
        out["phase_s"] = {p: phases.get(p) for p in PHASES}
    return out


def failed(row: dict, exc: BaseException, origin: str, phases: dict[str, float] | None = None) -> dict:
    """A failed row: the exception's type and message, where it came from, and for a harness bug the
    frame that raised it (in `warnings`), so a reader can tell a bug in this code from a backend's error."""
    message = str(exc).strip() or type(exc).__name__
    warnings = list(row.get("warnings") or [])
    tb = traceback.extract_tb(exc.__traceback__)
    if tb and origin == "harness":
        warnings.append(f"harness error raised at {tb[-1].filename}:{tb[-1].lineno}")
    return finished(
        row, "failed", phases, error=f"{type(exc).__name__}: {message}", error_origin=origin, warnings=warnings
    )


def merge_rounds(parts: list[dict], timing: TimingSettings, rounds_planned: int) -> dict:
    """The rounds of one point (their rows, in round order) as one row: samples pooled, statistics
    recomputed from them, the noise target judged on the pooled samples, every warning kept.

    ``rounds_planned`` > len(parts) means the point's time cap stopped it before its last round."""
    first, last = parts[0], parts[-1]
    samples = np.concatenate([np.asarray(p["samples_us"], dtype=np.float64) for p in parts])
    noise = rel_mad(samples)
    met = target_met(int(samples.size), noise, timing)
    capped = len(parts) < rounds_planned
    reasons = {p.get("stop_reason") for p in parts}
    reason = "noise_target" if met else ("time_cap" if capped or "time_cap" in reasons else "sample_cap")
    per_round_unmet = "noise target missed"
    warnings = list(dict.fromkeys(w for p in parts for w in (p.get("warnings") or []) if per_round_unmet not in w))
    if capped:
        warnings.append(f"time cap {timing.max_time_s:g} s reached after {len(parts)} of {rounds_planned} rounds")
    unmet = unmet_warning(StopDecision(True, reason, noise, met), timing)
    if unmet:
        warnings.append(unmet)
    methods = {p.get("timing_method") for p in parts}
    if len(methods) > 1:
        warnings.append(f"rounds were timed by different methods: {sorted(map(str, methods))}")
    stats = summarize(samples)
    median = stats["median_us"]
    throttled = [p.get("throttled_samples") for p in parts]
    enqueue = [p["enqueue_us"] for p in parts if p.get("enqueue_us") is not None]
    phases = {k: sum((p.get("phase_s") or {}).get(k) or 0.0 for p in parts) for k in PHASES}
    before = (first.get("clocks") or {}).get("before")
    after = (last.get("clocks") or {}).get("after")
    return {
        **last,
        "started_at": first.get("started_at"),
        "samples_us": samples.tolist(),
        "round_sizes": [len(p["samples_us"]) for p in parts],
        **stats,
        "noise": noise,
        "noise_target_met": met,
        "stop_reason": reason,
        "hit_time_cap": reason == "time_cap" and not met,
        "throttled_samples": None if any(t is None for t in throttled) else int(sum(throttled)),
        "enqueue_us": float(np.median(enqueue)) if enqueue else None,
        "clocks": {"before": before, "after": after} if before or after else None,
        "warnings": warnings,
        "phase_s": phases,
        "timing_settings": timing.to_dict(),
        "gbps": last["bytes_moved"] / (median * 1e-6) / 1e9 if median and median > 0 else None,
    }
