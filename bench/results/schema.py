"""The columns of a results file: one row per point, raw samples kept.

Every results file carries `schema_version`; a reader migrates older versions or names them as too
old (see bench.results.store.load). Bump SCHEMA_VERSION when a column changes meaning or is removed;
adding a column with a null default needs no bump (load fills it in).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
STATUSES = ("ok", "built", "mismatch", "failed", "skipped")
# ok: verified and timed; built: --build-only, built but not executed; mismatch: output wrong, never
# timed; failed: an error (message in `error`); skipped: not run, reason in `error`.

COLUMNS: dict[str, pa.DataType] = {
    # run
    "run_id": pa.string(),
    "schema_version": pa.int32(),
    "timestamp": pa.string(),  # ISO 8601 UTC, when the point finished
    "host": pa.string(),
    "git_commit": pa.string(),
    "sweep": pa.string(),  # sweep name or path, or 'cli'
    # environment
    "gpu_name": pa.string(),
    "compute_capability": pa.string(),
    "driver_version": pa.string(),
    "cuda_version": pa.string(),
    "backend": pa.string(),
    "backend_version": pa.string(),
    "python_version": pa.string(),
    "bench_version": pa.string(),
    "libraries": pa.string(),  # JSON {name: version}
    "environment": pa.string(),  # JSON: backend extras (clocks at start, memory, ...)
    # point
    "point_key": pa.string(),
    "shape": pa.string(),  # "1x3x3x3"
    "numel": pa.int64(),
    "mode": pa.string(),  # uniform | channel | elementwise
    "precision": pa.string(),  # fp32 | fp16 | bf16 | int8
    "channel_axis": pa.string(),  # "default" or the integer as written ("-1")
    "workload": pa.string(),  # the point's canonical JSON (what point_key hashes)
    # outcome
    "status": pa.string(),
    "error": pa.string(),
    # timing (raw samples first; every statistic is derived from them)
    "samples_us": pa.list_(pa.float64()),
    "round_sizes": pa.list_(pa.int64()),  # samples_us in interleaved rounds, in order (null: one round)
    "median_us": pa.float64(),
    "mean_us": pa.float64(),
    "min_us": pa.float64(),
    "p90_us": pa.float64(),
    "p99_us": pa.float64(),
    "cv": pa.float64(),
    "noise": pa.float64(),  # MAD / median at stop
    "n_samples": pa.int64(),
    "timing_method": pa.string(),  # graph (device time) | events (with launch overhead) | host
    "batch": pa.int64(),  # calls per sample
    "l2_flush": pa.bool_(),  # cold: L2 flushed before each sample
    "hit_time_cap": pa.bool_(),
    "fallback_reason": pa.string(),
    "enqueue_us": pa.float64(),
    "enqueue_bound": pa.bool_(),
    "throttled_samples": pa.int64(),
    "clocks": pa.string(),  # JSON: SM/memory clocks, temperature, power, throttle reasons
    "warnings": pa.string(),
    "timing_settings": pa.string(),  # JSON of TimingSettings
    # throughput
    "bytes_moved": pa.int64(),  # fewest bytes a call moves: input read + output written + weights read once
    "gbps": pa.float64(),  # bytes_moved / median, GB/s (1e9)
    "pct_of_memcpy": pa.float64(),  # gbps / gbps of this run's memcpy of the same tensor * 100
    # correctness
    "max_abs_err": pa.float64(),
    "tolerance": pa.float64(),
    "correct": pa.bool_(),
    # build
    "build_s": pa.float64(),
    "engine_bytes": pa.int64(),
    "engine_cached": pa.bool_(),
    "builder_settings": pa.string(),  # JSON
    "layer_info": pa.string(),  # engine inspector JSON
}

SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS.items()])
