"""Where points run. The runner (bench.runner) owns the one loop and is the only writer of results; an
executor takes its tasks and hands back one row per task, from wherever it ran them:

- `local.InProcessExecutor`: this process, one point after another (the default; needs nothing extra);
- the cluster executors (bench.execution.cluster): one worker process per GPU of this host, or the
  workers of an existing Dask cluster, with crash isolation.

Every executor runs a task through the same `worker.PointWorker`, so a row means the same thing
wherever it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.execution.task import RunSpec
    from bench.runner import Executor


@dataclass(frozen=True)
class Placement:
    """Where the user asked the points to run (the run command's --gpus / --scheduler / --isolate)."""

    gpus: str | None = None  # None: this process; "all" or "0,2,3": a worker per GPU of this host
    scheduler: str | None = None  # tcp://HOST:PORT of an existing Dask cluster
    isolate: bool = False  # one worker process on this host's GPU, replaced when a point kills it
    point_timeout_s: float | None = None  # a point running longer than this is killed and recorded (workers only)


def executor_for(spec: RunSpec, placement: Placement) -> Executor:
    """The executor for ``placement``; this process unless workers were asked for."""
    from bench.execution.local import InProcessExecutor

    return InProcessExecutor(spec)
