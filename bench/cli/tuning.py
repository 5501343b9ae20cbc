"""The cuda kernel's launches: show the stored decisions, export them to carry elsewhere, scan every
candidate on every point.

  python -m bench tuning show [--cache-dir DIR] [--gpu NAME]
  python -m bench tuning export --out FILE (--results RESULTS... | --cache-dir DIR [--gpu NAME])
  python -m bench tuning scan --sweep default --out FILE.jsonl        (on a GPU)

`export` writes a launch set (bench.gpu.launch_sets): per point, the launch it ran (from results rows)
or was decided to run (from a tuning store). `python -m bench run --tuning-from FILE|RESULTS` then runs
those launches, so a comparison between this machine and the one that made them compares cards, not
the tuner's choices. `scan` times every candidate of each point's class on that point (the run's timing
method, rotated buffers) and writes one JSON line per point: what the tuner's choices are measured
against. To tune again, delete the GPU's folder under <cache-dir>/kernel-tuning/ or use another
--cache-dir.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.cli.common import launches_from_results
from bench.errors import UserError
from bench.gpu import launch_sets
from bench.gpu import tuning_store as store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="one line per stored decision")
    show.add_argument("--cache-dir", type=Path, default=Path(".cache/bench"))
    show.add_argument("--gpu", help="only decisions of GPUs whose name contains this")
    export = sub.add_parser("export", help="write a launch set for --tuning-from")
    export.add_argument("--out", type=Path, required=True, metavar="FILE")
    export.add_argument("--results", nargs="+", metavar="PATH", help="results files or folders: the launches they ran")
    export.add_argument("--cache-dir", type=Path, default=Path(".cache/bench"))
    export.add_argument("--gpu", help="only decisions of GPUs whose name contains this")
    from bench.cli.common import add_point_arguments

    scan = sub.add_parser("scan", help="time every candidate on every cuda point (a GPU)")
    add_point_arguments(scan)
    scan.add_argument("--out", type=Path, required=True, metavar="FILE")


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        records = _records(args.cache_dir, args.gpu)
        if not records:
            raise UserError(f"no tuning records under {args.cache_dir / 'kernel-tuning'}")
        for _, record in records:
            print(store.describe(record, "cached"))
        return 0
    if args.action == "export":
        launches = launches_from_results(tuple(args.results)) if args.results else _from_store(args)
        launches.write(args.out)
        print(f"{len(launches.launches)} launches ({launches.gpu_name}, generator {launches.generator}) -> {args.out}")
        return 0
    return _scan(args)


def _records(cache_dir: Path, gpu: str | None) -> list[tuple[Path, store.TuningRecord]]:
    found = store.all_records(cache_dir)
    return [(p, r) for p, r in found if gpu is None or gpu.lower() in str(r.gpu.get("name", "")).lower()]


def _from_store(args: argparse.Namespace) -> launch_sets.LaunchSet:
    points = [r for _, r in _records(args.cache_dir, args.gpu) if r.point_key is not None]
    if not points:
        raise UserError(f"no point decisions under {args.cache_dir / 'kernel-tuning'}; run the cuda backend first")
    kinds = {(r.gpu.get("name"), r.generator, r.timing) for r in points}
    if len(kinds) > 1:
        listed = "; ".join(f"{n}, generator {g}, {t}" for n, g, t in sorted(kinds, key=str))
        raise UserError(
            f"the store holds decisions for several GPUs, generators or timings ({listed}); narrow with --gpu"
        )
    (name, generator, timing) = kinds.pop()
    return launch_sets.LaunchSet(
        gpu_name=name,
        generator=generator,
        timing=timing,
        launches={r.point_key: r.chosen for r in sorted(points, key=lambda r: str(r.point_key))},
        origin=str(args.cache_dir),
        drivers=tuple(sorted({r.driver for r in points})),
    )


def _scan(args: argparse.Namespace) -> int:
    """Every candidate of each cuda point's class timed on that point, two interleaved rounds."""
    from dataclasses import replace

    from bench.backends.cuda_backend import CudaBackend
    from bench.backends.kernel_tuner import _candidates, time_launches
    from bench.cli.common import backend_options, planned_points
    from bench.gpu import tuning
    from bench.problem import make_problem

    _sweep, planned, _backends, timing = planned_points(args)
    points = [pp.point for pp in planned if pp.runs and pp.point.backend == "cuda"]
    if not points:
        raise UserError("the sweep plans no cuda point to scan: add --backend cuda")
    backend = CudaBackend(replace(backend_options(args), kernel_config="default", timing=timing))
    try:  # before any GPU work: a scan that cannot be kept is not started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise UserError(
            f"tuning scan --out {args.out}: cannot write it ({exc.strerror or exc}); give a writable file"
        ) from None
    try:
        backend.info()
    except Exception as exc:  # no GPU, no driver, no cuda-python: one line, like `run`
        out.close()
        args.out.unlink(missing_ok=True)
        raise UserError(f"tuning scan needs an NVIDIA GPU and its CUDA driver: {type(exc).__name__}: {exc}") from exc
    with out:
        for n, point in enumerate(points, 1):
            with backend.prepare(point, make_problem(point)) as prepared:
                size = tuning.size_class(point.numel, point.tensor_bytes, prepared.device.l2_bytes)
                vector = prepared.layouts["vector"]
                configs = tuning.candidates(vector, size, prepared.layouts.get("direct"))
                cands = _candidates(configs, time_launches(prepared, configs, 2, timing), 2)
                runs_as = [prepared.effective(c).as_dict() for c in configs]  # what a row records
                line = {
                    "point_key": point.key,
                    "label": point.label(),
                    "tuning_key": tuning.tuning_key(vector, size, prepared.problem.power_is_one),
                    "gpu_name": prepared.device.name,
                    "gpu_uuid": prepared.device.uuid,
                    "timing": f"{timing.method}-{timing.l2_mode}",
                    "candidates": [{**vars(c), "effective": e} for c, e in zip(cands, runs_as, strict=True)],
                }
            out.write(json.dumps(line) + "\n")
            out.flush()
            print(f"[{n}/{len(points)}] {point.label()}: {len(configs)} candidates", file=sys.stderr, flush=True)
    return 0
