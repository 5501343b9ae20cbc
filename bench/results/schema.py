"""The columns of a results file: one row per point, raw samples kept, one pinned Arrow schema.

Every results file carries every column below with exactly these Arrow types, so a folder of runs is
one dataset: DuckDB's `read_parquet('results/**/*.parquet')`, polars' `scan_parquet`, pandas'
`read_parquet('results/')` and pyarrow datasets read it with no options and agree. Nested data is
stored as Arrow structs, lists and maps where a reader would query into it (clocks, timing settings,
phase times, warnings, library versions, the kernel's launch configuration); JSON text is kept only
for free-form backend detail nothing queries by field (environment, builder settings, TensorRT's
layer information, the workload's canonical form that `point_key` hashes).

`schema_version` says which version of this list wrote a file (asv's `api_version`); bump it when a
column is added, removed, retyped or changes meaning, and add the step to bench.results.migrate so
older files are brought up to date on read.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 3
STATUSES = ("ok", "built", "mismatch", "failed", "skipped")
# ok: verified and timed; built: --build-only, built but not executed; mismatch: output wrong, never
# timed; failed: an error (message in `error`, where it came from in `error_origin`); skipped: not run,
# reason in `error`.
ERROR_ORIGINS = ("backend", "harness", "worker", "timeout", "resources", "plan")
# backend: the backend (TensorRT, CUDA, the kernel) raised while building, running or timing;
# harness: this project's own code raised (a bug: the traceback's last frame is in `warnings`);
# worker: the process running the point died (signal, exit); timeout: the per-point time limit;
# resources: not enough host or device memory for the point; plan: skipped at plan time.
STOP_REASONS = ("noise_target", "time_cap", "sample_cap")

UTC_TIME = pa.timestamp("us", tz="UTC")

NVML_SNAPSHOT = pa.struct(
    [
        ("sm_clock_mhz", pa.float64()),
        ("mem_clock_mhz", pa.float64()),
        ("max_sm_clock_mhz", pa.float64()),
        ("temperature_c", pa.float64()),
        ("power_w", pa.float64()),
        ("throttle_mask", pa.int64()),
        ("throttle_reasons", pa.list_(pa.string())),
        ("throttled", pa.bool_()),
    ]
)
CLOCKS = pa.struct([("before", NVML_SNAPSHOT), ("after", NVML_SNAPSHOT)])
TIMING_SETTINGS = pa.struct(
    [
        ("method", pa.string()),
        ("warmup_s", pa.float64()),
        ("min_samples", pa.int64()),
        ("max_samples", pa.int64()),
        ("min_time_s", pa.float64()),
        ("max_time_s", pa.float64()),
        ("target_noise", pa.float64()),
        ("sample_floor_us", pa.float64()),
        ("l2_flush", pa.bool_()),
        ("rotate_buffers", pa.bool_()),
        ("rounds", pa.int64()),
    ]
)
PHASES = ("data", "build", "reference", "verify", "timing")
PHASE_S = pa.struct([(p, pa.float64()) for p in PHASES])
STRING_MAP = pa.map_(pa.string(), pa.string())

COLUMNS: dict[str, pa.DataType] = {
    # run
    "run_id": pa.string(),
    "schema_version": pa.int32(),
    "timestamp": UTC_TIME,  # when the point finished (its row was recorded)
    "started_at": UTC_TIME,  # when the point started
    "sweep": pa.string(),  # sweep name, or 'cli'
    "plan_id": pa.string(),  # hash of the expanded plan and its settings (what --resume must match)
    "host": pa.string(),
    "git_commit": pa.string(),  # the checkout's HEAD, or BENCH_GIT_COMMIT where git cannot answer
    "git_dirty": pa.bool_(),  # tracked files differed from the commit (null: unknown)
    "commit_source": pa.string(),  # git | env (BENCH_GIT_COMMIT) | unknown
    "code_digest": pa.string(),  # sha256 of the harness's own source files: checks git_commit's claim
    # environment
    "gpu_name": pa.string(),
    "gpu_uuid": pa.string(),
    "gpu_index": pa.int32(),  # the host's index of the GPU that ran the point (before CUDA_VISIBLE_DEVICES)
    "compute_capability": pa.string(),
    "driver_version": pa.string(),
    "cuda_version": pa.string(),
    "backend": pa.string(),
    "backend_version": pa.string(),
    "python_version": pa.string(),
    "bench_version": pa.string(),
    "libraries": STRING_MAP,  # {package: version}
    "environment": pa.string(),  # JSON: backend extras (device properties, NVML at start, ...)
    "worker": pa.string(),  # where the point ran: 'local', or the worker's name/address
    # point
    "point_key": pa.string(),
    "shape": pa.string(),  # "1x3x3x3"
    "dims": pa.list_(pa.int64()),  # [1, 3, 3, 3]
    "numel": pa.int64(),
    "mode": pa.string(),  # uniform | channel | elementwise
    "precision": pa.string(),  # fp32 | fp16 | bf16 | int8
    "channel_axis": pa.string(),  # label: "default" or the integer as written ("-1")
    "channel_axis_arg": pa.int32(),  # the integer given to add_scale_nd; null for 'default' (add_scale)
    "resolved_axis": pa.int32(),  # the non-negative axis the op uses; null for UNIFORM or out of range
    "workload": pa.string(),  # the point's canonical JSON (what point_key hashes)
    # outcome
    "status": pa.string(),
    "error": pa.string(),
    "error_origin": pa.string(),  # see ERROR_ORIGINS
    "attempts": pa.int32(),  # times the point was started (2: retried once after its worker died)
    # timing (raw samples first; every statistic is derived from them)
    "samples_us": pa.list_(pa.float64()),
    "round_sizes": pa.list_(pa.int64()),  # samples_us cut into interleaved rounds, in order ([n]: one round)
    "median_us": pa.float64(),
    "mean_us": pa.float64(),
    "min_us": pa.float64(),
    "p90_us": pa.float64(),
    "p99_us": pa.float64(),
    "cv": pa.float64(),
    "noise": pa.float64(),  # MAD / median of samples_us
    "n_samples": pa.int64(),
    "unit": pa.string(),  # what samples_us count: 'us/call'
    "timing_method": pa.string(),  # graph (device time) | events (with launch overhead) | host
    "batch": pa.int64(),  # calls per sample
    "l2_flush": pa.bool_(),  # cold: L2 flushed before each sample
    "l2_mode": pa.string(),  # warm (one buffer set) | rotated (copies past twice the L2) | flushed
    "buffer_sets": pa.int64(),  # copies of the point's buffers its calls cycled over (1: one set)
    "noise_target_met": pa.bool_(),  # sampling stopped with noise <= target_noise
    "stop_reason": pa.string(),  # see STOP_REASONS
    "hit_time_cap": pa.bool_(),  # stopped at max_time_s with the noise target unmet
    "fallback_reason": pa.string(),
    "enqueue_us": pa.float64(),
    "enqueue_bound": pa.bool_(),
    "throttled_samples": pa.int64(),
    "clocks": CLOCKS,  # NVML before and after the measurement
    "warnings": pa.list_(pa.string()),
    "timing_settings": TIMING_SETTINGS,
    "phase_s": PHASE_S,  # wall seconds this point spent making data, building, in the reference, ...
    # throughput
    "bytes_moved": pa.int64(),  # fewest bytes a call moves: input read + output written + weights read once
    "gbps": pa.float64(),  # bytes_moved / median, GB/s (1e9)
    "pct_of_memcpy": pa.float64(),  # gbps / gbps of this run's copy of the same tensor * 100 (bench.copy_yardstick)
    # correctness
    "max_abs_err": pa.float64(),
    "tolerance": pa.float64(),
    "correct": pa.bool_(),
    # build
    "build_s": pa.float64(),
    "engine_bytes": pa.int64(),
    "engine_cached": pa.bool_(),
    "builder_settings": pa.string(),  # JSON
    "layer_info": pa.string(),  # engine inspector JSON (TensorRT)
    "kernel_config": STRING_MAP,  # the cuda kernel's launch configuration and how it was chosen
    # resources
    "host_bytes_needed": pa.int64(),  # estimated host memory the point needs at its peak
    "device_bytes_needed": pa.int64(),  # estimated device memory
}

SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS.items()])

# The columns as earlier versions wrote them (bench.results.migrate brings them up to date):
# 3 added `l2_mode`, `buffer_sets` and timing_settings.rotate_buffers (rotated buffers).
_TIMING_SETTINGS_V2 = pa.struct([f for f in TIMING_SETTINGS if f.name != "rotate_buffers"])
COLUMNS_AT: dict[int, dict[str, pa.DataType]] = {
    2: {
        name: _TIMING_SETTINGS_V2 if name == "timing_settings" else dtype
        for name, dtype in COLUMNS.items()
        if name not in ("l2_mode", "buffer_sets")
    },
    SCHEMA_VERSION: COLUMNS,
}
