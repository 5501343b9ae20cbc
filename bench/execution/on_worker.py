"""What runs inside a Dask worker process (or its nanny) on behalf of bench.execution.cluster.

A worker process keeps one `AheadWorker` per run it serves (its backends started once, its device context
kept between points; two runs sharing a cluster take turns on its GPU, one point at a time). The client
calls, in this order: `hello` (start the run's worker and say what this process is: host, pid, GPU, code),
`run_point` for each point (and names the next point it will send, so its data is made meanwhile),
`forget` at the end. `kill_worker_process` runs in
the nanny, the worker's parent, to stop a worker that hangs or lost its CUDA context.

Everything here is picklable by reference (module-level functions), so the workers need this package
installed, as the client does; `hello` reports the code digest and the client refuses workers whose
code differs from its own.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Any

from bench.errors import UserError
from bench.execution import affinity
from bench.execution.ahead import AheadWorker
from bench.execution.task import PointTask, RunSpec, TaskResult

# The runs this process serves (run id -> its worker, oldest first), and the sticky CUDA error that ended
# this process's use of the GPU, if one did (the client then replaces the process).
_RUNS: dict[str, AheadWorker] = {}
_LOST: dict[str, str] = {}
RUNS_KEPT = 4  # a run whose client vanished without `forget` is closed once this many newer runs came
LOCAL_WORKER_ENV = "BENCH_LOCAL_WORKER"  # '1' in workers a run starts on its own host (bench.execution.local_cluster)


def _close(run_id: str) -> bool:
    worker = _RUNS.pop(run_id, None)
    if worker is not None:
        worker.close()
    return worker is not None


def _quiet_event_loop(cpus: tuple[int, ...]) -> None:
    """Keep the Dask worker's own thread (heartbeats, transfers) off the timing core, and stop its sampling
    profiler, which takes the GIL every 10 ms to read the stacks of running tasks (a timing loop among them)."""
    try:
        from distributed import get_worker

        w = get_worker()
    except Exception:  # not inside a Dask worker (a test calls hello directly)
        return

    def quiet() -> None:  # on the worker's event loop, its main thread
        affinity.pin(cpus)
        if os.environ.get(LOCAL_WORKER_ENV) == "1":  # started by the run, stopped by it: not by the terminal's Ctrl-C
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name in ("profile", "profile-cycle"):
            callback = w.periodic_callbacks.get(name)
            if callback is not None:
                callback.stop()

    w.loop.add_callback(quiet)


def hello(spec: RunSpec) -> dict[str, Any]:
    """Start this process's worker for ``spec`` (its backends, on its GPU) and describe the process.

    A backend that cannot start here comes back as ``error`` (the client names this worker and refuses
    it); it is not raised, so that one bad worker does not look like a harness bug."""
    known = _RUNS.get(spec.run_id)
    if known is not None and known.spec != spec:  # the same run resumed with other settings
        _close(spec.run_id)
    address = nanny = None
    try:
        from distributed import get_worker

        w = get_worker()
        address, nanny = w.address, w.nanny
    except Exception:
        pass
    share = affinity.this_workers_share()
    affinity.pin(share.cpus)
    _quiet_event_loop(share.data or share.cpus)
    facts: dict[str, Any] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "address": address,
        "nanny": nanny,
        "cpus": affinity.format_cpus(share.cpus),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    worker = _RUNS.get(spec.run_id)
    if worker is None:
        name = f"dask {address} pid {os.getpid()}" if address else f"pid {os.getpid()}"
        worker = AheadWorker(spec, share, name=name)
        try:
            worker.start()
        except UserError as exc:
            worker.close()
            return {**facts, "error": str(exc)}
        while len(_RUNS) >= RUNS_KEPT:
            _close(next(iter(_RUNS)))
        _RUNS[spec.run_id] = worker
    infos = worker.infos
    gpu = next((i for i in infos.values() if i.extra.get("gpu_uuid")), None)
    return {
        **facts,
        "infos": infos,
        "run_columns": worker.run_columns,
        "gpu_name": gpu.gpu_name if gpu else None,
        "gpu_uuid": gpu.extra.get("gpu_uuid") if gpu else None,
        "gpu_index": gpu.extra.get("gpu_index") if gpu else None,
    }


def run_point(run_id: str, task: PointTask, upcoming: PointTask | None = None) -> TaskResult:
    """Run one task; start making ``upcoming``'s data first, so it is ready when that point comes."""
    worker = _RUNS.get(run_id)
    if worker is None:
        raise RuntimeError(f"this worker process was not started for run {run_id} (hello first)")
    lost = _LOST.get("error")
    if lost:  # sent before the client learned of it: this process must not use the GPU again
        return TaskResult(task, {}, extra={"not_run": f"the worker's CUDA context is lost ({lost})"})
    worker.make_ahead(upcoming)
    result = worker.execute(task)
    if result.context_lost:
        _LOST["error"] = result.context_lost
    return result


def forget(run_id: str) -> bool:
    """Release the run's backends (device memory, contexts) when the run ends; the process stays."""
    return _close(run_id)


class _QuietBelow(logging.Filter):
    """Drops one logger's records below a level: what the terminal showed before `keep_exit_lines`."""

    def __init__(self, logger: str, level: int) -> None:
        super().__init__()
        self.logger, self.level = logger, level

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == self.logger and record.levelno < self.level)


def keep_exit_lines(dask_worker: Any = None) -> bool:
    """In the nanny: make sure it records how its worker process ends. The nanny logs that at INFO
    ("Worker process PID was killed by signal N") into its in-memory log, which bench.execution.exits
    reads; where Dask's logging is set quieter than INFO the line is never made. This lowers the nanny's
    logger to INFO and filters those extra records out of every other handler, so the terminal shows
    what it showed before."""
    log = logging.getLogger("distributed.nanny")
    level = log.getEffectiveLevel()
    if level <= logging.INFO:
        return True
    keep = getattr(dask_worker, "_deque_handler", None)
    node: logging.Logger | None = log
    while node is not None:
        for handler in node.handlers:
            if (
                handler is not keep
                and type(handler).__name__ != "DequeHandler"
                and not any(isinstance(f, _QuietBelow) for f in handler.filters)
            ):
                handler.addFilter(_QuietBelow(log.name, level))
        node = node.parent if node.propagate else None
    log.setLevel(logging.INFO)
    return True


def kill_worker_process(pid: int, dask_worker: Any = None) -> bool:
    """In the nanny: SIGKILL its worker process if it is still ``pid`` (never a replacement already
    started). The nanny then sees the exit and starts a fresh worker."""
    process = getattr(dask_worker, "process", None)
    if process is None or getattr(process, "pid", None) != pid:
        return False
    os.kill(pid, signal.SIGKILL)
    return True
