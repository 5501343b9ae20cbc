"""The harness's loop: planned points in, one row per point out, through an executor (nvbench's shape:
the points declare axes, the harness owns the loop).

The runner is the only writer of a run: every row an executor hands back goes to the journal before
the next is taken, and with `rounds` > 1 every finished round does too, so an interruption (kill -9,
Ctrl-C, a full disk, a lost GPU context) loses at most the work in flight, and `--resume` finishes the
rest. Where a point runs (this process, a worker per GPU, a Dask cluster) is the executor's business
(bench.execution); what a row means is bench.rows'.

Rounds (asv's interleaving, for machines whose speed drifts): round r of every point runs before round
r + 1 of any, each with 1/rounds of the point's budget; a point stops taking rounds once its rounds
have spent max_time_s, so the cap bounds a point's total time in every mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from bench import rows
from bench.backends.base import BackendInfo
from bench.execution.task import PointTask, RunSpec, TaskResult
from bench.planning import PlannedPoint
from bench.results.store import PointId, RunWriter


class Executor(Protocol):
    def start(self) -> dict[str, BackendInfo]: ...
    def map(self, tasks: Iterable[PointTask]) -> Iterator[TaskResult]: ...
    def close(self) -> None: ...


class ContextLost(RuntimeError):
    """A point left this process's CUDA context unusable; its row is in the journal, the rest must run
    in a new process (`--resume`, or `--isolate`, which replaces the worker and goes on)."""


@dataclass
class RunSummary:
    counts: Counter = field(default_factory=Counter)  # status -> points
    rows: list[dict] = field(default_factory=list)  # the rows finished by this invocation


ProgressFn = Callable[[dict], None]


def _order(planned: list[PlannedPoint]) -> list[tuple[int, PlannedPoint]]:
    """Plan positions, points of one shape and data recipe together (their input is made once)."""
    indexed = list(enumerate(planned))
    return sorted(indexed, key=lambda ip: (ip[1].point.numel, ip[1].point.shape, ip[1].point.data.kind, ip[0]))


def run(
    spec: RunSpec,
    planned: list[PlannedPoint],
    executor: Executor,
    writer: RunWriter,
    on_row: ProgressFn | None = None,
) -> RunSummary:
    """Run every planned point without a row in the writer's journal (and every missing round)."""
    summary = RunSummary()

    def record(row: dict) -> None:
        writer.append(row)
        summary.counts[row["status"]] += 1
        summary.rows.append(row)
        if on_row:
            on_row(row)

    def checked(results: Iterator[TaskResult]) -> Iterator[TaskResult]:
        for result in results:
            yield result
            if result.context_lost:
                raise ContextLost(
                    f"{result.task.point.label()} left the CUDA context unusable ({result.context_lost}); its row "
                    f"is recorded. The rest needs a new process: the same command with --resume {spec.run_id} "
                    "(or add --isolate, which replaces the worker and goes on)"
                )

    done = writer.finished()
    todo = [(i, pp) for i, pp in _order(planned) if (pp.point.key, pp.point.backend) not in done]
    rounds = max(1, spec.timing.rounds)
    if rounds == 1:
        tasks = [PointTask(i, pp.point, pp.skip_reason) for i, pp in todo]
        for result in checked(executor.map(tasks)):
            record(result.row)
        return summary

    parts: dict[PointId, dict[int, dict]] = {pid: dict(r) for pid, r in writer.rounds.items()}
    active = {(pp.point.key, pp.point.backend): (i, pp) for i, pp in todo}
    for r in range(rounds):
        tasks = []
        for pid, (i, pp) in active.items():
            done_rounds = parts.get(pid, {})
            if r in done_rounds or (done_rounds and _spent(done_rounds) >= spec.timing.max_time_s):
                continue  # done, or out of time: but every point gets its first round, so it has a row
            tasks.append(PointTask(i, pp.point, pp.skip_reason, round=r, rounds=rounds))
        for result in checked(executor.map(tasks)):
            row, pid = result.row, result.task.point_id
            if row["status"] != "ok":  # skipped, built, mismatch or failed: the point's final row
                record(row)
                active.pop(pid, None)
                continue
            writer.append_round(row, r)
            parts.setdefault(pid, {})[r] = row
    for pid in active:
        done_rounds = parts.get(pid, {})
        ordered = [done_rounds[k] for k in sorted(done_rounds)]
        record(rows.merge_rounds(ordered, spec.timing, rounds))
    return summary


def _spent(round_rows: dict[int, dict]) -> float:
    """Seconds a point's finished rounds spent timing (warm-up and sampling)."""
    return sum(((row.get("phase_s") or {}).get("timing") or 0.0) for row in round_rows.values())
