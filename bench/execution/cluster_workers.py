"""The cluster executor's view of its workers (`WorkerView`, `SentPoint`), and their comings and goings:
joining and greeting, the checks a worker that joins during a run passes, leaving (a point it was
running retried once on a fresh worker, or recorded as failed), learning how a worker died from its
nanny, and stopping a worker. Part of `bench.execution.cluster.ClusterExecutor` (`WorkerMembership`).
"""

from __future__ import annotations

import os
import queue
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench.errors import UserError
from bench.execution import admission, affinity, on_worker
from bench.execution.admission import GPU_RESOURCE
from bench.execution.exits import Exit, exit_from_logs
from bench.execution.sources import Source
from bench.execution.task import PointTask, RunSpec, TaskResult

EXIT_WAIT_S = 3.0  # how long to wait for a dead worker's nanny to report its exit
HELLO_DEATHS = 3  # a nanny whose workers die this often while starting is not used again


@dataclass
class SentPoint:
    """A point sent to a worker: queued there, running, or finished with its result not yet fetched."""

    task: PointTask
    future: Any
    started: float | None = None  # when it became the worker's running point, as seen from here
    finished: bool = False  # Dask said it finished (its result may still die with the worker before it is fetched)
    unfetched_since: float | None = None  # when fetching its result failed


@dataclass
class WorkerView:
    """The client's view of one worker process."""

    address: str
    nanny: str | None
    request: dict[str, float]  # resources each of its tasks holds
    state: str = "hello"  # hello | ready | stopping | gone | refused
    facts: dict = field(default_factory=dict)
    hello: Any = None  # the future of its hello
    sent: list[SentPoint] = field(default_factory=list)  # in the order sent; the first runs, the next waits
    reserved: PointTask | None = None  # announced to it as the point after its last one (data made ahead)
    points: int = 0  # points sent to this process since it started
    stopping: str | None = None  # why the client stops it: 'timeout' | 'context' | 'lost'
    stop_asked: float = 0.0

    @property
    def gpu_key(self) -> str:
        """The GPU this worker times on, the same for its replacement (the nanny's address for CPU workers)."""
        return self.facts.get("gpu_uuid") or self.nanny or self.address

    @property
    def label(self) -> str:
        f = self.facts
        gpu = f" GPU {f['gpu_index']}" if f.get("gpu_index") is not None else ""
        return f"{f.get('host', '?')}{gpu} (dask worker {self.address}, pid {f.get('pid', '?')})"

    @property
    def can_work_ahead(self) -> bool:
        return len(affinity.parse_cpus(self.facts.get("cpus") or "")) > 1


async def _nanny_logs(client: Any, nanny: str) -> list:
    return await client.rpc(nanny).get_logs(n=500)


