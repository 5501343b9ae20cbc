"""Show the points a run would do: how many, which are skipped and why, and an estimated time."""

from __future__ import annotations

import argparse
from collections import Counter

from rich.table import Table

from bench import resources
from bench.cli.common import add_point_arguments, planned_points
from bench.cli.console import console, say
from bench.planning import estimate_seconds, host_shortfall


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    parser.add_argument("--list", action="store_true", help="list every point, not only the counts")


def run(args: argparse.Namespace) -> int:
    sweep, planned, _backends, timing = planned_points(args)
    runs = [pp for pp in planned if pp.runs]
    too_big = {id(pp): why for pp in runs if (why := host_shortfall(pp.point))}
    say(f"sweep {sweep.name} ({sweep.source}): {len(planned)} points, {len(runs)} to run, "
                  f"{len(planned) - len(runs)} skipped")  # fmt: skip
    if too_big:
        example = next(pp for pp in runs if id(pp) in too_big)
        say(f"  of those to run, {len(too_big)} would be skipped here for host memory (e.g. "
                      f"{example.point.label()}: {too_big[id(example)]}); the estimate leaves them out")  # fmt: skip
    fitting = [pp for pp in planned if id(pp) not in too_big]
    per_backend = Counter(pp.point.backend for pp in runs)
    for backend, n in sorted(per_backend.items()):
        say(f"  {backend}: {n} points")
    reasons = Counter((pp.point.backend, pp.skip_reason) for pp in planned if not pp.runs)
    if reasons:
        table = Table(title="skipped")
        table.add_column("backend")
        table.add_column("points", justify="right")
        table.add_column("reason", overflow="fold")
        for (backend, reason), n in reasons.most_common():
            table.add_row(backend, str(n), reason)
        console.print(table)
    est = estimate_seconds(fitting, timing)
    big = max((pp for pp in runs), key=lambda pp: pp.point.numel, default=None)
    if big is not None:
        need = resources.host_bytes(big.point)
        say(f"largest point: {big.point.label()}, about {resources.gib(need)} of host memory"
                      + (f" ({resources.gib(resources.host_available() or 0)} available here)" if resources.host_available() else ""))  # fmt: skip
    say(f"estimated time: {est / 60:.1f} min ({timing.warmup_s:g} s warm-up and about "
                  f"{1.5 * timing.min_time_s:g} s of samples per point, up to {timing.max_time_s:g} s for noisy "
                  f"ones, plus making and checking the data)")  # fmt: skip
    if args.list:
        table = Table(title="points", collapse_padding=True)
        for col in ("key", "backend", "shape", "mode", "precision", "axis", "runs"):
            table.add_column(col, overflow="fold")
        for pp in planned:
            p = pp.point
            table.add_row(
                p.key, p.backend, p.shape_str, p.mode, p.precision, p.axis_label, "yes" if pp.runs else "skip"
            )
        console.print(table)
    return 0
