"""Arguments shared by `plan` and `run`: which points (sweep, axes, shard) and how to time them."""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench.backends import BACKEND_NAMES
from bench.backends.base import BackendOptions
from bench.errors import UserError
from bench.gpu import launch_sets
from bench.planning import PlannedPoint, expand, make_backends, parse_shard, plan, shard
from bench.sweepfile import Sweep, cli_sweep, load_sweep, parse_measure, with_cli_axes
from bench.timing.settings import TIMING_METHODS, TimingSettings

AXIS_FLAGS = {
    "shape": "input shape, dims joined by 'x' (e.g. 2x3x4x5)",
    "mode": "uniform, channel or elementwise",
    "precision": "fp32, fp16, bf16 or int8",
    "channel_axis": "'default' (add_scale's implicit axis, rank-3: 1 for NCHW) or an integer; negative counts from the end",
    "backend": ", ".join(BACKEND_NAMES),
}


# Columns that differ from point to point (what was measured, the point itself, free text): as --by they
# would make a side of every row (a 575 KB line of sides, a report with a file per point).
PER_POINT_COLUMNS = {
    "point_key", "workload", "shape", "dims", "numel", "error", "environment", "builder_settings", "layer_info",
    "n_samples", "batch", "bytes_moved", "engine_bytes", "throttled_samples", "host_bytes_needed",
    "device_bytes_needed",
}  # fmt: skip
SIDE_EXAMPLES = "gpu_name, backend_version, git_commit, run_id, l2_mode, timing_method"


def side_column(name: str) -> str:
    """`--by COLUMN` (compare, report): a results column a whole side shares (a GPU, a version, a commit, a
    run, how it was timed), checked before any file is read: text, an integer or a flag, not a measurement."""
    import pyarrow as pa

    from bench.results.schema import COLUMNS

    dtype = COLUMNS.get(name)
    if dtype is None:
        raise argparse.ArgumentTypeError(f"{name!r} is not a results column; name a side column, e.g. {SIDE_EXAMPLES}")
    scalar = pa.types.is_string(dtype) or pa.types.is_integer(dtype) or pa.types.is_boolean(dtype)
    if name in PER_POINT_COLUMNS or not scalar:
        raise argparse.ArgumentTypeError(
            f"{name} differs from point to point ({dtype}), so it cannot name a side; use a column a whole side "
            f"shares, e.g. {SIDE_EXAMPLES}"
        )
    return name


def add_point_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("points")
    g.add_argument("--sweep", metavar="NAME|PATH", help="bench/sweeps/NAME.toml, or any sweep file")
    for axis, text in AXIS_FLAGS.items():
        flag = "--" + axis.replace("_", "-")
        g.add_argument(flag, dest=axis, action="append", default=[], metavar="VALUE", help=f"{text} (repeatable)")
    g.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic shares of the points (1-based)")
    t = parser.add_argument_group("timing (override the sweep's [measure])")
    t.add_argument(
        "--method",
        choices=TIMING_METHODS,
        help="graph: device time from CUDA-graph replay; events: with launch overhead",
    )
    t.add_argument("--cold", action="store_true", default=None, help="flush the L2 cache before every sample")
    t.add_argument(
        "--warm-l2",
        dest="rotate_buffers",
        action="store_false",
        default=None,
        help="time every call on one set of buffers (L2-resident where they fit) instead of rotating copies "
        "past twice the L2 (the default)",
    )
    t.add_argument("--warmup", type=float, metavar="S", help="warm-up budget in seconds")
    t.add_argument("--min-time", type=float, metavar="S", help="sample at least this long (seconds)")
    t.add_argument("--max-time", type=float, metavar="S", help="time cap per point (seconds)")
    t.add_argument("--target-noise", type=float, metavar="F", help="stop at this MAD/median, e.g. 0.01")
    t.add_argument("--min-samples", type=int, metavar="N", help="take at least N samples")
    t.add_argument("--rounds", type=int, metavar="N", help="time all points in N interleaved rounds (shared CPUs)")
    b = parser.add_argument_group("backends")
    b.add_argument("--trt-api", choices=("v2", "v3"), help="TensorRT execute API (v2 only on TensorRT 8.x)")
    b.add_argument("--cache-dir", default=".cache/bench", help="engine and timing caches (default: %(default)s)")
    b.add_argument("--timing-cache", metavar="PATH",
                   help="TensorRT: share this timing cache file (imported before the first build, exported after each; "
                        "a file TensorRT refuses stops the run) instead of the one kept under --cache-dir")  # fmt: skip
    b.add_argument("--no-timing-cache", action="store_true",
                   help="TensorRT: no timing cache, every build times its tactics afresh")  # fmt: skip
    b.add_argument(
        "--kernel-config",
        metavar="K=V,...",
        help="cuda backend: pin the kernel's launch instead of tuning it per GPU, e.g. block=256,vpt=4,cache=streaming "
        "(keys variant, block, vpt, grid, cache; 'default': the built-in defaults, no tuning)",
    )
    b.add_argument(
        "--tuning-from",
        metavar="PATH",
        help="cuda backend: run the launches in PATH (a file `bench tuning export` wrote, or results files or "
        "folders: the launches they ran) where it has one for the point; tune the rest",
    )


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    overrides = {axis: getattr(args, axis) for axis in AXIS_FLAGS}
    sweep = with_cli_axes(load_sweep(args.sweep), overrides) if args.sweep else cli_sweep(overrides)
    measure_flags = {
        "method": args.method,
        "l2_flush": args.cold,
        "rotate_buffers": args.rotate_buffers,
        "warmup_s": args.warmup,
        "min_time_s": args.min_time,
        "max_time_s": args.max_time,
        "target_noise": args.target_noise,
        "min_samples": args.min_samples,
        "rounds": args.rounds,
    }
    given = {k: v for k, v in measure_flags.items() if v is not None}
    if given:
        sweep = replace(sweep, measure=parse_measure(given, sweep.measure, "command line"))
    return sweep