class WorkerMembership:
    """Workers joining, passing their checks, leaving and being stopped. State and the methods it uses
    from the other parts (`_submit`, `_key`, `_timed_out`, `_failed`) are `ClusterExecutor`'s."""

    spec: RunSpec
    source: Source
    client: Any
    notice: Callable[[str], None]
    workers: dict[str, WorkerView]
    models: set[str | None] | None
    gpu_run: bool
    digest: str
    first_try: dict[tuple[str, str], str]
    _removed: queue.Queue
    _by_key: dict[str, WorkerView]
    _hello_deaths: Counter
    _shunned: set[str]
    _witnessed: set[str]

    # -- workers coming and going ------------------------------------------------------------------
    def _scheduler_workers(self) -> dict[str, dict]:
        try:
            return dict(self.client.scheduler_info()["workers"])
        except (OSError, TimeoutError) as exc:
            raise UserError(
                f"lost {self.source.where} ({type(exc).__name__}: {exc}); the finished points are in the journal: "
                f"finish with --resume {self.spec.run_id}"
            ) from None

    def _join(self, address: str, winfo: dict) -> None:
        """A worker the client has not seen: greet it if it may run this run's points."""
        nanny = winfo.get("nanny")
        resources = winfo.get("resources") or {}
        if nanny in self._shunned or (self.gpu_run and resources.get(GPU_RESOURCE, 0) < 1):
            return
        request = {GPU_RESOURCE: 1} if resources.get(GPU_RESOURCE, 0) >= 1 else {}
        w = WorkerView(address, nanny, request)
        self.workers[address] = w
        if nanny and nanny not in self._witnessed:  # so that it can tell how the worker ends
            self.client.run(on_worker.keep_exit_lines, workers=[address], nanny=True, on_error="ignore")
            self._witnessed.add(nanny)
        w.hello = self._submit(w, on_worker.hello, self.spec, key=self._key("hello"))

    def _read_workers(self, results: list[TaskResult], pending: deque, retry: deque) -> None:
        """Workers that left (the scheduler's removals, then its list) and workers that came. A replacement
        may come back at its predecessor's address: the removal says that the one there is new."""
        while True:
            try:
                address = self._removed.get_nowait()
            except queue.Empty:
                break
            w = self.workers.get(address)
            if w is not None and w.state not in ("gone", "refused"):
                self._gone(w, results, pending, retry)
        info = self._scheduler_workers()
        for address, w in list(self.workers.items()):
            if w.state not in ("gone", "refused") and address not in info:
                self._gone(w, results, pending, retry)
        for address, winfo in info.items():
            if address not in self.workers or self.workers[address].state == "gone":
                self._join(address, winfo)

    def _on_cluster_event(self, event: tuple[float, dict]) -> None:
        """On the client's event loop: the scheduler's log of who left (read by the main loop)."""
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else {}
        if isinstance(msg, dict) and msg.get("action") == "remove-worker" and msg.get("worker"):
            self._removed.put(msg["worker"])

    def _forget_futures(self, w: WorkerView) -> list[SentPoint]:
        sent, w.sent = w.sent, []
        for future in [w.hello, *(s.future for s in sent)]:
            if future is not None:
                self._by_key.pop(future.key, None)
                future.cancel()
        w.hello = None
        return sent

    def _gone(self, w: WorkerView, results: list[TaskResult], pending: deque, retry: deque) -> None:
        """``w`` left: the point it was running is retried once on a fresh worker, or recorded; the points
        waiting on it, or finished there with their results lost, go back to the queue."""
        if w.state == "hello" and w.nanny:
            self._hello_deaths[w.nanny] += 1
            if self._hello_deaths[w.nanny] >= HELLO_DEATHS:
                self._shunned.add(w.nanny)
                self.notice(f"workers of the nanny {w.nanny} died {HELLO_DEATHS} times while starting; not used again")
        w.state = "gone"
        sent = self._forget_futures(w)
        back = [w.reserved] if w.reserved is not None else []
        w.reserved = None
        running = None
        for s in sent:
            if running is None and not s.finished and w.stopping in (None, "timeout"):
                running = s
            else:  # finished (its result went with the worker), or never started
                back.append(s.task)
        pending.extendleft(reversed(back))
        if running is not None:
            self._died_running(w, running.task, results, retry)
        elif w.stopping is None:
            self.notice(f"worker {w.label} left between points ({self._exit_of(w).describe()})")

    def _died_running(self, w: WorkerView, task: PointTask, results: list[TaskResult], retry: deque) -> None:
        if w.stopping == "timeout":
            results.append(self._timed_out(w, task))
            return
        how = f"{self._exit_of(w).describe()} on {w.label}"
        if task.attempt < 2:
            self.first_try[task.point_id] = how
            retry.append(replace(task, attempt=task.attempt + 1))
            self.notice(f"{task.point.label()}: its worker died ({how}); running it once more on a fresh worker")
            return
        first = self.first_try.pop(task.point_id, "unknown")
        msg = f"worker died: {how}, on attempt {task.attempt} (a fresh worker); on attempt 1 it died of {first}"
        results.append(self._failed(w, task, msg, "worker"))

    def _exit_of(self, w: WorkerView) -> Exit:
        """How ``w``'s process ended, as its nanny logged it (waits briefly for the nanny to notice)."""
        pid = w.facts.get("pid")
        if not w.nanny or pid is None:
            return Exit()
        deadline = time.monotonic() + EXIT_WAIT_S
        while True:
            try:
                logs = self.client.sync(_nanny_logs, self.client, w.nanny)
            except Exception:  # the nanny itself is gone or unreachable
                return Exit()
            found = exit_from_logs([str(entry[1]) for entry in logs], int(pid))
            if found is not None or time.monotonic() > deadline:
                return found or Exit()
            time.sleep(0.05)

    def _stop(self, w: WorkerView, why: str) -> None:
        """Have ``w``'s nanny kill it (a fresh worker takes its place); without a nanny it just ends."""
        if w.state == "stopping":
            return
        w.state, w.stopping, w.stop_asked = "stopping", why, time.monotonic()
        pid = w.facts.get("pid")
        if w.address not in self._scheduler_workers():
            return  # gone already: the next read of the worker list handles it
        try:
            if w.nanny and pid is not None:  # the nanny answers at once, whatever its worker is doing
                self.client.run(on_worker.kill_worker_process, pid, workers=[w.address], nanny=True)
            else:
                self.client.run(os._exit, 70, workers=[w.address], wait=False)
        except Exception as exc:
            self.notice(f"could not stop worker {w.address}: {type(exc).__name__}: {exc}")

    # -- checks on a greeted worker ----------------------------------------------------------------
    def _greeted(self, w: WorkerView, facts: dict) -> None:
        """A worker that joined during the run said hello: use it if it passes the start's checks."""
        w.facts = facts
        why = admission.unfit(facts, self.digest)
        if why is None and not admission.fits_model(facts, self.models):
            why = f"its GPU ({facts.get('gpu_name')}) is not this run's ({', '.join(sorted(map(str, self.models or ())))})"
        uuid = facts.get("gpu_uuid")
        if why is None and uuid:
            other = next((v for v in self.workers.values() if v is not w and v.state in ("ready", "stopping")
                          and v.facts.get("gpu_uuid") == uuid), None)  # fmt: skip
            if other is not None and other.state == "ready":
                why = f"its GPU {uuid} is already timed by worker {other.address}"
        if why:
            w.state = "refused"
            self.notice(f"worker {w.address} is not used: {why}")
        else:
            w.state = "ready"
