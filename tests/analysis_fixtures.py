"""Synthetic results runs for the analysis and report tests: schema columns, seeded samples.

Real runs need a GPU or minutes of CPU; these frames have the same columns as a results file (see
bench.results.schema) with samples drawn from a known distribution, so a test can inject a 10% slowdown
into exactly the points it names and check that the gate finds exactly those.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results.schema import COLUMNS, SCHEMA_VERSION
from bench.stats import rel_mad, summarize
from bench.timing.settings import l2_mode_of

ITEMSIZE = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}


@dataclass(frozen=True)
class SynthPoint:
    shape: tuple[int, ...]
    mode: str = "channel"
    precision: str = "fp32"
    channel_axis: str = "default"
    backend: str = "cuda"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def key(self) -> str:
        """Like bench.point: hashes the workload only, not the backend."""
        text = f"{self.shape}|{self.mode}|{self.precision}|{self.channel_axis}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def shape_str(self) -> str:
        return "x".join(str(d) for d in self.shape)


def grid(
    sizes: Iterable[int] = (1_000, 100_000, 10_000_000),
    modes: Iterable[str] = ("uniform", "channel", "elementwise"),
    precisions: Iterable[str] = ("fp32", "fp16"),
    backends: Iterable[str] = ("cuda",),
) -> list[SynthPoint]:
    """A small cartesian sweep of points, shapes 1 x 1 x 1 x n."""
    return [
        SynthPoint((1, 1, 1, n), m, p, "default", b) for b in backends for n in sizes for m in modes for p in precisions
    ]


def model_median_us(point: SynthPoint) -> float:
    """A plausible time: 5 us launch floor plus bytes over 2,000 GB/s (memcpy: 2,500 GB/s)."""
    bw = 2500.0 if point.backend == "memcpy" else 2000.0
    return 5.0 + 2 * point.numel * ITEMSIZE[point.precision] / (bw * 1e3)


def make_run(
    points: Iterable[SynthPoint],
    *,
    medians: Mapping[SynthPoint, float] | None = None,
    slowdown: Mapping[SynthPoint, float] | None = None,
    noise: float = 0.02,
    run_noise: float = 0.0,
    n_samples: int = 200,
    seed: int = 0,
    run_id: str = "run-a",
    gpu_name: str = "NVIDIA H100 80GB HBM3",
    timing_method: str = "graph",
    l2_flush: bool = False,
    l2_mode: str | None = None,
    backend_version: str = "12.6",
    timestamp: str = "2026-11-20T10:00:00+00:00",
    statuses: Mapping[SynthPoint, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One run as a results frame; samples ~ median * lognormal(0, noise), times `slowdown[point]`.

    `run_noise`: each point's median of this run is first moved by lognormal(0, run_noise), drawn from
    `seed`: the run-to-run variation real machines show (a run's state: clocks, caches, placement)."""
    rng = np.random.default_rng(seed)
    rows = []
    for point in points:
        status, error = (statuses or {}).get(point, ("ok", None))
        median = (medians or {}).get(point, model_median_us(point)) * (slowdown or {}).get(point, 1.0)
        median *= rng.lognormal(0.0, run_noise) if run_noise else 1.0
        row = {c: None for c in COLUMNS}
        bytes_moved = 2 * point.numel * ITEMSIZE[point.precision]
        row.update(
            run_id=run_id,
            schema_version=SCHEMA_VERSION,
            timestamp=timestamp,
            host="testhost",
            git_commit="abc1234",
            sweep="synthetic",
            gpu_name=gpu_name,
            compute_capability="9.0",
            driver_version="560.35",
            cuda_version="12.6",
            backend=point.backend,
            backend_version=backend_version,
            point_key=point.key,
            shape=point.shape_str,
            numel=point.numel,
            mode=point.mode,
            precision=point.precision,
            channel_axis=point.channel_axis,
            status=status,
            error=error,
            timing_method=timing_method,
            l2_flush=l2_flush,
            l2_mode=l2_mode if l2_mode is not None else l2_mode_of(l2_flush, rotate_buffers=False),
            bytes_moved=bytes_moved,
            samples_us=[],
        )
        if status == "ok":
            samples = median * rng.lognormal(0.0, noise, n_samples)
            row.update(summarize(samples))
            row.update(samples_us=samples.tolist(), noise=rel_mad(samples), batch=1)
            row["gbps"] = bytes_moved / (row["median_us"] * 1e3)
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return _with_pct_of_memcpy(df)


def _with_pct_of_memcpy(df: pd.DataFrame) -> pd.DataFrame:
    """pct_of_memcpy as the store computes it: memcpy median of the same bytes / this median * 100."""
    memcpy = df[(df["backend"] == "memcpy") & (df["status"] == "ok")].groupby("bytes_moved")["median_us"].min()
    df["pct_of_memcpy"] = df["bytes_moved"].map(memcpy) / df["median_us"] * 100.0
    return df


def write_run(df: pd.DataFrame, path: Path) -> Path:
    """Write a frame as a results parquet file with the exact schema, as the store does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.results.schema import SCHEMA

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False), path)
    return path
