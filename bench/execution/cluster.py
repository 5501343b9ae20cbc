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
from dataclasses import dataclass, field, replace
from typing import Any

from bench import rows
from bench.backends import backend_class, create
from bench.backends.base import Backend, BackendInfo
from bench.env import code_digest
from bench.errors import UserError
from bench.execution import admission, affinity, on_worker
from bench.execution.admission import GPU_RESOURCE
from bench.execution.exits import Exit, exit_from_logs
from bench.execution.sources import Source
from bench.execution.task import PointTask, RunSpec, TaskResult

POLL_S = 0.1  # how often the worker list is read and the clock checked while points run
EXIT_WAIT_S = 3.0  # how long to wait for a dead worker's nanny to report its exit
STALL_S = 120.0  # no usable worker for this long, with points left: stop (finish with --resume)
FETCH_TIMEOUT_S = 10.0  # a result not fetched in this long from a worker that was there went with it
HELLO_TIMEOUT_S = 300.0  # a worker starting its backends (CUDA, TensorRT) at the start of a run
KILL_WAIT_S = 30.0  # a worker told to stop that is still there after this is given up on
HELLO_DEATHS = 3  # a nanny whose workers die this often while starting is not used again
DEPTH = 1  # points sent to a worker at once: see _assign
AHEAD_ENV = "BENCH_AHEAD"  # '0': workers make no data ahead (for comparing timings with and without)


@dataclass
class _Sent:
    """A point sent to a worker: queued there, running, or finished with its result not yet fetched."""

    task: PointTask
    future: Any
    started: float | None = None  # when it became the worker's running point, as seen from here
    finished: bool = False  # Dask said it finished (its result may still die with the worker before it is fetched)
    unfetched_since: float | None = None  # when fetching its result failed


@dataclass
class _Worker:
    """The client's view of one worker process."""

    address: str
    nanny: str | None
    request: dict[str, float]  # resources each of its tasks holds
    state: str = "hello"  # hello | ready | stopping | gone | refused
    facts: dict = field(default_factory=dict)
    hello: Any = None  # the future of its hello
    sent: list[_Sent] = field(default_factory=list)  # in the order sent; the first runs, the next waits
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


def _stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


async def _nanny_logs(client: Any, nanny: str) -> list:
    return await client.rpc(nanny).get_logs(n=500)


class ClusterExecutor:
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
        self.workers: dict[str, _Worker] = {}
        self.models: set[str | None] | None = None  # the GPU models this run uses (None: any, --mixed-gpus)
        self.gpu_run = any(not backend_class(b).times_on_host for b in spec.backends)
        self.ahead = os.environ.get(AHEAD_ENV, "1") != "0"
        self.digest = code_digest()
        self.home: dict[tuple[str, str], str] = {}  # point -> the GPU its first round ran on
        self.first_try: dict[tuple[str, str], str] = {}  # point -> how its first attempt's worker died
        self._events: queue.Queue = queue.Queue()  # (future, status) as futures end
        self._removed: queue.Queue = queue.Queue()  # addresses of workers the scheduler removed
        self._by_key: dict[str, _Worker] = {}
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

    def _await_hellos(self, greeted: list[_Worker]) -> list[_Worker]:
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
        w = _Worker(address, nanny, request)
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

    def _forget_futures(self, w: _Worker) -> list[_Sent]:
        sent, w.sent = w.sent, []
        for future in [w.hello, *(s.future for s in sent)]:
            if future is not None:
                self._by_key.pop(future.key, None)
                future.cancel()
        w.hello = None
        return sent

    def _gone(self, w: _Worker, results: list[TaskResult], pending: deque, retry: deque) -> None:
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

    def _died_running(self, w: _Worker, task: PointTask, results: list[TaskResult], retry: deque) -> None:
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

    def _exit_of(self, w: _Worker) -> Exit:
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

    def _stop(self, w: _Worker, why: str) -> None:
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
    def _greeted(self, w: _Worker, facts: dict) -> None:
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

    # -- handing out points ------------------------------------------------------------------------
    def _key(self, what: str) -> str:
        """A task key no other submission shares: Dask takes two submissions of one key for one task, so keys
        carry the run and this client (two clients of one cluster, a run and its --resume)."""
        return f"bench-{self.spec.run_id}-{self._token}-{what}-{next(self._keys)}"

    def _submit(self, w: _Worker, fn: Callable, *args: Any, key: str) -> Any:
        future = self.client.submit(
            fn, *args, key=key, workers=[w.address], allow_other_workers=False, resources=w.request or None, pure=False
        )
        self._by_key[future.key] = w
        # the status as it was when the future finished: if the worker dies before the result is fetched, Dask
        # turns a finished task back into a pending one, and only this says that the point did run to its end
        future.add_done_callback(lambda f: self._events.put((f, f.status)))
        return future

    def _may_run(self, task: PointTask, w: _Worker) -> bool:
        """A point's later rounds stay on the GPU of its first round while a worker on that GPU is around."""
        home = self.home.get(task.point_id)
        if home is None or home == w.gpu_key:
            return True
        return not any(v.gpu_key == home and v.state in ("hello", "ready", "stopping") for v in self.workers.values())

    def _take(self, w: _Worker, pending: deque) -> PointTask | None:
        for task in pending:
            if self._may_run(task, w):
                pending.remove(task)
                return task
        return None

    def _next_for(self, w: _Worker, pending: deque, retry: deque) -> PointTask | None:
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
                w.sent.append(_Sent(task, future, time.monotonic() if not w.sent else None))
                w.points += 1

    def _worth_ahead(self, w: _Worker, pending: deque) -> bool:
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

    def _finished(self, w: _Worker, result: TaskResult) -> TaskResult:
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

    # -- rows made here ----------------------------------------------------------------------------
    def _timed_out(self, w: _Worker, task: PointTask) -> TaskResult:
        msg = (
            f"timed out: no result within --point-timeout {self.point_timeout_s:g} s on {w.label}; the point was "
            "stopped and its worker replaced"
        )
        return self._failed(w, task, msg, "timeout")

    def _failed(self, w: _Worker, task: PointTask, message: str, origin: str) -> TaskResult:
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
