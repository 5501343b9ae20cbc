"""Points on Dask workers, one GPU each, with crash isolation: the executor behind --gpus, --scheduler and
--isolate.

The client (this process, the runner's) decides which worker runs which point and sends each worker one
point at a time, pinned to it (``workers=[address]``, ``allow_other_workers=False``) and holding its
``GPU`` resource, so no two points ever time on one GPU, also beside other clients of a shared cluster.
The scheduler only carries the points; results come back here, where the runner is the only writer of
the journal and the run file. Deciding here, rather than in the scheduler, is what lets the executor:

- see a worker die with a point in flight (the worker leaves the scheduler's list), learn how it died
  from its nanny (bench.execution.exits), and run the point once more on a fresh worker (the nanny's
  replacement, or another worker that has run nothing yet) before recording it as `failed` with
  `error_origin` 'worker' and `attempts` 2;
- stop a point that outlives --point-timeout (the nanny kills its worker and starts a fresh one) and
  record it as `failed`, `error_origin` 'timeout';
- replace a worker whose CUDA context a point left unusable before it runs anything else;
- tell each worker which point comes next, so it makes that point's data while it times this one
  (bench.execution.ahead), and keep the rounds of a point on one GPU;
- use only workers whose GPU model is the run's, whose code is the client's, and that own their GPU.

New workers (a replacement, or one added to the cluster) are greeted (`on_worker.hello`) and used once
they pass the same checks.

This module holds the start, the loop and its clocks; workers joining, leaving and being stopped are
`cluster_workers.WorkerMembership`'s, and handing out points and taking their answers is
`cluster_dispatch.PointDispatch`'s (the executor is both; all state is the executor's).
"""

from __future__ import annotations

import itertools
import os
import queue
import secrets
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bench.backends import backend_class
from bench.backends.base import Backend, BackendInfo
from bench.env import code_digest
from bench.errors import UserError
from bench.execution import admission, on_worker
from bench.execution.admission import GPU_RESOURCE
from bench.execution.cluster_dispatch import PointDispatch
from bench.execution.cluster_workers import WorkerMembership, WorkerView
from bench.execution.sources import Source
from bench.execution.task import PointTask, RunSpec, TaskResult

POLL_S = 0.1  # how often the worker list is read and the clock checked while points run
STALL_S = 120.0  # no usable worker for this long, with points left: stop (finish with --resume)
HELLO_TIMEOUT_S = 300.0  # a worker starting its backends (CUDA, TensorRT) at the start of a run
KILL_WAIT_S = 30.0  # a worker told to stop that is still there after this is given up on
AHEAD_ENV = "BENCH_AHEAD"  # '0': workers make no data ahead (for comparing timings with and without)


def _stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