def backend_options(args: argparse.Namespace, timing: TimingSettings | None = None) -> BackendOptions:
    """The backends' options from the flags; ``timing``: the run's timing settings (the kernel's tuner
    times its candidates the same way)."""
    from pathlib import Path

    from bench.gpu.tuning import parse_kernel_config

    kernel_config = getattr(args, "kernel_config", None)
    parse_kernel_config(kernel_config)  # a bad value stops here, with exit 2, whichever backends run
    tuning_from = getattr(args, "tuning_from", None)
    if tuning_from is not None and kernel_config is not None:
        raise UserError("--tuning-from and --kernel-config both choose the kernel's launch: give one")
    return BackendOptions(
        build_only=bool(getattr(args, "build_only", False)),
        trt_api=args.trt_api,
        cache_dir=Path(args.cache_dir),
        kernel_config=kernel_config,
        launches=load_launches(tuning_from) if tuning_from is not None else None,
        timing=timing,
        timing_cache=timing_cache_option(args),
    )


def timing_cache_option(args: argparse.Namespace) -> str | None:
    from bench.backends.tensorrt.timing_cache import option_value

    return option_value(getattr(args, "timing_cache", None), bool(getattr(args, "no_timing_cache", False)))


def planned_points(args: argparse.Namespace) -> tuple[Sweep, list[PlannedPoint], dict, TimingSettings]:
    """Everything `plan` shows and `run` runs, validated before any work."""
    sweep = sweep_from_args(args)
    points = expand(sweep)
    if args.shard:
        points = shard(points, *parse_shard(args.shard))
    if not points:
        raise UserError("the sweep expands to no points")
    backends = make_backends({p.backend for p in points}, backend_options(args, sweep.measure))
    return sweep, plan(points, backends), backends, sweep.measure


@lru_cache(maxsize=8)
def launches_from_results(paths: tuple[str, ...]) -> launch_sets.LaunchSet:
    """The launches the cuda rows of these results ran (read once per process)."""
    from bench.results import load
    from bench.what_ran import json_field

    rows = load(list(paths))
    records: list[dict[str, Any]] = rows.to_dict("records")
    for row in records:
        row["kernel_generator"] = json_field(row.get("environment"), "kernel_generator")
    return launch_sets.from_rows(records, ", ".join(paths))


def load_launches(path: str) -> launch_sets.LaunchSet:
    """`--tuning-from PATH`: a launch set file (JSON), or results files or folders."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"--tuning-from {path}: no such file or folder")
    if p.suffix == ".json" and not p.is_dir():  # a FIFO or device is refused there, by name
        return launch_sets.read(p)
    return launches_from_results((str(p),))
