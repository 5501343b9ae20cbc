"""Where points run. The runner (bench.runner) owns the one loop and is the only writer of results; an
executor takes its tasks and hands back one row per task, from wherever it ran them:

- `local.InProcessExecutor`: this process, one point after another (the default; needs nothing extra);
- the cluster executors (bench.execution.cluster): one worker process per GPU of this host, or the
  workers of an existing Dask cluster, with crash isolation.

Every executor runs a task through the same `worker.PointWorker`, so a row means the same thing
wherever it was made.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import UserError, missing_package

if TYPE_CHECKING:
    from bench.execution.task import RunSpec
    from bench.runner import Executor
    from bench.timing.settings import TimingSettings


@dataclass(frozen=True)
class Placement:
    """Where the user asked the points to run (the run command's --gpus / --scheduler / --isolate)."""

    gpus: str | None = None  # None: this process; "all" or "0,2,3": a worker per GPU of this host
    scheduler: str | None = None  # tcp://HOST:PORT of an existing Dask cluster
    isolate: bool = False  # one worker process on this host's GPU, replaced when a point kills it
    point_timeout_s: float | None = None  # a point running longer than this is killed and recorded (workers only)
    gpu_model: str | None = None  # only workers whose GPU name contains this (a cluster of several models)
    mixed_gpus: bool = False  # allow workers of several GPU models in one run

    @property
    def in_workers(self) -> bool:
        """Whether points run in worker processes (a time limit needs one: a hung point is killed there)."""
        return self.gpus is not None or self.scheduler is not None or self.isolate or self.point_timeout_s is not None


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """The run command's flags that make a Placement (read back by bench.cli.run.placement)."""
    g = parser.add_argument_group("where points run (all but the default need the cluster extra: dask, distributed)")
    g.add_argument(
        "--gpus",
        metavar="all|0,2,3",
        help="one worker process per GPU of this host (CUDA_VISIBLE_DEVICES), one point at a time each",
    )
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on an existing Dask cluster whose workers each own one GPU (resource GPU=1)",
    )
    g.add_argument(
        "--isolate",
        action="store_true",
        help="run points in a worker process that is replaced when a point kills it (this host's GPU)",
    )
    g.add_argument(
        "--point-timeout",
        type=float,
        metavar="S",
        help="a point without a result after S seconds is stopped and recorded as failed (implies --isolate)",
    )
    g.add_argument("--gpu-model", metavar="NAME", help="use only the workers whose GPU name contains NAME")
    g.add_argument("--mixed-gpus", action="store_true",
                   help="allow workers of several GPU models in one run (then compare by gpu_name)")  # fmt: skip


def executor_for(spec: RunSpec, placement: Placement) -> Executor:
    """The executor for ``placement``: this process unless workers were asked for. Dask is imported only
    then (the `cluster` extra); the in-process path needs none of it."""
    _check(placement, spec.timing)
    if not placement.in_workers:
        from bench.execution.local import InProcessExecutor

        return InProcessExecutor(spec)
    try:
        import distributed  # noqa: F401
    except ImportError:
        flag = (
            "--scheduler"
            if placement.scheduler is not None
            else "--gpus"
            if placement.gpus is not None
            else "--isolate"
        )
        raise missing_package("distributed", "cluster", f"no {flag}, to run in this process") from None
    from bench.execution import local_cluster
    from bench.execution.cluster import ClusterExecutor
    from bench.execution.sources import LocalSource, RemoteSource, Source

    if placement.scheduler is not None:
        source: Source = RemoteSource(placement.scheduler)
    elif placement.gpus is not None:
        source = LocalSource(local_cluster.gpu_slots(placement.gpus))
    else:
        source = LocalSource([local_cluster.isolated_slot()])
    return ClusterExecutor(
        spec,
        source,
        point_timeout_s=placement.point_timeout_s,
        gpu_model=placement.gpu_model,
        mixed_gpus=placement.mixed_gpus,
    )


def _check(placement: Placement, timing: TimingSettings) -> None:
    if placement.gpus is not None and placement.scheduler is not None:
        raise UserError(
            "--gpus and --scheduler: choose one (--gpus starts workers on this host, --scheduler uses a cluster's)"
        )
    if placement.scheduler is not None and (
        not placement.scheduler.strip() or any(c.isspace() for c in placement.scheduler)
    ):
        raise UserError(
            f"--scheduler {placement.scheduler!r}: expected the scheduler's address, e.g. tcp://10.0.0.5:8786"
        )
    t = placement.point_timeout_s
    if t is not None and not (math.isfinite(t) and t > 0):
        raise UserError(f"--point-timeout {t}: expected a positive number of seconds")
    if t is not None and t <= timing.max_time_s:  # it would stop healthy points, every one of them
        raise UserError(
            f"--point-timeout {t:g}: a point may time for up to max_time_s = {timing.max_time_s:g} s, besides making, "
            f"building and checking its data; give a limit well above that (e.g. --point-timeout "
            f"{max(60, 10 * timing.max_time_s):g})"
        )
    if (
        (placement.gpu_model is not None or placement.mixed_gpus)
        and placement.gpus is None
        and placement.scheduler is None
    ):
        flag = "--gpu-model" if placement.gpu_model is not None else "--mixed-gpus"
        raise UserError(f"{flag} chooses among the workers of --gpus or --scheduler; add one of them, or drop {flag}")