class ClusterExecutor(WorkerMembership, PointDispatch):
    """Runs tasks on Dask workers (see the module docstring)."""

    def __init__(
        self,
        spec: RunSpec,
        source: Source,
        *,
        point_timeout_s: float | None = None,
        gpu_model: str | None = None,
        mixed_gpus: bool = False,
        notice: Callable[[str], None] = _stderr,
    ) -> None:
        self.spec = spec
        self.source = source
        self.point_timeout_s = point_timeout_s
        self.gpu_model = gpu_model
        self.mixed_gpus = mixed_gpus
        self.notice = notice
        self.client: Any = None
        self.workers: dict[str, WorkerView] = {}
        self.models: set[str | None] | None = None  # the GPU models this run uses (None: any, --mixed-gpus)
        self.gpu_run = any(not backend_class(b).times_on_host for b in spec.backends)
        self.ahead = os.environ.get(AHEAD_ENV, "1") != "0"
        self.digest = code_digest()
        self.home: dict[tuple[str, str], str] = {}  # point -> the GPU its first round ran on
        self.first_try: dict[tuple[str, str], str] = {}  # point -> how its first attempt's worker died
        self._events: queue.Queue = queue.Queue()  # (future, status) as futures end
        self._removed: queue.Queue = queue.Queue()  # addresses of workers the scheduler removed
        self._by_key: dict[str, WorkerView] = {}
        self._keys = itertools.count()
        self._token = secrets.token_hex(4)
        self._hello_deaths: Counter = Counter()
        self._shunned: set[str] = set()  # nannies whose workers are not used again
        self._witnessed: set[str] = set()  # nannies told to keep their worker's exit in their log
        self._backends: dict[str, Backend] = {}
        self._last_usable = time.monotonic()

    # -- start and close ----------------------------------------------------------------------------
    def start(self) -> dict[str, BackendInfo]:
        """Connect, greet every eligible worker, check them, and choose the ones this run uses."""
        self.client = self.source.start()
        self.client.subscribe_topic("all", self._on_cluster_event)
        for address, winfo in self._scheduler_workers().items():
            self._join(address, winfo)
        greeted = list(self.workers.values())
        if not greeted:
            need = f" offering the resource {GPU_RESOURCE}" if self.gpu_run else ""
            raise UserError(
                f"{self.source.where} has no worker{need}: start one worker per GPU, e.g. "
                f"`CUDA_VISIBLE_DEVICES=0 dask worker {getattr(self.source, 'address', 'tcp://HOST:PORT')} "
                f"--nthreads 1 --resources {GPU_RESOURCE}=1`"
            )
        greeted = self._await_hellos(greeted)
        for w in greeted:
            why = admission.unfit(w.facts, self.digest)
            if why:
                raise UserError(f"worker {w.address} on {w.facts.get('host')}: {why}")
        self.models = admission.choose_models(
            [w.facts.get("gpu_name") for w in greeted], self.gpu_model, self.mixed_gpus
        )
        for w in greeted:
            w.state = "ready" if admission.fits_model(w.facts, self.models) else "refused"
        shared = admission.shared_gpu({w.address: w.facts for w in greeted if w.state == "ready"})
        if shared:
            raise UserError(shared)
        infos: dict[str, BackendInfo] = {}
        for w in greeted:
            if w.state == "ready":
                for name, bi in w.facts["infos"].items():
                    infos.setdefault(name, bi)
        return infos

    def _await_hellos(self, greeted: list[WorkerView]) -> list[WorkerView]:
        """The workers that answered their hello; one that died meanwhile is left to its nanny (its replacement
        is greeted during the run). None answering is the user's to fix, with what is known of why."""
        waiting, answered, died = list(greeted), [], []
        deadline = time.monotonic() + HELLO_TIMEOUT_S
        while waiting:
            alive = self._scheduler_workers()
            for w in list(waiting):
                if w.hello.status in ("finished", "error"):
                    self._by_key.pop(w.hello.key, None)
                    w.facts, w.hello = w.hello.result(), None  # an error raised here is a harness bug
                    answered.append(w)
                elif w.address not in alive:
                    self._forget_futures(w)
                    w.state = "gone"
                    died.append(f"{w.address}: {self._exit_of(w).describe()}")
                else:
                    continue
                waiting.remove(w)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(w.address for w in waiting)
                raise UserError(f"worker(s) {names} did not start the run's backends within {HELLO_TIMEOUT_S:g} s")
            if waiting:
                time.sleep(POLL_S)
        if not answered:
            raise UserError(f"every worker of {self.source.where} died while starting the run: {'; '.join(died)}")
        return answered

    def close(self) -> None:
        client, self.client = self.client, None
        try:
            if client is not None:
                # the scheduler would send the client's own removal to this topic over the closing connection
                # (a CommClosedError traceback at the end of every run, from the scheduler of --gpus/--isolate)
                client.unsubscribe_topic("all")
                if self.source.outlives_run:  # its workers live on: release the run's GPU state
                    live = [w.address for w in self.workers.values() if w.state == "ready"]
                    if live:
                        client.run(on_worker.forget, self.spec.run_id, workers=live, on_error="ignore")
                client.close()
        finally:
            self.source.close()

    # -- the loop ----------------------------------------------------------------------------------
    def map(self, tasks: Iterable[PointTask]) -> Iterator[TaskResult]:
        pending: deque[PointTask] = deque(tasks)
        retry: deque[PointTask] = deque()
        left = len(pending)
        last_read = 0.0
        self._last_usable = time.monotonic()
        while left:
            results: list[TaskResult] = []
            self._assign(pending, retry)
            events = self._wait_for_events()
            for future, status in events:  # first note what finished: a worker that died since took no result
                self._note_finished(future, status)  # with it that it had finished computing
            if events or time.monotonic() - last_read >= POLL_S:
                self._read_workers(results, pending, retry)  # a result is fetched only from a worker still there
                last_read = time.monotonic()
            for future, status in events:
                self._on_done(future, status, results, pending)
            self._check_clock(results, pending, retry)
            for result in results:
                left -= 1
                yield result
            self._check_stalled(left)

    def _wait_for_events(self) -> list[tuple[Any, str]]:
        """The futures that ended since the last call (waits up to POLL_S for the first)."""
        try:
            events = [self._events.get(timeout=POLL_S)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    # -- time limits -------------------------------------------------------------------------------
    def _check_clock(self, results: list[TaskResult], pending: deque, retry: deque) -> None:
        now = time.monotonic()
        for w in list(self.workers.values()):
            running = next((s for s in w.sent if not s.finished), None)
            late = (
                running is not None
                and running.started is not None
                and now - running.started > (self.point_timeout_s or 0)
            )
            head = w.sent[0] if w.sent else None
            lost = head is not None and head.unfetched_since is not None and now - head.unfetched_since > KILL_WAIT_S
            if w.state == "ready" and self.point_timeout_s and late:
                self._stop(w, "timeout")
            elif w.state == "ready" and lost:  # a result that never comes from a worker that stays: start afresh
                self._stop(w, "lost")
            elif w.state == "stopping" and now - w.stop_asked > KILL_WAIT_S:
                self.notice(f"worker {w.address} did not stop within {KILL_WAIT_S:g} s; not used again")
                self._gone(w, results, pending, retry)
        if any(w.state == "ready" for w in self.workers.values()):
            self._last_usable = now

    def _check_stalled(self, left: int) -> None:
        if left and time.monotonic() - self._last_usable > STALL_S:
            states = Counter(w.state for w in self.workers.values())
            seen = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"
            raise UserError(
                f"no usable worker on {self.source.where} for {STALL_S:g} s with {left} point(s) left (workers seen: "
                f"{seen}); the finished points are in the journal: start workers, then finish with --resume "
                f"{self.spec.run_id}"
            )
