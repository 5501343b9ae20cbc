"""What travels from the runner to a worker and back: plain, picklable records."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.backends.base import BackendOptions
from bench.point import Point
from bench.timing.settings import TimingSettings


@dataclass(frozen=True)
class RunSpec:
    """What every worker must know about the run it serves (sent once per worker)."""

    run_id: str
    sweep: str
    plan_id: str
    timing: TimingSettings
    build_only: bool
    options: BackendOptions
    backends: tuple[str, ...]  # the backends with points to run
    # where a point's input is made and its output judged: 'host' (NumPy, every backend) or 'device' (on
    # the GPU, for backends that can: bench.device_data); the numpy backend is always judged on the host
    verify: str = "host"


@dataclass(frozen=True)
class PointTask:
    """One point, or one round of a point timed in rounds."""

    index: int  # the point's position in the plan (results keep plan order)
    point: Point
    skip_reason: str | None = None
    round: int = 0
    rounds: int = 1
    attempt: int = 1

    @property
    def point_id(self) -> tuple[str, str]:
        return (self.point.key, self.point.backend)

    @property
    def last_round(self) -> bool:
        return self.round >= self.rounds - 1


@dataclass
class TaskResult:
    """A worker's answer: the row (final, or one round's), and whether the worker must be replaced."""

    task: PointTask
    row: dict
    context_lost: str | None = None  # the sticky CUDA error that left the worker unable to go on
    extra: dict = field(default_factory=dict)
