"""Do points timed side by side on several GPUs of one host time as they do alone?

    python reports/multi-gpu/recipes/interference.py ALONE_RUN MULTI_RUN [--floor-us 50]

ALONE_RUN: the sweep on one GPU (e.g. `--gpus 0`); MULTI_RUN: the same sweep on all GPUs (`--gpus all`),
same commit, same host. Per point, the ratio of medians multi / alone; printed: the median |ratio - 1|
over points whose median is at least the floor in both runs (the issue's bar: at most 1%), over all
points, and split by the GPU that ran the point in the multi-GPU run (the alone run's GPU compared with
itself isolates interference; another GPU adds the card-to-card difference).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.results import load


def repeatability(a: pd.DataFrame, b: pd.DataFrame, floor_us: float = 50.0) -> tuple[float, int, float]:
    """Median and 90th percentile of |B/A - 1| over the points both ran, with medians of at least floor_us."""
    cols = ["point_key", "backend", "median_us"]
    j = a[a.status == "ok"][cols].merge(b[b.status == "ok"][cols], on=["point_key", "backend"], suffixes=("_a", "_b"))
    j = j[(j.median_us_a >= floor_us) & (j.median_us_b >= floor_us)]
    rel = (j.median_us_b / j.median_us_a - 1).abs()
    return float(rel.median()), len(j), float(rel.quantile(0.9)) if len(j) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("alone", type=Path)
    ap.add_argument("multi", type=Path)
    ap.add_argument("--floor-us", type=float, default=50.0)
    args = ap.parse_args()
    alone, multi = load(args.alone), load(args.multi)
    gpu_alone = sorted(alone["gpu_index"].dropna().astype(int).unique().tolist())
    med, n, p90 = repeatability(alone, multi, args.floor_us)
    print(f"alone on GPU {gpu_alone}, multi on GPU {sorted(multi['gpu_index'].dropna().astype(int).unique().tolist())}")
    print(f"all points: median |multi/alone - 1| over {n} points with median >= {args.floor_us:g} us: {med:.3%} "
          f"(90th percentile {p90:.3%}); bar: <= 1%: {'met' if n and med <= 0.01 else 'NOT met'}")  # fmt: skip
    for gpu, part in multi.groupby("gpu_index"):
        med, n, p90 = repeatability(alone, part, args.floor_us)
        print(f"points the multi-GPU run timed on GPU {int(gpu)}: median |ratio - 1| over {n} points: {med:.3%} "
              f"(90th percentile {p90:.3%})")  # fmt: skip


if __name__ == "__main__":
    main()
