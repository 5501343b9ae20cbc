"""The harness's own host-side costs, measured with pytest-benchmark (`nox -s perf`), never asserted
as timings in the normal test run."""

from __future__ import annotations

import itertools

import numpy as np

from bench.backends.base import BackendOptions
from bench.planning import expand, make_backends, plan
from bench.results import SCHEMA_VERSION, RunWriter
from bench.sweepfile import load_sweep


def test_expand_and_plan_the_default_sweep(benchmark):
    def go():
        sweep = load_sweep("default")
        points = expand(sweep)
        return plan(points, make_backends({p.backend for p in points}, BackendOptions()))

    planned = benchmark(go)
    assert len(planned) == 600


def _rows(n: int, samples: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {"run_id": "perf", "schema_version": SCHEMA_VERSION, "point_key": f"{i:016x}", "backend": "cuda",
         "status": "ok", "shape": "64x256x64x64", "numel": 67108864, "mode": "channel", "precision": "fp16",
         "channel_axis": "default", "samples_us": (100 + rng.standard_normal(samples)).tolist(),
         "median_us": 100.0, "bytes_moved": 268435456, "l2_flush": False}
        for i in range(n)
    ]  # fmt: skip


def test_journal_and_finalize_1000_points_of_200_samples(benchmark, tmp_path):
    rows = _rows(1000, 200)
    counter = itertools.count()

    def go():
        w = RunWriter(tmp_path, f"run{next(counter)}")
        for r in rows:
            w.append(r)
        return w.finalize()

    path = benchmark.pedantic(go, rounds=3, iterations=1)
    assert path.exists()
