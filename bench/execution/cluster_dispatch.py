"""How the cluster executor hands out points and takes their answers: which worker runs which point
next (a point's rounds stay on one GPU; a retry goes to a fresh worker; the point after is announced so
its data is made ahead), submitting pinned tasks, and turning what comes back into results, including
the rows of points whose worker could not answer. Part of `bench.execution.cluster.ClusterExecutor`
(`PointDispatch`).
"""

from __future__ import annotations

import itertools
import queue
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench import rows
from bench.backends import backend_class, create
from bench.backends.base import Backend
from bench.execution import on_worker
from bench.execution.cluster_workers import SentPoint, WorkerView
from bench.execution.task import PointTask, RunSpec, TaskResult

FETCH_TIMEOUT_S = 10.0  # a result not fetched in this long from a worker that was there went with it
DEPTH = 1  # points sent to a worker at once: see _assign


class PointDispatch:
    """Assigning points to workers and handling their answers. State and the methods it uses from the
    other parts (`_greeted`, `_stop`) are `ClusterExecutor`'s."""

    spec: RunSpec
    client: Any
    notice: Callable[[str], None]
    point_timeout_s: float | None
    workers: dict[str, WorkerView]
    ahead: bool
    home: dict[tuple[str, str], str]
    first_try: dict[tuple[str, str], str]
    _events: queue.Queue
    _by_key: dict[str, WorkerView]
    _keys: itertools.count
    _token: str
    _backends: dict[str, Backend]

    # -- handing out points ------------------------------------------------------------------------
    def _key(self, what: str) -> str:
        """A task key no other submission shares: Dask takes two submissions of one key for one task, so keys
        carry the run and this client (two clients of one cluster, a run and its --resume)."""
        return f"bench-{self.spec.run_id}-{self._token}-{what}-{next(self._keys)}"

    def _submit(self, w: WorkerView, fn: Callable, *args: Any, key: str) -> Any:
        future = self.client.submit(
            fn, *args, key=key, workers=[w.address], allow_other_workers=False, resources=w.request or None, pure=False
        )
        self._by_key[future.key] = w
        # the status as it was when the future finished: if the worker dies before the result is fetched, Dask
        # turns a finished task back into a pending one, and only this says that the point did run to its end
        future.add_done_callback(lambda f: self._events.put((f, f.status)))
        return future

    def _may_run(self, task: PointTask, w: WorkerView) -> bool:
        """A point's later rounds stay on the GPU of its first round while a worker on that GPU is around."""
        home = self.home.get(task.point_id)
        if home is None or home == w.gpu_key:
            return True
        return not any(v.gpu_key == home and v.state in ("hello", "ready", "stopping") for v in self.workers.values())

    def _take(self, w: WorkerView, pending: deque) -> PointTask | None:
        for task in pending:
            if self._may_run(task, w):
                pending.remove(task)
                return task
        return None

    def _next_for(self, w: WorkerView, pending: deque, retry: deque) -> PointTask | None:
        """The point announced to ``w`` as its next; else a retry, for a worker that has run nothing yet (for
        any worker once no other point waits); else the next waiting point; else another worker's next."""
        if w.reserved is not None:
            task, w.reserved = w.reserved, None
            return task
        if retry and (w.points == 0 or not pending):
            return retry.popleft()
        task = self._take(w, pending)
        if task is None and not retry and not w.sent:
            for v in self.workers.values():
                if v.reserved is not None and self._may_run(v.reserved, w):
                    task, v.reserved = v.reserved, None
                    break
        return task

    def _assign(self, pending: deque, retry: deque) -> None:
        """Give every ready worker its next point, and tell it the point after that, whose data it makes
        meanwhile. One point at a time (DEPTH 1): a point queued behind another on a worker would start the
        moment the first ends, and if it crashed its worker within milliseconds, the first point's result,
        which stays on the worker until fetched, would go with it (seen on CPU with os.abort(): the finished
        point ran again and the fetch waited for it). A round trip per point costs less than that."""
        for w in list(self.workers.values()):
            while w.state == "ready" and len(w.sent) < DEPTH:
                task = self._next_for(w, pending, retry)
                if task is None:
                    break
                if w.reserved is None and self._worth_ahead(w, pending):
                    w.reserved = self._take(w, pending)
                key = self._key(f"point-{task.index}-r{task.round}-a{task.attempt}")
                future = self._submit(w, on_worker.run_point, self.spec.run_id, task, w.reserved, key=key)
                w.sent.append(SentPoint(task, future, time.monotonic() if not w.sent else None))
                w.points += 1

    def _worth_ahead(self, w: WorkerView, pending: deque) -> bool:
        return bool(
            self.ahead and pending and w.can_work_ahead and not backend_class(pending[0].point.backend).times_on_host
        )

    # -- answers -----------------------------------------------------------------------------------
    def _note_finished(self, future: Any, status: str) -> None:
        """A point that finished is marked so, and the point queued behind it on its worker starts its clock."""
        w = self._by_key.get(future.key)
        if w is None or status != "finished":
            return
        for i, sent in enumerate(w.sent):
            if sent.future is future:
                sent.finished = True
                if i + 1 < len(w.sent) and w.sent[i + 1].started is None:
                    w.sent[i + 1].started = time.monotonic()

    def _on_done(self, future: Any, status: str, results: list[TaskResult], pending: deque) -> None:
        """Handle a future that ended with ``status``: a hello, or a point's result."""
        w = self._by_key.pop(future.key, None)
        if w is None:
            return  # given up on: its worker left, or the run stopped it
        if status == "cancelled":
            return
        sent = next((s for s in w.sent if s.future is future), None)
        if status == "error":
            from distributed import KilledWorker

            exc = future.exception()
            if isinstance(exc, KilledWorker):  # the scheduler's verdict on a dead worker: the list tells the rest
                self._by_key[future.key] = w
                return
            if w.hello is future:
                w.state, w.hello = "refused", None
                self.notice(f"worker {w.address} failed to start the run: {type(exc).__name__}: {exc}")
                return
            future.result()  # a harness bug on the worker: raised here with its traceback, as in-process
        try:
            value = future.result(timeout=FETCH_TIMEOUT_S)
        except Exception:  # its worker died just now, with the result: the next read of the list handles it
            self._by_key[future.key] = w
            if sent is not None:
                sent.unfetched_since = time.monotonic()
            return
        if w.hello is future:
            w.hello = None
            self._greeted(w, value)
            return
        if sent is None:
            return
        w.sent.remove(sent)
        if w.sent and w.sent[0].started is None:
            w.sent[0].started = time.monotonic()
        if value.extra.get("not_run"):  # sent before its worker lost its CUDA context: runs elsewhere
            pending.appendleft(sent.task)
            return
        results.append(self._finished(w, value))

    def _finished(self, w: WorkerView, result: TaskResult) -> TaskResult:
        task = result.task
        self.home.setdefault(task.point_id, w.gpu_key)
        first = self.first_try.pop(task.point_id, None)
        if first is not None and task.attempt > 1:
            result.row["warnings"] = [
                *(result.row.get("warnings") or []),
                f"attempt 1 ended when its worker died: {first}",
            ]
        if result.context_lost:  # handled here: the worker is replaced and the sweep goes on
            result.row["error"] = f"{result.row.get('error')}; the worker was replaced and the sweep went on"
            result.extra["context_lost"], result.context_lost = result.context_lost, None
            self._stop(w, "context")
        return result

    # -- rows made here ----------------------------------------------------------------------------
    def _timed_out(self, w: WorkerView, task: PointTask) -> TaskResult:
        msg = (
            f"timed out: no result within --point-timeout {self.point_timeout_s:g} s on {w.label}; the point was "
            "stopped and its worker replaced"
        )
        return self._failed(w, task, msg, "timeout")

    def _failed(self, w: WorkerView, task: PointTask, message: str, origin: str) -> TaskResult:
        """The row of a point whose worker could not answer: the worker's columns, the error, no figures."""
        name = task.point.backend
        if name not in self._backends:
            self._backends[name] = create(name, self.spec.options)
        run_columns = w.facts.get("run_columns") or {
            "run_id": self.spec.run_id,
            "sweep": self.spec.sweep,
            "plan_id": self.spec.plan_id,
        }
        info = (w.facts.get("infos") or {}).get(name)
        row = rows.base_row(
            run_columns, task.point, info, self._backends[name].bytes_moved(task.point), self.spec.timing
        )
        row["attempts"] = task.attempt
        return TaskResult(task, rows.finished(row, "failed", error=message, error_origin=origin))
