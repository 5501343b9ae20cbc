"""The default executor: this process runs every task, one after another."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bench.backends.base import Backend, BackendInfo
from bench.execution.task import PointTask, RunSpec, TaskResult
from bench.execution.worker import PointWorker


class InProcessExecutor:
    """Runs tasks in this process, in the order given."""

    def __init__(self, spec: RunSpec, backends: dict[str, Backend] | None = None) -> None:
        self.worker = PointWorker(spec, backends=backends)

    def start(self) -> dict[str, BackendInfo]:
        return self.worker.start()

    def map(self, tasks: Iterable[PointTask]) -> Iterator[TaskResult]:
        for task in tasks:
            yield self.worker.execute(task)

    def close(self) -> None:
        self.worker.close()
