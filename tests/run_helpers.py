"""Running points through the real runner, executor and store from tests (no CLI, no subprocess)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from bench.backends.base import Backend, BackendOptions
from bench.execution.local import InProcessExecutor
from bench.execution.task import RunSpec
from bench.planning import PlannedPoint
from bench.results import RunWriter, load
from bench.runner import Executor, ProgressFn, RunSummary, run
from bench.timing.settings import TimingSettings

FAST = TimingSettings(warmup_s=0.001, min_samples=3, min_time_s=0.001, max_time_s=0.01)


def spec_for(
    planned: list[PlannedPoint], timing: TimingSettings = FAST, build_only: bool = False, run_id: str = "r"
) -> RunSpec:
    names = tuple(sorted({pp.point.backend for pp in planned}))
    return RunSpec(run_id, "test", "plan", timing, build_only, BackendOptions(build_only=build_only), names)


def run_planned(
    out: Path,
    planned: list[PlannedPoint],
    timing: TimingSettings = FAST,
    backends: dict[str, Backend] | None = None,
    build_only: bool = False,
    verify: str | None = None,
) -> tuple[pd.DataFrame, RunSummary]:
    """Run ``planned`` into a fresh run in ``out``; the finished run as a DataFrame, and the summary."""
    spec = spec_for(planned, timing, build_only)
    if verify is not None:
        spec = dataclasses.replace(spec, verify=verify)
    return run_through(InProcessExecutor(spec, backends=backends), spec, planned, out)


def run_through(
    executor: Executor, spec: RunSpec, planned: list[PlannedPoint], out: Path, on_row: ProgressFn | None = None
) -> tuple[pd.DataFrame, RunSummary]:
    """Start ``executor``, run ``planned`` through the runner into a fresh run in ``out``, close it."""
    try:
        executor.start()
        writer = RunWriter.start(out, spec.run_id, {"identity": {}})
        try:
            summary = run(spec, planned, executor, writer, on_row)
            path = writer.finalize((pp.point.key, pp.point.backend) for pp in planned)
        finally:
            writer.close()
    finally:
        executor.close()
    return load(path), summary
